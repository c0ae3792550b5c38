"""Broker faults of issue 11: duplicate settle waiters, power-loss durability of acknowledgements,
proof store access rules, and the bounds on what strangers can make the broker hold."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import trio
from prometheus_client import CollectorRegistry

from core.http.jsonrpc import JsonRpcError
from proving.agent import AgentPool
from proving.broker import BrokerClient, BrokerService, ProvingBroker
from proving.broker.core import SettledBatch
from proving.broker.state import BrokerFullError
from proving.broker.store import SqliteJobStore
from proving.circuits.simulate import TubeInputs, encode_inputs
from proving.proof_store import (
    FileProofStore,
    InlineProofStore,
    ProofStoreAccessError,
    ProofUriError,
    UriPolicy,
    load_uri,
)
from proving.types import JobFilter, ProvingJob, ProvingRequestType

T = ProvingRequestType


def _job(i: int, uri: str | None = None) -> ProvingJob:
    return ProvingJob(f"TUBE_PROOF:{i:064x}", T.TUBE_PROOF, 1, uri or f"data:,{i}")


# ---------------------------------------------------------------------- 1. duplicate settle waiters


async def test_duplicate_waiters_all_wake_when_the_settle_log_is_late(tmp_path: Path) -> None:
    """Waiter A registers; the job settles; waiter B (same id) sees "fulfilled" on its own status
    check before the settle log's answer arrives. A must still wake (it stalled forever before)."""
    service = BrokerService(None, "127.0.0.1", 0, registry=CollectorRegistry())
    broker = service.broker
    gate = trio.Event()
    answers = calls = 0
    synced = trio.Event()
    real = broker.get_settled_jobs

    async def late_settle_log(after_seq: int, instance: str | None, max_wait: float) -> SettledBatch:
        nonlocal answers, calls
        calls += 1
        if calls >= 2:
            synced.set()
        batch = await real(after_seq, instance, max_wait)
        if batch.ids:
            await gate.wait()  # the settle log's answer is late
            answers += 1
        return batch

    broker.get_settled_jobs = late_settle_log  # type: ignore[method-assign]
    async with trio.open_nursery() as n:
        host, port = await n.start(service.run)
        client = BrokerClient(f"http://{host}:{port}", connections=4)
        await n.start(client.run)
        job = _job(1)
        await client.enqueue_proving_job(job)
        done: list[str] = []
        a_done = trio.Event()

        async def waiter(name: str) -> None:
            st = await client.wait_for_job_to_settle(job.id)
            assert st.status == "fulfilled"
            done.append(name)
            if name == "A":
                a_done.set()

        with trio.fail_after(5):
            await synced.wait()  # the follower synced with the broker and long-polls its settle log
            calls = client.calls
            n.start_soon(waiter, "A")
            # A registered, and its own status check was answered ("in-queue"): it is parked
            while job.id not in client._waiting or client.calls == calls:  # noqa: ASYNC110
                await trio.sleep(0.001)
            got = await broker.get_proving_job(JobFilter(), agent_id="x")
            assert got is not None
            assert (await broker.report_proving_job_success(job.id, "data:,proof", agent_id="x")).applied
            await waiter("B")  # sees "fulfilled" on its own check while the settle log is held back
            assert done == ["B"]
            gate.set()
            await a_done.wait()
        assert sorted(done) == ["A", "B"] and answers >= 1
        assert client._waiting == {}
        await client.aclose()
        n.cancel_scope.cancel()


async def test_twenty_waiters_of_one_job_all_wake(tmp_path: Path) -> None:
    service = BrokerService(None, "127.0.0.1", 0, registry=CollectorRegistry())
    async with trio.open_nursery() as n:
        host, port = await n.start(service.run)
        client = BrokerClient(f"http://{host}:{port}", connections=4)
        await n.start(client.run)
        job = _job(2)
        await client.enqueue_proving_job(job)
        woke = 0

        async def waiter() -> None:
            nonlocal woke
            assert (await client.wait_for_job_to_settle(job.id)).status == "fulfilled"
            woke += 1

        with trio.fail_after(10):
            async with trio.open_nursery() as w:
                for i in range(20):
                    w.start_soon(waiter)
                    if i == 10:  # settle halfway through the registrations
                        got = await service.broker.get_proving_job(JobFilter(), agent_id="x")
                        assert got is not None
                        await service.broker.report_proving_job_success(job.id, "data:,p", agent_id="x")
        assert woke == 20
        await client.aclose()
        n.cancel_scope.cancel()


