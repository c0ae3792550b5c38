"""`python -m node status` against a node serving a simulated epoch mid-proof (the real HTTP server
and node_getProverStatus), `--json`, a finished proof, and a node that does not answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import trio

from core.http import Dispatcher
from node.ops import format_status
from tests.conftest import REPO
from tests.node.live_sim import PROVER, simulated_epoch


async def _status(url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with trio.fail_after(60):
        return await trio.run_process([sys.executable, "-m", "node", "status", "--url", url, *args], env=env,
                                      capture_stdout=True, capture_stderr=True, check=False)


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
async def test_status_mid_epoch_and_json() -> None:
    async with simulated_epoch(blocks=2, txs=4, agents=2, seconds_per_million_gates=0.25, deadline=90) as sim:
        rpc: Dispatcher = sim.server.handler.dispatcher  # type: ignore[attr-defined]
        rpc.register("node_getProverStatus", sim.view.prover_status)
        while True:
            p = sim.view.epoch_view(with_nodes=False)["proof"]
            if p is not None and p["eta_in"] is not None and p["jobs_done"] > 0:
                break
            await trio.sleep(0.1)
        text = await _status(sim.url)
        raw = await _status(sim.url, "--json")
        mid = not sim.done.is_set()
    assert text.returncode == 0, text.stderr
    out = text.stdout.decode()
    assert f"prover 0x{PROVER.hex()}" in out
    assert "proof: epoch 1, " in out and " jobs (" in out and "blocks 2/2" in out
    assert "deadline in 1m" in out and "ETA in " in out and "on time" in out
    assert "agents: " in out and "in-process " in out
    assert mid, "the epoch finished before status ran"
    s = json.loads(raw.stdout)
    assert s["proof"]["epoch"] == 1 and 0 < s["proof"]["progress"] < 1 and "nodes" not in s["proof"]
    assert s["proof"]["claim"]["bond"] == str(10**21) and s["l1"] is None


def test_status_text_of_a_finished_proof_and_l1() -> None:
    s = {
        "roles": ["prover_node"], "prover": "0xab",
        "l1": {"slot": 9, "epoch": 2, "epoch_duration": 4, "slot_duration": 6, "pending_block": 8, "proven_block": 3,
               "pending_epoch": 2, "proven_epoch": 0, "epoch_to_prove": 1,
               "claim": {"epoch": 1, "fee_bps": 100, "bond": "1000", "bond_provider": "0xAB", "proposer": "0x1"},
               "escrow": {"deposit": "5000", "withdrawal": {"amount": "10", "executable_at": 0}}},
        "proof": {"epoch": 1, "jobs_done": 27, "jobs_total": 27, "progress": 1.0, "blocks_started": 3, "blocks": 3,
                  "started_ago": 30.0, "done": True, "eta_in": -20.0, "slack": 15.0, "deadline_in": -5.0,
                  "critical_path": 0, "remaining_work": 0, "states": {"done": 27}, "failed": None},
        "agents": {"busy": 0, "idle": 4},
        "epochs": [{"epoch": 0, "result": "proven", "prove_seconds": 0.8, "slack_seconds": 15.4, "jobs": 27}],
        "quotes": {"ours": [{"epoch": 1, "fee_bps": 100, "bond": "1000", "outcome": "claimed"}],
                   "seen": [{"epoch": 1, "prover": "0xab", "fee_bps": 100, "why": "chosen (lowest fee)"}]},
    }
    out = format_status(s, "http://x")
    assert "epochs: pending block 8 (epoch 2), proven block 3 (epoch 0), next to prove: 1" in out
    assert "claim: epoch 1 by 0xAB (ours), fee 100 bps, bond 1000" in out
    assert "escrow: deposit 5000, pending withdrawal 10 executable at 1970-01-01 00:00:00 UTC" in out
    assert "finished 20.0s ago, slack 15.0s before the deadline  on time" in out
    assert "epoch 0: proven in 0.8s, slack 15.4s, 27 jobs" in out
    assert "quote sent: epoch 1, fee 100 bps, bond 1000 -> claimed" in out
    assert "quote seen: epoch 1 from 0xab, fee 100 bps: chosen (lowest fee)" in out


async def test_status_of_a_node_that_does_not_answer() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # a port nobody listens on
    r = await _status(f"http://127.0.0.1:{port}")
    assert r.returncode == 1 and b"did not answer" in r.stderr and b"Traceback" not in r.stderr
