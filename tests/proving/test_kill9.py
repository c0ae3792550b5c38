"""Kill -9 of a real broker process (`python -m node --prover-broker`) mid-epoch: restart it over the
same directory; the epoch completes, and every job is settled exactly once (counted from the
broker's own store)."""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import pytest
import trio

from bench.node_broker import journal_path, proof_dir, start_node_broker
from proving.agent import AgentPool
from proving.broker import BrokerClient
from proving.circuits.timing import TimingModel
from proving.orchestrator import EpochProver
from proving.proof_store import FileProofStore
from proving.synthetic import make_epoch
from proving.types import make_job_id


def _open_log(path: Path) -> BinaryIO:
    return path.open("ab")


async def _start_broker(root: Path, port: int) -> tuple[trio.Process, str]:
    """`python -m node --prover-broker` with DATA_DIRECTORY=root (journal in root/broker, proofs in root/proofs)."""
    log = _open_log(root / "broker.log")
    try:
        return await start_node_broker(root, port, output=log, job_timeout=3.0)
    finally:
        log.close()


@pytest.mark.slow  # several seconds: left out of `scripts/test.sh --fast`
async def test_kill9_broker_mid_epoch(tmp_path: Path) -> None:
    store = FileProofStore(proof_dir(tmp_path))
    ep = make_epoch(8, 8, public_fraction=0.5, seed=21)
    proc, url = await _start_broker(tmp_path, 0)
    port = int(url.rsplit(":", 1)[1])
    applied: Counter[str] = Counter()
    kills = 0
    try:
        producer = BrokerClient(url, connections=8, retry_for=None)
        pool = AgentPool(
            url,
            16,
            proof_store=store,
            timing=TimingModel(seconds_per_million_gates=0.003),
            heartbeat_interval=0.5,
            long_poll=2,
            on_proven=lambda job: applied.update([job.id]),
        )
        prover = EpochProver(producer, store, prover_id=5, vk_tree_root=6)
        async with trio.open_nursery() as n:
            await n.start(producer.run)
            await n.start(pool.run)
            await n.start(prover.run)
            await prover.start_epoch(
                ep.epoch_number,
                len(ep.blocks),
                previous_archive=ep.previous_archive,
                archive_sibling_path=ep.archive_sibling_path,
                previous_block_hash=ep.previous_block_hash,
            )

            async def killer() -> None:
                nonlocal proc, kills
                for threshold in (40, 120):
                    while prover.results_applied < threshold:  # noqa: ASYNC110 - watching a counter
                        await trio.sleep(0.005)
                    proc.send_signal(signal.SIGKILL)
                    await proc.wait()
                    kills += 1
                    await trio.sleep(0.3)  # agents and producer see connection errors meanwhile
                    proc, _ = await _start_broker(tmp_path, port)

            n.start_soon(killer)
            for block in ep.blocks:
                await prover.add_block(block)
            with trio.move_on_after(60) as cs:
                result = await prover.finalise()
            if cs.cancelled_caught:
                raise AssertionError(
                    f"epoch stalled: {prover.statistics()} {pool.statistics()} "
                    f"{await producer.statistics()} broker log: {(tmp_path / 'broker.log').read_text()[-3000:]}"
                )
            while kills < 2:  # noqa: ASYNC110 - the epoch may beat the second kill; finish the scenario
                await trio.sleep(0.05)
            n.cancel_scope.cancel()
        await producer.aclose()
    finally:
        proc.kill()
        await proc.wait()

    assert kills == 2
    assert result.public_inputs.end_archive == ep.end_archive
    assert prover.plan is not None
    unique = {make_job_id(j.type, j.inputs) for j in prover.plan.emitted().values()}
    # the broker's store holds each job once, all fulfilled; no result was applied twice
    db = sqlite3.connect(journal_path(tmp_path))
    rows = db.execute("SELECT id, state, result FROM jobs").fetchall()
    db.close()
    assert Counter(r[0] for r in rows) == Counter(unique)
    assert all(r[1] == 2 and r[2] for r in rows)
    assert max(applied.values()) == 1
    assert prover.results_applied == len(prover.plan.emitted())
