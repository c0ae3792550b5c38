"""The broker's `JobStore` Protocol is all a backend needs: the same restart scenario passes over the
sqlite store and over a second, in-memory implementation (what a Postgres store would have to do)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from prometheus_client import CollectorRegistry

from proving.broker import ProvingBroker
from proving.broker.store import JobStore, MemoryJobStore, SqliteJobStore
from proving.types import JobFilter, ProvingJob, ProvingRequestType

T = ProvingRequestType

# a factory gives the store for the first broker and, called with that store, the one after a restart
StoreFactory = Callable[[Path, JobStore | None], JobStore]


def _sqlite(tmp: Path, before: JobStore | None) -> JobStore:
    return SqliteJobStore(tmp / "broker.sqlite")


def _memory(tmp: Path, before: JobStore | None) -> JobStore:
    return MemoryJobStore() if before is None else before.reopen()  # type: ignore[attr-defined]


def _job(i: int, epoch: int = 1) -> ProvingJob:
    return ProvingJob(f"TUBE_PROOF:{i:064x}", T.TUBE_PROOF, epoch, f"data:,{i:060x}")


@pytest.mark.parametrize("make", [_sqlite, _memory], ids=["sqlite", "memory"])
async def test_restart_keeps_results_requeues_held_and_forgets_cleaned(tmp_path: Path, make: StoreFactory) -> None:
    first = make(tmp_path, None)
    assert isinstance(first, JobStore)
    async with trio.open_nursery() as n:
        broker = ProvingBroker(first, registry=CollectorRegistry())
        await n.start(broker.run)
        for i in range(6):
            await broker.enqueue_proving_job(_job(i, epoch=1))
        for i in range(6, 9):
            await broker.enqueue_proving_job(_job(i, epoch=2))
        held = [await broker.get_proving_job(JobFilter()) for _ in range(3)]
        done = held[0]
        assert done is not None
        assert (await broker.report_proving_job_success(done.id, "data:proof")).applied
        assert await broker.cleanup_epochs_before(1) == 0
        n.cancel_scope.cancel()
    assert broker.journal.statistics().commits > 0
    assert broker.journal.statistics().sync == first.sync
    first.close()

    again = make(tmp_path, first)
    async with trio.open_nursery() as n:
        broker = ProvingBroker(again, registry=CollectorRegistry())
        await n.start(broker.run)
        statuses = {i: (await broker.get_proving_job_status(_job(i, 1 if i < 6 else 2).id)).status for i in range(9)}
        assert list(statuses.values()).count("fulfilled") == 1
        assert list(statuses.values()).count("in-queue") == 8  # held, unfinished jobs are queued again
        assert (await broker.get_proving_job_status(done.id)).value == "data:proof"
        removed = await broker.cleanup_epochs_before(2)  # epoch 1 dropped, durably
        assert removed == 6
        n.cancel_scope.cancel()
    again.close()

    third = make(tmp_path, again)
    assert sorted(r.epoch for r in third.load()) == [2, 2, 2]
    third.close()


def test_memory_store_applies_a_batch_atomically_and_refuses_after_close() -> None:
    store = MemoryJobStore()
    row = ("a", int(T.TUBE_PROOF), 1, "data:,", 0, None, 0, 0, 0, None, None)
    store.commit([row, (*row[:6], 1, *row[7:])], ["b"])
    assert [r.seq for r in store.load()] == [1]  # the later row of a batch wins
    store.commit([("b", *row[1:])], ["a"])
    assert [r.id for r in store.load()] == ["b"]
    store.close()
    with pytest.raises(RuntimeError):
        store.commit([], [])


@pytest.mark.parametrize("inline_rows", [0, 10_000])  # every batch in the journal's thread / on the loop
async def test_journal_commits_in_its_thread_or_inline_and_reports_failures(tmp_path: Path, inline_rows: int) -> None:
    import threading

    from proving.broker.state import JobRecord, JobState
    from proving.broker.store import Journal

    store = SqliteJobStore(tmp_path / "j.sqlite", sync="full")
    journal = Journal(store, inline_rows=inline_rows)
    threads: list[str] = []
    commit = store.commit

    def spy(*args: object) -> None:
        threads.append(threading.current_thread().name)
        commit(*args)  # type: ignore[arg-type]

    store.commit = spy  # type: ignore[method-assign]
    seen: list[list[str]] = []

    def rec(job_id: str, seq: int) -> JobRecord:
        return JobRecord(id=job_id, type=ProvingRequestType.TUBE_PROOF, epoch=1, inputs_uri="data:,x", seq=seq,
                         priority=0, deadline=None, state=JobState.QUEUED)

    recs = {f"j{i}": rec(f"j{i}", i) for i in range(50)}
    with pytest.RaisesGroup(pytest.RaisesExc(Exception, match="closed"), flatten_subgroups=True):
        async with trio.open_nursery() as n:
            await n.start(journal.run, seen.append)
            async with trio.open_nursery() as writers:  # concurrent writers share group commits
                for k, r in recs.items():
                    writers.start_soon(journal.write, {k: r}, set())
            assert sorted(i for batch in seen for i in batch) == sorted(recs)
            assert {r.id for r in store.load()} == set(recs)
            main = threading.current_thread().name
            assert threads and all((t == main) == (inline_rows > 0) for t in threads)
            # a failing commit (in the thread or not) surfaces as the journal task's error
            store.close()
            await journal.write({"late": rec("late", 99)}, set())
