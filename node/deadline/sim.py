"""Deterministic simulation of the proving loop on a virtual clock (discrete events, seeded).

What is real (the project's code, called as the node calls it):

- the orchestrator's :class:`~proving.orchestrator.plan.EpochProvingPlan` (every job, its inputs
  and the simulated circuits' outputs, so the epoch proof is the one the node would submit);
- the broker's sans-IO :class:`~proving.broker.state.JobStateMachine` (dispatch order, timeouts,
  retries, cancellation), journaled instantly;
- the prover node's monitor rule :func:`~node.prover_node.monitor.decide` for every prover node,
  signed :class:`~p2p.wire.quote.EpochProofQuote`\\ s, the sequencer's
  :func:`~node.l1.rules.select_best_quote` and L1's :func:`~node.l1.rules.check_claim`, and
  :class:`~node.l1.rules.L1Timing` for deadlines;
- the quote providers (:class:`SimpleQuoteProvider` or :class:`PlanQuoteProvider`).

What is modelled: one block per slot lands on L1 at the end of its slot (1 TPS = 36 txs per 36 s
slot); the sequencer claims the best valid quote in slot ``claim_position`` of epoch N+1 and the
claim lands at that slot's end; agents take ``gates x seconds-per-Mgate x (1 +- jitter)`` per job
(the jitter is a pure function of the seed and the job id), crash with probability
``failure_rate`` per job at a random point, restart after ``restart_s`` and their job comes back via
the broker's heartbeat timeout; competing prover nodes quote (through the same monitor rule) and,
when they win, their proof lands ``competitor_latency`` after the claim. Not modelled: tx
re-execution time, L1 submission latency (``submit_latency``, default 0), pruning after a miss (a
missed epoch is counted, abandoned, and the chain moves on).

Behaviours of our node: ``"aztec"`` (v0.63.1: start at the claim, fixed proof-type order, block
number as queue epoch) and ``"ours"`` (deadline keys across epochs, optional streaming speculation
from the first block, epoch-level jobs held back until the claim).
"""
# size: one discrete-event simulation of the whole loop (sequencers, provers, agents, claims) whose actors share
# the event queue and the virtual clock.

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from node.l1.rules import ZERO_ADDRESS, ClaimContext, L1Timing, ProofClaim, check_claim, select_best_quote
from node.prover_node.monitor import ChainView, MonitorState, SendQuote, StartProving, decide
from node.prover_node.plan_quote import PlanQuoteConfig, PlanQuoteProvider
from node.prover_node.quote_provider import QuoteParams, QuoteProviderError, QuoteRequest, SimpleQuoteProvider
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of
from proving.broker.state import ABORTED_REASON, JobState, JobStateMachine
from proving.circuits.simulate import CIRCUITS, decode_inputs
from proving.circuits.timing import GATES_MILLIONS
from proving.orchestrator.plan import EnqueueJob, EpochProvingPlan, EpochStart, PriorityMode
from proving.orchestrator.schedule import (
    SPECULATIVE_OFFSET_MS,
    BlockShape,
    deadline_key,
    is_epoch_level,
    rank_of,
)
from proving.synthetic import SyntheticEpoch, make_epoch
from proving.types import JobFilter, ProvingJob, make_job_id

Behaviour = Literal["aztec", "ours"]
ANY: JobFilter = JobFilter()
CHAIN_ID = 31337
ROLLUP = b"\x42" * 20


@dataclass(frozen=True)
class SimConfig:
    agents: int = 100
    epochs: int = 20
    blocks_per_epoch: int = 32
    txs_per_block: int = 36
    txs_per_block_choices: tuple[int, ...] = ()  # per-epoch load drawn from these (default: fixed)
    public_fraction: float = 0.5
    slot_duration: int = 36
    claim_window: int = 13
    claim_position: int = 12  # 0-based slot of epoch N+1 in which the claim lands (the 13th slot)
    seconds_per_mgate: float = 10.0
    jitter: float = 0.1
    failure_rate: float = 0.0
    restart_s: float = 30.0
    job_timeout: float = 60.0
    heartbeat_s: float = 10.0
    behaviour: Behaviour = "ours"
    speculation: bool = True
    speculative_share: float = 1.0
    quote_provider: Literal["simple", "plan"] = "simple"
    our_fee_bps: int = 100
    competitors: int = 1
    win_every: int = 1  # competitors undercut us except in epochs e % win_every == 0
    competitor_latency: float = 600.0
    submit_latency: float = 0.0
    deadline_margin: float = 0.10
    cost_per_agent_hour: int = 0
    stop_on_miss: bool = False
    abandon_on_miss: bool = True  # False: keep proving a late epoch (to measure its makespan)
    seed: int = 1


