"""ProvingBroker: the trio driver around :class:`JobStateMachine` and the :class:`Journal`.

Implements ProvingJobProducer and ProvingJobConsumer in-process. It only moves events into the
machine and effects out of it: writes to the journal (durable before ack), wakes long-polling
agents when jobs become dispatchable (journal before dispatch), wakes settle waiters, and feeds
the settle log that remote producers follow.
"""
# size: the trio driver around the broker state machine and journal: every producer/consumer method is a thin
# step over the same machine.

from __future__ import annotations

import bisect
import gc
import logging
import math
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import trio
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from proving.broker.state import (
    DEFAULT_JOB_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_JOBS,
    DEFAULT_MAX_LEASE_EXPIRIES,
    DEFAULT_MAX_QUEUED,
    DEFAULT_MAX_URI_BYTES,
    BrokerFullError,
    DispatchPolicy,
    Effects,
    JobRecord,
    JobState,
    JobStateMachine,
    MachineStatistics,
)
from proving.broker.store import JobStore, Journal, JournalStatistics
from proving.interfaces import ReportResult
from proving.proof_store import UriPolicy
from proving.types import JobFilter, JobStatus, ProgressVerdict, ProvingJob, ProvingRequestType

log = logging.getLogger(__name__)

MAX_LONG_POLL: Final = 60.0
DEFAULT_POLL_INTERVAL: Final = 0.5  # PROVER_JOB_POLL_INTERVAL_MS: how often leases are checked
DEFAULT_MAX_WAITING_AGENTS: Final = 100_000
DEFAULT_SETTLE_LOG: Final = 1_000_000
# settled jobs a restart loads into memory (the newest by seq); older ones are read from the journal
# on demand, so restart time and memory do not grow with settled history
DEFAULT_RESTORE_SETTLED: Final = 10_000

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def _trim_heap() -> None:
    """Give the allocator's free pages back to the OS after the restore's temporaries (glibc only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


GC_GEN0: Final = 20_000
GC_GEN1: Final = 20


def _tune_gc() -> None:
    """Cyclic GC for a broker process (issue 15, measured -5 to -20% broker CPU per job): what exists
    after the restore (modules, the restored records) is frozen out of the collector's scans, and
    young collections run every 20,000 allocations instead of 700 (each request allocates a few
    hundred objects that die young; the long-lived heap of job records was rescanned each time).
    Thresholds are only raised, never lowered."""
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, GC_GEN0), max(gen1, GC_GEN1), gen2)


class BrokerBusyError(RuntimeError):
    """Too many agents are long-polling at once (``max_waiting_agents``)."""


class _QueueCollector(Collector):
    def __init__(self, broker: ProvingBroker) -> None:
        self._broker = broker

    def collect(self) -> list[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "aztec_proving_queue_depth", "Jobs waiting for an agent, per proof type", labels=["type"]
        )
        for ptype, n in self._broker.machine.queue_depths().items():
            depth.add_metric([ptype.name], n)
        busy = GaugeMetricFamily("aztec_proving_jobs_in_progress", "Jobs held by agents")
        busy.add_metric([], self._broker.machine.statistics().in_progress)
        idle = GaugeMetricFamily("aztec_proving_agents_waiting", "Agents long-polling for a job")
        idle.add_metric([], len(self._broker._waiters))
        jobs = GaugeMetricFamily("aztec_proving_jobs", "Unsettled jobs by type and state (queued, in_progress)",
                                 labels=["type", "state"])
        queued = self._broker.machine.queue_depths()
        held: dict[ProvingRequestType, int] = {}
        for rec in list(self._broker.machine._in_progress.values()):  # bounded by the agents' leases
            held[rec.type] = held.get(rec.type, 0) + 1
        for ptype in ProvingRequestType:
            jobs.add_metric([ptype.name, "queued"], queued.get(ptype, 0))
            jobs.add_metric([ptype.name, "in_progress"], held.get(ptype, 0))
        return [depth, busy, idle, jobs]


class _Flush(Collector):
    """Registered before the broker's metrics: every collection of the registry (scrape, OTLP push,
    get_sample_value) first moves the pending counts into them."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        self._flush()
        return []


