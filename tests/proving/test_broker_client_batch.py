"""BrokerClient coalesces concurrent calls into JSON-RPC batches; a cancelled leader hands over."""

from __future__ import annotations

import trio
import trio.testing
from prometheus_client import CollectorRegistry

from proving.broker import BrokerClient, BrokerService
from proving.types import JobFilter, ProvingJob, ProvingRequestType, make_job_id


def _job(i: int) -> ProvingJob:
    t = ProvingRequestType.TUBE_PROOF
    return ProvingJob(make_job_id(t, f"b-{i}".encode()), t, 1, f"data:,in{i}")


async def test_concurrent_calls_are_batched_and_each_gets_its_answer() -> None:
    service = BrokerService(None, "127.0.0.1", 0, registry=CollectorRegistry())
    async with trio.open_nursery() as n:
        host, port = await n.start(service.run)
        client = BrokerClient(f"http://{host}:{port}")
        jobs = [_job(i) for i in range(250)]
        statuses: dict[str, str] = {}

        async def enqueue(j: ProvingJob) -> None:
            statuses[j.id] = (await client.enqueue_proving_job(j)).status

        async with trio.open_nursery() as m:
            for j in jobs:
                m.start_soon(enqueue, j)
        assert statuses == {j.id: "in-queue" for j in jobs}
        assert client.batches >= 2 and client.calls < len(jobs)  # 250 calls in fewer requests
        assert len(service.broker.machine) == 250
        # a bad call inside a batch fails alone
        async def status(job_id: str) -> str:
            return (await client.get_proving_job_status(job_id)).status

        results: list[str] = []
        async with trio.open_nursery() as m:
            m.start_soon(lambda: _collect(results, status(jobs[0].id)))
            m.start_soon(lambda: _collect(results, status(_job(999).id)))
        assert sorted(results) == ["in-queue", "not-found"]
        got = await client.get_proving_job(JobFilter(), agent_id="a")
        assert got is not None
        await client.aclose()
        n.cancel_scope.cancel()


async def _collect(out: list[str], coro: object) -> None:
    out.append(await coro)  # type: ignore[misc]


async def test_cancelled_leader_hands_over_to_the_next_caller() -> None:
    service = BrokerService(None, "127.0.0.1", 0, registry=CollectorRegistry())
    async with trio.open_nursery() as n:
        host, port = await n.start(service.run)
        client = BrokerClient(f"http://{host}:{port}")
        conn = await client._free_recv.receive()  # hold the only connection: calls queue up
        done: list[str] = []

        async def enqueue(j: ProvingJob) -> None:
            await client.enqueue_proving_job(j)
            done.append(j.id)

        with trio.CancelScope() as leader_scope:
            async with trio.open_nursery() as m:
                m.start_soon(enqueue, _job(1))  # leads, waits for the connection
                await trio.testing.wait_all_tasks_blocked()
                follower = trio.CancelScope()

                async def follow() -> None:
                    with follower:
                        await enqueue(_job(2))

                n.start_soon(follow)
                await trio.testing.wait_all_tasks_blocked()
                leader_scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert client._leader is not None and client._leader.params[0]["id"] == _job(2).id  # job 2 took over
        client._free_send.send_nowait(conn)
        with trio.fail_after(5):
            while len(done) < 1:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert done == [_job(2).id]
        assert service.broker.machine.status(_job(2).id).status == "in-queue"
        assert service.broker.machine.status(_job(1).id).status == "not-found"
        await client.aclose()
        n.cancel_scope.cancel()
