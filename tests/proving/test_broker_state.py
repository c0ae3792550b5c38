"""Property tests of the sans-IO broker state machine: a hypothesis rule-based machine drives
random enqueue / dispatch / report / cancel / lease expiry / undelivered dispatch / broker stall /
journal-commit / crash-restore sequences and checks the broker's promises after every step:
journal before dispatch and ack, no result applied twice, attempts spent only by errors agents
report, lease expiries only by acknowledged jobs, a broker stall expires nothing."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from proving.broker.state import ABORTED_REASON, JobRecord, JobState, JobStateMachine
from proving.broker.store import Row, record_row, row_record
from proving.types import JobFilter, ProvingJob, ProvingRequestType

IDS = [f"job{i}" for i in range(8)]
TYPES = [ProvingRequestType.TUBE_PROOF, ProvingRequestType.MERGE_ROLLUP, ProvingRequestType.PUBLIC_VM]
AGENTS = ["a", "b", "c"]
TIMEOUT = 10.0
MAX_ATTEMPTS = 3
MAX_EXPIRIES = 2
STALL = 15.0


def _type_of(job_id: str) -> ProvingRequestType:
    return TYPES[int(job_id[3:]) % len(TYPES)]


class BrokerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.m = self._new_machine()
        self.pending: dict[str, Row] = {}  # written, not yet committed
        self.pending_deletes: set[str] = set()
        self.durable: dict[str, Row] = {}
        self.acked_enqueues: set[str] = set()  # enqueue acknowledged (after commit)
        self.unacked: set[str] = set()
        self.final: dict[str, tuple[str, str | None]] = {}  # settled id -> (status, value) as first applied
        self.applied_success: dict[str, int] = {}
        self.holders: dict[str, str] = {}  # job -> agent holding it
        self.errors: dict[str, int] = {}  # applied error reports since the job (re)started
        self.acked: set[str] = set()  # in progress and acknowledged by its agent (heartbeat)
        self.last_tick: float | None = None  # a new machine has not ticked yet

    def _new_machine(self) -> JobStateMachine:
        return JobStateMachine(
            job_timeout=TIMEOUT, max_attempts=MAX_ATTEMPTS, max_lease_expiries=MAX_EXPIRIES, stall_threshold=STALL
        )

    def _collect(self) -> None:
        eff = self.m.take_effects()
        for job_id, rec in eff.persist.items():
            self.pending[job_id] = record_row(rec)
            self.pending_deletes.discard(job_id)
        for job_id in eff.delete:
            self.pending.pop(job_id, None)
            self.pending_deletes.add(job_id)
            self.final.pop(job_id, None)
            self.acked_enqueues.discard(job_id)
            self.applied_success.pop(job_id, None)
            self.errors.pop(job_id, None)
        for job_id in eff.settled:
            rec = self.m.record(job_id)
            assert rec is not None and rec.state in (JobState.FULFILLED, JobState.REJECTED)

    @rule(job_id=st.sampled_from(IDS), epoch=st.integers(0, 3), priority=st.integers(-2, 2))
    def enqueue(self, job_id: str, epoch: int, priority: int) -> None:
        before = self.m.status(job_id)
        status = self.m.enqueue(ProvingJob(job_id, _type_of(job_id), epoch, f"uri:{job_id}", priority), self.now)
        if before.status == "rejected" and before.reason == ABORTED_REASON:
            self.final.pop(job_id, None)  # an aborted job is revived by a new enqueue
            self.errors.pop(job_id, None)
        elif before.settled:
            assert status == before  # idempotent: a settled job keeps its result
        self._collect()
        self.unacked.add(job_id)

    @rule()
    def commit(self) -> None:
        for job_id, row in self.pending.items():
            self.durable[job_id] = row
        for job_id in self.pending_deletes:
            self.durable.pop(job_id, None)
        ids = list(self.pending)
        self.pending.clear()
        self.pending_deletes.clear()
        self.m.on_journaled(ids)
        self._collect()
        self.acked_enqueues |= self.unacked & set(self.durable)
        self.unacked.clear()

    @rule(agent=st.sampled_from(AGENTS), only=st.sets(st.sampled_from(TYPES)) | st.none())
    def dispatch(self, agent: str, only: set[ProvingRequestType] | None) -> None:
        flt = JobFilter(None if only is None else frozenset(only))
        eligible = [
            r
            for r in self.m.records()
            if r.state == JobState.QUEUED and not r.awaiting_journal and flt.accepts(r.type)
        ]
        rec = self.m.dispatch(flt, agent, self.now)
        self._collect()
        if not eligible:
            assert rec is None
            return
        assert rec is not None
        assert rec.id in self.durable or rec.id in self.pending  # journal before dispatch
        best = min(eligible, key=lambda r: (r.epoch, r.priority, r.seq))
        assert (rec.epoch, rec.priority, rec.seq) == (best.epoch, best.priority, best.seq)
        assert rec.state == JobState.IN_PROGRESS
        self.holders[rec.id] = agent
        self.acked.discard(rec.id)

    @rule(job_id=st.sampled_from(IDS), agent=st.sampled_from(AGENTS))
    def success(self, job_id: str, agent: str) -> None:
        before = self.m.status(job_id)
        out = self.m.report_success(job_id, f"result:{job_id}:{agent}", agent, self.now)
        self._collect()
        if before.settled or before.status == "not-found":
            assert not out.applied  # a late or duplicate result is never applied
            assert self.m.status(job_id) == before
        else:
            assert out.applied
            self.applied_success[job_id] = self.applied_success.get(job_id, 0) + 1
            self.final[job_id] = ("fulfilled", f"result:{job_id}:{agent}")

    @rule(job_id=st.sampled_from(IDS), agent=st.sampled_from(AGENTS), retry=st.booleans())
    def error(self, job_id: str, agent: str, retry: bool) -> None:
        before = self.m.record(job_id)
        attempts = None if before is None else before.attempts
        out = self.m.report_error(job_id, "boom", retry, agent, self.now)
        self._collect()
        rec = self.m.record(job_id)
        if out.applied:
            assert rec is not None and attempts is not None and rec.attempts == attempts + 1
            self.errors[job_id] = self.errors.get(job_id, 0) + 1
            if rec.state == JobState.REJECTED:
                self.final[job_id] = ("rejected", None)
            else:
                assert retry and rec.attempts < MAX_ATTEMPTS

    @rule(job_id=st.sampled_from(IDS))
    def cancel(self, job_id: str) -> None:
        before = self.m.status(job_id)
        after = self.m.cancel(job_id, self.now)
        self._collect()
        if before.settled:
            assert after.status == "not-found"
            self.final.pop(job_id, None)
        elif before.status != "not-found":
            assert after.status == "rejected" and after.reason == ABORTED_REASON
            self.final[job_id] = ("rejected", None)

    @rule(job_id=st.sampled_from(IDS), agent=st.sampled_from(AGENTS))
    def progress(self, job_id: str, agent: str) -> None:
        verdict = self.m.report_progress(job_id, agent, self.now)
        self._collect()
        status = self.m.status(job_id)
        if verdict == "continue":
            assert status.status == "in-progress"
            self.holders[job_id] = agent
            self.acked.add(job_id)

    @rule(job_id=st.sampled_from(IDS), agent=st.sampled_from(AGENTS))
    def undelivered(self, job_id: str, agent: str) -> None:
        """The transport could not hand the job to ``agent``: back to the queue, nothing spent."""
        rec = self.m.record(job_id)
        before = None if rec is None else (rec.state, rec.agent, rec.attempts, rec.expiries)
        released = self.m.release(job_id, agent)
        self._collect()
        if released:
            assert before is not None and before[0] == JobState.IN_PROGRESS and before[1] == agent
            assert job_id not in self.acked
            rec = self.m.record(job_id)
            assert rec is not None and rec.state == JobState.QUEUED
            assert (rec.attempts, rec.expiries) == (before[2], before[3])
        elif before is not None and before[0] == JobState.IN_PROGRESS and before[1] == agent:
            assert job_id in self.acked

    @rule(dt=st.floats(0, 2 * TIMEOUT))
    def advance(self, dt: float) -> None:
        self.now += dt
        before = {r.id: (r.attempts, r.expiries) for r in self.m.records()}
        expired = self.m.tick(self.now)
        self._collect()
        stalled = self.last_tick is not None and self.now - self.last_tick > STALL
        self.last_tick = self.now
        if stalled:
            assert expired == []  # the broker stalled: nobody could heartbeat, nobody loses a lease
        for job_id in expired:
            rec = self.m.record(job_id)
            assert rec is not None and rec.state in (JobState.QUEUED, JobState.REJECTED)
            attempts, expiries = before[job_id]
            assert rec.attempts == attempts  # a lease expiry is not an attempt
            if job_id in self.acked:
                assert rec.expiries == expiries + 1
            else:
                assert rec.expiries == expiries and rec.state == JobState.QUEUED  # undelivered: free
            self.acked.discard(job_id)
            if rec.state == JobState.REJECTED:
                assert rec.expiries >= MAX_EXPIRIES
                self.final[job_id] = ("rejected", None)

    @rule(epoch=st.integers(0, 4))
    def cleanup(self, epoch: int) -> None:
        self.m.cleanup_epochs_before(epoch)
        self._collect()

    @precondition(lambda self: not self.pending and not self.pending_deletes)
    @rule()
    def crash_and_restore(self) -> None:
        """kill -9: only committed rows survive; everything acknowledged must be there."""
        self.m = self._new_machine()
        records: list[JobRecord] = [row_record(r) for r in self.durable.values()]
        self.m.restore(records)
        self.m.take_effects()
        self.unacked.clear()
        self.acked.clear()
        self.last_tick = None
        for job_id in self.acked_enqueues:
            assert self.m.status(job_id).status != "not-found", job_id
        for job_id, (status, value) in self.final.items():
            if job_id in self.durable:
                st_ = self.m.status(job_id)
                assert st_.status == status
                if value is not None:
                    assert st_.value == value
        for rec in self.m.records():
            assert rec.state != JobState.IN_PROGRESS

    @invariant()
    def consistent(self) -> None:
        self.m.check_invariants()
        for rec in self.m.records():
            # attempts are spent only by errors agents reported (not restarts, leases, releases)
            assert rec.attempts == self.errors.get(rec.id, 0), (rec, self.errors)
            if rec.state != JobState.IN_PROGRESS:
                self.acked.discard(rec.id)
        for job_id, n in self.applied_success.items():
            assert n <= 1 or job_id not in self.final or self.final[job_id][0] == "fulfilled"
        for job_id, (status, value) in self.final.items():
            st_ = self.m.status(job_id)
            if st_.status == "not-found":
                continue
            if status == "fulfilled":
                assert st_.status == "fulfilled" and st_.value == value


BrokerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
TestBrokerStateMachine = BrokerMachine.TestCase


def test_public_vm_never_retried() -> None:
    m = JobStateMachine()
    m.enqueue(ProvingJob("avm", ProvingRequestType.PUBLIC_VM, 1, "u"), 0.0)
    m.on_journaled(["avm"])
    assert m.dispatch(JobFilter(), "a", 0.0) is not None
    out = m.report_error("avm", "crash", True, "a", 1.0)
    assert out.applied and out.status.status == "rejected"
    assert out.status.reason is not None and "crash" in out.status.reason


def test_timeouts_are_bounded_then_terminal() -> None:
    m = JobStateMachine(job_timeout=5, max_attempts=3, max_lease_expiries=3)
    m.enqueue(ProvingJob("j", ProvingRequestType.TUBE_PROOF, 1, "u"), 0.0)
    m.on_journaled(["j"])
    now = 0.0
    for _ in range(3):
        assert m.dispatch(JobFilter(), "a", now) is not None
        assert m.report_progress("j", "a", now) == "continue"  # the agent acknowledged it, then died
        now += 6
        assert m.tick(now) == ["j"]
    st_ = m.status("j")
    assert st_.status == "rejected" and st_.reason is not None and "Timed out" in st_.reason
    rec = m.record("j")
    assert rec is not None and rec.attempts == 0 and rec.expiries == 3


def test_undelivered_dispatch_and_broker_stall_spend_nothing() -> None:
    m = JobStateMachine(job_timeout=5, max_attempts=1, max_lease_expiries=1, stall_threshold=3)
    m.enqueue(ProvingJob("j", ProvingRequestType.TUBE_PROOF, 1, "u"), 0.0)
    m.on_journaled(["j"])
    m.tick(0.0)
    now = 0.0
    for _ in range(5):  # handed to long-polls whose clients were gone: never acknowledged
        assert m.dispatch(JobFilter(), "ghost", now) is not None
        now += 2
        m.tick(now)
        now += 2
        m.tick(now)
        now += 2
        assert m.tick(now) == ["j"]
    assert m.status("j").status == "in-queue" and m.undelivered == 5 and m.timeouts == 0
    assert m.dispatch(JobFilter(), "a", now) is not None
    assert m.report_progress("j", "a", now) == "continue"
    now += 60  # the broker itself was suspended for a minute: the lease is extended, not expired
    assert m.tick(now) == [] and m.stalls == 1
    assert m.report_progress("j", "a", now + 1) == "continue"
    rec = m.record("j")
    assert rec is not None and rec.state == JobState.IN_PROGRESS and rec.attempts == 0


def test_dispatch_waits_for_journal() -> None:
    m = JobStateMachine()
    m.enqueue(ProvingJob("j", ProvingRequestType.TUBE_PROOF, 1, "u"), 0.0)
    assert m.dispatch(JobFilter(), "a", 0.0) is None
    m.on_journaled(["j"])
    rec = m.dispatch(JobFilter(), "a", 0.0)
    assert rec is not None and rec.id == "j"


def test_aztec_policy_uses_fixed_type_order() -> None:
    m = JobStateMachine(policy="aztec")
    m.enqueue(ProvingJob("t", ProvingRequestType.TUBE_PROOF, 0, "u", priority=-100), 0.0)
    m.enqueue(ProvingJob("r", ProvingRequestType.BLOCK_ROOT_ROLLUP, 5, "u"), 0.0)
    m.on_journaled(["t", "r"])
    rec = m.dispatch(JobFilter(), "a", 0.0)
    assert rec is not None and rec.id == "r"
