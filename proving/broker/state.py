"""The broker's job state machine: sans-IO (method calls in, effects out).

Every method takes the current time explicitly and never blocks. The I/O driver
(:mod:`proving.broker.core`) calls :meth:`JobStateMachine.take_effects` after each event and:

- writes ``effects.persist`` / ``effects.delete`` to the journal (one group commit);
- after that commit, calls :meth:`JobStateMachine.on_journaled` so newly enqueued (or revived)
  jobs become dispatchable (*journal before dispatch*), wakes waiters of ``effects.settled`` and
  acknowledges the callers (*durable before ack*);
- wakes agents waiting for ``effects.available`` types.

Lifecycle of a job::

    enqueue ──journaled──▶ QUEUED ──dispatch──▶ IN_PROGRESS ──success──▶ FULFILLED
                             ▲                      │  │
                             └── error (retryable,  │  └── error (final) / attempts used up ──▶ REJECTED
                                 attempts left) or  │
                                 heartbeat timeout ─┘          cancel (any unsettled) ──▶ REJECTED("Aborted")

Leases: a dispatched job is leased to its agent for ``job_timeout`` seconds, renewed by every
progress report (heartbeat). An agent acknowledges a job by heartbeating it at once; a job whose lease
runs out *unacknowledged* was never delivered (the long-poll's client was gone, the answer was lost)
and goes back to the queue without spending anything. A job whose acknowledged lease runs out (its
agent died or hung) is re-queued and counts one *lease expiry*; ``max_lease_expiries`` of them reject
it (a job that kills every agent must end). ``attempts`` count only errors reported by agents
(Aztec's MAX_RETRIES): a broker restart, an undelivered dispatch or a stall of the broker itself
(``tick`` called after a gap longer than ``stall_threshold``: leases are extended by the gap) never
spends an attempt.

A settled job never changes again (a late or duplicate result is acknowledged but not applied),
except that ``cancel`` of a settled job removes it and re-``enqueue`` of an *aborted* job revives
it. IN_PROGRESS is not journaled: after a restart every unsettled job is QUEUED again.
"""
# size: one sans-IO state machine (JobStateMachine) whose transitions share its invariants (queue keys, leases,
# attempts); split, each half would reach into the other's fields.

from __future__ import annotations

import enum
import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from proving.types import (
    AZTEC_TYPE_PRIORITY,
    IN_PROGRESS,
    IN_QUEUE,
    NOT_FOUND,
    JobFilter,
    JobStatus,
    ProgressVerdict,
    ProvingJob,
    ProvingRequestType,
)

ABORTED_REASON: Final = "Aborted"
DEFAULT_MAX_ATTEMPTS: Final = 3  # Aztec's MAX_RETRIES: attempts in total (errors reported by agents)
DEFAULT_JOB_TIMEOUT: Final = 3.0  # PROVER_JOB_TIMEOUT_MS: the lease (3 agent heartbeats of 1 s)
DEFAULT_MAX_LEASE_EXPIRIES: Final = 10  # an agent died holding it this often: rejected
DEFAULT_MAX_JOBS: Final = 2_000_000
DEFAULT_MAX_QUEUED: Final = 200_000  # unsettled jobs (queued, awaiting the journal or in progress)
DEFAULT_MAX_URI_BYTES: Final = 1 << 30  # input/result URIs held in memory, all jobs together

# "priority": oldest epoch first, then the job's priority; "aztec": fixed proof-type order, then oldest;
# "deadline": the producer's priority key alone, across every epoch the broker holds (the key is a
# latest start time, see proving/orchestrator/schedule.py; smaller runs first).
DispatchPolicy = Literal["priority", "aztec", "deadline"]


class JobState(enum.IntEnum):
    QUEUED = 0
    IN_PROGRESS = 1
    FULFILLED = 2
    REJECTED = 3


SETTLED: Final = (JobState.FULFILLED, JobState.REJECTED)


