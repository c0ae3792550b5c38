"""The epoch proof progress line and gauges: planned job count, ETA from measured job times, a line per
10% or every N seconds, on a real orchestrator + broker + agents (MockClock)."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
import trio
from prometheus_client import CollectorRegistry

from node.metrics import NodeMetrics
from node.prover_node.epoch_job import EpochProvingJob, Progress, planned_jobs, should_log_progress
from proving.agent import AgentPool
from proving.broker.core import ProvingBroker
from proving.circuits.timing import TimingModel
from proving.orchestrator.prover import EpochProver
from proving.proof_store import InlineProofStore
from proving.synthetic import make_epoch
from tests.proving.test_epoch import run_plan_synchronously


@pytest.mark.parametrize(("blocks", "txs"), [(1, 0), (1, 1), (1, 2), (2, 1), (3, 3), (3, 5), (5, 7)])
def test_planned_jobs_is_what_the_plan_emits(blocks: int, txs: int) -> None:
    ep = make_epoch(blocks, txs, public_fraction=0.5, seed=blocks * 100 + txs)
    _, counts = run_plan_synchronously(ep)
    assert planned_jobs(ep.blocks) == sum(counts.values())


def test_progress_eta_and_when_to_log() -> None:
    p = Progress(done=25, total=100, in_flight=4, elapsed=50.0, to_deadline=120.0)
    assert p.eta == 150.0 and p.percent == 25
    assert p.fields()["on_time"] is False and p.fields()["jobs"] == "25/100"
    assert Progress(0, 100, 0, 5.0, 10.0).eta is None
    assert should_log_progress(19, 0.0, p, 1.0, 10.0)  # crossed 20%
    assert not should_log_progress(21, 0.0, p, 1.0, 10.0)
    assert should_log_progress(21, 0.0, p, 10.0, 10.0)  # the interval passed


async def test_progress_lines_while_a_real_epoch_is_proven(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="node.prover_node.epoch_job")
    ep = make_epoch(2, 4, seed=3)
    reg = CollectorRegistry()
    metrics = NodeMetrics(reg)
    broker = ProvingBroker(None, registry=CollectorRegistry())
    pool = AgentPool(broker, 2, timing=TimingModel(seconds_per_million_gates=1.0))
    prover = EpochProver(broker, InlineProofStore(), prover_id=1, vk_tree_root=11)
    job = EpochProvingJob(l1=cast(Any, None), archiver=cast(Any, None), producer=lambda: broker,
                          proof_store=InlineProofStore(), prover_id=1, metrics=metrics, progress_interval=30.0)
    planned = planned_jobs(ep.blocks)
    seen_total: list[float] = []
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        await n.start(pool.run)
        await n.start(prover.run)
        deadline_at = trio.current_time() + 3600
        n.start_soon(job._report_progress, prover, 7, planned, deadline_at)
        await prover.start_epoch(ep.epoch_number, len(ep.blocks), previous_archive=ep.previous_archive,
                                 archive_sibling_path=ep.archive_sibling_path,
                                 previous_block_hash=ep.previous_block_hash)
        for b in ep.blocks:
            await prover.add_block(b)
        await prover.finalise()
        await trio.sleep(1.5)  # one more progress tick sees the last job done
        seen_total.append(reg.get_sample_value("aztec_prover_epoch_jobs", {"state": "total"}) or 0)
        n.cancel_scope.cancel()
    lines = [r for r in caplog.records if r.getMessage() == "epoch proof progress"]
    assert len(lines) >= 3
    done = [int(cast(str, r.__dict__["jobs"]).split("/")[0]) for r in lines]
    assert done == sorted(done) and done[-1] == planned  # monotone, ends at all jobs done
    assert all(r.__dict__["jobs"].endswith(f"/{planned}") for r in lines)
    assert any(r.__dict__["eta_s"] is not None and r.__dict__["on_time"] for r in lines)
    assert seen_total == [planned]
    assert reg.get_sample_value("aztec_prover_epoch_jobs", {"state": "done"}) == planned
    assert (reg.get_sample_value("aztec_prover_epoch_deadline_seconds") or 0) > 3000
