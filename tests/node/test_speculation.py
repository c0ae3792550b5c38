"""Streaming speculation: the pure rule, and the orchestrator hooks over a real in-process broker
(speculative per-block jobs, epoch-level ones held back, the claimed epoch reusing every result)."""

from __future__ import annotations

from collections import Counter

import trio
from prometheus_client import CollectorRegistry

from node.l1.rules import ProofClaim
from node.prover_node.monitor import ChainView
from node.prover_node.speculation import Drop, Feed, Handover, decide, speculative_priority
from proving.agent import AgentPool
from proving.broker.core import ProvingBroker
from proving.orchestrator import EpochProver
from proving.orchestrator.schedule import SPECULATIVE_OFFSET_MS, is_epoch_level
from proving.proof_store import InlineProofStore
from proving.synthetic import make_epoch
from proving.types import ProvingRequestType as T

ME, OTHER = b"\x01" * 20, b"\x02" * 20


def view(slot: int, claim_epoch: int | None = None, by: bytes = ME, pending: int = 10, proven: int = 0) -> ChainView:
    claim = None if claim_epoch is None else ProofClaim(claim_epoch, 0, 1000, by, b"\x09" * 20)
    return ChainView(slot, 32, 13, pending, proven, 1, claim)


def test_decide_feeds_current_and_open_previous_epoch() -> None:
    assert decide(view(64 + 5), [], ME) == [Feed(1), Feed(2)]  # epoch 2, slot 5: epoch 1 still claimable
    assert decide(view(64 + 20), [1, 2], ME) == [Drop(1, "claim window passed without a claim for us"), Feed(2)]
    assert decide(view(64 + 13, claim_epoch=1), [1, 2], ME) == [Handover(1), Feed(2)]
    assert decide(view(64 + 13, claim_epoch=1, by=OTHER), [1, 2], ME) == [
        Drop(1, "claimed by another prover"), Feed(2)]


async def test_speculative_work_is_reused_by_the_claimed_epoch() -> None:
    ep = make_epoch(4, 4, seed=21)
    broker = ProvingBroker(None, registry=CollectorRegistry())
    proven: Counter[str] = Counter()
    kinds: list[T] = []
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        pool = AgentPool(broker, 4, on_proven=lambda job: (proven.update([job.id]), kinds.append(job.type)))
        await n.start(pool.run)
        spec = EpochProver(broker, InlineProofStore(), prover_id=33, vk_tree_root=11,
                           priority_of=speculative_priority, hold=is_epoch_level, max_outstanding=8)
        async with trio.open_nursery() as s:
            await s.start(spec.run)
            await spec.start_epoch(1, 4, previous_archive=ep.previous_archive,
                                   archive_sibling_path=ep.archive_sibling_path,
                                   previous_block_hash=ep.previous_block_hash)
            for block in ep.blocks:  # blocks land one by one
                await spec.add_block(block)
            with trio.fail_after(60):
                while len(spec.held) < 2:  # noqa: ASYNC110 - the two first-level block merges
                    await trio.sleep(0.01)
            s.cancel_scope.cancel()  # handover: stop the speculative driver, jobs stay at the broker
        assert all(is_epoch_level(a) for a in spec.held)
        assert T.BLOCK_MERGE_ROLLUP not in kinds and T.ROOT_ROLLUP not in kinds
        before = sum(proven.values())
        claimed = EpochProver(broker, InlineProofStore(), prover_id=33, vk_tree_root=11)
        async with trio.open_nursery() as m:
            await m.start(claimed.run)
            await claimed.start_epoch(1, 4, previous_archive=ep.previous_archive,
                                      archive_sibling_path=ep.archive_sibling_path,
                                      previous_block_hash=ep.previous_block_hash)
            for block in ep.blocks:
                await claimed.add_block(block)
            with trio.fail_after(60):
                res = await claimed.finalise()
            m.cancel_scope.cancel()
        assert res.public_inputs.end_archive == ep.end_archive
        assert max(proven.values()) == 1  # nothing proven twice
        assert sum(proven.values()) - before == 3  # only the 2 block merges and the root were left
        assert claimed.already_proven >= before - 1
        n.cancel_scope.cancel()


def test_speculative_priority_is_below_claimed() -> None:
    from proving.orchestrator.plan import EnqueueJob

    job = EnqueueJob("b0:tube:0", T.TUBE_PROOF, b"{}", 1, -50_000)
    assert speculative_priority(job) > job.priority and speculative_priority(job) >= SPECULATIVE_OFFSET_MS - 10**6
