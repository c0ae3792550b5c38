"""The broker's `JobStore` Protocol is all a backend needs: the same restart scenario passes over the
sqlite store and over a second, in-memory implementation (what a Postgres store would have to do)."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry

from proving.broker import ProvingBroker
from proving.broker.state import JobState
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


@pytest.mark.parametrize("flush_thread", ["always", "never"])
@pytest.mark.parametrize("inline_rows", [0, 10_000])  # every batch written in the journal's thread / on the loop
async def test_journal_writes_and_syncs_in_its_thread_or_inline_and_reports_failures(
    tmp_path: Path, inline_rows: int, flush_thread: Literal["always", "never"]
) -> None:
    import threading

    from proving.broker.state import JobRecord
    from proving.broker.store import Journal

    store = SqliteJobStore(tmp_path / "j.sqlite", sync="full")
    journal = Journal(store, inline_rows=inline_rows, flush_thread=flush_thread)
    threads: list[tuple[str, str]] = []
    write, flush = store.write, store.flush

    def write_spy(*args: object) -> None:
        threads.append(("write", threading.current_thread().name))
        write(*args)  # type: ignore[arg-type]

    def flush_spy() -> None:
        threads.append(("flush", threading.current_thread().name))
        flush()

    store.write = write_spy  # type: ignore[method-assign]
    store.flush = flush_spy  # type: ignore[method-assign]
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
            assert store.fsyncs == journal.flushes >= 1
            main = threading.current_thread().name
            assert {w for w, _ in threads} == {"write", "flush"}
            in_thread = {"write": inline_rows == 0, "flush": flush_thread == "always"}
            assert all((t != main) == in_thread[w] for w, t in threads)
            # a failing write (in the thread or not) surfaces as the journal task's error
            store.close()
            await journal.write({"late": rec("late", 99)}, set())


async def test_broker_metrics_counted_in_bulk_read_exactly_at_collection(autojump_clock: object) -> None:
    """The per-job metrics are pending plain counts until the registry is collected: every read
    (get_sample_value, a scrape) sees exact totals, histogram buckets as prometheus_client puts them."""
    from prometheus_client import Histogram

    reg = CollectorRegistry()
    broker = ProvingBroker(MemoryJobStore(), registry=reg)
    ref = Histogram("ref_seconds", "the same observations through prometheus_client", ["type"],
                    registry=CollectorRegistry(), buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                            0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
    t = ProvingRequestType.TUBE_PROOF
    async with trio.open_nursery() as n:
        await n.start(broker.run)
        for i in range(30):
            await broker.enqueue_proving_job(ProvingJob(f"id-{i}", t, 1, f"data:,{i}"))
        assert reg.get_sample_value("aztec_proving_jobs_enqueued_total", {"type": t.name}) == 30
        waits = [0.0002, 0.0003, 0.003, 0.7, 2.5, 11.0, 700.0]
        for i, wait in enumerate(waits):
            await trio.sleep(wait)
            job = await broker.get_proving_job(JobFilter(), agent_id="a")
            assert job is not None
            ref.labels(t.name).observe(wait + (sum(waits[:i]) if i else 0.0))
            await broker.report_proving_job_success(job.id, "data:,r", agent_id="a")
        assert reg.get_sample_value("aztec_proving_jobs_settled_total", {"type": t.name, "status": "fulfilled"}) == 7
        assert reg.get_sample_value("aztec_proving_jobs_enqueued_total", {"type": t.name}) == 30
        for le in ("0.0005", "0.001", "0.0025", "0.01", "1.0", "5.0", "30.0", "600.0", "+Inf"):
            want = ref.collect()[0]
            wanted = next(s.value for s in want.samples if s.name == "ref_seconds_bucket" and s.labels["le"] == le)
            got = reg.get_sample_value("aztec_proving_job_wait_seconds_bucket", {"type": t.name, "le": le})
            assert got == wanted, le
        assert reg.get_sample_value("aztec_proving_job_wait_seconds_count", {"type": t.name}) == 7
        assert reg.get_sample_value("aztec_proving_job_proving_seconds_count", {"type": t.name}) == 7
        n.cancel_scope.cancel()


async def test_wal_checkpoints_run_beside_commits_not_inside_them(tmp_path: Path) -> None:
    """No commit runs sqlite's automatic checkpoint; the journal checkpoints every CHECKPOINT_ROWS rows
    on its own connection in a worker thread, and the data stays readable and complete."""
    from proving.broker.state import JobRecord
    from proving.broker.store import CHECKPOINT_ROWS, Journal

    store = SqliteJobStore(tmp_path / "j.sqlite", sync="full")
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # sqlite's, until a journal runs
    journal = Journal(store)
    n_rows = CHECKPOINT_ROWS + 500
    done_send, done_recv = trio.open_memory_channel[None](10)
    real_checkpoint = store.checkpoint

    def spy() -> None:  # runs in the checkpointer's worker thread (and in the journal's)
        real_checkpoint()
        with contextlib.suppress(RuntimeError):  # (the journal's thread is not trio's)
            trio.from_thread.run_sync(done_send.send_nowait, None)

    store.checkpoint = spy  # type: ignore[method-assign]
    async with trio.open_nursery() as n:
        await n.start(journal.run, lambda ids: None)
        for start in range(0, n_rows, 250):
            await journal.write({f"j{i}": JobRecord(id=f"j{i}", type=ProvingRequestType.TUBE_PROOF, epoch=1,
                                                    inputs_uri="data:,x", seq=i, priority=0, deadline=None,
                                                    state=JobState.QUEUED) for i in range(start, start + 250)}, set())
        with trio.fail_after(10):
            await done_recv.receive()
            await done_recv.receive()  # the one at start, then one after CHECKPOINT_ROWS rows
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # off: commits never checkpoint
        # (each followed by one between two writes, in the journal's thread: the spy sends only from trio's)
        assert 2 <= store.checkpoints_made <= 4
        n.cancel_scope.cancel()
    wal_frames = store._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert wal_frames[0] == 0  # not busy: nothing blocked the writer
    assert len(store.load()) == n_rows
    store.close()
    assert len(SqliteJobStore(tmp_path / "j.sqlite").load()) == n_rows


async def test_wal_stops_growing_under_a_steady_stream_of_one_row_commits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One agent reporting job after job: a commit of one row at a time, without pause. The checkpoint
    beside the commits never finds every frame copied (each commit appends while it copies), so sqlite
    never starts the WAL over; the journal finishes each checkpoint between two writes, and the WAL
    stays at about CHECKPOINT_ROWS frames instead of growing with every commit (found by issue 15's
    bench: 37 MB of WAL after 5,000 reports, every sync allocating blocks)."""
    from proving.broker import store as store_module
    from proving.broker.state import JobRecord
    from proving.broker.store import Journal

    monkeypatch.setattr(store_module, "CHECKPOINT_ROWS", 50)
    store = SqliteJobStore(tmp_path / "j.sqlite", sync="full")
    journal = Journal(store)
    spans: list[tuple[float, float]] = []
    real_checkpoint = store.checkpoint

    def slow_checkpoint() -> None:  # a slow disk: the writes go on meanwhile
        start = time.monotonic()
        real_checkpoint()
        time.sleep(0.03)
        spans.append((start, time.monotonic()))

    store.checkpoint = slow_checkpoint  # type: ignore[method-assign]
    wal = tmp_path / "j.sqlite-wal"
    frame = 4096 + 24
    sizes = []
    async with trio.open_nursery() as n:
        await n.start(journal.run, lambda ids: None)
        for i in range(1500):
            await journal.write({f"j{i}": JobRecord(id=f"j{i}", type=ProvingRequestType.TUBE_PROOF, epoch=1,
                                                    inputs_uri="data:,x", seq=i, priority=0, deadline=None,
                                                    state=JobState.QUEUED)}, set())
            sizes.append(wal.stat().st_size)
        n.cancel_scope.cancel()
    assert store.checkpoints_made >= 10  # (one per 50 rows or so, fewer on a loaded machine: 30 ms each)
    spans.sort()
    # the writer's catch-up never waits behind the next checkpoint beside the writes (nor runs with it)
    overlaps = [(a, b) for a, b in itertools.pairwise(spans) if a[1] > b[0]]
    assert not overlaps, [(round(a[0] - spans[0][0], 4), round(a[1] - spans[0][0], 4), round(b[0] - spans[0][0], 4))
                          for a, b in overlaps]
    assert max(sizes) < 400 * frame, max(sizes) // frame  # (1,500+ frames when it grows)
    assert sizes[-1] == max(sizes)  # reused from its start, never cut and regrown
    store.close()
    assert len(SqliteJobStore(tmp_path / "j.sqlite").load()) == 1500


