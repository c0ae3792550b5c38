"""Inputs bench/fuzz_long.py found that crashed node/http.py, replayed against a real server."""

from __future__ import annotations

import json

import trio

from node.http import HttpServer
from node.metrics import new_registry
from tests.conftest import REPO
from tests.node.test_http_and_supervisor import _dispatcher, _http

CORPUS = REPO / "tests" / "fuzz_corpus" / "jsonrpc_node"


async def test_deeply_nested_json_is_a_parse_error_and_the_server_survives() -> None:
    found = (CORPUS / "deeply-nested-method.bin").read_bytes()  # RecursionError escaped handle_body
    nested = b"[" * 100_000 + b"]" * 100_000
    async with trio.open_nursery() as n:
        port = await n.start(HttpServer("127.0.0.1", 0, _dispatcher(), new_registry()).run)
        for body in (found, nested, b'{"a":' * 50_000):
            status, answer = await _http(port, "POST", "/", body)
            assert status == 200
            assert json.loads(answer)["error"]["code"] == -32700
        _, answer = await _http(port, "POST", "/", b'{"jsonrpc":"2.0","id":1,"method":"node_echo","params":[5]}')
        assert json.loads(answer)["result"] == 5
        n.cancel_scope.cancel()
