"""ProvingJobProducer / ProvingJobConsumer: the two faces of a prover broker (seed: "a Prover
Broker is any service that implements the ProvingJobProducer and ProvingJobConsumer interfaces").

Both the in-process :class:`proving.broker.core.ProvingBroker` and the JSON-RPC
:class:`proving.broker.client.BrokerClient` implement them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from proving.types import JobFilter, JobStatus, ProgressVerdict, ProvingJob


@dataclass(frozen=True, slots=True)
class ReportResult:
    """Answer to a success/error report: whether it was applied (False for a late or duplicate
    report of a settled job, which is acknowledged but never applied twice), and, if the agent
    passed a filter, its next job (saves a round trip)."""

    applied: bool
    next_job: ProvingJob | None = None


class ProvingJobProducer(Protocol):
    async def enqueue_proving_job(self, job: ProvingJob) -> JobStatus: ...

    async def get_proving_job_status(self, job_id: str) -> JobStatus: ...

    async def remove_and_cancel_proving_job(self, job_id: str) -> JobStatus: ...

    async def wait_for_job_to_settle(self, job_id: str) -> JobStatus: ...


class ProvingJobConsumer(Protocol):
    async def get_proving_job(
        self, flt: JobFilter, *, agent_id: str | None = None, max_wait: float = 0.0
    ) -> ProvingJob | None:
        """Next job for ``flt``; waits up to ``max_wait`` seconds for one (long-poll)."""
        ...

    async def report_proving_job_progress(
        self, job_id: str, *, agent_id: str | None = None
    ) -> ProgressVerdict: ...

    async def report_proving_job_success(
        self, job_id: str, result_uri: str, *, agent_id: str | None = None, next_filter: JobFilter | None = None
    ) -> ReportResult: ...

    async def report_proving_job_error(
        self,
        job_id: str,
        reason: str,
        *,
        retry: bool = False,
        agent_id: str | None = None,
        next_filter: JobFilter | None = None,
    ) -> ReportResult: ...