class BrokerFullError(RuntimeError):
    """The broker holds ``max_jobs`` jobs, ``max_queued`` unsettled ones or ``max_uri_bytes`` of
    URIs; new jobs are refused (existing ones are untouched) until jobs settle or are cleaned up."""


class JobRecord:
    """Metadata of one job (inputs and proofs live in the proof store, by URI)."""

    __slots__ = (
        "acked",
        "agent",
        "attempts",
        "awaiting_journal",
        "deadline",
        "dispatched_at",
        "enqueued_at",
        "epoch",
        "expiries",
        "heartbeat_at",
        "id",
        "inputs_uri",
        "priority",
        "reason",
        "result",
        "seq",
        "state",
        "token",
        "type",
    )

    def __init__(
        self,
        *,
        id: str,
        type: ProvingRequestType,
        epoch: int,
        inputs_uri: str,
        priority: int,
        deadline: float | None,
        seq: int,
        state: JobState,
        attempts: int = 0,
        result: str | None = None,
        reason: str | None = None,
        enqueued_at: float = 0.0,
    ) -> None:
        self.id = id
        self.type = type
        self.epoch = epoch
        self.inputs_uri = inputs_uri
        self.priority = priority
        self.deadline = deadline
        self.seq = seq
        self.state = state
        self.attempts = attempts
        self.result = result
        self.reason = reason
        self.enqueued_at = enqueued_at
        self.dispatched_at = 0.0
        self.heartbeat_at = 0.0
        self.agent: str | None = None
        self.acked = False  # the agent heartbeated it since the dispatch (it was delivered)
        self.expiries = 0  # leases that ran out after the agent acknowledged the job (not journaled)
        self.token = -1
        self.awaiting_journal = False

    def job(self) -> ProvingJob:
        return ProvingJob(
            id=self.id,
            type=self.type,
            epoch_number=self.epoch,
            inputs_uri=self.inputs_uri,
            priority=self.priority,
            deadline=self.deadline,
        )

    def status(self) -> JobStatus:
        if self.state == JobState.FULFILLED:
            return JobStatus("fulfilled", value=self.result)
        if self.state == JobState.REJECTED:
            return JobStatus("rejected", reason=self.reason)
        if self.state == JobState.IN_PROGRESS:
            return IN_PROGRESS
        return IN_QUEUE

    def __repr__(self) -> str:
        return f"JobRecord({self.id}, {self.state.name}, attempts={self.attempts})"


@dataclass
class Effects:
    persist: dict[str, JobRecord] = field(default_factory=dict)
    delete: set[str] = field(default_factory=set)
    settled: list[str] = field(default_factory=list)
    available: set[ProvingRequestType] = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.persist or self.delete or self.settled or self.available)


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    applied: bool  # the result (or error) changed the job
    status: JobStatus  # the job's status after the report


@dataclass(frozen=True, slots=True)
class MachineStatistics:
    jobs: int
    queued: dict[str, int]
    in_progress: int
    fulfilled: int
    rejected: int
    awaiting_journal: int
    uri_bytes: int
    heap_entries: int
    timeouts: int
    undelivered: int
    stalls: int
    retries: int


def _uri_size(rec: JobRecord) -> int:
    return len(rec.inputs_uri) + len(rec.result or "")


_HeapEntry = tuple[int, int, float, int, int, str]  # epoch, priority, deadline, seq, token, id