@dataclass
class EpochRecord:
    epoch: int
    txs: int = 0
    quoted: bool = False
    refused: str | None = None
    winner: str | None = None
    claimed_at: float | None = None
    deadline: float = 0.0
    proven_at: float | None = None
    missed: bool = False
    failed: str | None = None
    wasted: float = 0.0  # agent-seconds spent on this epoch when someone else won it

    @property
    def makespan(self) -> float | None:
        if self.proven_at is None or self.claimed_at is None:
            return None
        return self.proven_at - self.claimed_at


@dataclass
class SimResult:
    config: SimConfig
    epochs: dict[int, EpochRecord]
    busy: float  # agent-seconds on jobs (completed or not)
    speculative_wasted: float
    speculative_spent: float
    jobs_done: int
    timeouts: int
    end_time: float
    stopped_early: bool

    def ours(self) -> list[EpochRecord]:
        return [r for r in self.epochs.values() if r.winner == "us"]

    @property
    def missed(self) -> int:
        return sum(1 for r in self.ours() if r.missed or r.failed)

    @property
    def refused(self) -> int:
        return sum(1 for r in self.epochs.values() if r.refused is not None)


_OUTPUTS: dict[str, Any] = {}  # job id (content-addressed) -> simulated circuit output, across runs
_MAX_OUTPUTS = 200_000  # bounded: cleared when full


def _circuit_output(job_id: str, action: EnqueueJob) -> Any:
    out = _OUTPUTS.get(job_id)
    if out is None:
        out = CIRCUITS[action.type](decode_inputs(action.type, action.inputs))
        if len(_OUTPUTS) >= _MAX_OUTPUTS:
            _OUTPUTS.clear()
        _OUTPUTS[job_id] = out
    return out


@lru_cache(maxsize=64)
def _epoch_data(blocks: int, txs: int, public_fraction: float, epoch: int, seed: int) -> SyntheticEpoch:
    return make_epoch(blocks, txs, public_fraction=public_fraction, epoch_number=epoch,
                      first_block=1 + (epoch - 1) * blocks, seed=seed * 1_000_003 + epoch)


@dataclass
class _EpochJob:
    epoch: int
    data: SyntheticEpoch
    plan: EpochProvingPlan
    behaviour: Behaviour
    claimed: bool
    deadline: float
    blocks_fed: int = 0
    ids: dict[str, list[str]] = field(default_factory=dict)  # job id -> plan keys
    actions: dict[str, EnqueueJob] = field(default_factory=dict)  # job id -> action
    deferred: list[EnqueueJob] = field(default_factory=list)
    spent: float = 0.0
    done: bool = False
    dead: bool = False


@dataclass
class _Agent:
    name: str
    job: str | None = None
    started: float = 0.0
    token: int = 0
    down: bool = False


class _Competitor:
    def __init__(self, name: str, key: bytes, fee: Callable[[int], int]) -> None:
        self.name, self.key, self.fee = name, key, fee
        self.address = address_of(key)
        self.state = MonitorState()


