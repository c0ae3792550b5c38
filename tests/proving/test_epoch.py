"""Orchestrator: the epoch's proof DAG (job counts and shapes of section 2.4), the simulated
circuits' outputs (what L1's submitEpochRootProof needs), streaming, failure, cancel and resume."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
import trio
from prometheus_client import CollectorRegistry

from core.aztec.hashing import accumulate
from proving.agent import AgentPool
from proving.broker import ProvingBroker
from proving.circuits.simulate import decode_output, simulate
from proving.circuits.structs import FeeRecipient
from proving.orchestrator import EpochProver, EpochProvingError, EpochProvingFailedError, EpochProvingPlan, EpochStart
from proving.proof_store import InlineProofStore
from proving.synthetic import SyntheticEpoch, make_epoch
from proving.types import ProvingJob, ProvingRequestType, make_job_id

T = ProvingRequestType


def _start(ep: SyntheticEpoch) -> EpochStart:
    return EpochStart(
        epoch_number=ep.epoch_number,
        total_blocks=len(ep.blocks),
        previous_archive=ep.previous_archive,
        archive_sibling_path=ep.archive_sibling_path,
        previous_block_hash=ep.previous_block_hash,
        vk_tree_root=11,
        protocol_contract_tree_root=22,
        prover_id=33,
    )


def run_plan_synchronously(ep: SyntheticEpoch) -> tuple[EpochProvingPlan, Counter[str]]:
    """Drive the sans-IO plan with the simulated circuits, no broker, no trio."""
    plan = EpochProvingPlan(_start(ep))
    counts: Counter[str] = Counter()
    queue = []

    def drain() -> None:
        queue.extend(plan.take_actions())
        while queue:
            job = queue.pop(0)
            counts[job.type.name] += 1
            plan.on_result(job.key, decode_output(job.type, simulate(job.type, job.inputs)))
            queue.extend(plan.take_actions())

    for block in ep.blocks:
        plan.start_block(
            block.global_variables,
            block.l1_to_l2_messages,
            max(2, len(block.txs)),
            block.start_state,
            block.end_state,
            block.expected_header,
        )
        drain()
        for tx in block.txs:
            plan.add_tx(tx)
            drain()
        plan.complete_block()
        drain()
    plan.finalise()
    drain()
    assert plan.done
    return plan, counts


def expected_counts(blocks: int, txs: list[int], public: list[int]) -> Counter[str]:
    c: Counter[str] = Counter()
    c["BASE_PARITY"] = 4 * blocks
    c["ROOT_PARITY"] = blocks
    for t, p in zip(txs, public, strict=True):
        leaves = max(2, t)
        c["TUBE_PROOF"] += t
        c["PUBLIC_VM"] += p
        c["PUBLIC_BASE_ROLLUP"] += p
        c["PRIVATE_BASE_ROLLUP"] += leaves - p
        c["MERGE_ROLLUP"] += leaves - 2
        if t < 2:
            c["PRIVATE_KERNEL_EMPTY"] = 1
    c["BLOCK_ROOT_ROLLUP"] = blocks
    c["BLOCK_MERGE_ROLLUP"] = max(blocks, 2) - 2
    c["EMPTY_BLOCK_ROOT_ROLLUP"] = 1 if blocks == 1 else 0
    c["ROOT_ROLLUP"] = 1
    return +c


@pytest.mark.parametrize(("blocks", "txs"), [(1, 0), (1, 1), (1, 2), (2, 1), (3, 3), (3, 5), (5, 7)])
def test_plan_job_counts_and_root_outputs(blocks: int, txs: int) -> None:
    ep = make_epoch(blocks, txs, public_fraction=0.5, seed=blocks * 100 + txs)
    plan, counts = run_plan_synchronously(ep)
    public = [sum(t.has_public_calls for t in b.txs) for b in ep.blocks]
    assert counts == expected_counts(blocks, [len(b.txs) for b in ep.blocks], public)
    assert plan.result is not None
    pub = plan.result.public_inputs
    last = ep.blocks[-1].expected_header
    assert last is not None
    assert pub.previous_archive == ep.previous_archive
    assert pub.end_archive == ep.end_archive
    assert pub.previous_block_hash == ep.previous_block_hash
    assert pub.end_block_hash == last.hash()
    assert pub.end_timestamp == last.global_variables.timestamp
    assert pub.end_block_number == last.global_variables.block_number
    assert pub.prover_id == 33 and pub.vk_tree_root == 11 and pub.protocol_contract_tree_root == 22
    fees = [
        FeeRecipient(b.global_variables.coinbase, b.expected_header.total_fees)
        for b in ep.blocks
        if b.expected_header
    ]
    assert list(pub.fees) == fees
    assert len(pub.to_fields()) == 76


def test_epoch_out_hash_is_the_wonky_accumulation_of_block_out_hashes() -> None:
    ep = make_epoch(3, 2, seed=5)
    plan, _ = run_plan_synchronously(ep)
    assert plan.result is not None
    h = [b.expected_header.content_commitment.out_hash for b in ep.blocks if b.expected_header]
    assert plan.result.public_inputs.out_hash == accumulate(accumulate(h[0], h[1]), h[2])


async def _prove_epoch(
    ep: SyntheticEpoch, broker: ProvingBroker, *, agents: int = 100
) -> tuple[EpochProver, AgentPool, Counter[str]]:
    proven: Counter[str] = Counter()
    pool = AgentPool(broker, agents, on_proven=lambda job: proven.update([job.id]))
    prover = EpochProver(broker, InlineProofStore(), prover_id=33, vk_tree_root=11)
    async with trio.open_nursery() as n:
        await n.start(pool.run)
        await n.start(prover.run)
        await prover.start_epoch(
            ep.epoch_number,
            len(ep.blocks),
            previous_archive=ep.previous_archive,
            archive_sibling_path=ep.archive_sibling_path,
            previous_block_hash=ep.previous_block_hash,
        )
        for block in ep.blocks:
            await prover.add_block(block)
        result = await prover.finalise()
        assert result.public_inputs.end_archive == ep.end_archive
        n.cancel_scope.cancel()
    return prover, pool, proven


@pytest.mark.slow  # several seconds: left out of `scripts/test.sh --fast`
async def test_epoch_32_blocks_36_txs_with_100_agents() -> None:
    """The issue's acceptance run: 32 blocks x 36 txs (half with public calls), simulated proofs,
    100 agents: every job of the doc's table (4191) is emitted and each distinct job proven once."""
    ep = make_epoch(32, 36, public_fraction=0.5, seed=1)
    broker = ProvingBroker(None, registry=CollectorRegistry())
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        with trio.fail_after(120):
            prover, _pool, proven = await _prove_epoch(ep, broker, agents=100)
        n.cancel_scope.cancel()
    assert prover.plan is not None
    stats = prover.plan.statistics()
    assert stats.emitted == 4191 and stats.completed == 4191
    assert stats.by_type == {
        "BASE_PARITY": 128,
        "ROOT_PARITY": 32,
        "TUBE_PROOF": 1152,
        "PUBLIC_VM": 576,
        "PRIVATE_BASE_ROLLUP": 576,
        "PUBLIC_BASE_ROLLUP": 576,
        "MERGE_ROLLUP": 1088,
        "BLOCK_ROOT_ROLLUP": 32,
        "BLOCK_MERGE_ROLLUP": 30,
        "ROOT_ROLLUP": 1,
    }
    unique = {make_job_id(j.type, j.inputs) for j in prover.plan.emitted().values()}
    assert set(proven) == unique  # identical jobs (e.g. empty parity quads) are proven once
    assert max(proven.values()) == 1
    assert broker.statistics().machine.fulfilled == len(unique)


