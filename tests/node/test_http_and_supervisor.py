from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from core.http import Dispatcher, HttpLimits, InvalidParams
from node.http import node_http_server
from node.metrics import new_registry
from node.supervisor import ComponentFailed, Named, Supervisor
from tests.conftest import REPO


async def _http(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), payload


def _dispatcher() -> Dispatcher:
    d = Dispatcher()

    async def echo(x: Any) -> Any:
        return x

    async def fails() -> None:
        raise InvalidParams("nope")

    d.register("node_echo", echo)
    d.register("node_fails", fails)
    return d


async def test_jsonrpc_metrics_health() -> None:
    reg = new_registry()
    async with trio.open_nursery() as n:
        port = await n.start(node_http_server("127.0.0.1", 0, _dispatcher(), reg).run)
        status, body = await _http(port, "POST", "/", json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "node_echo", "params": [{"a": 1}]}).encode())
        assert status == 200 and json.loads(body) == {"jsonrpc": "2.0", "id": 1, "result": {"a": 1}}
        _, body = await _http(port, "POST", "/", b'{"jsonrpc":"2.0","id":2,"method":"node_nope"}')
        assert json.loads(body)["error"]["code"] == -32601
        _, body = await _http(port, "POST", "/", b'{"jsonrpc":"2.0","id":3,"method":"node_fails"}')
        assert json.loads(body)["error"] == {"code": -32602, "message": "nope"}
        _, body = await _http(port, "POST", "/", b'{"jsonrpc":"2.0","id":4,"method":"node_echo","params":[1,2]}')
        assert json.loads(body)["error"]["code"] == -32602
        _, body = await _http(port, "POST", "/", b"{not json")
        assert json.loads(body)["error"]["code"] == -32700
        status, body = await _http(port, "GET", "/metrics")
        assert status == 200 and b"process_" in body
        status, body = await _http(port, "GET", "/health")
        assert json.loads(body)["status"] == "ok"
        status, _ = await _http(port, "GET", "/nothing")
        assert status == 404
        n.cancel_scope.cancel()


async def test_oversized_body_rejected_and_server_survives() -> None:
    async with trio.open_nursery() as n:
        limits = HttpLimits(max_body=100)
        port = await n.start(node_http_server("127.0.0.1", 0, _dispatcher(), new_registry(), limits=limits).run)
        status, _ = await _http(port, "POST", "/", b"x" * 1000)
        assert status == 413
        _, body = await _http(port, "POST", "/", b'{"jsonrpc":"2.0","id":1,"method":"node_echo","params":[5]}')
        assert json.loads(body)["result"] == 5
        n.cancel_scope.cancel()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_dispatcher_never_crashes(body: bytes) -> None:
    out = json.loads(trio.run(_dispatcher().handle_body, body))
    assert isinstance(out, (dict, list))


class _Ready:
    def __init__(self, log: list[str], name: str, fail: bool = False) -> None:
        self.log, self.name, self.fail = log, name, fail

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        self.log.append(f"start {self.name}")
        task_status.started(self.name)
        try:
            if self.fail:
                raise RuntimeError("boom")
            await trio.sleep_forever()
        finally:
            self.log.append(f"stop {self.name}")


async def test_supervisor_starts_in_order_and_cancels_all() -> None:
    log: list[str] = []
    sup = Supervisor([Named("a", _Ready(log, "a")), Named("b", _Ready(log, "b"))])
    async with trio.open_nursery() as n:
        started = await n.start(sup.run)
        assert started == {"a": "a", "b": "b"}
        n.cancel_scope.cancel()
    assert log[:2] == ["start a", "start b"] and set(log[2:]) == {"stop a", "stop b"}


async def test_supervisor_component_failure_stops_node() -> None:
    log: list[str] = []
    sup = Supervisor([Named("a", _Ready(log, "a")), Named("bad", _Ready(log, "bad", fail=True))])
    with pytest.RaisesGroup(ComponentFailed, flatten_subgroups=True):
        await sup.run()
    assert "stop a" in log


def test_cli_bad_env_exits_2_with_clear_error() -> None:
    env = {**os.environ, "L1_CHAIN_ID": "nope"}
    r = subprocess.run([sys.executable, "-m", "node", "--prover-broker"], env=env, cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "L1_CHAIN_ID: expected an integer" in r.stderr


def test_help_env_prints_table() -> None:
    r = subprocess.run([sys.executable, "-m", "node", "--help-env"], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "`PROVER_NODE_POLLING_INTERVAL_MS`" in r.stdout


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_sigterm_shuts_down_cleanly(tmp_path: Any) -> None:
    """A real process: start the node with only its HTTP server role set, SIGTERM, exit code 0."""
    env = {**os.environ, "AZTEC_HOST": "127.0.0.1", "AZTEC_PORT": "0", "LOG_JSON": "true"}
    code = (
        "import sys; from node import cli, components as c, roles; from node.supervisor import Named\n"
        "c.BUILDERS['archiver'] = lambda ctx: []  # only the HTTP server (roles registered first)\n"
        "sys.exit(cli.main(['--archiver']))\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    deadline = time.monotonic() + 30
    lines = []
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        lines.append(line)
        if "node running" in line:
            break
    p.send_signal(signal.SIGTERM)
    rest = p.stderr.read()
    assert p.wait(timeout=30) == 0, "".join(lines) + rest
    assert "shutting down" in rest and '"msg": "stopped"' in rest