class Simulation:
    def __init__(self, config: SimConfig) -> None:
        c = self.c = config
        self.timing = L1Timing(genesis_time=0, slot_duration=c.slot_duration, epoch_duration=c.blocks_per_epoch,
                               claim_duration=c.claim_window)
        self.rng = random.Random(c.seed)
        self.now = 0.0
        self._events: list[tuple[float, int, str, Any]] = []
        self._seq = 0
        self.broker = JobStateMachine(policy="aztec" if c.behaviour == "aztec" else "deadline",
                                      job_timeout=c.job_timeout)
        self.agents = [_Agent(f"agent-{i}") for i in range(c.agents)]
        self.idle: list[int] = list(range(c.agents - 1, -1, -1))
        # job id -> the epochs waiting for it (ids are content-addressed: the base parity over zero
        # messages is the same job in every block of every epoch)
        self.owner: dict[str, list[_EpochJob]] = {}
        self.running_spec: set[str] = set()
        self.jobs: dict[int, _EpochJob] = {}
        self.records: dict[int, EpochRecord] = {}
        self.busy = 0.0
        self.spec_spent = 0.0
        self.spec_wasted = 0.0
        self.jobs_done = 0
        self.measured_time = 0.0
        self.measured_gates = 0.0
        self.stopped = False
        # L1
        self.pending_block = 0
        self.proven_block = 0
        self.claim: ProofClaim | None = None
        self.pool: dict[int, list[EpochProofQuote]] = {}
        # prover nodes
        self.me_key = (1).to_bytes(32, "big")
        self.me = address_of(self.me_key)
        self.my_state = MonitorState()
        self.competitors = [
            _Competitor(f"prover-{i + 1}", (100 + i).to_bytes(32, "big"), self._competitor_fee(i))
            for i in range(c.competitors)
        ]
        self.simple = SimpleQuoteProvider(c.our_fee_bps, 1000)
        self.plan_provider = PlanQuoteProvider(
            PlanQuoteConfig(
                agents=c.agents, bond_amount=1000, slot_duration=c.slot_duration,
                epoch_duration=c.blocks_per_epoch, claim_window=c.claim_window,
                seconds_per_mgate=c.seconds_per_mgate, deadline_margin=c.deadline_margin,
                failure_allowance=min(0.5, 2 * c.failure_rate + 0.02), cost_per_agent_hour=c.cost_per_agent_hour,
            ),
            self,
            measured_seconds_per_mgate=self._measured_spm,
            done_keys=self._done_keys,
            clock=lambda: self.now,
        )

    # ------------------------------------------------------------------ helpers

    def _competitor_fee(self, i: int) -> Callable[[int], int]:
        c = self.c

        def fee(epoch: int) -> int:
            if c.win_every <= 1 or epoch % c.win_every == 0:
                return min(10_000, c.our_fee_bps + 100 + i)  # above ours: we win
            return max(0, c.our_fee_bps - 50 - i)

        return fee

    def _measured_spm(self) -> float | None:
        return self.measured_time / self.measured_gates if self.measured_gates > 100 else None

    def txs_of(self, epoch: int) -> int:
        ch = self.c.txs_per_block_choices
        if not ch:
            return self.c.txs_per_block
        return ch[random.Random(self.c.seed * 7919 + epoch).randrange(len(ch))]

    def data(self, epoch: int) -> SyntheticEpoch:
        return _epoch_data(self.c.blocks_per_epoch, self.txs_of(epoch), self.c.public_fraction, epoch, self.c.seed)

    def epoch_shapes(self, epoch: int) -> Sequence[BlockShape]:  # ShapeSource for the plan provider
        d = self.data(epoch)
        return [BlockShape(len(b.txs), sum(1 for t in b.txs if t.has_public_calls)) for b in d.blocks]

    def _done_keys(self, epoch: int) -> frozenset[str]:
        job = self.jobs.get(epoch)
        if job is None:
            return frozenset()
        return frozenset(k for k in job.plan.emitted() if job.plan.output(k) is not None)

    def _push(self, t: float, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, self._seq, kind, payload))

    def _duration(self, job_id: str, ptype: Any) -> float:
        h = int.from_bytes(hashlib.sha256(f"{self.c.seed}:{job_id}".encode()).digest()[:8], "big") / 2**64
        return GATES_MILLIONS[ptype] * self.c.seconds_per_mgate * (1.0 + self.c.jitter * (2.0 * h - 1.0))

    def epoch_first_slot(self, epoch: int) -> int:
        return self.timing.first_slot_of_epoch(epoch)

    def deadline_of(self, epoch: int) -> float:
        return float(self.timing.proof_deadline(epoch) + 1)  # the proof must land before slot (N+2)*E

    # ------------------------------------------------------------------ run

    def run(self) -> SimResult:
        c = self.c
        last_epoch = c.epochs  # epochs 1..E are built; we run until E is settled
        for e in range(1, last_epoch + 1):
            self.records[e] = EpochRecord(e, txs=self.txs_of(e) * c.blocks_per_epoch)
        end_slot = self.epoch_first_slot(last_epoch + 2) + 1
        self.end_time = float((end_slot + 1) * c.slot_duration)
        for s in range(self.epoch_first_slot(1), end_slot + 1):
            self._push(float(s * c.slot_duration), "slot", s)
        if c.failure_rate > 0:
            self._push(c.heartbeat_s, "tick", None)
        while self._events and not self.stopped:
            t, _, kind, payload = heapq.heappop(self._events)
            self.now = t
            if kind == "slot":
                self._on_slot(payload)
            elif kind == "done":
                self._on_done(*payload)
            elif kind == "crash":
                self._on_crash(*payload)
            elif kind == "restart":
                self.agents[payload].down = False
                self.idle.append(payload)
                self._pump()
            elif kind == "tick":
                self._on_tick()
                if t + c.heartbeat_s <= self.end_time:
                    self._push(t + c.heartbeat_s, "tick", None)
            elif kind == "deadline":
                self._on_deadline(payload)
            elif kind == "competitor-proof":
                self._prove_on_l1(payload)
        return SimResult(c, self.records, self.busy, self.spec_wasted, self.spec_spent, self.jobs_done,
                         self.broker.timeouts, self.now, self.stopped)

    # ------------------------------------------------------------------ L1 / sequencer / monitors

    def _epoch_to_prove(self) -> int | None:
        if self.pending_block == self.proven_block:
            return None
        return (self.proven_block) // self.c.blocks_per_epoch + 1  # epoch e holds blocks (e-1)*B+1 .. e*B

    def _view(self, slot: int) -> ChainView:
        return ChainView(slot, self.c.blocks_per_epoch, self.c.claim_window, self.pending_block, self.proven_block,
                         self._epoch_to_prove(), self.claim)

    def _on_slot(self, s: int) -> None:
        c = self.c
        # 1. the block proposed in slot s-1 lands (slots of epochs 1..E carry blocks)
        prev = s - 1
        e_prev = self.timing.epoch_at_slot(prev) if prev >= 0 else 0
        if 1 <= e_prev <= c.epochs:
            self.pending_block += 1
            self._on_block(e_prev, self.timing.position_in_epoch(prev))
        # 2. a claim made in slot s-1 (position claim_position) lands now
        if prev >= 0 and self.timing.position_in_epoch(prev) == c.claim_position:
            self._sequencer_claim(prev)
        # 3. every prover node polls L1
        view = self._view(s)
        for comp in self.competitors:
            for action in decide(view, comp.state, comp.address):
                if isinstance(action, SendQuote):
                    comp.state.quoted.add(action.epoch)
                    payload = EpochProofQuotePayload(action.epoch, action.valid_until_slot, 1000, comp.address,
                                                     comp.fee(action.epoch))
                    self.pool.setdefault(action.epoch, []).append(
                        EpochProofQuote.new(payload, comp.key, CHAIN_ID, ROLLUP))
                elif isinstance(action, StartProving):
                    comp.state.proving.add(action.epoch)
        for action in decide(view, self.my_state, self.me):
            if isinstance(action, SendQuote):
                self._our_quote(action)
            elif isinstance(action, StartProving):
                self.my_state.proving.add(action.epoch)
                self._start_proving(action.epoch)

    def _sequencer_claim(self, slot: int) -> None:
        e = self._epoch_to_prove()
        if e is None or (self.claim is not None and self.claim.epoch_to_prove == e):
            return
        quote = select_best_quote(self.pool.get(e, []), slot)
        if quote is None:
            return
        ctx = ClaimContext(current_slot=slot, epoch_to_prove=e, proposer=ZERO_ADDRESS, sender=b"\x01" * 20,
                           already_claimed=False, escrow_deposit=10**24, claim_duration=self.c.claim_window,
                           epoch_duration=self.c.blocks_per_epoch)
        if check_claim(quote, ctx, chain_id=CHAIN_ID, rollup=ROLLUP) is not None:
            return
        p = quote.payload
        self.claim = ProofClaim(e, p.basis_point_fee, p.bond_amount, p.prover, b"\x01" * 20)
        rec = self.records[e]
        rec.claimed_at = self.now
        rec.deadline = self.deadline_of(e)
        if p.prover == self.me:
            rec.winner = "us"
            self._push(rec.deadline, "deadline", e)
        else:
            rec.winner = next(x.name for x in self.competitors if x.address == p.prover)
            self._lost(e)
            self._push(min(self.now + self.c.competitor_latency, rec.deadline - 1.0), "competitor-proof", e)

    def _prove_on_l1(self, e: int) -> None:
        last = e * self.c.blocks_per_epoch
        if self.proven_block < last:
            self.proven_block = last
        self.claim = None if self.claim is not None and self.claim.epoch_to_prove == e else self.claim
        self.my_state.forget_before(e + 1)
        for comp in self.competitors:
            comp.state.forget_before(e + 1)
        self.pool.pop(e, None)

    def _our_quote(self, action: SendQuote) -> None:
        e = action.epoch
        self.my_state.quoted.add(e)  # one attempt per epoch
        rec = self.records[e]
        d = self.data(e)
        req = QuoteRequest(e, d.blocks[0].global_variables.block_number, d.blocks[-1].global_variables.block_number,
                           d.total_txs, sum(b.expected_header.total_fees for b in d.blocks
                                              if b.expected_header is not None))
        try:
            params: QuoteParams = (self.plan_provider.quote(req) if self.c.quote_provider == "plan"
                                   else self.simple.params)
        except QuoteProviderError as exc:
            rec.refused = str(exc)
            self._lost(e)  # drop speculation for an epoch we will not quote
            return
        rec.quoted = True
        payload = EpochProofQuotePayload(e, action.valid_until_slot, params.bond_amount, self.me,
                                         params.basis_point_fee)
        self.pool.setdefault(e, []).append(EpochProofQuote.new(payload, self.me_key, CHAIN_ID, ROLLUP))

    # ------------------------------------------------------------------ our prover node

    def _new_job(self, e: int, claimed: bool) -> _EpochJob:
        d = self.data(e)
        mode: PriorityMode = "aztec" if self.c.behaviour == "aztec" else "critical-path"
        plan = EpochProvingPlan(
            EpochStart(e, len(d.blocks), d.previous_archive, d.archive_sibling_path, d.previous_block_hash,
                       vk_tree_root=2, protocol_contract_tree_root=3, prover_id=int.from_bytes(self.me, "big"),
                       chain_id=d.chain_id),
            priority_mode=mode,
        )
        job = _EpochJob(e, d, plan, self.c.behaviour, claimed, self.deadline_of(e))
        self.jobs[e] = job
        return job

    def _feed(self, job: _EpochJob, upto: int) -> None:
        while job.blocks_fed < upto and not job.dead:
            b = job.data.blocks[job.blocks_fed]
            job.plan.start_block(b.global_variables, b.l1_to_l2_messages, max(2, len(b.txs)), b.start_state,
                                 b.end_state, b.expected_header)
            for tx in b.txs:
                job.plan.add_tx(tx)
            job.plan.complete_block()
            job.blocks_fed += 1
            self._submit(job)
        if job.blocks_fed == len(job.data.blocks) and not job.plan.finalised:
            job.plan.finalise()
            self._submit(job)

    def _on_block(self, e: int, index: int) -> None:
        c = self.c
        if c.behaviour != "ours" or not c.speculation or self.records[e].refused is not None:
            return
        job = self.jobs.get(e) or self._new_job(e, claimed=False)
        self._feed(job, index + 1)
        self._flush()

    def _start_proving(self, e: int) -> None:
        rec = self.records[e]
        job = self.jobs.get(e)
        if job is None:
            job = self._new_job(e, claimed=True)
        else:
            job.claimed = True
            for job_id, action in job.actions.items():
                if self.broker.set_priority(job_id, self._key(job, action)):
                    self.running_spec.discard(job_id)
        rec.claimed_at = rec.claimed_at if rec.claimed_at is not None else self.now
        self._feed(job, len(job.data.blocks))
        deferred, job.deferred = job.deferred, []
        for action in deferred:
            self._enqueue(job, action)
        self._flush()

    def _lost(self, e: int) -> None:
        job = self.jobs.pop(e, None)
        if job is None:
            return
        job.dead = True
        for job_id in list(job.ids):
            if self._unsubscribe(job, job_id):
                continue  # another epoch still needs it
            rec = self.broker.record(job_id)
            if rec is not None and rec.state == JobState.IN_PROGRESS:
                for i, a in enumerate(self.agents):
                    if a.job == job_id and not a.down:
                        spent = self.now - a.started
                        self.busy += spent
                        job.spent += spent
                        self.spec_spent += spent
                        a.job, a.token = None, a.token + 1
                        self.idle.append(i)
            self.broker.cancel(job_id, self.now)
            self.broker.cancel(job_id, self.now)  # settled now: removed
            self.running_spec.discard(job_id)
        self.records[e].wasted = job.spent
        self.spec_wasted += job.spent
        self._flush()

    def _unsubscribe(self, job: _EpochJob, job_id: str) -> bool:
        """Drop ``job`` from the job's waiters; True if other epochs still wait for it."""
        owners = [o for o in self.owner.get(job_id, []) if o is not job]
        if owners:
            self.owner[job_id] = owners
            return True
        self.owner.pop(job_id, None)
        return False

    def _speculative(self, job_id: str) -> bool:
        owners = self.owner.get(job_id, [])
        return bool(owners) and not any(o.claimed for o in owners)

    def _key(self, job: _EpochJob, action: EnqueueJob) -> int:
        if job.behaviour == "aztec":
            return action.priority
        return deadline_key(rank_of(action), job.deadline, self.c.seconds_per_mgate, speculative=not job.claimed)

    def _submit(self, job: _EpochJob) -> None:
        for action in job.plan.take_actions():
            if not job.claimed and is_epoch_level(action):
                job.deferred.append(action)
            else:
                self._enqueue(job, action)

    def _enqueue(self, job: _EpochJob, action: EnqueueJob) -> None:
        job_id = make_job_id(action.type, action.inputs)
        job.ids.setdefault(job_id, []).append(action.key)
        job.actions[job_id] = action
        owners = self.owner.setdefault(job_id, [])
        if job not in owners:
            owners.append(job)
        status = self.broker.enqueue(
            ProvingJob(job_id, action.type, action.epoch_number, job_id, self._key(job, action)), self.now)
        if status.status == "fulfilled":
            self._deliver(job, job_id, action)

    def _flush(self) -> None:
        eff = self.broker.take_effects()
        if eff.persist:
            self.broker.on_journaled(list(eff.persist))
        for job_id in eff.settled:
            rec = self.broker.record(job_id)
            if rec is not None and rec.state == JobState.REJECTED and rec.reason != ABORTED_REASON:
                for owner in list(self.owner.get(job_id, [])):
                    self._fail(owner, f"{rec.type.name} {rec.reason}")
        self.broker.take_effects()
        self._pump()

    def _fail(self, job: _EpochJob, reason: str) -> None:
        rec = self.records[job.epoch]
        rec.failed = reason
        self._lost(job.epoch)
        if self.c.stop_on_miss:
            self.stopped = True

    def _deliver(self, job: _EpochJob, job_id: str, action: EnqueueJob) -> None:
        if job.dead:
            return
        output = _circuit_output(job_id, action)
        for key in job.ids.get(job_id, []):
            if job.plan.output(key) is None:
                job.plan.on_result(key, output)
        self._submit(job)
        if job.plan.done and not job.done:
            job.done = True
            self._epoch_proven(job)

    def _epoch_proven(self, job: _EpochJob) -> None:
        rec = self.records[job.epoch]
        rec.proven_at = self.now + self.c.submit_latency
        if rec.proven_at > rec.deadline:
            rec.missed = True
            if self.c.stop_on_miss:
                self.stopped = True
        self.jobs.pop(job.epoch, None)
        for job_id in job.ids:
            if not self._unsubscribe(job, job_id):
                self.broker.cancel(job_id, self.now)  # settled: removed (bounded broker memory)
        self._prove_on_l1(job.epoch)

    def _on_deadline(self, e: int) -> None:
        rec = self.records[e]
        if rec.proven_at is None and rec.winner == "us":
            rec.missed = True
            if not self.c.abandon_on_miss:
                return
            if self.c.stop_on_miss:
                self.stopped = True
                return
            self._lost(e)
            rec.wasted = 0.0  # it was ours: not speculation
            self._prove_on_l1(e)  # pruning is not modelled: the chain moves on

    # ------------------------------------------------------------------ agents

    def _pump(self) -> None:
        cap = max(1, int(self.c.agents * self.c.speculative_share))
        while self.idle and self.broker.has_work_for(ANY):
            i = self.idle.pop()
            below = SPECULATIVE_OFFSET_MS if len(self.running_spec) >= cap else None
            rec = self.broker.dispatch(ANY, self.agents[i].name, self.now, below_priority=below)
            if rec is None:
                self.idle.append(i)
                break
            a = self.agents[i]
            a.job, a.started, a.token = rec.id, self.now, a.token + 1
            if self._speculative(rec.id):
                self.running_spec.add(rec.id)
            dur = self._duration(rec.id, rec.type)
            if self.c.failure_rate > 0 and self.rng.random() < self.c.failure_rate:
                self._push(self.now + self.rng.random() * dur, "crash", (i, a.token))
            else:
                self._push(self.now + dur, "done", (i, a.token))

    def _account(self, a: _Agent) -> None:
        spent = self.now - a.started
        self.busy += spent
        assert a.job is not None
        owners = self.owner.get(a.job, [])
        if owners:
            owners[0].spent += spent
            if self._speculative(a.job):
                self.spec_spent += spent
        self.running_spec.discard(a.job)

    def _on_done(self, i: int, token: int) -> None:
        a = self.agents[i]
        if a.token != token or a.job is None or a.down:
            return
        job_id = a.job
        self._account(a)
        rec = self.broker.record(job_id)
        if rec is not None:
            self.measured_time += self.now - a.started
            self.measured_gates += GATES_MILLIONS[rec.type]
        a.job = None
        self.idle.append(i)
        out = self.broker.report_success(job_id, job_id, a.name, self.now)
        if out.applied:
            self.jobs_done += 1
            for owner in list(self.owner.get(job_id, [])):
                self._deliver(owner, job_id, owner.actions[job_id])
        self._flush()

    def _on_crash(self, i: int, token: int) -> None:
        a = self.agents[i]
        if a.token != token or a.job is None:
            return
        self._account(a)
        a.job, a.down, a.token = None, True, a.token + 1
        self._push(self.now + self.c.restart_s, "restart", i)

    def _on_tick(self) -> None:
        for i, a in enumerate(self.agents):
            if a.job is not None and not a.down and (
                self.broker.report_progress(a.job, a.name, self.now) == "abort"
            ):
                    self._account(a)
                    a.job, a.token = None, a.token + 1
                    self.idle.append(i)
        self.broker.tick(self.now)
        self._flush()


