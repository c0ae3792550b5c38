"""The broker driver, its sqlite journal, the JSON-RPC service and client, and the agent pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
import trio.lowlevel
import trio.testing
from prometheus_client import CollectorRegistry

from proving.agent import AgentPool, RealProofsUnavailableError
from proving.broker import BrokerClient, BrokerService, ProvingBroker
from proving.broker.store import SqliteJobStore
from proving.circuits.simulate import TubeInputs, encode_inputs
from proving.circuits.timing import TimingModel
from proving.proof_store import InlineProofStore
from proving.types import JobFilter, ProvingJob, ProvingRequestType

T = ProvingRequestType


def _job(i: int, ptype: ProvingRequestType = T.TUBE_PROOF, epoch: int = 1) -> ProvingJob:
    return ProvingJob(f"{ptype.name}:{i:064x}", ptype, epoch, f"data:,{i:060x}")


async def test_durable_restart_keeps_jobs_and_results(tmp_path: Path) -> None:
    db = tmp_path / "broker.sqlite"
    async with trio.open_nursery() as n:
        broker = ProvingBroker(SqliteJobStore(db), registry=CollectorRegistry())
        await n.start(broker.run)
        for i in range(10):
            assert (await broker.enqueue_proving_job(_job(i))).status == "in-queue"
        held = [await broker.get_proving_job(JobFilter()) for _ in range(4)]
        assert all(j is not None for j in held)
        for j in held[:2]:
            assert j is not None
            assert (await broker.report_proving_job_success(j.id, f"data:{j.id}")).applied
        n.cancel_scope.cancel()
    # a new broker over the same file: results kept, held jobs back in the queue
    async with trio.open_nursery() as n:
        broker = ProvingBroker(SqliteJobStore(db), registry=CollectorRegistry())
        await n.start(broker.run)
        statuses = [await broker.get_proving_job_status(_job(i).id) for i in range(10)]
        assert sum(s.status == "fulfilled" for s in statuses) == 2
        assert sum(s.status == "in-queue" for s in statuses) == 8
        # a late result from a pre-crash agent is accepted once, a duplicate is not applied
        late = held[2]
        assert late is not None
        assert (await broker.report_proving_job_success(late.id, "data:late")).applied
        assert not (await broker.report_proving_job_success(late.id, "data:late2")).applied
        assert (await broker.get_proving_job_status(late.id)).value == "data:late"
        # a re-enqueue of a proven job returns the stored result
        again = await broker.enqueue_proving_job(held[0])  # type: ignore[arg-type]
        assert again.status == "fulfilled"
        n.cancel_scope.cancel()


async def test_long_poll_hands_out_jobs_as_they_arrive(autojump_clock: trio.testing.MockClock) -> None:
    broker = ProvingBroker(None, registry=CollectorRegistry())
    got: list[ProvingJob | None] = []
    async with trio.open_nursery() as n:
        await n.start(broker.run)

        async def agent() -> None:
            got.append(await broker.get_proving_job(JobFilter(frozenset({T.MERGE_ROLLUP})), max_wait=30))

        n.start_soon(agent)
        await trio.sleep(1)
        await broker.enqueue_proving_job(_job(1, T.TUBE_PROOF))  # filtered out
        await broker.enqueue_proving_job(_job(2, T.MERGE_ROLLUP))
        t0 = trio.current_time()
        while not got:
            await trio.lowlevel.checkpoint()
        assert trio.current_time() - t0 < 0.001
        assert got[0] is not None and got[0].type == T.MERGE_ROLLUP
        n.cancel_scope.cancel()


async def test_leases_requeue_then_reject_and_undelivered_costs_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    broker = ProvingBroker(
        None, registry=CollectorRegistry(), job_timeout=10, poll_interval=1, max_lease_expiries=2
    )
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        job = _job(1)
        await broker.enqueue_proving_job(job)
        # "a" never acknowledges it (its long-poll's client was gone): back after one lease, free
        assert await broker.get_proving_job(JobFilter(), agent_id="a") is not None
        await trio.sleep(11.5)
        assert broker.machine.status(job.id).status == "in-queue"
        rec = broker.machine.record(job.id)
        assert rec is not None and rec.attempts == 0 and rec.expiries == 0
        assert broker.statistics().machine.undelivered == 1
        for n_agent, agent in enumerate(("b", "c"), 1):
            t0 = trio.current_time()
            again = await broker.get_proving_job(JobFilter(), agent_id=agent)
            assert again is not None and again.id == job.id
            assert await broker.report_proving_job_progress(job.id, agent_id=agent) == "continue"
            while broker.machine.timeouts < n_agent:  # noqa: ASYNC110 - the agent died: lease + one poll at most
                await trio.sleep(0.1)
            assert trio.current_time() - t0 <= 10 + 1 + 0.2
        st = await broker.wait_for_job_to_settle(job.id)
        assert st.status == "rejected" and st.reason is not None and "Timed out" in st.reason
        assert await broker.report_proving_job_progress(job.id, agent_id="c") == "abort"
        assert broker.statistics().machine.timeouts == 2
        n.cancel_scope.cancel()


async def test_long_poll_of_a_gone_client_gets_no_job(autojump_clock: trio.testing.MockClock) -> None:
    broker = ProvingBroker(None, registry=CollectorRegistry())
    got: list[ProvingJob | None] = []
    gone = trio.Event()
    async with trio.open_nursery() as n:
        await n.start(broker.run)

        async def agent() -> None:
            got.append(await broker.get_proving_job(JobFilter(), agent_id="dead", max_wait=30, disconnected=gone))

        n.start_soon(agent)
        await trio.sleep(1)
        gone.set()  # the transport saw the socket close
        await trio.sleep(0.1)
        assert got == [None]
        await broker.enqueue_proving_job(_job(7))
        live = await broker.get_proving_job(JobFilter(), agent_id="live")
        assert live is not None and live.id == _job(7).id
        # the transport failed to write the answer: released at once, then re-dispatched
        assert broker.release_undelivered(live.id, "live")
        assert broker.machine.status(live.id).status == "in-queue"
        again = await broker.get_proving_job(JobFilter(), agent_id="other")
        assert again is not None and again.id == live.id
        assert await broker.report_proving_job_progress(again.id, agent_id="other") == "continue"
        assert not broker.release_undelivered(again.id, "other")  # acknowledged: no longer undelivered
        rec = broker.machine.record(again.id)
        assert rec is not None and rec.attempts == 0
        n.cancel_scope.cancel()


async def test_cancel_aborts_the_agent(autojump_clock: trio.testing.MockClock) -> None:
    broker = ProvingBroker(None, registry=CollectorRegistry())
    pool = AgentPool(broker, 1, timing=TimingModel(seconds_per_million_gates=100.0), heartbeat_interval=1)
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        await n.start(pool.run)
        inputs = InlineProofStore().save(encode_inputs(TubeInputs(1, "")))
        job = ProvingJob("TUBE_PROOF:1", T.TUBE_PROOF, 1, inputs)
        await broker.enqueue_proving_job(job)
        await trio.sleep(5)
        assert pool.current_jobs() == [(job.id, "TUBE_PROOF")]
        st = await broker.remove_and_cancel_proving_job(job.id)
        assert st.status == "rejected" and st.reason == "Aborted"
        await trio.sleep(2)
        assert pool.current_jobs() == []
        assert pool.statistics().aborted == 1
        n.cancel_scope.cancel()


def test_real_proofs_are_a_clear_error() -> None:
    with pytest.raises(RealProofsUnavailableError, match="PROVER_REAL_PROOFS"):
        AgentPool("http://127.0.0.1:1", 1, real_proofs=True)


async def test_bad_inputs_fail_the_job_without_retry() -> None:
    broker = ProvingBroker(None, registry=CollectorRegistry())
    pool = AgentPool(broker, 2)
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        await n.start(pool.run)
        job = ProvingJob("MERGE_ROLLUP:bad", T.MERGE_ROLLUP, 1, "data:application/octet-stream;base64,e30=")
        await broker.enqueue_proving_job(job)
        with trio.fail_after(5):
            st = await broker.wait_for_job_to_settle(job.id)
        assert st.status == "rejected" and st.reason is not None and "missing left" in st.reason
        assert pool.statistics().failed == 1
        n.cancel_scope.cancel()


async def test_http_service_end_to_end(tmp_path: Path) -> None:
    reg = CollectorRegistry()
    service = BrokerService(tmp_path, "127.0.0.1", 0, registry=reg)
    async with trio.open_nursery() as n:
        host, port = await n.start(service.run)
        url = f"http://{host}:{port}"
        producer = BrokerClient(url, connections=4)
        await n.start(producer.run)
        agent = BrokerClient(url)
        jobs = [_job(i, T(i % 12)) for i in range(40)]
        with trio.fail_after(20):
            for j in jobs:
                assert (await producer.enqueue_proving_job(j)).status == "in-queue"
            results: dict[str, str] = {}

            async def wait(j: ProvingJob) -> None:
                st = await producer.wait_for_job_to_settle(j.id)
                assert st.value is not None
                results[j.id] = st.value

            async with trio.open_nursery() as waiters:
                for j in jobs:
                    waiters.start_soon(wait, j)
                nxt = await agent.get_proving_job(JobFilter(), agent_id="x", max_wait=1)
                while nxt is not None:
                    assert await agent.report_proving_job_progress(nxt.id, agent_id="x") == "continue"
                    res = await agent.report_proving_job_success(
                        nxt.id, "data:out:" + nxt.id, agent_id="x", next_filter=JobFilter()
                    )
                    assert res.applied
                    nxt = res.next_job
        assert results == {j.id: "data:out:" + j.id for j in jobs}
        # metrics and health over plain HTTP, and garbage does not kill the server
        s = await trio.open_tcp_stream(host, port)
        await s.send_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        data = b""
        while b"aztec_proving_queue_depth" not in data:
            data += await s.receive_some(65536)
        await s.aclose()
        s = await trio.open_tcp_stream(host, port)
        await s.send_all(b"\x00\xffNOT HTTP\r\n\r\n")
        assert b"400" in await s.receive_some(1024)
        await s.aclose()
        stats = await producer.statistics()
        assert stats["machine"]["fulfilled"] == 40
        assert json.dumps(stats)
        await producer.aclose()
        await agent.aclose()
        n.cancel_scope.cancel()