async def test_a_failing_checkpoint_is_retried_after_the_next_rows_not_at_once(tmp_path: Path) -> None:
    """The checkpoint at start fails: the journal logs it and tries again only after CHECKPOINT_ROWS
    more rows (it retried in a loop, thousands of times a second with a warning each, when idle;
    found by review)."""
    from proving.broker.store import Journal

    store = SqliteJobStore(tmp_path / "j.sqlite", sync="full")
    tries: list[int] = []

    def failing() -> None:
        tries.append(1)
        raise OSError("disk on fire")

    store.checkpoint = failing  # type: ignore[method-assign]
    journal = Journal(store)
    async with trio.open_nursery() as n:
        await n.start(journal.run, lambda ids: None)
        await trio.sleep(0.3)
        n.cancel_scope.cancel()
    assert len(tries) == 1
    store.close()


async def test_journal_auto_flush_runs_on_the_loop_when_idle_in_the_thread_when_busy(tmp_path: Path) -> None:
    """flush_thread="auto": a lone write syncs on the event loop (no thread handoff); a write while
    other tasks are ready to run syncs in the journal's thread, so the loop serves them meanwhile."""
    import threading

    from proving.broker.state import JobRecord
    from proving.broker.store import Journal

    store = SqliteJobStore(tmp_path / "j.sqlite", sync="full")
    journal = Journal(store)
    where: list[bool] = []  # flushed on the loop's thread?
    flush = store.flush
    main = threading.current_thread()

    def spy() -> None:
        where.append(threading.current_thread() is main)
        flush()

    store.flush = spy  # type: ignore[method-assign]

    def rec(job_id: str, seq: int) -> JobRecord:
        return JobRecord(id=job_id, type=ProvingRequestType.TUBE_PROOF, epoch=1, inputs_uri="data:,x",
                         seq=seq, priority=0, deadline=None, state=JobState.QUEUED)

    async with trio.open_nursery() as n:
        await n.start(journal.run, lambda ids: None)
        await journal.write({"a": rec("a", 0)}, set())
        assert where == [True]

        async def busy() -> None:  # other tasks ready to run while the flusher runs
            for _ in range(2000):
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as others:
            for _ in range(20):
                others.start_soon(busy)
            # (the check sees the tasks queued for the next scheduler batch; trio orders a batch at
            # random, so a write whose flush runs before the others of its batch syncs on the loop:
            # 20 writes, at least one in the thread)
            for i in range(20):
                await journal.write({f"b{i}": rec(f"b{i}", 1 + i)}, set())
            others.cancel_scope.cancel()
        assert len(where) == 21 and not all(where[1:])
        n.cancel_scope.cancel()
    store.close()
    assert {r.id for r in SqliteJobStore(tmp_path / "j.sqlite").load()} == {"a"} | {f"b{i}" for i in range(20)}


