"""The node under L1 faults, with real anvils and real `python -m node` processes.

1. Start-up: a rollup address with no code, another contract's address, another chain: one line
   naming ROLLUP_CONTRACT_ADDRESS / L1_CHAIN_ID, exit 2, no traceback.
2. An L1 outage mid-claim: one process runs a sequencer, an archiver, a prover node and agents
   (quotes go to its own `node_addEpochProofQuote`). Once epoch 0 is claimed for our prover, anvil is
   frozen with SIGSTOP (L1 stops answering, requests time out) and later continued. The process must
   stay up, say "L1 down since" and "L1 back after" once each, report the outage in /health (503,
   l1.reachable false) while it lasts, and still prove epoch 0 on L1 after it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from node.l1 import artifacts as art
from node.l1.anvil import ANVIL_DEV_KEYS
from node.l1.deploy import RollupConfig
from p2p.wire.quote import address_of

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parent.parent


def node_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("P2P_", "PROVER_", "SEQ_", "DEVNET_", "AZTEC_", "ETHEREUM_", "DATA_", "LOG_"))}
    env.update({"PYTHONPATH": str(REPO), "AZTEC_HOST": "127.0.0.1", "AZTEC_PORT": "0", "LOG_LEVEL": "info",
                "PYTHONUNBUFFERED": "1", **extra})
    return env


def run_node(flags: list[str], env: dict[str, str]) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "node", *flags], env=env, capture_output=True, text=True,
                       timeout=90, cwd=REPO)
    return p.returncode, p.stderr + p.stdout


def one_error_line(rc: int, out: str) -> str:
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert rc == 2 and len(errors) == 1, out
    assert "Traceback" not in out and len(out.splitlines()) <= 6, out
    return errors[0]


def test_rollup_address_without_code(l1_session: Any) -> None:
    addr = "0x" + "12" * 20
    rc, out = run_node(["--archiver"], node_env(ETHEREUM_HOST=l1_session.anvil.url, ROLLUP_CONTRACT_ADDRESS=addr))
    line = one_error_line(rc, out)
    assert "ROLLUP_CONTRACT_ADDRESS" in line and addr in line and "no contract" in line


def test_rollup_address_of_another_contract(l1_session: Any) -> None:
    addr = l1_session.addresses.proof_commitment_escrow
    rc, out = run_node(["--archiver"], node_env(ETHEREUM_HOST=l1_session.anvil.url, ROLLUP_CONTRACT_ADDRESS=addr))
    line = one_error_line(rc, out)
    assert "ROLLUP_CONTRACT_ADDRESS" in line and addr.lower() in line.lower() and "not a v0.63.1 Rollup" in line


def test_ethereum_host_on_another_chain(l1_session: Any) -> None:
    env = node_env(ETHEREUM_HOST=l1_session.anvil.url, ROLLUP_CONTRACT_ADDRESS=l1_session.addresses.rollup,
                   L1_CHAIN_ID="1")
    line = one_error_line(*run_node(["--archiver"], env))
    assert "L1_CHAIN_ID" in line and "31337" in line


def test_ethereum_host_that_does_not_answer(make_anvil: Callable[..., Any]) -> None:
    """An L1 that accepts connections but never answers (frozen): named within seconds, exit 2."""
    anvil = make_anvil()
    os.kill(anvil.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        rc, out = run_node(["--archiver"], node_env(ETHEREUM_HOST=anvil.url, ROLLUP_CONTRACT_ADDRESS="0x" + "12" * 20))
        took = time.monotonic() - t0
    finally:
        os.kill(anvil.proc.pid, signal.SIGCONT)
    line = one_error_line(rc, out)
    assert "ETHEREUM_HOST" in line and anvil.url in line and "timed out" in line
    assert took < 20


# ----- the outage


class LineReader:
    """Collects a child's stderr lines in a thread; `wait_for` polls them (bounded by its timeout)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        assert proc.stderr is not None
        stream = proc.stderr
        self._t = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._t.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            with self._lock:
                self.lines.append(line.rstrip())

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            with self._lock:
                new = self.lines[seen:]
            for line in new:
                m = rx.search(line)
                if m:
                    return m
            seen += len(new)
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s; last lines:\n"
                             + "\n".join(self.lines[-30:]))

    def count(self, pattern: str) -> int:
        with self._lock:
            return sum(1 for line in self.lines if re.search(pattern, line))

    def index(self, pattern: str) -> int:
        with self._lock:
            return next(i for i, line in enumerate(self.lines) if re.search(pattern, line))


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.slow
def test_prover_node_rides_out_an_l1_outage_mid_claim(deploy_l1: Callable[..., Any], tmp_path: Path) -> None:
    config = RollupConfig(slot_duration=6, epoch_duration=8, target_committee_size=0, claim_window=2)
    session = deploy_l1(config=config, block_time=1)
    rollup = session.addresses.rollup
    port = free_port()
    prover_key = ANVIL_DEV_KEYS[2]
    prover = "0x" + address_of(bytes.fromhex(prover_key[2:])).hex()
    env = node_env(
        ETHEREUM_HOST=session.anvil.url, ROLLUP_CONTRACT_ADDRESS=rollup, AZTEC_PORT=str(port),
        DATA_DIRECTORY=str(tmp_path / "node"), SEQ_PUBLISHER_PRIVATE_KEY=ANVIL_DEV_KEYS[1],
        PROVER_PUBLISHER_PRIVATE_KEY=prover_key, PROVER_COORDINATION_NODE_URL=f"http://127.0.0.1:{port}",
        PROVER_AGENT_CONCURRENCY="2", PROVER_NODE_POLLING_INTERVAL_MS="500", BOND_TOKEN_MINT="true",
        QUOTE_PROVIDER_BASIS_POINT_FEE="100", QUOTE_PROVIDER_BOND_AMOUNT="1000",
    )
    proc = subprocess.Popen([sys.executable, "-m", "node", "--sequencer", "--archiver", "--prover-node", "--prover"],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO)
    out = LineReader(proc)
    w3 = Web3(Web3.HTTPProvider(session.anvil.url, request_kwargs={"timeout": 5}))
    rollup_c = w3.eth.contract(address=Web3.to_checksum_address(rollup), abi=art.load_artifact(art.ROLLUP).abi)
    stopped = False
    try:
        out.wait_for(r"node running", 60)
        assert get_json(f"http://127.0.0.1:{port}/health")[0] == 200
        deadline = time.monotonic() + 150
        while True:  # epoch 0 claimed for our prover (epoch 1's claim window)
            assert proc.poll() is None, "\n".join(out.lines[-30:])
            assert time.monotonic() < deadline, "\n".join(out.lines[-30:])
            claim = rollup_c.functions.proofClaim().call()
            if claim[3].lower() == prover.lower() and claim[0] == 0:
                break
            time.sleep(0.2)
        assert rollup_c.functions.tips().call()[1] == 0  # not proven yet: the outage is mid-claim
        os.kill(session.anvil.proc.pid, signal.SIGSTOP)
        stopped = True
        t_stop = time.monotonic()
        out.wait_for(r"L1 down since", 30)
        status, report = get_json(f"http://127.0.0.1:{port}/health")
        assert status == 503 and report["l1"]["reachable"] is False and report["status"] == "degraded", report
        assert report["components"]["l1"]["error"]
        time.sleep(max(0.0, 14 - (time.monotonic() - t_stop)))  # ~14 s without L1
        assert proc.poll() is None, "\n".join(out.lines[-30:])
        os.kill(session.anvil.proc.pid, signal.SIGCONT)
        stopped = False
        out.wait_for(r"L1 back after", 40)
        deadline = time.monotonic() + 90
        while rollup_c.functions.tips().call()[1] == 0:  # epoch 0 proven on L1 after the outage
            assert proc.poll() is None, "\n".join(out.lines[-30:])
            assert time.monotonic() < deadline, "\n".join(out.lines[-40:])
            time.sleep(0.5)
        out.wait_for(r"submitted epoch proof", 10)
        assert out.index(r"L1 back after") < out.index(r"submitted epoch proof")
        assert out.count(r"L1 down since") == out.count(r"L1 back after") >= 1
        status, report = get_json(f"http://127.0.0.1:{port}/health")
        assert report["l1"]["reachable"] is True and report["l1"]["outages"] >= 1, report
        assert report["components"]["sequencer"]["healthy"] and report["agents"]["proven"] > 0, report
        tip = rollup_c.functions.tips().call()[0]  # the sequencer goes on proposing, too
        deadline = time.monotonic() + 30
        while rollup_c.functions.tips().call()[0] <= tip:
            assert time.monotonic() < deadline, "\n".join(out.lines[-20:])
            time.sleep(0.5)
        assert proc.poll() is None
    finally:
        if stopped:
            os.kill(session.anvil.proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print("\n" + "\n".join(line for line in out.lines if "L1 " in line or "epoch" in line))


# ----- the devnet's sockets


def free_port_range(n: int) -> int:
    for base in range(42000, 60000, 151):
        socks: list[socket.socket] = []
        try:
            for p in range(base, base + n):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


@pytest.mark.slow
def test_devnet_binds_everything_on_loopback_inside_its_port_range(tmp_path: Path) -> None:
    import psutil

    base = free_port_range(130)
    data = tmp_path / "devnet"
    env = node_env(DATA_DIRECTORY=str(data), DEVNET_BASE_PORT=str(base), DEVNET_SEQUENCERS="2",
                   DEVNET_PROVER_AGENTS="1")
    env.pop("AZTEC_PORT")
    env.pop("AZTEC_HOST")  # defaults 0.0.0.0:8080: the devnet must not use them
    proc = subprocess.Popen([sys.executable, "-m", "node", "--devnet"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 240
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "\n".join(seen[-30:])
            seen.append(line.rstrip())
            if "[devnet] running" in line:
                break
        else:
            raise AssertionError("\n".join(seen[-30:]))
        time.sleep(2)
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        bound: list[tuple[str, str, int]] = []
        for p in tree:
            for c in p.net_connections(kind="inet"):
                listening = c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM and not c.raddr)
                if listening:
                    bound.append((p.name(), c.laddr.ip, c.laddr.port))
        assert len(bound) >= 6, bound
        outside = [b for b in bound if b[1] != "127.0.0.1" or not base <= b[2] < base + 130]
        assert not outside, f"bound outside 127.0.0.1:[{base}, {base + 130}): {outside}"
        assert (data / ".aztec-py-devnet").is_file()
        status, report = get_json(f"http://127.0.0.1:{base + 98}/ready")
        assert status == 200 and report["ready"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
