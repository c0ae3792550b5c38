"""Streaming, speculative proving (PROVER_SPECULATIVE_PROVING): prove an epoch while it is built.

Every PROVER_NODE_POLLING_INTERVAL_MS the runner reads L1 (:class:`ChainView`) and the archiver,
and applies :func:`decide` (pure):

- ``Feed(e)``: epoch ``e`` is the current epoch, or the previous one while its claim window is open
  and nobody claimed it: feed the blocks the archiver has that the speculative orchestrator has
  not seen yet. Its :class:`~proving.orchestrator.prover.EpochProver` enqueues the per-block jobs
  (tube, AVM, base, merges, block roots) with the plan's critical-path priority plus
  :data:`~proving.orchestrator.schedule.SPECULATIVE_OFFSET_MS` (below every claimed job of the
  same epoch; older epochs go first anyway) and holds back the epoch-level ones (block merges,
  root), with at most ``max_outstanding`` jobs unsettled at the broker (the capacity share);
- ``Handover(e)``: the claim for ``e`` names us: stop feeding and leave the jobs at the broker.
  The claimed-epoch job (epoch_job.py) builds the same jobs from the same blocks; their ids are
  content-addressed, so it gets every finished result at once, and re-enqueueing an unfinished one
  with its (smaller) claimed priority re-keys it at the broker;
- ``Drop(e)``: someone else's claim for ``e``, or its claim window passed unclaimed: cancel its
  unsettled jobs at the broker and count the compute already spent as wasted (in gate units,
  ``statistics()``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from node.prover_node.monitor import ChainView
from proving.circuits.timing import GATES_MILLIONS
from proving.interfaces import ProvingJobProducer
from proving.orchestrator.plan import EnqueueJob
from proving.orchestrator.prover import EpochProver
from proving.orchestrator.schedule import SPECULATIVE_OFFSET_MS, is_epoch_level
from proving.proof_store import ProofStore
from proving.types import ProvingRequestType

log = logging.getLogger("node.prover_node.speculation")


@dataclass(frozen=True, slots=True)
class Feed:
    epoch: int


@dataclass(frozen=True, slots=True)
class Handover:
    epoch: int


@dataclass(frozen=True, slots=True)
class Drop:
    epoch: int
    reason: str


SpeculationAction = Feed | Handover | Drop


def decide(view: ChainView, active: Sequence[int], me: bytes) -> list[SpeculationAction]:
    """What to do with each speculative epoch (``active``) and which epochs to feed."""
    out: list[SpeculationAction] = []
    cur = view.current_epoch
    claim = view.claim
    wanted: set[int] = set()
    if view.pending_block > view.proven_block or view.epoch_to_prove is None:
        wanted.add(cur)
        prev_open = view.position_in_epoch < view.claim_window and cur >= 1
        prev_claimed = claim is not None and claim.epoch_to_prove == cur - 1
        if prev_open and not prev_claimed:
            wanted.add(cur - 1)
    for e in active:
        if claim is not None and claim.epoch_to_prove == e:
            out.append(Handover(e) if claim.bond_provider == me else Drop(e, "claimed by another prover"))
        elif e not in wanted:
            out.append(Drop(e, "claim window passed without a claim for us"))
    for e in sorted(wanted):
        if not (claim is not None and claim.epoch_to_prove == e):
            out.append(Feed(e))
    return out


class ChainReader(Protocol):
    async def chain_view(self) -> ChainView: ...


@dataclass
class SpeculationStats:
    epochs_started: int = 0
    handed_over: int = 0
    dropped: int = 0
    blocks_fed: int = 0
    wasted_jobs: int = 0
    wasted_mgates: float = 0.0  # gate-table work of finished speculative jobs of epochs we lost
    errors: int = 0


@dataclass
class _Spec:
    prover: EpochProver
    scope: trio.CancelScope
    fed: int = 0


def speculative_priority(action: EnqueueJob) -> int:
    return action.priority + SPECULATIVE_OFFSET_MS


class SpeculativeProving:
    def __init__(
        self,
        *,
        chain: ChainReader,
        archiver: Any,  # epoch_job.ArchiverView
        producer: Callable[[], ProvingJobProducer],
        proof_store: ProofStore,
        prover_id: int,
        me: bytes,
        polling_interval: float,
        roots: Callable[[], Awaitable[tuple[int, int]]],
        max_outstanding: int | None = None,
        max_epochs: int = 2,
    ) -> None:
        """``roots()``: (vkTreeRoot, protocolContractTreeRoot) as the claimed-epoch job reads them
        from L1, so the speculative jobs' inputs (and ids) are the ones it will ask for."""
        self.roots = roots
        self.chain, self.archiver, self.producer, self.store = chain, archiver, producer, proof_store
        self.prover_id, self.me = prover_id, me
        self.polling_interval = polling_interval
        self.max_outstanding = max_outstanding
        self.max_epochs = max_epochs
        self.active: dict[int, _Spec] = {}
        self.stats = SpeculationStats()

    def done_keys(self, epoch: int) -> frozenset[str]:
        """Plan keys of this epoch's jobs proven speculatively (credit for the plan quote provider)."""
        spec = self.active.get(epoch)
        plan = None if spec is None else spec.prover.plan
        if plan is None:
            return frozenset()
        return frozenset(k for k in plan.emitted() if plan.output(k) is not None)

    def statistics(self) -> dict[str, Any]:
        return {**self.stats.__dict__, "active_epochs": sorted(self.active)}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                try:
                    await self.tick(nursery)
                except Exception as e:  # an L1/archiver hiccup: next poll
                    self.stats.errors += 1
                    log.warning("speculative proving poll failed: %s", e)
                await trio.sleep(self.polling_interval)

    async def tick(self, nursery: trio.Nursery) -> None:
        view = await self.chain.chain_view()
        for action in decide(view, sorted(self.active), self.me):
            if isinstance(action, Handover):
                spec = self.active.pop(action.epoch)
                spec.scope.cancel()  # stop our tasks; the jobs stay at the broker for the epoch job
                self.stats.handed_over += 1
                log.info("speculative work handed to the claimed epoch", extra={"epoch": action.epoch})
            elif isinstance(action, Drop):
                await self._drop(action)
            elif isinstance(action, Feed):
                await self._feed(action.epoch, view.epoch_duration, nursery)

    async def _drop(self, action: Drop) -> None:
        spec = self.active.pop(action.epoch)
        plan = spec.prover.plan
        if plan is not None:
            done = [job for key, job in plan.emitted().items() if plan.output(key) is not None]
            self.stats.wasted_jobs += len(done)
            self.stats.wasted_mgates += sum(GATES_MILLIONS[j.type] for j in done)
        await spec.prover.cancel()  # cancels its unsettled jobs at the broker (not the shared ones, below)
        spec.scope.cancel()
        self.stats.dropped += 1
        log.info("speculative epoch dropped", extra={"epoch": action.epoch, "reason": action.reason})

    async def _feed(self, epoch: int, epoch_duration: int, nursery: trio.Nursery) -> None:
        from node.prover_node.epoch_job import epoch_inputs

        blocks = self.archiver.get_blocks_for_epoch(epoch, epoch_duration)
        spec = self.active.get(epoch)
        if not blocks or (spec is not None and spec.fed >= len(blocks)):
            return
        inputs = epoch_inputs(self.archiver, epoch, blocks)
        if spec is None:
            if len(self.active) >= self.max_epochs:
                return
            vk_tree_root, pct_root = await self.roots()
            prover = EpochProver(
                self.producer(), self.store, prover_id=self.prover_id, vk_tree_root=vk_tree_root,
                protocol_contract_tree_root=pct_root,
                priority_of=speculative_priority, hold=is_epoch_level, max_outstanding=self.max_outstanding,
                keep_on_cancel=frozenset({ProvingRequestType.BASE_PARITY}),
            )
            scope = trio.CancelScope()
            spec = _Spec(prover, scope)

            async def runner(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
                with scope:
                    await prover.run(task_status=task_status)

            await nursery.start(runner)
            # the epoch is assumed full (one block per slot); a shorter one only changes the
            # held-back epoch-level jobs, never a per-block job's inputs
            await prover.start_epoch(
                epoch, max(epoch_duration, len(blocks)), previous_archive=inputs.previous_archive,
                archive_sibling_path=inputs.archive_sibling_path, previous_block_hash=inputs.previous_block_hash,
                chain_id=inputs.chain_id, version=inputs.version,
            )
            self.active[epoch] = spec
            self.stats.epochs_started += 1
        for block in inputs.blocks[spec.fed:]:
            await spec.prover.add_block(block)
            spec.fed += 1
            self.stats.blocks_fed += 1