def _row(job_id: str, seq: int, state: int = 0, result: str | None = None) -> tuple[Any, ...]:
    return (job_id, int(T.TUBE_PROOF), 1, "data:,", 0, None, seq, state, 0, result, None)


def test_sqlite_store_keys_rows_by_seq_updates_in_place_and_refuses_a_seq_collision(tmp_path: Path) -> None:
    """Rows are keyed by seq (unique id index): a report updates its row in place, an id written again
    under a new seq takes its old row over (the later row of a batch wins, as in MemoryJobStore), and
    a row naming another job's seq changes nothing and fails the whole batch."""
    store = SqliteJobStore(tmp_path / "j.sqlite")
    store.commit([_row("a", 1), _row("b", 2)], [])  # type: ignore[list-item]
    store.commit([_row("a", 1, int(JobState.FULFILLED), "data:,p")], [])  # type: ignore[list-item]
    assert [(r.id, r.seq, r.state, r.result) for r in store.load()] == [
        ("a", 1, JobState.FULFILLED, "data:,p"), ("b", 2, JobState.QUEUED, None)]
    store.commit([_row("b", 3), _row("b", 4)], [])  # type: ignore[list-item]
    assert [(r.id, r.seq) for r in store.load()] == [("a", 1), ("b", 4)]
    with pytest.raises(RuntimeError, match="seq another job holds"):
        store.commit([_row("c", 5), _row("z", 1)], [])  # type: ignore[list-item]
    assert [(r.id, r.seq) for r in store.load()] == [("a", 1), ("b", 4)]  # the batch rolled back
    assert store.lookup("b") is not None and store.lookup("c") is None
    store.close()