class _PendingHistogram:
    """Observations counted per bucket in plain lists (a bisect and two additions: no lock, no loop
    over the buckets), added to the prometheus child in bulk at collection."""

    __slots__ = ("bounds", "counts", "dirty", "sum")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.dirty = False

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # prometheus: the first bound >= value
        self.sum += value
        self.dirty = True

    def flush_into(self, child: Any) -> None:
        if not self.dirty:
            return
        for i, n in enumerate(self.counts):
            if n:
                child._buckets[i].inc(n)
        child._sum.inc(self.sum)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        self.dirty = False


class BrokerMetrics:
    """The broker's Prometheus metrics. The per-job ones (enqueued, settled, wait and proving time)
    are counted in plain ints and lists on the hot path and added to the prometheus metrics when
    the registry is collected (issue 15: the locks and per-bucket loops of prometheus_client were ~5%
    of the broker's CPU); what a scrape shows is exact at the scrape. Collections run on the event
    loop's thread, like the jobs' updates (the node's /metrics and its OTLP push both collect there)."""

    def __init__(self, broker: ProvingBroker, registry: CollectorRegistry | None) -> None:
        reg = REGISTRY if registry is None else registry
        reg.register(_Flush(self.flush))
        self.wait = Histogram(
            "aztec_proving_job_wait_seconds",
            "Enqueue to dispatch, per proof type",
            ["type"],
            registry=reg,
            buckets=_BUCKETS,
        )
        self.proving = Histogram(
            "aztec_proving_job_proving_seconds",
            "Dispatch to settlement, per proof type",
            ["type"],
            registry=reg,
            buckets=_BUCKETS,
        )
        self.enqueued = Counter("aztec_proving_jobs_enqueued", "New jobs", ["type"], registry=reg)
        self.settled = Counter(
            "aztec_proving_jobs_settled", "Settled jobs", ["type", "status"], registry=reg
        )
        self.timeouts = Counter("aztec_proving_job_timeouts", "Jobs whose agent stopped reporting", registry=reg)
        reg.register(_QueueCollector(broker))
        # label children resolved once: no per-job label look-up on the hot path
        self._wait_children = {t: self.wait.labels(t.name) for t in ProvingRequestType}
        self._proving_children = {t: self.proving.labels(t.name) for t in ProvingRequestType}
        self._enqueued_children = {t: self.enqueued.labels(t.name) for t in ProvingRequestType}
        self._settled_children = {
            (t, st): self.settled.labels(t.name, "fulfilled" if st == JobState.FULFILLED else "rejected")
            for t in ProvingRequestType
            for st in (JobState.FULFILLED, JobState.REJECTED)
        }
        bounds = [*_BUCKETS, math.inf]
        self._wait_pending = {t: _PendingHistogram(bounds) for t in ProvingRequestType}
        self._proving_pending = {t: _PendingHistogram(bounds) for t in ProvingRequestType}
        self._enqueued_pending = dict.fromkeys(ProvingRequestType, 0)
        self._settled_pending = dict.fromkeys(self._settled_children, 0)

    def flush(self) -> None:
        for t, h in self._wait_pending.items():
            h.flush_into(self._wait_children[t])
        for t, h in self._proving_pending.items():
            h.flush_into(self._proving_children[t])
        for t, n in self._enqueued_pending.items():
            if n:
                self._enqueued_children[t].inc(n)
                self._enqueued_pending[t] = 0
        for key, n in self._settled_pending.items():
            if n:
                self._settled_children[key].inc(n)
                self._settled_pending[key] = 0

    def enqueued_job(self, ptype: ProvingRequestType) -> None:
        self._enqueued_pending[ptype] += 1

    def dispatched(self, rec: JobRecord, now: float) -> None:
        self._wait_pending[rec.type].observe(max(0.0, now - rec.enqueued_at))

    def settled_job(self, rec: JobRecord, now: float) -> None:
        state = JobState.FULFILLED if rec.state == JobState.FULFILLED else JobState.REJECTED
        self._settled_pending[(rec.type, state)] += 1
        if rec.dispatched_at:
            self._proving_pending[rec.type].observe(max(0.0, now - rec.dispatched_at))


@dataclass(frozen=True, slots=True)
class BrokerStatistics:
    machine: MachineStatistics
    journal: JournalStatistics
    waiting_agents: int
    settle_waiters: int
    settle_log_seq: int


