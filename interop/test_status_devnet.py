"""`python -m node status` against the real devnet (anvil, v0.63.1 contracts, sequencers, a prover
node with broker and agents, every node its own process): once the prover node has quoted, been
claimed and proven an epoch, its status shows the chain's epochs, the claim (ours, fee, bond), the
last proof with its slack to the deadline, the agents, the escrow deposit and the quote; a
sequencer's status shows the quote it saw and why it was chosen; the live page's JSON has the tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from interop.test_devnet_e2e import devnet_config, prover_address
from node.devnet import BOOT_HTTP_OFFSET, Devnet
from tests.conftest import REPO

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(600)]


async def _status(url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with trio.fail_after(60):
        return await trio.run_process([sys.executable, "-m", "node", "status", "--url", url, *args], env=env,
                                      capture_stdout=True, capture_stderr=True, check=False)


async def test_status_against_a_devnet(tmp_path: Path) -> None:
    cfg = devnet_config(tmp_path, agents=2)
    prover = prover_address(cfg).lower()
    prover_url = f"http://127.0.0.1:{cfg.base_port + BOOT_HTTP_OFFSET + 20}"
    seq_urls = [f"http://127.0.0.1:{cfg.base_port + BOOT_HTTP_OFFSET + k}" for k in range(1, cfg.sequencers + 1)]
    lines: list[str] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(Devnet(cfg, out=lines.append).run)
        s: dict[str, Any] = {}
        with trio.fail_after(300):
            while True:
                r = await _status(prover_url, "--json")
                if r.returncode == 0:
                    s = json.loads(r.stdout)
                    proven = any(e["result"] == "proven" for e in s["epochs"])
                    if proven and s["l1"] and s["l1"]["proven_epoch"] is not None:
                        break
                await trio.sleep(2)
        text = await _status(prover_url)
        seen = [json.loads((await _status(u, "--json")).stdout) for u in seq_urls]
        async with httpx.AsyncClient() as http:
            page = (await http.get(prover_url + "/api/epoch")).json()
        nursery.cancel_scope.cancel()
    assert text.returncode == 0, text.stderr
    out = text.stdout.decode()
    print(out)
    epoch = next(e for e in s["epochs"] if e["result"] == "proven")["epoch"]
    assert s["prover"] == prover and "prover_node" in s["roles"]
    assert f"prover {prover}" in out
    assert "epochs: pending block " in out and "proven block " in out
    assert f"quote sent: epoch {epoch}, fee {cfg.quote_fee_bps} bps, bond {cfg.quote_bond} -> claimed" in out
    assert f"epoch {epoch}: proven in " in out and "slack " in out
    assert "escrow: deposit " in out and "pending withdrawal none" in out
    assert int(s["l1"]["escrow"]["deposit"]) > 0
    assert "proof: epoch " in out and "agents: " in out and "(in-process " in out
    assert s["agents"]["busy"] + s["agents"]["idle"] == cfg.agents
    chosen = [q for st in seen for q in st["quotes"]["seen"] if q["chosen"]]
    assert any(q["prover"] == prover and q["why"].startswith("chosen") for q in chosen), seen
    proof = page["proof"]
    assert proof is not None and {n["key"] for n in proof["nodes"]} >= {"epoch:root"}
    assert all(n["state"] in ("done", "cached") for n in proof["nodes"]) or not proof["done"]
