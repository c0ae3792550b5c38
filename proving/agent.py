"""Prover agents: PROVER_AGENT_CONCURRENCY workers that take jobs from a broker, prove them and
report back.

- In-process (``--prover`` next to a broker): pass the :class:`ProvingBroker` object.
- Standalone: pass the broker URL (PROVER_BROKER_HOST); every worker opens its own keep-alive
  connection (a :class:`BrokerClient`) and retries forever while the broker restarts.

No busy polling: an idle worker long-polls ``getProvingJob`` (the broker answers as soon as a job
is dispatchable); a success/error report carries the worker's filter and returns its next job.
A worker acknowledges a job it receives with an immediate heartbeat (so the broker knows it was
delivered) and, while proving, heartbeats (``reportProvingJobProgress``) every ``heartbeat_interval``
(PROVER_AGENT_POLL_INTERVAL_MS); the broker's lease (PROVER_JOB_TIMEOUT_MS) should be a few of these.
if the broker answers "abort" (job cancelled, settled elsewhere or handed to another agent after
a timeout) the proof is abandoned at once.

PROVER_REAL_PROOFS=false: the simulated circuits of :mod:`proving.circuits.simulate` compute the
outputs and a marked fake proof; an optional :class:`TimingModel` sleeps (on the trio clock) for
as long as the gate table says. Real proofs need barretenberg, which this build does not ship:
asking for them is a configuration error, reported at construction.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import trio

from proving.broker.client import BrokerClient
from proving.circuits.simulate import simulate
from proving.circuits.structs import CircuitInputError
from proving.circuits.timing import TimingModel
from proving.interfaces import ProvingJobConsumer, ReportResult
from proving.proof_store import (
    FileProofStore,
    InlineProofStore,
    ProofStore,
    ProofStoreAccessError,
    ProofStoreError,
    load_uri,
)
from proving.types import JobFilter, ProgressVerdict, ProvingJob, ProvingRequestType

log = logging.getLogger(__name__)


class Attempt(enum.Enum):
    """How one attempt at a job ended, on the agent's side."""

    PROVEN = "proven"
    ABORTED = "aborted"  # the broker said abort (cancelled, settled elsewhere, re-leased)
    RETRYABLE = "retryable"  # reported as an error the broker may retry (proof store, crash)
    FATAL = "fatal"  # bad inputs: retrying cannot help


class Finished(enum.StrEnum):
    """What `on_finished` is told about a job (the value is the text the benches log)."""

    APPLIED = "applied"
    NOT_APPLIED = "not-applied"  # a late or duplicate result the broker did not apply
    ABORTED = "aborted"
    FAILED = "failed"


class RealProofsUnavailableError(RuntimeError):
    """PROVER_REAL_PROOFS=true but no barretenberg prover is available in this build."""


@dataclass(frozen=True, slots=True)
class AgentStatistics:
    concurrency: int
    busy: int
    proven: int
    failed: int
    aborted: int
    late_or_duplicate: int


