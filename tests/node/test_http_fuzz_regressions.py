"""Inputs bench/fuzz_long.py found that crashed node/http.py (before core.http), replayed against a real server."""

from __future__ import annotations

import json

import trio

from node.http import node_http_server
from node.metrics import new_registry
from tests.conftest import REPO
from tests.node.test_http_and_supervisor import _dispatcher, _http

CORPUS = REPO / "tests" / "fuzz_corpus" / "jsonrpc_node"


async def test_deeply_nested_json_is_a_parse_error_and_the_server_survives() -> None:
    found = (CORPUS / "deeply-nested-method.bin").read_bytes()  # RecursionError escaped handle_body
    nested = b"[" * 100_000 + b"]" * 100_000
    async with trio.open_nursery() as n:
        port = await n.start(node_http_server("127.0.0.1", 0, _dispatcher(), new_registry()).run)
        for body in (found, nested, b'{"a":' * 50_000):
            status, answer = await _http(port, "POST", "/", body)
            assert status == 200
            assert json.loads(answer)["error"]["code"] in (-32700, -32600)  # parse error / nesting over the limit
        _, answer = await _http(port, "POST", "/", b'{"jsonrpc":"2.0","id":1,"method":"node_echo","params":[5]}')
        assert json.loads(answer)["result"] == 5
        n.cancel_scope.cancel()
