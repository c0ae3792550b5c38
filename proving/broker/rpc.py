"""JSON-RPC methods of the broker (names as Aztec's ProvingBroker: ``enqueueProvingJob``,
``getProvingJobStatus``, ``removeAndCancelProvingJob``, ``waitForJobToSettle``, ``getProvingJob``,
``reportProvingJobProgress``, ``reportProvingJobSuccess``, ``reportProvingJobError``), plus
``getSettledJobs`` (the settle log remote producers follow instead of one long-poll per job),
``cleanUpProvingJobState`` and ``getBrokerStatistics``.

Parameters are positional (Aztec style) or named (the handler's parameter names). Every method is
registered protected: callable with the broker's auth token, or from loopback when no token is
configured (core.http.app.AccessPolicy). A long-poll (``getProvingJob`` with a timeout) stops when
its HTTP client disconnects, so no job is handed to a gone agent.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

import trio

from core.http.jsonrpc import (
    SERVER_ERROR,
    Dispatcher,
    InvalidParams,
    JsonRpcError,
    param_bool,
    param_int,
    param_number,
    param_opt_str,
    param_str,
)
from core.http.server import cancelled_on_disconnect
from proving.broker.core import BrokerBusyError, ProvingBroker
from proving.broker.state import BrokerFullError
from proving.proof_store import ProofUriError
from proving.types import (
    MAX_JOB_ID_LENGTH,
    MAX_REASON_LENGTH,
    MAX_URI_LENGTH,
    InvalidJobError,
    JobFilter,
    ProvingJob,
)

MAX_WAIT_MS: Final = 60_000
BROKER_FULL: Final = SERVER_ERROR - 1
BROKER_BUSY: Final = SERVER_ERROR - 2
MAX_AGENT_ID: Final = 128


def _job(raw: Any) -> ProvingJob:
    try:
        return ProvingJob.from_wire(raw)
    except InvalidJobError as exc:
        raise InvalidParams(str(exc)) from None


def _filter(raw: Any) -> JobFilter:
    try:
        return JobFilter.from_wire(raw)
    except InvalidJobError as exc:
        raise InvalidParams(str(exc)) from None


def _opt_filter(raw: Any) -> JobFilter | None:
    return None if raw is None else _filter(raw)


def _job_response(job: ProvingJob | None) -> dict[str, Any] | None:
    return None if job is None else {"job": job.to_wire(), "time": trio.current_time()}


def _id(value: Any) -> str:
    return param_str(value, "id", MAX_JOB_ID_LENGTH)


def _agent(value: Any) -> str | None:
    return param_opt_str(value, "agentId", MAX_AGENT_ID)


def register_broker_methods(d: Dispatcher, broker: ProvingBroker) -> None:
    """Register the broker's methods (all protected) on `d`: the standalone broker's dispatcher or
    the node's (``--prover-broker`` serves them on AZTEC_PORT)."""

    async def enqueue(job: Any) -> Any:
        try:
            status = await broker.enqueue_proving_job(_job(job))
        except BrokerFullError as exc:
            raise JsonRpcError(BROKER_FULL, str(exc)) from None
        except ValueError as exc:
            raise InvalidParams(str(exc)) from None
        return status.to_wire()

    async def enqueue_many(calls: list[tuple[Any, ...]]) -> list[Any]:
        """The enqueues of one JSON-RPC batch (a producer's coalesced calls): one task and one
        journal commit for all; each call's outcome as `enqueue` would give it."""
        jobs: list[ProvingJob | Exception] = []
        for args in calls:
            try:
                jobs.append(_job(args[0]))
            except JsonRpcError as exc:
                jobs.append(exc)
        out: list[Any] = []
        for res in await broker.enqueue_each(jobs):
            if isinstance(res, BrokerFullError):
                out.append(JsonRpcError(BROKER_FULL, str(res)))
            elif isinstance(res, JsonRpcError):
                out.append(res)
            elif isinstance(res, ValueError):
                out.append(InvalidParams(str(res)))
            elif isinstance(res, Exception):
                out.append(res)
            else:
                out.append(res.to_wire())
        return out

    async def status(id: Any) -> Any:
        return (await broker.get_proving_job_status(_id(id))).to_wire()

    async def cancel(id: Any) -> Any:
        return (await broker.remove_and_cancel_proving_job(_id(id))).to_wire()

    async def wait_settle(id: Any, timeoutMs: Any = None) -> Any:
        timeout = param_number(timeoutMs, "timeoutMs", MAX_WAIT_MS, 0, MAX_WAIT_MS) / 1000
        return (await broker.wait_for_job_to_settle(_id(id), timeout)).to_wire()

    async def get_job(filter: Any = None, agentId: Any = None, timeoutMs: Any = None) -> Any:
        timeout = param_number(timeoutMs, "timeoutMs", 0, 0, MAX_WAIT_MS) / 1000
        flt, agent = _filter(filter), _agent(agentId)
        job = None
        try:
            if timeout > 0:
                async with cancelled_on_disconnect():
                    job = await broker.get_proving_job(flt, agent_id=agent, max_wait=timeout)
            else:
                job = await broker.get_proving_job(flt, agent_id=agent, max_wait=0)
        except BrokerBusyError as exc:
            raise JsonRpcError(BROKER_BUSY, str(exc)) from None
        return _job_response(job)

    async def progress(id: Any, agentId: Any = None) -> Any:
        verdict = await broker.report_proving_job_progress(_id(id), agent_id=_agent(agentId))
        return {"status": verdict.value}

    async def success(id: Any, value: Any, agentId: Any = None, filter: Any = None) -> Any:
        try:
            res = await broker.report_proving_job_success(
                _id(id),
                param_str(value, "value", MAX_URI_LENGTH),
                agent_id=_agent(agentId),
                next_filter=_opt_filter(filter),
            )
        except ProofUriError as exc:
            raise InvalidParams(str(exc)) from None
        return {"applied": res.applied, "next": _job_response(res.next_job)}

    async def error(id: Any, reason: Any, retry: Any = None, agentId: Any = None, filter: Any = None) -> Any:
        if not isinstance(reason, str):
            raise InvalidParams("reason must be a string")
        res = await broker.report_proving_job_error(
            _id(id),
            reason[:MAX_REASON_LENGTH],
            retry=param_bool(retry, "retry", False),
            agent_id=_agent(agentId),
            next_filter=_opt_filter(filter),
        )
        return {"applied": res.applied, "next": _job_response(res.next_job)}

    async def settled(afterSeq: Any, instance: Any = None, timeoutMs: Any = None) -> Any:
        timeout = param_number(timeoutMs, "timeoutMs", 0, 0, MAX_WAIT_MS) / 1000
        batch = await broker.get_settled_jobs(
            param_int(afterSeq, "afterSeq", -1, 2**62), param_opt_str(instance, "instance", 64), timeout
        )
        return {
            "instance": batch.instance,
            "nextSeq": batch.next_seq,
            "reset": batch.reset,
            "jobs": [[i, broker.machine.status(i).to_wire()] for i in batch.ids],
        }

    async def cleanup(epochNumber: Any) -> Any:
        return await broker.cleanup_epochs_before(param_int(epochNumber, "epochNumber", 0, 2**62))

    async def stats() -> Any:
        return dataclasses.asdict(broker.statistics())

    for name, fn in (
        ("enqueueProvingJob", enqueue),
        ("getProvingJobStatus", status),
        ("removeAndCancelProvingJob", cancel),
        ("waitForJobToSettle", wait_settle),
        ("getProvingJob", get_job),
        ("reportProvingJobProgress", progress),
        ("reportProvingJobSuccess", success),
        ("reportProvingJobError", error),
        ("getSettledJobs", settled),
        ("cleanUpProvingJobState", cleanup),
        ("getBrokerStatistics", stats),
    ):
        d.register(name, fn, protected=True, many=enqueue_many if name == "enqueueProvingJob" else None)


def build_dispatcher(broker: ProvingBroker) -> Dispatcher:
    d = Dispatcher()
    register_broker_methods(d, broker)
    return d