# ---------------------------------------------------------------------- 3. durability


async def test_every_acknowledged_enqueue_is_covered_by_an_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteJobStore(tmp_path / "broker.sqlite")  # the default is power-loss durable
    # sqlite appends without syncing (NORMAL); the store fdatasyncs the WAL after each group write
    assert store.sync == "full" and store.synchronous() == 1
    wal = str(store.path.parent.resolve() / f"{store.path.name}-wal")
    writes = 0  # batches written so far
    synced = 0  # batches written before the start of the last fdatasync of the WAL that returned
    batch_of: dict[str, int] = {}  # job id -> the (1-based) batch that wrote it
    from proving.broker import store as store_module

    real_write, real_fdatasync = store.write, store_module._datasync

    def write(upserts: Any, deletes: Any) -> None:
        nonlocal writes
        real_write(upserts, deletes)
        writes += 1
        for row in upserts:
            batch_of[row[0]] = writes

    def fdatasync(fd: int) -> None:
        nonlocal synced
        assert os.readlink(f"/proc/self/fd/{fd}") == wal  # the WAL file, not some other
        start = writes
        real_fdatasync(fd)
        synced = max(synced, start)

    monkeypatch.setattr(store, "write", write)
    monkeypatch.setattr(store_module, "_datasync", fdatasync)
    broker = ProvingBroker(store, registry=CollectorRegistry())
    covered: list[bool] = []
    async with trio.open_nursery() as n:
        await n.start(broker.run)

        async def enqueue(i: int) -> None:
            st = await broker.enqueue_proving_job(_job(i))
            assert st.status == "in-queue"
            # acknowledged: the batch that wrote this job was written before the start of a WAL
            # fdatasync that returned
            covered.append(synced >= batch_of[_job(i).id] and not broker.journal.is_pending(_job(i).id))

        async with trio.open_nursery() as producers:
            for i in range(50):
                producers.start_soon(enqueue, i)
        stats = broker.statistics().journal
        assert stats.sync == "full" and stats.fsyncs == store.fsyncs >= 1
        assert stats.fsyncs <= 50  # group commit: at most one fsync per acknowledged write, usually fewer
        assert synced == writes  # nothing acknowledged is left unsynced
        n.cancel_scope.cancel()
    store.close()
    assert covered == [True] * 50
    normal = SqliteJobStore(tmp_path / "n.sqlite", sync="normal")
    assert normal.synchronous() == 1
    normal.commit([], ["x"])
    assert normal.fsyncs == 0 and normal.commits == 1
    normal.close()
    with pytest.raises(ValueError, match="sync must be one of"):
        SqliteJobStore(tmp_path / "x.sqlite", sync="sometimes")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- 4. proof store rules


def test_file_uris_only_inside_the_proof_store(tmp_path: Path) -> None:
    store = FileProofStore(tmp_path / "proofs")
    uri = store.save(b"inputs")
    assert load_uri(uri, store.root) == b"inputs"
    secret = tmp_path / "secret"
    secret.write_bytes(b"key")
    policy = UriPolicy(store.root)
    policy.check(uri)
    bad = [
        secret.as_uri(),
        "file:///etc/passwd",
        (store.root / ".." / "secret").as_posix().join(["file://", ""]),
        "file://evil.example/" + str(store.root),
        store.root.as_uri(),  # the directory itself
    ]
    link = store.root / "ab" / "link"
    link.parent.mkdir(exist_ok=True)
    os.symlink(secret, link)  # a symlink inside the store pointing out of it
    bad.append(link.as_uri())
    for u in bad:
        with pytest.raises(ProofUriError):
            policy.check(u)
        with pytest.raises(ProofStoreAccessError):
            load_uri(u, store.root)
    with pytest.raises(ProofUriError, match="no proof store directory"):
        UriPolicy(None).check(uri)
    with pytest.raises(ProofStoreAccessError):
        load_uri(uri)  # an agent without a proof store reads no local path
    with pytest.raises(ProofStoreAccessError):
        InlineProofStore().load(uri)
    with pytest.raises(ProofUriError, match="unsupported URI scheme"):
        policy.check("http://169.254.169.254/latest")
    with pytest.raises(ProofUriError, match="PROVER_BROKER_MAX_INLINE_BYTES"):
        UriPolicy(max_inline=1024).check("data:," + "A" * 2000)