async def test_header_mismatch_fails_the_epoch() -> None:
    ep = make_epoch(2, 2, seed=3)
    bad = ep.blocks[1]
    assert bad.expected_header is not None
    ep.blocks[1] = replace(bad, expected_header=replace(bad.expected_header, total_fees=1))
    broker = ProvingBroker(None, registry=CollectorRegistry())
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        with pytest.RaisesGroup(
            pytest.RaisesExc(EpochProvingError, match="Block header mismatch for block 2: total_fees differ"),
            flatten_subgroups=True,
        ):
            await _prove_epoch(ep, broker, agents=4)
        n.cancel_scope.cancel()


async def test_cancel_rejects_pending_jobs_and_finalise_fails() -> None:
    ep = make_epoch(2, 4, seed=4)
    broker = ProvingBroker(None, registry=CollectorRegistry())
    prover = EpochProver(broker, InlineProofStore(), prover_id=1, vk_tree_root=2)
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        await n.start(prover.run)
        await prover.start_epoch(
            1,
            2,
            previous_archive=ep.previous_archive,
            archive_sibling_path=ep.archive_sibling_path,
            previous_block_hash=ep.previous_block_hash,
        )
        await prover.add_block(ep.blocks[0])  # no agents: everything stays queued
        await trio.testing.wait_all_tasks_blocked()  # the driver enqueued what it could
        await prover.cancel()
        with pytest.raises(EpochProvingFailedError, match="Proving cancelled"):
            await prover.finalise()
        st = broker.statistics().machine
        assert st.rejected > 0 and st.queued == {}
        n.cancel_scope.cancel()


