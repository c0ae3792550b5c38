"""JSON-RPC methods of the broker (names as Aztec's ProvingBroker: ``enqueueProvingJob``,
``getProvingJobStatus``, ``removeAndCancelProvingJob``, ``waitForJobToSettle``, ``getProvingJob``,
``reportProvingJobProgress``, ``reportProvingJobSuccess``, ``reportProvingJobError``), plus
``getSettledJobs`` (the settle log remote producers follow instead of one long-poll per job),
``cleanUpProvingJobState`` and ``getBrokerStatistics``.

Parameters are positional (Aztec style) or named; see each handler for the order.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

import trio

from proving.broker.core import BrokerBusyError, ProvingBroker
from proving.broker.state import BrokerFullError
from proving.proof_store import ProofUriError
from proving.rpc.jsonrpc import (
    SERVER_ERROR,
    Dispatcher,
    InvalidParams,
    JsonRpcError,
    param_bool,
    param_int,
    param_number,
    param_opt_str,
    param_str,
    positional,
)
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


def build_dispatcher(broker: ProvingBroker) -> Dispatcher:
    d = Dispatcher()

    async def enqueue(params: list[Any] | dict[str, Any]) -> Any:
        (raw,) = positional(params, ("job",), 1)
        try:
            status = await broker.enqueue_proving_job(_job(raw))
        except BrokerFullError as exc:
            raise JsonRpcError(BROKER_FULL, str(exc)) from None
        except ValueError as exc:
            raise InvalidParams(str(exc)) from None
        return status.to_wire()

    async def status(params: list[Any] | dict[str, Any]) -> Any:
        (job_id,) = positional(params, ("id",), 1)
        return (await broker.get_proving_job_status(param_str(job_id, "id", MAX_JOB_ID_LENGTH))).to_wire()

    async def cancel(params: list[Any] | dict[str, Any]) -> Any:
        (job_id,) = positional(params, ("id",), 1)
        st = await broker.remove_and_cancel_proving_job(param_str(job_id, "id", MAX_JOB_ID_LENGTH))
        return st.to_wire()

    async def wait_settle(params: list[Any] | dict[str, Any]) -> Any:
        job_id, timeout_ms = positional(params, ("id", "timeoutMs"), 1)
        timeout = param_number(timeout_ms, "timeoutMs", MAX_WAIT_MS, 0, MAX_WAIT_MS) / 1000
        st = await broker.wait_for_job_to_settle(param_str(job_id, "id", MAX_JOB_ID_LENGTH), timeout)
        return st.to_wire()

    async def get_job(params: list[Any] | dict[str, Any]) -> Any:
        flt, agent, timeout_ms = positional(params, ("filter", "agentId", "timeoutMs"), 0)
        timeout = param_number(timeout_ms, "timeoutMs", 0, 0, MAX_WAIT_MS) / 1000
        try:
            job = await broker.get_proving_job(
                _filter(flt), agent_id=param_opt_str(agent, "agentId", 128), max_wait=timeout
            )
        except BrokerBusyError as exc:
            raise JsonRpcError(BROKER_BUSY, str(exc)) from None
        return _job_response(job)

    async def progress(params: list[Any] | dict[str, Any]) -> Any:
        job_id, agent = positional(params, ("id", "agentId"), 1)
        verdict = await broker.report_proving_job_progress(
            param_str(job_id, "id", MAX_JOB_ID_LENGTH), agent_id=param_opt_str(agent, "agentId", 128)
        )
        return {"status": verdict.value}

    async def success(params: list[Any] | dict[str, Any]) -> Any:
        job_id, value, agent, flt = positional(params, ("id", "value", "agentId", "filter"), 2)
        try:
            res = await broker.report_proving_job_success(
                param_str(job_id, "id", MAX_JOB_ID_LENGTH),
                param_str(value, "value", MAX_URI_LENGTH),
                agent_id=param_opt_str(agent, "agentId", 128),
                next_filter=_opt_filter(flt),
            )
        except ProofUriError as exc:
            raise InvalidParams(str(exc)) from None
        return {"applied": res.applied, "next": _job_response(res.next_job)}

    async def error(params: list[Any] | dict[str, Any]) -> Any:
        job_id, reason, retry, agent, flt = positional(params, ("id", "reason", "retry", "agentId", "filter"), 2)
        if not isinstance(reason, str):
            raise InvalidParams("reason must be a string")
        res = await broker.report_proving_job_error(
            param_str(job_id, "id", MAX_JOB_ID_LENGTH),
            reason[:MAX_REASON_LENGTH],
            retry=param_bool(retry, "retry", False),
            agent_id=param_opt_str(agent, "agentId", 128),
            next_filter=_opt_filter(flt),
        )
        return {"applied": res.applied, "next": _job_response(res.next_job)}

    async def settled(params: list[Any] | dict[str, Any]) -> Any:
        after, instance, timeout_ms = positional(params, ("afterSeq", "instance", "timeoutMs"), 1)
        timeout = param_number(timeout_ms, "timeoutMs", 0, 0, MAX_WAIT_MS) / 1000
        batch = await broker.get_settled_jobs(
            param_int(after, "afterSeq", -1, 2**62), param_opt_str(instance, "instance", 64), timeout
        )
        return {
            "instance": batch.instance,
            "nextSeq": batch.next_seq,
            "reset": batch.reset,
            "jobs": [[i, broker.machine.status(i).to_wire()] for i in batch.ids],
        }

    async def cleanup(params: list[Any] | dict[str, Any]) -> Any:
        (epoch,) = positional(params, ("epochNumber",), 1)
        return await broker.cleanup_epochs_before(param_int(epoch, "epochNumber", 0, 2**62))

    async def stats(params: list[Any] | dict[str, Any]) -> Any:
        positional(params, (), 0)
        return dataclasses.asdict(broker.statistics())

    d.register("enqueueProvingJob", enqueue)
    d.register("getProvingJobStatus", status)
    d.register("removeAndCancelProvingJob", cancel)
    d.register("waitForJobToSettle", wait_settle)
    d.register("getProvingJob", get_job)
    d.register("reportProvingJobProgress", progress)
    d.register("reportProvingJobSuccess", success)
    d.register("reportProvingJobError", error)
    d.register("getSettledJobs", settled)
    d.register("cleanUpProvingJobState", cleanup)
    d.register("getBrokerStatistics", stats)
    return d