async def test_agent_rejects_a_job_pointing_outside_the_store(tmp_path: Path) -> None:
    broker = ProvingBroker(None, registry=CollectorRegistry(), uri_policy=UriPolicy(tmp_path))
    store = FileProofStore(tmp_path / "proofs")
    pool = AgentPool(broker, 1, proof_store=store)
    (tmp_path / "secret").write_bytes(encode_inputs(TubeInputs(1, "")))
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        await n.start(pool.run)
        # the broker's root is wider than the agent's store: the agent's own check still holds
        job = _job(3, (tmp_path / "secret").as_uri())
        await broker.enqueue_proving_job(job)
        with trio.fail_after(5):
            st = await broker.wait_for_job_to_settle(job.id)
        assert st.status == "rejected" and st.reason is not None and "outside the proof store" in st.reason
        ok = _job(4, store.save(encode_inputs(TubeInputs(1, ""))))
        await broker.enqueue_proving_job(ok)
        with trio.fail_after(5):
            assert (await broker.wait_for_job_to_settle(ok.id)).status == "fulfilled"
        n.cancel_scope.cancel()


async def test_rpc_refuses_bad_uris_and_states_when_full(tmp_path: Path) -> None:
    service = BrokerService(
        tmp_path / "db",
        "127.0.0.1",
        0,
        max_queued=5,
        uri_policy=UriPolicy(tmp_path / "proofs", max_inline=4096),
        registry=CollectorRegistry(),
    )
    async with trio.open_nursery() as n:
        host, port = await n.start(service.run)
        client = BrokerClient(f"http://{host}:{port}")
        errors: list[str] = []
        for uri in ("file:///etc/passwd", "data:," + "A" * 100_000, "gs://bucket/x"):
            with pytest.raises(JsonRpcError) as exc_info:
                await client.enqueue_proving_job(_job(9, uri))
            errors.append(str(exc_info.value))
        assert "outside the proof store" in errors[0]
        assert "PROVER_BROKER_MAX_INLINE_BYTES" in errors[1]
        assert "unsupported URI scheme" in errors[2]
        for i in range(5):
            assert (await client.enqueue_proving_job(_job(i))).status == "in-queue"
        with pytest.raises(JsonRpcError, match="broker full: 5 jobs are not settled yet"):
            await client.enqueue_proving_job(_job(99))
        assert (await client.enqueue_proving_job(_job(0))).status == "in-queue"  # known ids still answer
        # a stranger's result pointing at a local file is refused, and the job is not settled by it
        got = await client.get_proving_job(JobFilter(), agent_id="s")
        assert got is not None
        with pytest.raises(JsonRpcError, match="outside the proof store"):
            await client.report_proving_job_success(got.id, "file:///etc/shadow", agent_id="s")
        assert (await client.get_proving_job_status(got.id)).status == "in-progress"
        stats: Any = await client.statistics()
        assert stats["machine"]["jobs"] == 5
        await client.aclose()
        n.cancel_scope.cancel()