class JobStateMachine:
    def __init__(
        self,
        *,
        job_timeout: float = DEFAULT_JOB_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_jobs: int = DEFAULT_MAX_JOBS,
        policy: DispatchPolicy = "priority",
        max_lease_expiries: int = DEFAULT_MAX_LEASE_EXPIRIES,
        stall_threshold: float | None = None,
        max_queued: int = DEFAULT_MAX_QUEUED,
        max_uri_bytes: int = DEFAULT_MAX_URI_BYTES,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if max_lease_expiries < 1:
            raise ValueError("max_lease_expiries must be >= 1")
        if job_timeout <= 0:
            raise ValueError("job_timeout must be > 0")
        self.job_timeout = job_timeout
        self.max_attempts = max_attempts
        self.max_lease_expiries = max_lease_expiries
        self.stall_threshold = stall_threshold
        self._last_tick: float | None = None
        self.max_jobs = max_jobs
        self.max_queued = max_queued
        self.max_uri_bytes = max_uri_bytes
        self._uri_bytes = 0
        self.policy: DispatchPolicy = policy
        self._jobs: dict[str, JobRecord] = {}
        self._heaps: dict[ProvingRequestType, list[_HeapEntry]] = {t: [] for t in ProvingRequestType}
        # every entry of every type's heap, in one heap (the same tuples): an agent that takes any type
        # gets the min over all types in O(log n), not one head look-up per type (issue 15: ~15% of a
        # report's CPU went into the per-type loop). Entries die lazily in both heaps (see _live).
        self._all: list[_HeapEntry] = []
        self._queued: dict[ProvingRequestType, int] = dict.fromkeys(ProvingRequestType, 0)
        self._in_progress: dict[str, JobRecord] = {}
        self._settled_counts = {JobState.FULFILLED: 0, JobState.REJECTED: 0}
        self._awaiting = 0
        self._seq = 0
        self._next_token = 0
        self._effects = Effects()
        self.timeouts = 0
        self.undelivered = 0
        self.stalls = 0
        self.retries = 0

    # ------------------------------------------------------------------ effects / bookkeeping

    def take_effects(self) -> Effects:
        eff, self._effects = self._effects, Effects()
        return eff

    def pending_persist(self, job_id: str) -> bool:
        """The job's record is among the effects not taken yet (an event since changed it)."""
        return job_id in self._effects.persist

    def _persist(self, rec: JobRecord) -> None:
        self._effects.persist[rec.id] = rec
        self._effects.delete.discard(rec.id)

    def _set_state(self, rec: JobRecord, new: JobState) -> None:
        old = rec.state
        if old == new:
            return
        if old == JobState.QUEUED and not rec.awaiting_journal:
            self._queued[rec.type] -= 1
        elif old == JobState.IN_PROGRESS:
            self._in_progress.pop(rec.id, None)
        elif old in SETTLED:
            self._settled_counts[old] -= 1
        rec.state = new
        rec.token = -1  # invalidates any heap entry
        if new == JobState.QUEUED:
            if not rec.awaiting_journal:
                self._push(rec)
        elif new == JobState.IN_PROGRESS:
            self._in_progress[rec.id] = rec
        else:
            self._settled_counts[new] += 1
            self._effects.settled.append(rec.id)

    def _push(self, rec: JobRecord) -> None:
        self._queued[rec.type] += 1
        rec.token = self._next_token  # unique across records, so re-created ids never match old entries
        self._next_token += 1
        deadline = math.inf if rec.deadline is None else rec.deadline
        heap = self._heaps[rec.type]
        first = 0 if self.policy == "deadline" else rec.epoch
        entry = (first, rec.priority, deadline, rec.seq, rec.token, rec.id)
        heapq.heappush(heap, entry)
        if self.policy != "aztec":  # (that policy walks the types in order: it never reads _all)
            heapq.heappush(self._all, entry)
        self._effects.available.add(rec.type)
        if len(heap) > 2 * self._queued[rec.type] + 1024:
            self._compact(rec.type)
        if len(self._all) > 2 * sum(self._queued.values()) + 4096:
            self._all = [e for e in self._all if self._live(e)]
            heapq.heapify(self._all)

    def _compact(self, ptype: ProvingRequestType) -> None:
        heap = [e for e in self._heaps[ptype] if self._live(e)]
        heapq.heapify(heap)
        self._heaps[ptype] = heap

    def _live(self, entry: _HeapEntry) -> bool:
        rec = self._jobs.get(entry[5])
        return rec is not None and rec.state == JobState.QUEUED and rec.token == entry[4]

    def _head(self, ptype: ProvingRequestType) -> _HeapEntry | None:
        heap = self._heaps[ptype]
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        return heap[0] if heap else None

    def _remove(self, rec: JobRecord) -> None:
        if rec.state == JobState.QUEUED:
            if rec.awaiting_journal:
                self._awaiting -= 1
            else:
                self._queued[rec.type] -= 1
        elif rec.state == JobState.IN_PROGRESS:
            self._in_progress.pop(rec.id, None)
        else:
            self._settled_counts[rec.state] -= 1
        rec.token = -1
        self._uri_bytes -= _uri_size(rec)
        del self._jobs[rec.id]
        self._effects.persist.pop(rec.id, None)
        self._effects.delete.add(rec.id)

    # ------------------------------------------------------------------ restore

    def restore(self, records: Iterable[JobRecord]) -> None:
        """Load journaled records after a restart; unsettled jobs become QUEUED and dispatchable."""
        for rec in records:
            if rec.id in self._jobs:
                continue
            self._seq = max(self._seq, rec.seq + 1)
            state = rec.state
            rec.state = JobState.QUEUED if state not in SETTLED else state
            rec.awaiting_journal = False
            self._jobs[rec.id] = rec
            self._uri_bytes += _uri_size(rec)
            if rec.state == JobState.QUEUED:
                self._push(rec)
            else:
                self._settled_counts[rec.state] += 1
        # (effects not taken yet stay: a batch of enqueues reads a settled job back from disk
        # between two of its enqueues, and their journal writes must not be lost - found by review)

    def reserve_seqs(self, below: int) -> None:
        """New jobs get seqs from `below` on (at least): seqs below it are taken in the journal."""
        self._seq = max(self._seq, below)

    # ------------------------------------------------------------------ producer events

    def enqueue(self, job: ProvingJob, now: float) -> JobStatus:
        rec = self._jobs.get(job.id)
        if rec is not None:
            if rec.type != job.type:
                raise ValueError(f"job {job.id} exists with type {rec.type.name}, not {job.type.name}")
            if rec.state == JobState.REJECTED and rec.reason == ABORTED_REASON:
                # Cancelled earlier; a new enqueue of the same inputs asks for it again.
                rec.attempts = 0
                rec.reason = None
                rec.epoch = max(rec.epoch, job.epoch_number)
                rec.awaiting_journal = True
                self._awaiting += 1
                self._set_state(rec, JobState.QUEUED)
                self._persist(rec)
                return IN_QUEUE
            # a more urgent priority re-keys an unsettled job (a speculative job whose epoch became ours)
            urgent = job.priority < rec.priority and rec.state not in SETTLED
            if job.epoch_number > rec.epoch or urgent:
                rec.epoch = max(rec.epoch, job.epoch_number)  # keeps it alive through cleanup of older epochs
                rec.priority = min(rec.priority, job.priority)
                if rec.state == JobState.QUEUED and not rec.awaiting_journal:
                    # re-key its queue entry so the dispatch order matches the record (and a restore)
                    self._queued[rec.type] -= 1
                    self._push(rec)
                self._persist(rec)
            return rec.status()
        if len(self._jobs) >= self.max_jobs:
            raise BrokerFullError(f"broker full: it holds {len(self._jobs)} jobs (max_jobs={self.max_jobs})")
        unsettled = self.unsettled()
        if unsettled >= self.max_queued:
            raise BrokerFullError(
                f"broker full: {unsettled} jobs are not settled yet (max_queued={self.max_queued})"
            )
        if self._uri_bytes + len(job.inputs_uri) > self.max_uri_bytes:
            raise BrokerFullError(
                f"broker full: its jobs' URIs hold {self._uri_bytes} bytes (max_uri_bytes={self.max_uri_bytes})"
            )
        rec = JobRecord(
            id=job.id,
            type=job.type,
            epoch=job.epoch_number,
            inputs_uri=job.inputs_uri,
            priority=job.priority,
            deadline=job.deadline,
            seq=self._seq,
            state=JobState.QUEUED,
            enqueued_at=now,
        )
        self._seq += 1
        rec.awaiting_journal = True
        self._awaiting += 1
        self._jobs[job.id] = rec
        self._uri_bytes += len(rec.inputs_uri)
        self._persist(rec)
        return IN_QUEUE

    def on_journaled(self, ids: Iterable[str]) -> None:
        """The journal commit holding these ids is durable: queued ones become dispatchable."""
        for job_id in ids:
            rec = self._jobs.get(job_id)
            if rec is None or not rec.awaiting_journal:
                continue
            rec.awaiting_journal = False
            self._awaiting -= 1
            if rec.state == JobState.QUEUED:
                self._push(rec)

    def status(self, job_id: str) -> JobStatus:
        rec = self._jobs.get(job_id)
        return NOT_FOUND if rec is None else rec.status()

    def record(self, job_id: str) -> JobRecord | None:
        return self._jobs.get(job_id)

    def cancel(self, job_id: str, now: float) -> JobStatus:
        """removeAndCancelProvingJob: an unsettled job is rejected as aborted; a settled one is
        removed (the producer no longer needs its result)."""
        rec = self._jobs.get(job_id)
        if rec is None:
            return NOT_FOUND
        if rec.state in SETTLED:
            self._remove(rec)
            return NOT_FOUND
        if rec.awaiting_journal:
            rec.awaiting_journal = False
            self._awaiting -= 1
            self._queued[rec.type] += 1  # balance _set_state's decrement
        rec.reason = ABORTED_REASON
        self._uri_bytes -= len(rec.result or "")
        rec.result = None
        self._set_state(rec, JobState.REJECTED)
        self._persist(rec)
        return rec.status()

    def cleanup_epochs_before(self, epoch: int) -> int:
        """Drop every job of an epoch older than ``epoch`` (settled or not); returns the count."""
        old = [rec for rec in self._jobs.values() if rec.epoch < epoch]
        for rec in old:
            self._remove(rec)
        return len(old)

    # ------------------------------------------------------------------ consumer events

    def dispatch(
        self, flt: JobFilter, agent: str | None, now: float, *, below_priority: int | None = None
    ) -> JobRecord | None:
        """Hand out the best queued job. ``below_priority``: only a job whose priority key is
        smaller (used to cap the capacity speculative work may take; exact under the "deadline"
        policy, where each type's queue is ordered by that key)."""
        if flt.allow_list is None and below_priority is None and self.policy != "aztec":
            # any type, the best over all of them: the top of the one heap (the type's own heap
            # keeps a dead entry for it)
            heap = self._all
            while heap and not self._live(heap[0]):
                heapq.heappop(heap)
            if not heap:
                return None
            return self._hand_out(self._jobs[heapq.heappop(heap)[5]], agent, now)
        types = AZTEC_TYPE_PRIORITY if flt.allow_list is None else [
            t for t in AZTEC_TYPE_PRIORITY if t in flt.allow_list
        ]
        best: _HeapEntry | None = None
        best_type: ProvingRequestType | None = None
        for ptype in types:
            if not self._queued[ptype]:
                continue
            head = self._head(ptype)
            if head is None:
                continue
            if below_priority is not None and head[1] >= below_priority:
                continue
            if self.policy == "aztec":
                best, best_type = head, ptype
                break
            if best is None or head < best:
                best, best_type = head, ptype
        if best is None or best_type is None:
            return None
        heapq.heappop(self._heaps[best_type])
        return self._hand_out(self._jobs[best[5]], agent, now)

    def _hand_out(self, rec: JobRecord, agent: str | None, now: float) -> JobRecord:
        self._set_state(rec, JobState.IN_PROGRESS)
        rec.dispatched_at = now
        rec.heartbeat_at = now
        rec.agent = agent
        rec.acked = False
        return rec

    def set_priority(self, job_id: str, priority: int) -> bool:
        """Re-key a job (a speculative epoch became ours and gets its real deadline). Returns
        whether the job exists and is unsettled."""
        rec = self._jobs.get(job_id)
        if rec is None or rec.state in SETTLED:
            return False
        if rec.priority == priority:
            return True
        rec.priority = priority
        if rec.state == JobState.QUEUED and not rec.awaiting_journal:
            self._queued[rec.type] -= 1
            self._push(rec)  # the old heap entry dies with its token
        self._persist(rec)
        return True

    def release(self, job_id: str, agent: str | None = None) -> bool:
        """Give back a job whose dispatch never reached its agent (nothing is counted). With
        ``agent``, only if that agent still holds it and never acknowledged it."""
        rec = self._jobs.get(job_id)
        if rec is None or rec.state != JobState.IN_PROGRESS:
            return False
        if agent is not None and (rec.agent != agent or rec.acked):
            return False
        rec.agent = None
        self.undelivered += 1
        self._set_state(rec, JobState.QUEUED)
        return True

    def unsettled(self) -> int:
        return sum(self._queued.values()) + self._awaiting + len(self._in_progress)

    def total_queued(self) -> int:
        return sum(self._queued.values())

    def has_work_for(self, flt: JobFilter) -> bool:
        if flt.allow_list is None:
            return any(self._queued.values())
        return any(self._queued[t] for t in flt.allow_list)

    def report_progress(self, job_id: str, agent: str | None, now: float) -> ProgressVerdict:
        rec = self._jobs.get(job_id)
        if rec is None or rec.state in SETTLED:
            return ProgressVerdict.ABORT
        if rec.state == JobState.IN_PROGRESS:
            if agent is not None and rec.agent is not None and rec.agent != agent:
                return ProgressVerdict.ABORT  # handed to another agent after a timeout or restart
            rec.heartbeat_at = now
            rec.acked = True
            return ProgressVerdict.CONTINUE
        if rec.awaiting_journal:
            return ProgressVerdict.ABORT
        # QUEUED again (broker restarted or the job timed out): the reporting agent still works
        # on it, so give it back to that agent instead of proving it twice.
        self._set_state(rec, JobState.IN_PROGRESS)
        rec.dispatched_at = now
        rec.heartbeat_at = now
        rec.agent = agent
        rec.acked = True
        return ProgressVerdict.CONTINUE

    def report_success(self, job_id: str, result_uri: str, agent: str | None, now: float) -> ReportOutcome:
        rec = self._jobs.get(job_id)
        if rec is None:
            return ReportOutcome(False, NOT_FOUND)
        if rec.state in SETTLED:
            return ReportOutcome(False, rec.status())  # late or duplicate: acknowledged, not applied
        if rec.awaiting_journal:
            rec.awaiting_journal = False
            self._awaiting -= 1
            self._queued[rec.type] += 1
        self._uri_bytes += len(result_uri) - len(rec.result or "")
        rec.result = result_uri
        rec.reason = None
        self._set_state(rec, JobState.FULFILLED)
        self._persist(rec)
        return ReportOutcome(True, rec.status())

    def report_error(
        self, job_id: str, reason: str, retry: bool, agent: str | None, now: float
    ) -> ReportOutcome:
        rec = self._jobs.get(job_id)
        if rec is None:
            return ReportOutcome(False, NOT_FOUND)
        if rec.state in SETTLED:
            return ReportOutcome(False, rec.status())
        if rec.state == JobState.IN_PROGRESS and agent is not None and rec.agent not in (None, agent):
            return ReportOutcome(False, rec.status())  # a stale holder; the current one decides
        if rec.awaiting_journal:
            return ReportOutcome(False, rec.status())
        rec.attempts += 1
        if retry and rec.attempts < self.max_attempts and rec.type != ProvingRequestType.PUBLIC_VM:
            self.retries += 1
            self._set_state(rec, JobState.QUEUED)
            self._persist(rec)
            return ReportOutcome(True, rec.status())
        rec.reason = f"{reason} (after {rec.attempts} attempt{'s' if rec.attempts > 1 else ''})"
        self._set_state(rec, JobState.REJECTED)
        self._persist(rec)
        return ReportOutcome(True, rec.status())

    def tick(self, now: float) -> list[str]:
        """Expire leases: a job whose agent stopped heartbeating goes back to the queue (or, after
        ``max_lease_expiries``, is rejected); an unacknowledged one goes back without a count.
        Returns the ids of the jobs taken back."""
        last, self._last_tick = self._last_tick, now
        if last is not None and self.stall_threshold is not None and now - last > self.stall_threshold:
            # the broker itself did not run (blocked, suspended): nobody could heartbeat meanwhile
            self.stalls += 1
            for r in self._in_progress.values():
                r.heartbeat_at += now - last
        expired = [r for r in self._in_progress.values() if now - r.heartbeat_at >= self.job_timeout]
        for rec in expired:
            rec.agent = None
            if not rec.acked:
                self.undelivered += 1
                self._set_state(rec, JobState.QUEUED)
                continue
            self.timeouts += 1
            rec.expiries += 1
            if rec.expiries < self.max_lease_expiries:
                self._set_state(rec, JobState.QUEUED)
            else:
                rec.reason = (
                    f"Timed out: no progress report for {self.job_timeout:g}s "
                    f"({rec.expiries} agents lost it)"
                )
                self._set_state(rec, JobState.REJECTED)
                self._persist(rec)
        return [r.id for r in expired]

    def next_timeout(self) -> float | None:
        if not self._in_progress:
            return None
        return min(r.heartbeat_at for r in self._in_progress.values()) + self.job_timeout

    # ------------------------------------------------------------------ introspection

    def __len__(self) -> int:
        return len(self._jobs)

    def records(self) -> Iterable[JobRecord]:
        return self._jobs.values()

    def records_in_progress(self) -> list[JobRecord]:
        return list(self._in_progress.values())

    def queue_depths(self) -> dict[ProvingRequestType, int]:
        return dict(self._queued)

    def statistics(self) -> MachineStatistics:
        return MachineStatistics(
            jobs=len(self._jobs),
            queued={t.name: n for t, n in self._queued.items() if n},
            in_progress=len(self._in_progress),
            fulfilled=self._settled_counts[JobState.FULFILLED],
            rejected=self._settled_counts[JobState.REJECTED],
            awaiting_journal=self._awaiting,
            uri_bytes=self._uri_bytes,
            heap_entries=sum(len(h) for h in self._heaps.values()) + len(self._all),
            timeouts=self.timeouts,
            undelivered=self.undelivered,
            stalls=self.stalls,
            retries=self.retries,
        )

    def check_invariants(self) -> None:
        """Consistency of the counters with the records (used by the property tests)."""
        queued = dict.fromkeys(ProvingRequestType, 0)
        awaiting = 0
        settled = {JobState.FULFILLED: 0, JobState.REJECTED: 0}
        for rec in self._jobs.values():
            if rec.state == JobState.QUEUED:
                if rec.awaiting_journal:
                    awaiting += 1
                else:
                    queued[rec.type] += 1
            elif rec.state == JobState.IN_PROGRESS:
                assert self._in_progress.get(rec.id) is rec
            else:
                settled[rec.state] += 1
                assert not rec.awaiting_journal
        assert queued == self._queued, (queued, self._queued)
        assert self._uri_bytes == sum(_uri_size(r) for r in self._jobs.values())
        assert awaiting == self._awaiting
        assert settled == self._settled_counts
        assert len(self._in_progress) == sum(
            1 for r in self._jobs.values() if r.state == JobState.IN_PROGRESS
        )
        for ptype, n in queued.items():
            live = sum(1 for e in self._heaps[ptype] if self._live(e))
            assert live == n, (ptype, live, n)
        if self.policy != "aztec":
            assert sum(1 for e in self._all if self._live(e)) == sum(queued.values())