class AgentPool:
    def __init__(
        self,
        broker: ProvingJobConsumer | str,
        concurrency: int = 1,
        proof_types: Iterable[ProvingRequestType] | None = None,
        real_proofs: bool = False,
        *,
        proof_store: ProofStore | None = None,
        timing: TimingModel | None = None,
        heartbeat_interval: float = 1.0,
        long_poll: float = 10.0,
        name: str = "agent",
        on_proven: Callable[[ProvingJob], None] | None = None,
        on_taken: Callable[[ProvingJob], None] | None = None,
        on_finished: Callable[[ProvingJob, Finished], None] | None = None,
        file_root: Path | None = None,
        token: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("PROVER_AGENT_CONCURRENCY must be >= 1")
        if real_proofs:
            raise RealProofsUnavailableError(
                "PROVER_REAL_PROOFS=true needs barretenberg (bb) circuits, which this Python node does "
                "not ship; run with PROVER_REAL_PROOFS=false for simulated proofs"
            )
        self.broker = broker
        self.concurrency = concurrency
        self.filter = JobFilter(None if proof_types is None else frozenset(proof_types))
        self.store: ProofStore = InlineProofStore() if proof_store is None else proof_store
        self.timing = timing
        self.heartbeat_interval = heartbeat_interval
        self.long_poll = long_poll
        self.name = f"{name}-{secrets.token_hex(3)}"
        self.on_proven = on_proven
        self.on_taken = on_taken
        self.on_finished = on_finished
        # file:// inputs are read only inside this directory (the proof store's, by default)
        if file_root is None and isinstance(self.store, FileProofStore):
            file_root = self.store.root
        self.file_root = file_root
        self.token = token  # PROVER_BROKER_AUTH_TOKEN for a remote broker
        self._current: dict[str, ProvingRequestType] = {}
        self.counts: Counter[str] = Counter()

    def current_jobs(self) -> list[tuple[str, str]]:
        """ProverAgentApi.getCurrentJobs: [(id, type name)]."""
        return [(i, t.name) for i, t in self._current.items()]

    def statistics(self) -> AgentStatistics:
        return AgentStatistics(
            concurrency=self.concurrency,
            busy=len(self._current),
            proven=self.counts["proven"],
            failed=self.counts["failed"],
            aborted=self.counts["aborted"],
            late_or_duplicate=self.counts["not-applied"],
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        clients: list[BrokerClient] = []
        try:
            async with trio.open_nursery() as nursery:
                for i in range(self.concurrency):
                    consumer: ProvingJobConsumer
                    if isinstance(self.broker, str):
                        client = BrokerClient(self.broker, retry_for=None, token=self.token)
                        clients.append(client)
                        consumer = client
                    else:
                        consumer = self.broker
                    nursery.start_soon(self._worker, i, consumer)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                for c in clients:
                    await c.aclose()

    async def _worker(self, index: int, consumer: ProvingJobConsumer) -> None:
        agent_id = f"{self.name}-{index}"
        job: ProvingJob | None = None
        while True:
            if job is None:
                job = await consumer.get_proving_job(self.filter, agent_id=agent_id, max_wait=self.long_poll)
                continue
            self._current[job.id] = job.type
            if self.on_taken is not None:
                self.on_taken(job)
            try:
                outcome, payload = await self._prove(consumer, job, agent_id)
            finally:
                del self._current[job.id]
            res: ReportResult
            if outcome is Attempt.PROVEN:
                res = await consumer.report_proving_job_success(
                    job.id, payload, agent_id=agent_id, next_filter=self.filter
                )
                self.counts["proven"] += 1
                if not res.applied:
                    self.counts["not-applied"] += 1
                elif self.on_proven is not None:
                    self.on_proven(job)
                if self.on_finished is not None:
                    self.on_finished(job, Finished.APPLIED if res.applied else Finished.NOT_APPLIED)
            elif outcome is Attempt.ABORTED:
                self.counts["aborted"] += 1
                if self.on_finished is not None:
                    self.on_finished(job, Finished.ABORTED)
                job = None
                continue
            else:
                retry = outcome is Attempt.RETRYABLE
                res = await consumer.report_proving_job_error(
                    job.id, payload, retry=retry, agent_id=agent_id, next_filter=self.filter
                )
                self.counts["failed"] += 1
                if self.on_finished is not None:
                    self.on_finished(job, Finished.FAILED)
            job = res.next_job

    async def _prove(
        self, consumer: ProvingJobConsumer, job: ProvingJob, agent_id: str
    ) -> tuple[Attempt, str]:
        aborted = False
        result: tuple[Attempt, str] = (Attempt.ABORTED, "")
        async with trio.open_nursery() as nursery:

            async def heartbeat() -> None:
                nonlocal aborted
                while True:  # the first report acknowledges the job at once
                    verdict = await consumer.report_proving_job_progress(job.id, agent_id=agent_id)
                    if verdict is ProgressVerdict.ABORT:
                        aborted = True
                        nursery.cancel_scope.cancel()
                        return
                    await trio.sleep(self.heartbeat_interval)

            nursery.start_soon(heartbeat)
            try:
                inputs = load_uri(job.inputs_uri, self.file_root)
                if self.timing is not None:
                    await trio.sleep(self.timing.duration(job.type))
                output = simulate(job.type, inputs)
                result = (Attempt.PROVEN, self.store.save(output))
            except (CircuitInputError, ProofStoreAccessError) as exc:
                log.warning("job %s failed: %s", job.id, exc)
                result = (Attempt.FATAL, f"{job.type.name}: {exc}")
            except ProofStoreError as exc:
                result = (Attempt.RETRYABLE, f"proof store: {exc}")
            except Exception as exc:
                log.exception("job %s crashed", job.id)
                result = (Attempt.RETRYABLE, f"{type(exc).__name__}: {exc}")
            nursery.cancel_scope.cancel()
        if aborted:
            return (Attempt.ABORTED, "")
        return result