async def test_a_lone_surrogate_in_any_string_is_a_parse_error_not_the_end_of_the_broker(tmp_path: Path) -> None:
    """JSON lets "\\ud800" (or its raw bytes) through, but it is not text: in a job id, a URI or an
    error reason it reached the journal, where sqlite refused it and the broker process ended (found
    by review). Every such body is answered -32700 and the broker goes on."""
    from tests.core.helpers import exchange, post

    service = BrokerService(tmp_path / "db", "127.0.0.1", 0, uri_policy=UriPolicy(tmp_path / "proofs"),
                            registry=CollectorRegistry())
    async with trio.open_nursery() as n:
        host, port = await n.start(service.run)
        client = BrokerClient(f"http://{host}:{port}")
        assert (await client.enqueue_proving_job(_job(1))).status == "in-queue"
        bodies = [
            b'{"jsonrpc":"2.0","id":1,"method":"enqueueProvingJob","params":[{"id":"sur\\ud800","type":1,'
            b'"epochNumber":1,"inputsUri":"data:x"}]}',
            b'{"jsonrpc":"2.0","id":1,"method":"reportProvingJobError","params":["%s","bad\\udfff",false]}'
            % _job(1).id.encode(),
            b'{"jsonrpc":"2.0","id":1,"method":"reportProvingJobSuccess","params":["%s","data:\xed\xa0\x80"]}'
            % _job(1).id.encode(),
            b'[{"jsonrpc":"2.0","id":1,"method":"enqueueProvingJob","params":[{"id":"a","type":1,"epochNumber":1,'
            b'"inputsUri":"data:\\ud800"}]},{"jsonrpc":"2.0","id":2,"method":"getProvingJobStatus","params":["a"]}]',
        ]
        for body in bodies:
            raw = await exchange(port, post(body))
            answer: Any = json.loads(raw.partition(b"\r\n\r\n")[2])
            assert answer["error"]["code"] == -32700, answer
        assert (await client.get_proving_job_status(_job(1).id)).status == "in-queue"  # alive, unchanged
        assert (await client.enqueue_proving_job(_job(2))).status == "in-queue"
        await client.aclose()
        n.cancel_scope.cancel()


async def test_bad_deadlines_are_refused_per_job_and_a_full_waiting_room_is_broker_busy(tmp_path: Path) -> None:
    """A deadline past float's range was an internal error for every member of its batch; NaN and
    the infinities were accepted (NaN broke the queue's order). A long-poll over the waiting-agent
    limit was an internal error (an exception group) instead of BROKER_BUSY (found by review)."""
    from proving.types import InvalidJobError
    from tests.core.helpers import exchange, post

    for bad in (10**400, float("nan"), float("inf"), -float("inf"), 2e15):
        with pytest.raises(InvalidJobError, match="deadline"):
            ProvingJob.from_wire({**_job(1).to_wire(), "deadline": bad})
    assert ProvingJob.from_wire({**_job(1).to_wire(), "deadline": 12.5}).deadline == 12.5
    service = BrokerService(tmp_path / "db", "127.0.0.1", 0, uri_policy=UriPolicy(tmp_path / "proofs"),
                            registry=CollectorRegistry())
    service.broker.max_waiting_agents = 1
    async with trio.open_nursery() as n:
        host, port = await n.start(service.run)
        ok, bad_job = _job(1).to_wire(), {**_job(2).to_wire(), "deadline": 1}
        body = json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "enqueueProvingJob", "params": [ok]},
                           {"jsonrpc": "2.0", "id": 2, "method": "enqueueProvingJob", "params": [bad_job]}])
        body = body.replace('"deadline": 1}', '"deadline": 1' + "0" * 400 + "}")
        answers = json.loads((await exchange(port, post(body.encode()))).partition(b"\r\n\r\n")[2])
        by_id = {a["id"]: a for a in answers}
        assert by_id[1]["result"]["status"] == "in-queue"
        assert by_id[2]["error"]["code"] == -32602 and "deadline" in by_id[2]["error"]["message"]
        client = BrokerClient(f"http://{host}:{port}")
        assert (await client.get_proving_job(JobFilter(), agent_id="a")) is not None  # takes the one job
        waiting = BrokerClient(f"http://{host}:{port}")
        n.start_soon(lambda: waiting.get_proving_job(JobFilter(), agent_id="w", max_wait=5))
        await trio.sleep(0.2)
        with pytest.raises(JsonRpcError) as busy:
            await client.get_proving_job(JobFilter(), agent_id="x", max_wait=5)
        from proving.broker.rpc import BROKER_BUSY

        assert busy.value.code == BROKER_BUSY and "already waiting" in str(busy.value)
        await client.aclose()
        n.cancel_scope.cancel()


async def test_uri_bytes_are_bounded() -> None:
    broker = ProvingBroker(None, registry=CollectorRegistry(), max_uri_bytes=10_000)
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        with pytest.raises(BrokerFullError, match="max_uri_bytes"):
            for i in range(100):
                await broker.enqueue_proving_job(_job(i, "data:," + "x" * 1000))
        assert broker.machine.statistics().uri_bytes <= 10_000
        n.cancel_scope.cancel()
