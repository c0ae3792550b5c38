"""Each role started the way an operator would: `python -m node --<role>` as a real process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from p2p.enr import Enr
from tests.conftest import REPO


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def node_process(flags: list[str], env: dict[str, str], timeout: float = 60) -> Iterator[subprocess.Popen[str]]:
    full = {**os.environ, "AZTEC_HOST": "127.0.0.1", "LOG_LEVEL": "info", **env}
    p = subprocess.Popen([sys.executable, "-m", "node", *flags], env=full, cwd=REPO, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    deadline, seen = time.monotonic() + timeout, []
    try:
        while time.monotonic() < deadline:
            line = p.stderr.readline()
            seen.append(line)
            if "node running" in line:
                break
            if not line and p.poll() is not None:
                raise AssertionError("node exited: " + "".join(seen))
        else:
            raise AssertionError("node not running in time: " + "".join(seen))
        yield p
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def rpc(port: int, method: str, *params: Any) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", method="POST", data=json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["result"]


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_p2p_bootstrap_serves_its_enr() -> None:
    udp, http = free_port(socket.SOCK_DGRAM), free_port()
    env = {"P2P_UDP_LISTEN_ADDR": f"127.0.0.1:{udp}", "AZTEC_PORT": str(http),
           "PEER_ID_PRIVATE_KEY": "08021220" + "11" * 32}
    with node_process(["--p2p-bootstrap"], env) as p:
        text = rpc(http, "node_getEncodedEnr")
        enr = Enr.from_text(text)
        assert enr.udp == udp and enr.ip == "127.0.0.1" and enr.aztec_network == 1
        assert rpc(http, "pxe_getNodeInfo")["enr"] == text
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=10) as r:
            assert b'aztec_py_node_component{component="p2p_bootstrap"} 1.0' in r.read()
    assert p.returncode == 0


def metric(port: int, name: str, **labels: str) -> float:
    """Sum of the samples `name` whose labels include `labels` (0 when there is none)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == name and labels.items() <= s.labels.items())


@pytest.mark.slow  # several seconds: left out of `scripts/test.sh --fast`
def test_p2p_nodes_join_via_boot_node_url_and_receive_txs() -> None:
    """`python -m node --p2p` with BOOT_NODE_URL pointing at our boot node's JSON-RPC: two nodes find
    each other through discv5, connect, and one receives the txs the other's tx bot gossips."""
    udp, http = free_port(socket.SOCK_DGRAM), free_port()
    boot_env = {"P2P_UDP_LISTEN_ADDR": f"127.0.0.1:{udp}", "AZTEC_PORT": str(http)}

    def p2p_env(extra: dict[str, str]) -> tuple[dict[str, str], int]:
        p, h = free_port(), free_port()
        return {"BOOT_NODE_URL": f"http://127.0.0.1:{http}", "P2P_TCP_LISTEN_ADDR": f"127.0.0.1:{p}",
                "P2P_UDP_LISTEN_ADDR": f"127.0.0.1:{p}", "AZTEC_PORT": str(h), "TXBOT_TX_PER_SLOT": "5",
                **extra}, h

    env_a, http_a = p2p_env({})
    env_b, http_b = p2p_env({})
    with node_process(["--p2p-bootstrap"], boot_env), node_process(["--p2p"], env_a), \
            node_process(["--p2p", "--tx-bot"], env_b):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if metric(http_a, "aztec_p2p_peers") >= 1 and \
                    metric(http_a, "aztec_p2p_gossip_messages_total", topic="tx", verdict="accepted") >= 3:
                break
            time.sleep(0.5)
        assert metric(http_a, "aztec_p2p_peers") >= 1
        assert metric(http_a, "aztec_p2p_gossip_messages_total", topic="tx", verdict="accepted") >= 3
        assert metric(http_a, "aztec_p2p_tx_pool_txs") >= 3
        assert metric(http_b, "aztec_p2p_published_total") >= 3
