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


async def test_a_batch_of_enqueues_answers_as_enqueues_one_by_one() -> None:
    """The batch variant of enqueueProvingJob (one task, one commit) against the same calls made one
    request at a time, on two fresh brokers: the same answers (bad params, refused URIs, a type
    conflict, duplicates in the batch, a full broker) and the same jobs held."""
    import json

    from core.http.client import HttpConnection

    t = ProvingRequestType.TUBE_PROOF
    good = [_job(i).to_wire() for i in range(6)]
    params: list[object] = [
        [good[0]], [good[1]], [good[0]],  # a duplicate inside the batch
        [{**good[2], "inputsUri": "file:///etc/passwd"}],  # refused by the URI policy
        [{**good[3], "type": int(ProvingRequestType.PUBLIC_VM)}], [good[3]],  # new, then a type conflict
        [], [1, 2], {"job": good[4]}, {"nope": 1}, ["not a job"],
        [good[5]], [_job(7).to_wire()], [_job(8).to_wire()],  # the last ones: over max_jobs
    ]
    calls = [{"jsonrpc": "2.0", "id": i, "method": "enqueueProvingJob", "params": p} for i, p in enumerate(params)]
    answers = []
    for batched in (False, True):
        service = BrokerService(None, "127.0.0.1", 0, registry=CollectorRegistry(), max_jobs=6)
        async with trio.open_nursery() as n:
            host, port = await n.start(service.run)
            conn = HttpConnection(host, port)
            if batched:
                status, body = await conn.post(json.dumps(calls).encode())
                assert status == 200
                got = {a["id"]: a for a in json.loads(body)}
            else:
                got = {}
                for c in calls:
                    status, body = await conn.post(json.dumps(c).encode())
                    got[c["id"]] = json.loads(body)
            await conn.aclose()
            held = sorted((r.id, r.type) for r in service.broker.machine.records())
            answers.append(({i: a.get("result", a.get("error", {}).get("code")) for i, a in got.items()}, held))
            n.cancel_scope.cancel()
    assert answers[0] == answers[1]
    by_id = answers[1][0]
    assert by_id[0] == {"status": "in-queue"} and by_id[3] == -32602 and by_id[6] == -32602 and by_id[13] == -32001
    assert t in {ptype for _, ptype in answers[1][1]}