def simulate(config: SimConfig) -> SimResult:
    return Simulation(config).run()


def fewest_agents(config: SimConfig, lo: int, hi: int) -> tuple[int | None, dict[int, SimResult]]:
    """Smallest agent count in [lo, hi] proving every epoch we win before its deadline (binary
    search; each probe is one seeded simulation that stops at the first miss)."""
    runs: dict[int, SimResult] = {}

    def ok(n: int) -> bool:
        if n not in runs:
            runs[n] = simulate(_replace(config, agents=n, stop_on_miss=True))
        r = runs[n]
        return not r.stopped_early and r.missed == 0 and all(x.proven_at is not None for x in r.ours())

    if not ok(hi):
        return None, runs
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo, runs


def _replace(c: SimConfig, **kw: Any) -> SimConfig:
    from dataclasses import replace

    return replace(c, **kw)


def throughput_bound(config: SimConfig) -> float:
    """Agents no scheduling can go below in steady state: an epoch's work / the epoch's duration."""
    sim = Simulation(config)
    from proving.orchestrator.schedule import epoch_tree, nominal_durations

    work = math.fsum(nominal_durations(epoch_tree(sim.epoch_shapes(1)), config.seconds_per_mgate))
    return work / (config.blocks_per_epoch * config.slot_duration)