async def test_resume_after_orchestrator_restart_reuses_stored_results() -> None:
    """A prover node that dies mid-epoch and restarts re-derives the same job ids; the broker
    returns stored results, so no job is proven twice."""
    ep = make_epoch(4, 6, seed=9)
    broker = ProvingBroker(None, registry=CollectorRegistry())
    proven: Counter[str] = Counter()
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        pool = AgentPool(broker, 8, on_proven=lambda job: proven.update([job.id]))
        await n.start(pool.run)
        async with trio.open_nursery() as first:
            prover = EpochProver(broker, InlineProofStore(), prover_id=33, vk_tree_root=11)
            await first.start(prover.run)
            await prover.start_epoch(
                1,
                4,
                previous_archive=ep.previous_archive,
                archive_sibling_path=ep.archive_sibling_path,
                previous_block_hash=ep.previous_block_hash,
            )
            for block in ep.blocks[:3]:
                await prover.add_block(block)
            while prover.results_applied < 60:  # noqa: ASYNC110 - watching a counter
                await trio.sleep(0.001)
            first.cancel_scope.cancel()  # the node dies; the broker keeps everything
        second = EpochProver(broker, InlineProofStore(), prover_id=33, vk_tree_root=11)
        async with trio.open_nursery() as m:
            await m.start(second.run)
            await second.start_epoch(
                1,
                4,
                previous_archive=ep.previous_archive,
                archive_sibling_path=ep.archive_sibling_path,
                previous_block_hash=ep.previous_block_hash,
            )
            for block in ep.blocks:
                await second.add_block(block)
            with trio.fail_after(30):
                res = await second.finalise()
            m.cancel_scope.cancel()
        assert res.public_inputs.end_archive == ep.end_archive
        assert second.already_proven >= 60
        assert max(proven.values()) == 1
        n.cancel_scope.cancel()


def test_job_ids_are_content_addressed() -> None:
    a = make_job_id(T.MERGE_ROLLUP, b"x")
    assert a == make_job_id(T.MERGE_ROLLUP, b"x")
    assert a != make_job_id(T.BLOCK_MERGE_ROLLUP, b"x") and a != make_job_id(T.MERGE_ROLLUP, b"y")
    assert ProvingJob.from_wire(ProvingJob(a, T.MERGE_ROLLUP, 3, "u", 5).to_wire()).priority == 5