def test_sqlite_journal_of_the_id_keyed_layout_is_converted_at_open(tmp_path: Path) -> None:
    """A journal written by the earlier layout (table keyed by id, WITHOUT ROWID) opens with every row
    unchanged, in the seq-keyed layout, and goes on taking writes."""
    import sqlite3

    path = tmp_path / "broker.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, type INTEGER NOT NULL, epoch INTEGER NOT NULL, inputs_uri TEXT"
        " NOT NULL, priority INTEGER NOT NULL, deadline REAL, seq INTEGER NOT NULL, state INTEGER NOT NULL,"
        " attempts INTEGER NOT NULL, result TEXT, reason TEXT) WITHOUT ROWID")
    rows = [_row(f"{9 - i:064x}", i, int(JobState.FULFILLED) if i % 2 else 0, "data:,r" if i % 2 else None)
            for i in range(50)]
    old.executemany("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    old.close()
    store = SqliteJobStore(path)
    assert [(r.id, r.seq, int(r.state), r.result) for r in store.load()] == [(r[0], r[6], r[7], r[9]) for r in rows]
    sql = store._db.execute("SELECT sql FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]
    assert "WITHOUT ROWID" not in sql.upper() and "seq INTEGER PRIMARY KEY" in sql
    store.commit([_row("new", 50)], [rows[0][0]])  # type: ignore[list-item]
    assert len(store.load()) == 50 and store.lookup("new") is not None
    store.close()
    assert len(SqliteJobStore(path).load()) == 50  # reopened: no second conversion


async def test_wait_durable_during_a_batch_written_in_the_thread_waits_for_its_flush(tmp_path: Path) -> None:
    """A batch larger than inline_rows is written in the journal's thread: meanwhile its rows are
    pending and wait_durable returns only once that batch is durable (not at once)."""
    import threading

    from proving.broker.state import JobRecord
    from proving.broker.store import Journal

    store = SqliteJobStore(tmp_path / "j.sqlite")
    release = threading.Event()
    write = store.write

    def slow_write(*args: object) -> None:
        release.wait(10)
        write(*args)  # type: ignore[arg-type]

    store.write = slow_write  # type: ignore[method-assign]
    journal = Journal(store, inline_rows=1)

    def rec(job_id: str, seq: int) -> JobRecord:
        return JobRecord(id=job_id, type=ProvingRequestType.TUBE_PROOF, epoch=1, inputs_uri="data:,x", seq=seq,
                         priority=0, deadline=None, state=JobState.QUEUED)

    async with trio.open_nursery() as n:
        await n.start(journal.run, lambda ids: None)
        n.start_soon(journal.write, {"a": rec("a", 1), "b": rec("b", 2)}, set())
        await trio.testing.wait_all_tasks_blocked()
        assert journal.is_pending("a") and journal.durable_generation == -1
        durable = False

        async def waiter() -> None:
            nonlocal durable
            await journal.wait_durable()
            durable = journal.durable_generation >= 0

        n.start_soon(waiter)
        await trio.sleep(0.05)
        assert not durable  # still waiting: the batch is being written
        release.set()
        with trio.fail_after(5):
            while not durable:  # noqa: ASYNC110
                await trio.sleep(0.01)
        n.cancel_scope.cancel()
    store.close()


def test_sqlite_store_behind_a_symlink_syncs_the_real_wal_and_refuses_after_close(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").mkdir()
    (tmp_path / "real" / "j.sqlite").touch()
    (tmp_path / "link" / "j.sqlite").symlink_to(tmp_path / "real" / "j.sqlite")
    store = SqliteJobStore(tmp_path / "link" / "j.sqlite")
    store.commit([_row("a", 1)], [])  # type: ignore[list-item]
    assert store.fsyncs == 1 and (tmp_path / "real" / "j.sqlite-wal").exists()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.flush()


async def _settle_jobs(path: Path, jobs: list[int]) -> None:
    """A broker over the sqlite journal at `path` enqueues `_job(i)` for each i and settles it."""
    store = SqliteJobStore(path)
    async with trio.open_nursery() as n:
        broker = ProvingBroker(store, registry=CollectorRegistry())
        await n.start(broker.run)
        for i in jobs:
            await broker.enqueue_proving_job(_job(i))
            got = await broker.get_proving_job(JobFilter())
            assert got is not None
            await broker.report_proving_job_success(got.id, "data:,p")
        n.cancel_scope.cancel()
    store.close()


async def test_restart_that_leaves_the_newest_settled_job_on_disk_gives_new_jobs_fresh_seqs(tmp_path: Path) -> None:
    """restore_settled=0 and the job with the largest seq settled: it stays on disk, and a new job
    after the restart must not reuse its seq (the journal would refuse the batch)."""
    await _settle_jobs(tmp_path / "broker.sqlite", [1])
    again = SqliteJobStore(tmp_path / "broker.sqlite")
    async with trio.open_nursery() as n:
        broker = ProvingBroker(again, registry=CollectorRegistry(), restore_settled=0)
        await n.start(broker.run)
        assert len(broker.machine) == 0 and again.next_seq == 1
        assert (await broker.enqueue_proving_job(_job(2))).status == "in-queue"
        assert (await broker.get_proving_job_status(_job(1).id)).status == "fulfilled"  # read from disk
        n.cancel_scope.cancel()
    assert sorted(r.seq for r in again.load()) == [0, 1]
    again.close()


async def test_a_batch_that_reads_a_settled_job_back_from_disk_keeps_the_other_enqueues_durable(
        tmp_path: Path) -> None:
    """A restarted broker with settled history left on disk; one batch enqueues a new job, then
    an old settled one (read back from disk between the two). The new job was acknowledged in-queue
    but its journal write was dropped (the read-back reset the pending effects): never dispatched,
    gone after a restart (found by review)."""
    await _settle_jobs(tmp_path / "broker.sqlite", [0, 1, 2])
    again = SqliteJobStore(tmp_path / "broker.sqlite")
    async with trio.open_nursery() as n:
        broker = ProvingBroker(again, registry=CollectorRegistry(), restore_settled=0)
        await n.start(broker.run)
        assert again.history_on_disk and len(broker.machine) == 0
        out = await broker.enqueue_each([_job(10), _job(0), _job(11)])
        assert [getattr(o, "status", o) for o in out] == ["in-queue", "fulfilled", "in-queue"]
        assert broker.machine.statistics().awaiting_journal == 0
        got = await broker.get_proving_job(JobFilter())
        assert got is not None and got.id in {_job(10).id, _job(11).id}
        n.cancel_scope.cancel()
    again.close()
    rows = {r.id: r.state for r in SqliteJobStore(tmp_path / "broker.sqlite").load()}
    assert _job(10).id in rows and _job(11).id in rows


def test_sqlite_journal_of_the_id_keyed_layout_with_repeated_seqs_is_renumbered_in_order(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "broker.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, type INTEGER NOT NULL, epoch INTEGER NOT NULL, inputs_uri TEXT"
        " NOT NULL, priority INTEGER NOT NULL, deadline REAL, seq INTEGER NOT NULL, state INTEGER NOT NULL,"
        " attempts INTEGER NOT NULL, result TEXT, reason TEXT) WITHOUT ROWID")
    old.executemany("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [_row("c", 7), _row("b", 5), _row("a", 5), _row("d", 9)])
    old.close()
    store = SqliteJobStore(path)
    rows = [(r.id, r.seq) for r in store.load()]
    assert [i for i, _ in rows] == ["a", "b", "c", "d"] and len({s for _, s in rows}) == 4
    assert [s for _, s in rows] == sorted(s for _, s in rows)
    store.close()
