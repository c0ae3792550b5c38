"""Plan-based quote provider: quote only epochs we can prove before the deadline, price from cost.

Opt-in (QUOTE_PROVIDER_PLAN=true and no QUOTE_PROVIDER_URL; the simple and HTTP providers stay).
For an epoch it:

1. builds the epoch's job DAG from its blocks (tx counts, public share) with
   :func:`proving.orchestrator.schedule.epoch_tree`; jobs already proven (speculative proving)
   count as done;
2. estimates the makespan from the latest possible claim (the last slot of the claim window; with
   a clock, per-block work still to do may start now, only epoch-level jobs wait for the claim) with
   the same greedy critical-path list scheduling the broker uses, on this node's capacity (agents
   times ``1 - failure allowance``) and job times from the timing model scaled by the measured
   seconds per million gates of this node's agents;
3. refuses (:class:`QuoteRefused`) if ``makespan * (1 + margin)`` does not fit before the latest
   possible deadline (end of epoch N+1) counted from that claim;
4. prices ``basisPointFee = ceil(10_000 * cost * (1 + profit margin) / total fees)`` with
   ``cost = work (agent-hours) * QUOTE_COST_PER_AGENT_HOUR``, like Boundless's minimum cycle price
   and SP1's calibrated bidder; refuses when that exceeds 100 %.

The pure core is :meth:`PlanQuoteProvider.evaluate`; ``get_quote`` is the async port the prover
node calls (the epoch's shapes come from a ``ShapeSource``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.aztec.constants import MAX_BASIS_POINT_FEE
from node.prover_node.quote_provider import (
    QuoteParams,
    QuoteProviderError,
    QuoteRequest,
)
from proving.orchestrator.schedule import BlockShape, EpochLoad, epoch_tree, list_schedule, nominal_durations


class QuoteRefused(QuoteProviderError):
    """We would not finish (or not profitably): no quote for this epoch."""


@dataclass(frozen=True, slots=True)
class PlanQuoteConfig:
    agents: int  # proving capacity (agents x concurrency)
    bond_amount: int
    slot_duration: int
    epoch_duration: int
    claim_window: int
    seconds_per_mgate: float = 10.0  # prior, replaced by measurements when there are some
    deadline_margin: float = 0.10  # refuse unless makespan * (1 + margin) fits
    failure_allowance: float = 0.05  # capacity share assumed lost to failed agents / retries
    cost_per_agent_hour: int = 0  # fee token units
    profit_margin: float = 0.2
    genesis_time: int = 0


@dataclass(frozen=True, slots=True)
class QuoteEvaluation:
    makespan: float  # estimated, from the latest claim
    window: float  # latest claim -> deadline
    work_agent_hours: float
    basis_point_fee: int
    refused: str | None  # reason, or None when we quote


class ShapeSource(Protocol):
    def epoch_shapes(self, epoch: int) -> Sequence[BlockShape]: ...


class PlanQuoteProvider:
    def __init__(
        self,
        config: PlanQuoteConfig,
        shapes: ShapeSource,
        *,
        measured_seconds_per_mgate: Callable[[], float | None] = lambda: None,
        blocks_done: Callable[[int], frozenset[int]] = lambda epoch: frozenset(),
        done_keys: Callable[[int], frozenset[str]] = lambda epoch: frozenset(),
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``clock``: L1 time now (seconds, same origin as genesis_time). With it, the per-block work
        not done yet may run from now (it does not wait for the claim; speculative proving), only the
        epoch-level jobs wait for the latest claim; without it, everything waits for that claim."""
        self.clock = clock
        self.done_keys = done_keys
        if config.agents < 1:
            raise ValueError("PlanQuoteProvider needs at least one agent")
        self.config = config
        self.shapes = shapes
        self.measured = measured_seconds_per_mgate
        self.blocks_done = blocks_done
        self.refused = 0
        self.quoted = 0
        self.last: tuple[int, QuoteEvaluation] | None = None  # (epoch, estimate): the live planner metric

    def statistics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"quoted": self.quoted, "refused": self.refused}
        if self.last is not None:
            epoch, ev = self.last
            out.update(epoch=epoch, estimatedMakespan=round(ev.makespan, 1), window=ev.window,
                       slack=round(ev.window - ev.makespan, 1), workAgentHours=round(ev.work_agent_hours, 2),
                       basisPointFee=ev.basis_point_fee, refusedBecause=ev.refused)
        return out

    def evaluate(self, request: QuoteRequest, shapes: Sequence[BlockShape], done_blocks: frozenset[int] = frozenset(),
                 done_keys: frozenset[str] = frozenset()) -> QuoteEvaluation:
        """``done_blocks`` (every job of these blocks) and ``done_keys`` (the plan's job keys, e.g.
        ``b3:merge:0-4``) are already proven and count as no work."""
        c = self.config
        if not shapes:
            return QuoteEvaluation(0.0, 0.0, 0.0, 0, "no blocks")
        spm = self.measured() or c.seconds_per_mgate
        tree = epoch_tree(shapes)
        durations = nominal_durations(tree, spm)
        done = frozenset(i for i in range(len(tree)) if tree.block[i] in done_blocks or tree.keys[i] in done_keys)
        first_slot_next = (request.epoch_number + 1) * c.epoch_duration
        latest_claim = c.genesis_time + (first_slot_next + c.claim_window) * c.slot_duration
        deadline = c.genesis_time + (request.epoch_number + 2) * c.epoch_duration * c.slot_duration
        window = float(deadline - latest_claim)
        capacity = max(1, math.floor(c.agents * (1.0 - c.failure_allowance)))
        now = self.clock() if self.clock is not None else None
        if now is not None and now < latest_claim:
            head = latest_claim - now  # per-block work may start now, epoch-level at the claim
            load = EpochLoad(tree, durations, [0.0] * len(shapes), head, head + window, done=done)
            makespan = list_schedule([load], capacity).finish[0] - head
        else:
            load = EpochLoad(tree, durations, [0.0] * len(shapes), 0.0, window, done=done)
            makespan = list_schedule([load], capacity).finish[0]
        work_h = sum(durations) / 3600.0
        fee = 0
        refused: str | None = None
        if makespan * (1.0 + c.deadline_margin) > window:
            refused = (f"estimated {makespan:.0f}s (+{c.deadline_margin:.0%}) with {capacity} agents does not fit "
                       f"the {window:.0f}s from the latest claim to the deadline")
        else:
            cost = work_h * c.cost_per_agent_hour * (1.0 + c.profit_margin)
            if cost > 0:
                if request.total_fees <= 0:
                    refused = "epoch pays no fees"
                else:
                    fee = math.ceil(MAX_BASIS_POINT_FEE * cost / request.total_fees)
                    if fee > MAX_BASIS_POINT_FEE:
                        refused = f"cost {cost:.0f} exceeds the epoch's fees {request.total_fees}"
        return QuoteEvaluation(makespan, window, work_h, fee, refused)

    def quote(self, request: QuoteRequest) -> QuoteParams:
        """Sync core: QuoteParams, or QuoteRefused naming why."""
        ev = self.evaluate(request, self.shapes.epoch_shapes(request.epoch_number),
                           self.blocks_done(request.epoch_number), self.done_keys(request.epoch_number))
        self.last = (request.epoch_number, ev)
        if ev.refused is not None:
            self.refused += 1
            raise QuoteRefused(ev.refused)
        self.quoted += 1
        return QuoteParams(ev.basis_point_fee, self.config.bond_amount)

    async def get_quote(self, request: QuoteRequest) -> QuoteParams:
        return self.quote(request)


class ArchiverShapes:
    """ShapeSource over the archiver: per block, its tx count and the txs with public data writes
    (the same public/private split epoch_job.block_input gives the orchestrator)."""

    def __init__(self, archiver: Any, epoch_duration: int) -> None:
        self.archiver = archiver
        self.epoch_duration = epoch_duration

    def epoch_shapes(self, epoch: int) -> Sequence[BlockShape]:
        out = []
        for block in self.archiver.get_blocks_for_epoch(epoch, self.epoch_duration):
            effects = block.body.tx_effects
            out.append(BlockShape(len(effects), sum(1 for e in effects if e.public_data_writes)))
        return out
