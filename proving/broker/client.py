"""BrokerClient: ProvingJobProducer + ProvingJobConsumer over HTTP JSON-RPC (PROVER_BROKER_HOST).

- Every call is retried on transport errors (broker restarting, connection reset) with capped
  exponential backoff for up to ``retry_for`` seconds (None = forever). All broker methods are
  idempotent for this purpose: enqueue by content-addressed id, a repeated success report is
  acknowledged but not applied twice.
- ``connections`` keep-alive connections are pooled (agents use 1 each; a producer a few).
- Short calls made concurrently on one client are coalesced into one JSON-RPC batch (up to
  ``MAX_BATCH``; the broker runs a batch's members concurrently, so they share one durable commit):
  the first caller leads, sends whatever accumulated while it waited for a connection, and hands
  leadership to the next waiting caller when its own call is answered (or it is cancelled).
  Long-polls (``getProvingJob`` with a wait, ``getSettledJobs``) are never batched.
- ``wait_for_job_to_settle``: while :meth:`run` is running, one follower task reads the broker's
  settle log (``getSettledJobs`` long-poll) and wakes every local waiter, so thousands of pending
  jobs cost one open request, not one each. After a broker restart (new instance) the follower
  re-checks the status of every job it waits for. Without :meth:`run`, each wait long-polls
  ``waitForJobToSettle`` on its own.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from typing import Any, Final
from urllib.parse import urlparse

import trio

from core.http.client import HttpConnection, TransportError
from core.http.jsonrpc import (
    JsonRpcError,
    decode_batch_response,
    decode_response,
    encode_batch,
    encode_request,
)
from proving.interfaces import ReportResult
from proving.types import JobFilter, JobStatus, ProgressVerdict, ProvingJob

log = logging.getLogger(__name__)

LONG_POLL_MS: Final = 20_000
SEEN_CACHE: Final = 200_000
MAX_BATCH: Final = 100


class _Slot:
    """One batched call: its request, its outcome, and the event that wakes its caller (answered,
    or the leadership is free)."""

    __slots__ = ("done", "error", "method", "params", "result", "wake")

    def __init__(self, method: str, params: list[Any]) -> None:
        self.method = method
        self.params = params
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.wake = trio.Event()

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True
        self.wake.set()


_DIRECT: Final = _Slot("", [])  # the leader mark of a call sent alone (call_batched's fast path)


class BrokerUnavailableError(ConnectionError):
    """The broker could not be reached within ``retry_for`` seconds."""


def parse_broker_url(url: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme != "http" or not parsed.hostname:
        raise ValueError(f"PROVER_BROKER_HOST must look like http://host:port, got {url!r}")
    return parsed.hostname, parsed.port or 80


# one exchange with the broker, its longest long-poll (60 s) included: past this the connection is
# dropped and the call retried (a broker that accepts and never answers held agents forever; review)
REQUEST_TIMEOUT: Final = 90.0


class BrokerClient:
    def __init__(
        self,
        url: str,
        *,
        connections: int = 1,
        retry_for: float | None = 300.0,
        max_backoff: float = 1.0,
        token: str | None = None,
    ) -> None:
        """`token`: the broker's PROVER_BROKER_AUTH_TOKEN, sent as `Authorization: Bearer`."""
        self.url = url
        self.host, self.port = parse_broker_url(url)
        if connections < 1:
            raise ValueError("connections must be >= 1")
        auth = None if token is None else {"authorization": f"Bearer {token}"}
        self._pool = [HttpConnection(self.host, self.port, headers=auth, timeout=REQUEST_TIMEOUT)
                      for _ in range(connections)]
        self._free_send, self._free_recv = trio.open_memory_channel[HttpConnection](connections)
        for c in self._pool:
            self._free_send.send_nowait(c)
        self._follow_conn = HttpConnection(self.host, self.port, headers=auth, timeout=REQUEST_TIMEOUT)
        self.retry_for = retry_for
        self.max_backoff = max_backoff
        self._ids = itertools.count(1)
        # job id -> one event per waiting caller; only the follower (or _wake_all) sets and removes
        # them, and a caller removes only its own, so no caller can consume another's wake-up
        self._waiting: dict[str, set[trio.Event]] = {}
        self._seen: OrderedDict[str, JobStatus] = OrderedDict()
        self._following = False
        self.calls = 0
        self.retries = 0
        self.batches = 0  # HTTP requests that carried more than one call
        self._queue: list[_Slot] = []
        self._leader: _Slot | None = None

    async def aclose(self) -> None:
        for c in [*self._pool, self._follow_conn]:
            await c.aclose()

    # ------------------------------------------------------------------ transport

    async def call(self, method: str, *params: Any, conn: HttpConnection | None = None) -> Any:
        deadline = None if self.retry_for is None else trio.current_time() + self.retry_for
        backoff = 0.01
        while True:
            req_id = next(self._ids)
            body = encode_request(req_id, method, list(params))
            try:
                if conn is not None:
                    status, resp = await conn.post(body)
                else:
                    c = await self._free_recv.receive()
                    try:
                        status, resp = await c.post(body)
                    finally:
                        self._free_send.send_nowait(c)
                self.calls += 1
            except TransportError as exc:
                if deadline is not None and trio.current_time() >= deadline:
                    raise BrokerUnavailableError(f"broker at {self.url} unreachable: {exc}") from None
                self.retries += 1
                log.debug("broker call %s failed (%s); retrying in %.2fs", method, exc, backoff)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if status != 200:
                raise JsonRpcError(-32000, f"HTTP {status} from broker: {resp[:200]!r}")
            return decode_response(resp, req_id)

    async def call_batched(self, method: str, *params: Any) -> Any:
        """Like :meth:`call`, coalesced with concurrent calls on this client into one batch."""
        if self._leader is None and not self._queue:
            # nobody else is calling (an agent, an idle producer): lead without a slot, send this call
            # alone; callers arriving meanwhile queue behind it and the first of them leads next
            self._leader = _DIRECT
            try:
                try:
                    c = self._free_recv.receive_nowait()  # (no scheduler round-trip when one is free)
                except trio.WouldBlock:
                    c = await self._free_recv.receive()
                try:
                    return await self.call(method, *params, conn=c)
                finally:
                    self._free_send.send_nowait(c)
            finally:
                self._leader = None
                if self._queue:
                    self._queue[0].wake.set()
        slot = _Slot(method, list(params))
        self._queue.append(slot)
        try:
            while not slot.done:
                if self._leader is None:
                    await self._lead(slot)
                else:
                    await slot.wake.wait()
                    if not slot.done:
                        slot.wake = trio.Event()
        finally:
            if not slot.done and slot in self._queue:
                self._queue.remove(slot)
        if slot.error is not None:
            raise slot.error
        return slot.result

    async def _lead(self, me: _Slot) -> None:
        self._leader = me
        batch: list[_Slot] = []
        try:
            while not me.done:
                c = await self._free_recv.receive()
                try:
                    batch = self._queue[:MAX_BATCH]
                    del self._queue[:MAX_BATCH]
                    if batch:
                        await self._send(c, batch)
                    batch = []
                finally:
                    self._free_send.send_nowait(c)
        finally:
            # cancelled with calls in flight: they go back to the front of the queue (every broker
            # method is idempotent), and the next waiting caller leads
            pending = [s for s in batch if not s.done and s is not me]
            self._queue[:0] = pending
            if not me.done and me in self._queue:
                self._queue.remove(me)  # the leader itself was cancelled
            self._leader = None
            if self._queue:
                self._queue[0].wake.set()

    async def _send(self, conn: HttpConnection, batch: list[_Slot]) -> None:
        if len(batch) == 1:
            s = batch[0]
            try:
                s.finish(await self.call(s.method, *s.params, conn=conn))
            except (JsonRpcError, BrokerUnavailableError) as exc:
                s.finish(error=exc)
            return
        deadline = None if self.retry_for is None else trio.current_time() + self.retry_for
        backoff = 0.01
        while True:
            ids = [next(self._ids) for _ in batch]
            body = encode_batch([(i, s.method, s.params) for i, s in zip(ids, batch, strict=True)])
            try:
                status, resp = await conn.post(body)
                self.calls += 1
                self.batches += 1
            except TransportError as exc:
                if deadline is not None and trio.current_time() >= deadline:
                    err = BrokerUnavailableError(f"broker at {self.url} unreachable: {exc}")
                    for s in batch:
                        s.finish(error=err)
                    return
                self.retries += 1
                await trio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if status != 200:
                http_err = JsonRpcError(-32000, f"HTTP {status} from broker: {resp[:200]!r}")
                for s in batch:
                    s.finish(error=http_err)
                return
            try:
                answers = decode_batch_response(resp, ids)
            except JsonRpcError as exc:
                for s in batch:
                    s.finish(error=exc)
                return
            for i, s in zip(ids, batch, strict=True):
                a = answers[i]
                if isinstance(a, JsonRpcError):
                    s.finish(error=a)
                else:
                    s.finish(a)
            return

    # ------------------------------------------------------------------ producer

    async def enqueue_proving_job(self, job: ProvingJob) -> JobStatus:
        return JobStatus.from_wire(await self.call_batched("enqueueProvingJob", job.to_wire()))

    async def get_proving_job_status(self, job_id: str) -> JobStatus:
        return JobStatus.from_wire(await self.call_batched("getProvingJobStatus", job_id))

    async def remove_and_cancel_proving_job(self, job_id: str) -> JobStatus:
        return JobStatus.from_wire(await self.call("removeAndCancelProvingJob", job_id))

    async def wait_for_job_to_settle(self, job_id: str) -> JobStatus:
        if not self._following:
            while True:
                st = JobStatus.from_wire(await self.call("waitForJobToSettle", job_id, LONG_POLL_MS))
                if st.settled or st.status == "not-found":
                    return st
        while True:
            seen = self._seen.get(job_id)
            if seen is not None:
                return seen
            ev = trio.Event()
            self._waiting.setdefault(job_id, set()).add(ev)
            try:
                st = await self.get_proving_job_status(job_id)  # covers a settle before registration
                if st.settled or st.status == "not-found":
                    return st
                await ev.wait()
            finally:
                mine = self._waiting.get(job_id)
                if mine is not None:
                    mine.discard(ev)
                    if not mine:
                        del self._waiting[job_id]

    async def cleanup_epochs_before(self, epoch: int) -> int:
        n = await self.call("cleanUpProvingJobState", epoch)
        assert isinstance(n, int)
        return n

    async def statistics(self) -> dict[str, Any]:
        out = await self.call("getBrokerStatistics")
        assert isinstance(out, dict)
        return out

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the broker's settle log (needed only by producers)."""
        instance: str | None = None
        seq = -1
        self._following = True
        task_status.started()
        try:
            while True:
                res = await self.call("getSettledJobs", seq, instance, LONG_POLL_MS, conn=self._follow_conn)
                if not isinstance(res, dict):
                    raise JsonRpcError(-32603, "bad getSettledJobs answer")
                if res.get("reset") or instance is None:
                    instance, seq = res["instance"], res["nextSeq"]
                    self._wake_all()
                    continue
                seq = res["nextSeq"]
                for job_id, raw in res["jobs"]:
                    st = JobStatus.from_wire(raw)
                    self._seen[job_id] = st
                    if len(self._seen) > SEEN_CACHE:
                        self._seen.popitem(last=False)
                    for ev in self._waiting.pop(job_id, ()):
                        ev.set()
        finally:
            self._following = False
            self._wake_all()

    def _wake_all(self) -> None:
        """Make every waiter re-check its job's status (broker restarted or follower stopped)."""
        waiting, self._waiting = self._waiting, {}
        for events in waiting.values():
            for ev in events:
                ev.set()

    # ------------------------------------------------------------------ consumer

    async def get_proving_job(
        self, flt: JobFilter, *, agent_id: str | None = None, max_wait: float = 0.0
    ) -> ProvingJob | None:
        call = self.call if max_wait > 0 else self.call_batched
        res = await call("getProvingJob", flt.to_wire(), agent_id, int(max_wait * 1000))
        return None if res is None else ProvingJob.from_wire(res["job"])

    async def report_proving_job_progress(
        self, job_id: str, *, agent_id: str | None = None
    ) -> ProgressVerdict:
        res = await self.call_batched("reportProvingJobProgress", job_id, agent_id)
        return ProgressVerdict.ABORT if res.get("status") == ProgressVerdict.ABORT.value else ProgressVerdict.CONTINUE

    async def report_proving_job_success(
        self,
        job_id: str,
        result_uri: str,
        *,
        agent_id: str | None = None,
        next_filter: JobFilter | None = None,
    ) -> ReportResult:
        flt = None if next_filter is None else next_filter.to_wire()
        res = await self.call_batched("reportProvingJobSuccess", job_id, result_uri, agent_id, flt)
        nxt = res.get("next")
        return ReportResult(bool(res.get("applied")), None if nxt is None else ProvingJob.from_wire(nxt["job"]))

    async def report_proving_job_error(
        self,
        job_id: str,
        reason: str,
        *,
        retry: bool = False,
        agent_id: str | None = None,
        next_filter: JobFilter | None = None,
    ) -> ReportResult:
        flt = None if next_filter is None else next_filter.to_wire()
        res = await self.call_batched("reportProvingJobError", job_id, reason, retry, agent_id, flt)
        nxt = res.get("next")
        return ReportResult(bool(res.get("applied")), None if nxt is None else ProvingJob.from_wire(nxt["job"]))