@dataclass(slots=True)
class _Waiter:
    flt: JobFilter
    agent: str | None
    event: trio.Event
    job: JobRecord | None = None


@dataclass(frozen=True, slots=True)
class SettledBatch:
    instance: str
    next_seq: int
    ids: list[str]
    reset: bool  # the cursor was unknown (other instance, or trimmed): re-check statuses


class ProvingBroker:
    """In-process broker. ``store=None`` keeps everything in memory (not durable)."""

    def __init__(
        self,
        store: JobStore | None = None,
        *,
        job_timeout: float = DEFAULT_JOB_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_lease_expiries: int = DEFAULT_MAX_LEASE_EXPIRIES,
        max_jobs: int = DEFAULT_MAX_JOBS,
        max_queued: int = DEFAULT_MAX_QUEUED,
        max_uri_bytes: int = DEFAULT_MAX_URI_BYTES,
        uri_policy: UriPolicy | None = None,
        policy: DispatchPolicy = "priority",
        max_epochs_to_keep: int | None = None,
        max_waiting_agents: int = DEFAULT_MAX_WAITING_AGENTS,
        settle_log_size: int = DEFAULT_SETTLE_LOG,
        restore_settled: int = DEFAULT_RESTORE_SETTLED,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0")
        self.poll_interval = poll_interval
        self.machine = JobStateMachine(
            job_timeout=job_timeout,
            max_attempts=max_attempts,
            max_lease_expiries=max_lease_expiries,
            max_jobs=max_jobs,
            max_queued=max_queued,
            max_uri_bytes=max_uri_bytes,
            policy=policy,
            # the lease checker runs every poll_interval; a longer gap means the broker stalled
            stall_threshold=max(3 * poll_interval, 1.0),
        )
        self.uri_policy = UriPolicy() if uri_policy is None else uri_policy
        self.store = store
        self.restore_settled = restore_settled
        self.history_reads = 0  # settled jobs read back from the journal on demand
        self.journal = Journal(store)
        self.max_epochs_to_keep = max_epochs_to_keep
        self.max_waiting_agents = max_waiting_agents
        self.instance = secrets.token_hex(8)
        self._waiters: deque[_Waiter] = deque()
        self._settle_events: dict[str, trio.Event] = {}
        self._settle_log: list[str] = []
        self._settle_base = 0  # seq of _settle_log[0]
        self._settle_log_size = settle_log_size
        self._settle_wakeup = trio.Event()
        self._newest_epoch = -1
        self._ready = trio.Event()
        self.metrics = BrokerMetrics(self, registry)

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self.store is not None:
            store = self.store
            records = (await trio.to_thread.run_sync(store.load_live, self.restore_settled) if store.blocking
                       else store.load_live(self.restore_settled))
            now = trio.current_time()
            for rec in records:
                rec.enqueued_at = now
            self.machine.restore(records)
            self.machine.reserve_seqs(store.next_seq)  # (settled rows left on disk hold seqs too)
            self._newest_epoch = max((r.epoch for r in records), default=-1)
            log.info("broker restored %d jobs from %s", len(records), store.describe())
            del records
            _trim_heap()
        self.machine.take_effects()
        if self.store is not None and self.store.blocking:  # a real broker process, not a test's in-memory one
            _tune_gc()
        async with trio.open_nursery() as nursery:
            await nursery.start(self.journal.run, self._on_journaled)
            nursery.start_soon(self._timeouts)
            self._ready.set()
            task_status.started()
            await trio.sleep_forever()

    async def _timeouts(self) -> None:
        self.machine.tick(trio.current_time())
        while True:
            await trio.sleep(self.poll_interval)
            before = self.machine.timeouts
            expired = self.machine.tick(trio.current_time())
            if expired:
                lost = self.machine.timeouts - before
                if lost:
                    self.metrics.timeouts.inc(lost)
                    log.warning("%d job lease(s) expired (agent gone), re-queued: %s", lost, expired[:5])
                await self._commit(self.machine.take_effects())

    def _on_journaled(self, ids: list[str]) -> None:
        self.machine.on_journaled(ids)
        eff = self.machine.take_effects()
        if eff.available:
            self._feed_waiters()

    async def _commit(self, eff: Effects) -> None:
        if eff.persist or eff.delete:
            await self.journal.write(eff.persist, eff.delete)
        if eff.settled:
            now = trio.current_time()
            for job_id in eff.settled:
                rec = self.machine.record(job_id)
                if rec is not None:
                    self.metrics.settled_job(rec, now)
                ev = self._settle_events.pop(job_id, None)
                if ev is not None:
                    ev.set()
            self._settle_log.extend(eff.settled)
            if len(self._settle_log) > self._settle_log_size:
                drop = len(self._settle_log) // 2
                del self._settle_log[:drop]
                self._settle_base += drop
            self._settle_wakeup.set()
            self._settle_wakeup = trio.Event()
        if eff.available:
            self._feed_waiters()

    def _feed_waiters(self) -> None:
        if not self._waiters:
            return
        now = trio.current_time()
        kept: deque[_Waiter] = deque()
        while self._waiters:
            w = self._waiters.popleft()
            if w.event.is_set():
                continue
            if self.machine.has_work_for(w.flt):
                rec = self.machine.dispatch(w.flt, w.agent, now)
                if rec is not None:
                    self.metrics.dispatched(rec, now)
                    w.job = rec
                    w.event.set()
                    continue
            kept.append(w)
            if not self.machine.total_queued():
                kept.extend(self._waiters)
                self._waiters.clear()
                break
        self._waiters = kept

    def _known(self, job_id: str) -> None:
        """Bring a settled job that a restart left on disk back into memory (a point read)."""
        store = self.store
        if store is None or not store.history_on_disk or self.machine.record(job_id) is not None:
            return
        if self.journal.is_pending(job_id):  # being written or deleted: memory is the truth
            return
        try:
            rec = store.lookup(job_id)
        except Exception as exc:  # a read error degrades to "not found", it does not fail the call
            log.warning("journal read of %s failed: %s", job_id, exc)
            return
        if rec is not None:
            self.history_reads += 1
            self.machine.restore([rec])

    async def _durable(self, job_id: str) -> None:
        if self.journal.is_pending(job_id):
            await self.journal.wait_durable()

    # ------------------------------------------------------------------ producer

    async def enqueue_proving_job(self, job: ProvingJob) -> JobStatus:
        """Raises ProofUriError (a ValueError) for an inputs URI the policy refuses and
        BrokerFullError when a bound is reached."""
        self.uri_policy.check(job.inputs_uri, "inputsUri")
        await self._ready.wait()
        self._known(job.id)
        status = self.machine.enqueue(job, trio.current_time())
        eff = self.machine.take_effects()
        if job.id in eff.persist and status.status == "in-queue":
            self.metrics.enqueued_job(job.type)
        if job.epoch_number > self._newest_epoch:
            self._newest_epoch = job.epoch_number
            if self.max_epochs_to_keep is not None:
                self.machine.cleanup_epochs_before(job.epoch_number - self.max_epochs_to_keep + 1)
                more = self.machine.take_effects()
                eff.persist.update(more.persist)
                eff.delete |= more.delete
        await self._commit(eff)
        await self._durable(job.id)
        return self.machine.status(job.id)

    async def enqueue_each(self, jobs: list[ProvingJob | Exception]) -> list[JobStatus | Exception]:
        """`enqueue_proving_job` for each job, as if called concurrently (one journal commit for all),
        in order; each job's own refusal (URI policy, bound reached, bad id) is its outcome, an
        exception instance. Entries already exceptions (bad parameters) are passed through."""
        await self._ready.wait()
        now = trio.current_time()
        out: list[JobStatus | Exception] = []
        done: list[ProvingJob] = []
        counted: set[str] = set()
        for job in jobs:
            if isinstance(job, Exception):
                out.append(job)
                continue
            try:
                self.uri_policy.check(job.inputs_uri, "inputsUri")
                self._known(job.id)
                status = self.machine.enqueue(job, now)  # its effects accumulate in the machine
            except (ValueError, BrokerFullError) as exc:  # ProofUriError is a ValueError; nothing changed
                out.append(exc)
                continue
            if status.status == "in-queue" and self.machine.pending_persist(job.id) and job.id not in counted:
                counted.add(job.id)
                self.metrics.enqueued_job(job.type)
            if job.epoch_number > self._newest_epoch:
                self._newest_epoch = job.epoch_number
                if self.max_epochs_to_keep is not None:
                    self.machine.cleanup_epochs_before(job.epoch_number - self.max_epochs_to_keep + 1)
            done.append(job)
            out.append(status)
        total = self.machine.take_effects()
        await self._commit(total)
        results = iter(done)
        for i, o in enumerate(out):
            if not isinstance(o, Exception):
                job = next(results)
                await self._durable(job.id)
                out[i] = self.machine.status(job.id)
        return out

    async def enqueue_many(self, jobs: list[ProvingJob]) -> list[JobStatus]:
        """Batch enqueue (one journal commit for all of them)."""
        for job in jobs:
            self.uri_policy.check(job.inputs_uri, "inputsUri")
        await self._ready.wait()
        for job in jobs:
            self._known(job.id)
        now = trio.current_time()
        try:
            for job in jobs:
                self.machine.enqueue(job, now)
        finally:
            await self._commit(self.machine.take_effects())
        return [self.machine.status(j.id) for j in jobs]

    async def get_proving_job_status(self, job_id: str) -> JobStatus:
        self._known(job_id)
        await self._durable(job_id)
        return self.machine.status(job_id)

    async def remove_and_cancel_proving_job(self, job_id: str) -> JobStatus:
        self._known(job_id)
        status = self.machine.cancel(job_id, trio.current_time())
        await self._commit(self.machine.take_effects())
        return status

    async def wait_for_job_to_settle(self, job_id: str, max_wait: float | None = None) -> JobStatus:
        """Wait until the job is settled (or unknown); with ``max_wait``, return the current status
        when it runs out."""
        self._known(job_id)
        with trio.move_on_after(MAX_LONG_POLL * 60 if max_wait is None else max_wait):
            while True:
                await self._durable(job_id)
                status = self.machine.status(job_id)
                if status.settled or status.status == "not-found":
                    return status
                ev = self._settle_events.setdefault(job_id, trio.Event())
                await ev.wait()
        return self.machine.status(job_id)

    async def get_settled_jobs(self, after_seq: int, instance: str | None, max_wait: float) -> SettledBatch:
        """The settle log: ids settled since ``after_seq`` (waits up to ``max_wait`` for one).
        ``reset`` tells a follower its cursor belongs to another broker instance or fell off the
        bounded log, so it must re-check the statuses it waits for."""
        reset = instance is not None and instance != self.instance
        end = self._settle_base + len(self._settle_log)
        if reset or after_seq < self._settle_base or after_seq > end:
            return SettledBatch(self.instance, end, [], reset=instance is not None)
        if after_seq == end and max_wait > 0:
            with trio.move_on_after(min(max_wait, MAX_LONG_POLL)):
                await self._settle_wakeup.wait()
        end = self._settle_base + len(self._settle_log)
        if after_seq < self._settle_base:
            return SettledBatch(self.instance, end, [], reset=True)
        return SettledBatch(self.instance, end, self._settle_log[after_seq - self._settle_base :], False)

    async def cleanup_epochs_before(self, epoch: int) -> int:
        n = self.machine.cleanup_epochs_before(epoch)
        await self._commit(self.machine.take_effects())
        return n

    # ------------------------------------------------------------------ consumer

    async def get_proving_job(
        self,
        flt: JobFilter,
        *,
        agent_id: str | None = None,
        max_wait: float = 0.0,
        disconnected: trio.Event | None = None,
    ) -> ProvingJob | None:
        """Dispatch a job (long-polling up to ``max_wait``). ``disconnected`` is the transport's
        hook: once it is set the long-poll ends and no job is handed to it (one already handed
        over is released). A transport that fails to deliver the answer calls
        :meth:`release_undelivered`; a job it never reports about comes back after one lease
        anyway, without spending an attempt."""
        await self._ready.wait()
        if disconnected is not None and disconnected.is_set():
            return None
        now = trio.current_time()
        rec = self.machine.dispatch(flt, agent_id, now)
        if rec is not None:
            self.metrics.dispatched(rec, now)
            return rec.job()
        if max_wait <= 0:
            return None
        if len(self._waiters) >= self.max_waiting_agents:
            raise BrokerBusyError(f"{len(self._waiters)} agents already waiting")
        waiter = _Waiter(flt, agent_id, trio.Event())
        self._waiters.append(waiter)
        try:
            with trio.move_on_after(min(max_wait, MAX_LONG_POLL)):
                if disconnected is None:
                    await waiter.event.wait()
                else:
                    async with trio.open_nursery() as nursery:

                        async def watch(ev: trio.Event) -> None:
                            await ev.wait()
                            nursery.cancel_scope.cancel()

                        nursery.start_soon(watch, disconnected)
                        nursery.start_soon(watch, waiter.event)
        except BaseException:
            if waiter.job is not None:  # cancelled after a job was handed over: put it back
                self._release(waiter.job)
            raise
        finally:
            waiter.event.set()  # marks it dead for _feed_waiters
        if waiter.job is not None and disconnected is not None and disconnected.is_set():
            self._release(waiter.job)
            return None
        return None if waiter.job is None else waiter.job.job()

    def release_undelivered(self, job_id: str, agent_id: str | None) -> bool:
        """The transport could not deliver ``job_id`` to ``agent_id`` (its client went away):
        back to the queue at once, nothing counted. No-op once the agent acknowledged it."""
        released = self.machine.release(job_id, agent_id)
        eff = self.machine.take_effects()
        if eff.available:
            self._feed_waiters()
        return released

    def _release(self, rec: JobRecord) -> None:
        if rec.state == JobState.IN_PROGRESS:
            self.machine.release(rec.id)
            eff = self.machine.take_effects()
            if eff.available:
                self._feed_waiters()

    async def report_proving_job_progress(
        self, job_id: str, *, agent_id: str | None = None
    ) -> ProgressVerdict:
        return self.machine.report_progress(job_id, agent_id, trio.current_time())

    async def report_proving_job_success(
        self,
        job_id: str,
        result_uri: str,
        *,
        agent_id: str | None = None,
        next_filter: JobFilter | None = None,
    ) -> ReportResult:
        self.uri_policy.check(result_uri, "result")
        outcome = self.machine.report_success(job_id, result_uri, agent_id, trio.current_time())
        await self._commit(self.machine.take_effects())
        if not outcome.applied:
            await self._durable(job_id)
        return ReportResult(outcome.applied, self._next(next_filter, agent_id))

    async def report_proving_job_error(
        self,
        job_id: str,
        reason: str,
        *,
        retry: bool = False,
        agent_id: str | None = None,
        next_filter: JobFilter | None = None,
    ) -> ReportResult:
        outcome = self.machine.report_error(job_id, reason, retry, agent_id, trio.current_time())
        await self._commit(self.machine.take_effects())
        return ReportResult(outcome.applied, self._next(next_filter, agent_id))

    def _next(self, flt: JobFilter | None, agent_id: str | None) -> ProvingJob | None:
        if flt is None:
            return None
        now = trio.current_time()
        rec = self.machine.dispatch(flt, agent_id, now)
        if rec is None:
            return None
        self.metrics.dispatched(rec, now)
        return rec.job()

    # ------------------------------------------------------------------ introspection

    def job_view(self, job_id: str) -> tuple[str, str | None, float] | None:
        """(state name, agent, dispatched_at) of a job, None if unknown: the live epoch view's lookup."""
        rec = self.machine.record(job_id)
        return None if rec is None else (rec.state.name, rec.agent, rec.dispatched_at)

    def agents_view(self, limit: int = 256) -> dict[str, Any]:
        """Agents seen right now: busy (holding a job: which, since when) and idle (long-polling).
        At most `limit` of each are listed; the counts are exact."""
        busy = self.machine.records_in_progress()
        idle = [w.agent for w in self._waiters if not w.event.is_set()]
        return {
            "busy": len(busy),
            "idle": len(idle),
            "jobs": [{"agent": r.agent, "job": r.id, "type": r.type.name, "since": r.dispatched_at}
                     for r in busy[:limit]],
            "idle_agents": idle[:limit],
        }

    def statistics(self) -> BrokerStatistics:
        return BrokerStatistics(
            machine=self.machine.statistics(),
            journal=self.journal.statistics(),
            waiting_agents=sum(1 for w in self._waiters if not w.event.is_set()),
            settle_waiters=len(self._settle_events),
            settle_log_seq=self._settle_base + len(self._settle_log),
        )
