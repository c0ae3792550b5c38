"""Prover roles started the way an operator would: `python -m node --prover-broker` serving the
broker's JSON-RPC on AZTEC_PORT, `python -m node --prover` agents against PROVER_BROKER_HOST, and a
synthetic epoch proven through them; bad combinations fail at start with a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from proving.broker.client import BrokerClient
from proving.orchestrator.prover import EpochProver
from proving.proof_store import InlineProofStore
from proving.synthetic import make_epoch
from tests.conftest import REPO
from tests.node.test_cli_roles import free_port, node_process, rpc


async def _prove_synthetic(url: str) -> int:
    epoch = make_epoch(3, 3, seed=7)
    client = BrokerClient(url, connections=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        prover = EpochProver(client, InlineProofStore(), prover_id=1, vk_tree_root=0)
        await nursery.start(prover.run)
        await prover.start_epoch(
            epoch.epoch_number, len(epoch.blocks), previous_archive=epoch.previous_archive,
            archive_sibling_path=epoch.archive_sibling_path, previous_block_hash=epoch.previous_block_hash,
            chain_id=epoch.chain_id, version=epoch.version,
        )
        for b in epoch.blocks:
            await prover.add_block(b)
        with trio.fail_after(120):
            result = await prover.finalise()
        nursery.cancel_scope.cancel()
    await client.aclose()
    assert result.public_inputs.end_archive == epoch.end_archive
    return result.public_inputs.end_block_number


@pytest.mark.slow  # several seconds: left out of `scripts/test.sh --fast`
def test_broker_and_standalone_agents_prove_an_epoch(tmp_path: Path) -> None:
    port = free_port()
    broker_env = {"AZTEC_PORT": str(port), "DATA_DIRECTORY": str(tmp_path / "broker")}
    with node_process(["--prover-broker"], broker_env):
        assert rpc(port, "getBrokerStatistics") is not None
        agent_env = {"AZTEC_PORT": str(free_port()), "PROVER_BROKER_HOST": f"http://127.0.0.1:{port}",
                     "PROVER_AGENT_CONCURRENCY": "2"}
        with node_process(["--prover"], agent_env), node_process(["--prover"], {**agent_env,
                                                                               "AZTEC_PORT": str(free_port())}):
            end = trio.run(_prove_synthetic, f"http://127.0.0.1:{port}")
            assert end == 3
    assert (tmp_path / "broker" / "broker" / "broker.sqlite").exists()


def _fails(flags: list[str], env: dict[str, str]) -> str:
    full = {**os.environ, "AZTEC_HOST": "127.0.0.1", **env}
    p = subprocess.run([sys.executable, "-m", "node", *flags], env=full, cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2, p.stderr
    return p.stderr


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_prover_role_errors() -> None:
    assert "PROVER_BROKER_HOST" in _fails(["--prover"], {"PROVER_BROKER_HOST": ""})
    assert "barretenberg" in _fails(["--prover", "--prover-broker"], {"PROVER_REAL_PROOFS": "true"})
    assert "PROVER_PUBLISHER_PRIVATE_KEY" in _fails(["--prover-node", "--p2p"], {"PROVER_PUBLISHER_PRIVATE_KEY": ""})
