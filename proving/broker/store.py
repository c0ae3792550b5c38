"""The broker's journal: a `JobStore` (the Protocol any backend implements: the embedded sqlite3
store in WAL mode here, `MemoryJobStore` for tests, a Postgres store could be a third) behind a
group-committing `Journal`.

Writes are group-committed: :class:`Journal` collects row writes from every caller, and one writer
task commits whatever accumulated while the previous commit was running, in one transaction (on the
event loop up to `INLINE_ROWS` rows, in the journal's own thread beyond). ``await journal.write(...)``
returns once the transaction holding that write has committed, so callers acknowledge only durable
state. Batching has no fixed delay: under load, batches grow by themselves; when idle a write commits
at once.

Durability (PROVER_BROKER_DB_SYNC): ``full`` (default) fdatasyncs the WAL after every group commit,
before any write in it is acknowledged, so an acknowledged write survives power loss, at one fsync per
batch (not per write). The journal splits a group commit in two: the transaction is written on the
event loop (sqlite at synchronous=NORMAL: frames appended to the WAL, no sync) and the WAL is synced
in the journal's thread while the loop goes on serving requests and writing the next batch; the
writes of a batch are acknowledged when a sync that started after them returns (issue 15: the loop no
longer sits idle in fsync). That is sqlite's own synchronous=FULL in WAL mode (the WAL synced at each
commit), done by the store: sqlite's NORMAL still syncs the WAL before each checkpoint, the database
after it and the WAL header when the WAL is reused. ``normal`` survives ``kill -9`` of the broker (the
OS has the pages) but not power loss (the WAL is fsynced only at checkpoints); ``off`` survives neither reliably.
``statistics().fsyncs`` counts the WAL syncs made with ``full``.

Only metadata is stored (ids, type, epoch, URIs, state, attempts): inputs and proofs are in the
proof store, referenced by URI.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, Protocol, runtime_checkable

import trio

from proving.broker.state import JobRecord, JobState
from proving.types import ProvingRequestType

log = logging.getLogger(__name__)

_datasync = getattr(os, "fdatasync", os.fsync)  # (no fdatasync on macOS)

WAL_SIZE_LIMIT: Final = 64 << 20  # bytes of WAL kept on disk once checkpointed (PRAGMA journal_size_limit)

SyncMode = Literal["normal", "full", "off"]
SYNC_MODES: tuple[SyncMode, ...] = ("full", "normal", "off")
_PRAGMA_LEVEL = {"off": 0, "normal": 1, "full": 2}

_COLUMNS = """
  type INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  inputs_uri TEXT NOT NULL,
  priority INTEGER NOT NULL,
  deadline REAL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  result TEXT,
  reason TEXT"""

# Rows keyed by `seq` (the order jobs were created in, unique per record; the rowid), with a unique
# index on the id. A job's writes land where its neighbours in time are: enqueues append to the
# table's last pages and a report updates its row in place (jobs settle roughly in seq order), where a
# table keyed by the random content-addressed id dirtied one random page per row (issue 15: a 100-job
# batch 14 -> 10 us per row, a report 19-24 -> 5-6 us per row; measured on this machine with the
# bench's rows). Journals written by earlier versions (keyed by id, WITHOUT ROWID) are converted in
# place at open (`_migrate`).
_SCHEMA = f"CREATE TABLE IF NOT EXISTS jobs (\n  seq INTEGER PRIMARY KEY,\n  id TEXT NOT NULL UNIQUE,{_COLUMNS}\n)"
_OLD_SCHEMA_MARK = "WITHOUT ROWID"

_SET = (
    "type=excluded.type, epoch=excluded.epoch, inputs_uri=excluded.inputs_uri, priority=excluded.priority,"
    " deadline=excluded.deadline, state=excluded.state, attempts=excluded.attempts, result=excluded.result,"
    " reason=excluded.reason"
)
# a known record updates its row in place (same seq, same id); an id written again under a new seq (a
# job deleted, then created again in the same batch) takes over its old row. A seq held by another id
# changes nothing (the WHERE), which `write` detects by the count of rows changed and refuses.
_INSERT = (
    "INSERT INTO jobs (id, type, epoch, inputs_uri, priority, deadline, seq, state, attempts, result, reason)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
_UPSERT = (
    f"{_INSERT} ON CONFLICT(seq) DO UPDATE SET {_SET} WHERE id = excluded.id"
    f" ON CONFLICT(id) DO UPDATE SET seq=excluded.seq, {_SET}"
) if sqlite3.sqlite_version_info >= (3, 35) else _INSERT.replace("INSERT", "INSERT OR REPLACE", 1)
# (two ON CONFLICT clauses need sqlite 3.35; an older one replaces the rows: the same rows, slower)

_SELECT = (
    "SELECT id, type, epoch, inputs_uri, priority, deadline, seq, state, attempts, result, reason FROM jobs"
)

Row = tuple[str, int, int, str, int, float | None, int, int, int, str | None, str | None]


def record_row(rec: JobRecord) -> Row:
    state = rec.state if rec.state in (JobState.FULFILLED, JobState.REJECTED) else JobState.QUEUED
    return (
        rec.id,
        int(rec.type),
        rec.epoch,
        rec.inputs_uri,
        rec.priority,
        rec.deadline,
        rec.seq,
        int(state),
        rec.attempts,
        rec.result,
        rec.reason,
    )


def row_record(row: Sequence[object]) -> JobRecord:
    (job_id, ptype, epoch, uri, priority, deadline, seq, state, attempts, result, reason) = row
    assert isinstance(job_id, str) and isinstance(uri, str)
    assert isinstance(ptype, int) and isinstance(epoch, int) and isinstance(priority, int)
    assert isinstance(seq, int) and isinstance(state, int) and isinstance(attempts, int)
    assert deadline is None or isinstance(deadline, float | int)
    assert result is None or isinstance(result, str)
    assert reason is None or isinstance(reason, str)
    return JobRecord(
        id=job_id,
        type=ProvingRequestType(ptype),
        epoch=epoch,
        inputs_uri=uri,
        priority=priority,
        deadline=None if deadline is None else float(deadline),
        seq=seq,
        state=JobState(state),
        attempts=attempts,
        result=result,
        reason=reason,
    )


@runtime_checkable
class JobStore(Protocol):
    """Where the broker's job metadata lives. `commit` is called by one `Journal` writer at a time
    (in a worker thread when `blocking`), with whole batches that must be applied atomically and
    durably (as `sync` says) before it returns; `load` returns every stored row as a record, in
    `seq` order, once at start-up. Rows are `Row` tuples (the columns of `record_row`)."""

    @property
    def sync(self) -> str:
        """Durability, reported in statistics (sqlite: full/normal/off)."""
        ...

    @property
    def fsyncs(self) -> int:
        """Commits made durable against power loss so far."""
        ...

    @property
    def blocking(self) -> bool:
        """commit/load do I/O: the journal and broker call them in a worker thread."""
        ...

    def describe(self) -> str:
        """Where the jobs are stored, for a log line (a path, a DSN without password, ...)."""
        ...

    @property
    def history_on_disk(self) -> bool:
        """The last `load_live` left settled jobs in the store only (`lookup` finds them)."""
        ...

    def load(self) -> list[JobRecord]: ...

    def load_live(self, retain_settled: int) -> list[JobRecord]:
        """What a restarted broker keeps in memory: every unsettled job plus the settled ones among
        the newest `retain_settled`, in `seq` order."""
        ...

    def lookup(self, job_id: str) -> JobRecord | None:
        """One stored job's record (cheap: called on the event loop for jobs `load_live` left out)."""
        ...

    @property
    def next_seq(self) -> int:
        """After `load_live`: one past the largest seq stored (also of rows it left on disk), where a
        restarted broker's new jobs start."""
        ...

    def commit(self, upserts: Sequence[Row], deletes: Iterable[str]) -> None:
        """`write` then `flush`: applied atomically and durably (as `sync` says) when it returns."""
        ...

    def write(self, upserts: Sequence[Row], deletes: Iterable[str]) -> None:
        """Apply one batch atomically; durable only once a later `flush` returns."""
        ...

    def flush(self) -> None:
        """Make every `write` that returned before this call durable (as `sync` says). May run in
        a worker thread while the next `write` runs in another."""
        ...

    def checkpoint(self) -> None:
        """Housekeeping the journal runs in a worker thread, beside commits, and then once more
        between two of its writes (sqlite: move the WAL into the database file); a no-op for stores
        without any."""
        ...

    @property
    def checkpoints_made(self) -> int:
        """`checkpoint` calls so far."""
        ...

    def close(self) -> None: ...


class MemoryJobStore:
    """A `JobStore` in a dict: survives a broker restart inside one process (tests), not the process."""

    blocking = False

    def __init__(self) -> None:
        self.sync = "memory"
        self.checkpoints_made = 0
        self.fsyncs = 0
        self.commits = 0
        self.closed = False
        self.history_on_disk = False
        self.next_seq = 0
        self._rows: dict[str, Row] = {}

    def describe(self) -> str:
        return "memory"

    def load(self) -> list[JobRecord]:
        return [row_record(r) for r in sorted(self._rows.values(), key=lambda r: r[6])]

    def load_live(self, retain_settled: int) -> list[JobRecord]:
        records = self.load()
        self.next_seq = records[-1].seq + 1 if records else 0
        cutoff = (records[-1].seq if records else 0) - retain_settled
        live = [r for r in records if r.state not in (JobState.FULFILLED, JobState.REJECTED) or r.seq > cutoff]
        self.history_on_disk = len(live) < len(records)
        return live

    def lookup(self, job_id: str) -> JobRecord | None:
        row = self._rows.get(job_id)
        return None if row is None else row_record(row)

    def commit(self, upserts: Sequence[Row], deletes: Iterable[str]) -> None:
        self.write(upserts, deletes)

    def flush(self) -> None:
        if self.closed:
            raise RuntimeError("MemoryJobStore is closed")

    def write(self, upserts: Sequence[Row], deletes: Iterable[str]) -> None:
        if self.closed:
            raise RuntimeError("MemoryJobStore is closed")
        batch = {r[0]: r for r in upserts}
        gone = set(deletes)
        for job_id in gone:
            self._rows.pop(job_id, None)
        self._rows.update((k, v) for k, v in batch.items() if k not in gone)
        self.commits += 1

    def checkpoint(self) -> None:
        self.checkpoints_made += 1

    def close(self) -> None:
        self.closed = True

    def reopen(self) -> MemoryJobStore:
        """The same rows behind a fresh handle (what a restart of the broker process would see)."""
        fresh = MemoryJobStore()
        fresh._rows = dict(self._rows)
        return fresh


class SqliteJobStore:
    """Blocking sqlite access; used from one worker thread at a time (guarded by a lock)."""

    blocking = True

    def __init__(self, path: Path, *, sync: SyncMode = "full") -> None:
        if sync not in _PRAGMA_LEVEL:
            raise ValueError(f"sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.sync: SyncMode = sync
        self.commits = 0
        self.fsyncs = 0  # commits whose WAL append was fsynced (sync=full)
        self._lock = threading.Lock()
        self._ckpt_lock = threading.Lock()
        self.checkpoints_made = 0
        self._reader: sqlite3.Connection | None = None
        self.history_on_disk = False  # load_live left settled jobs on disk (lookup finds them)
        self.next_seq = 0  # set by load_live
        self._wal_lock = threading.Lock()
        self._wal_fd: int | None = None
        self._wal_id = (-1, -1)
        self._closed = False
        # sqlite puts the WAL beside the database file it opens, symlinks resolved
        self._wal_path = os.path.realpath(path) + "-wal"
        self._db = sqlite3.connect(str(path), timeout=60, check_same_thread=False, isolation_level=None)
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"sqlite refused journal_mode=WAL for {path} (it is {mode})")
        # full: sqlite appends a commit's frames without syncing and `flush` syncs the WAL (module doc)
        self._db.execute(f"PRAGMA synchronous={self._pragma().upper()}")
        self._db.execute("PRAGMA temp_store=MEMORY")
        # a WAL a burst grew past this is cut back to it when sqlite next reuses it from the start
        self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        self._ckpt: sqlite3.Connection | None = None
        self._migrate()
        self._db.execute(_SCHEMA)
        if self.synchronous() != _PRAGMA_LEVEL[self._pragma()]:
            raise RuntimeError(f"sqlite did not accept synchronous={self._pragma()} for {path}")

    def _migrate(self) -> None:
        """A journal of an earlier version (table keyed by id, WITHOUT ROWID) becomes the seq-keyed
        table, rows unchanged, in one transaction (a crash midway leaves the old table as it was)."""
        row = self._db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone()
        if row is None or _OLD_SCHEMA_MARK not in str(row[0]).upper():
            return
        cols = "id, type, epoch, inputs_uri, priority, deadline, seq, state, attempts, result, reason"
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute("ALTER TABLE jobs RENAME TO jobs_by_id")
            cur.execute(_SCHEMA)
            dup = cur.execute("SELECT count(*) - count(DISTINCT seq) FROM jobs_by_id").fetchone()[0]
            if dup:  # seqs are unique now: renumber in the same order (1, 2, ...)
                rest = cols.replace(" seq,", "")
                cur.execute(f"INSERT INTO jobs ({rest}) SELECT {rest} FROM jobs_by_id ORDER BY seq, id")
            else:
                cur.execute(f"INSERT INTO jobs ({cols}) SELECT {cols} FROM jobs_by_id ORDER BY seq")
            cur.execute("DROP TABLE jobs_by_id")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        log.info("journal %s converted to the seq-keyed layout", self.path)

    def _pragma(self) -> str:
        return "normal" if self.sync == "full" else self.sync

    def describe(self) -> str:
        return str(self.path)

    def synchronous(self) -> int:
        """The connection's PRAGMA synchronous as sqlite reports it (0 off, 1 normal, 2 full)."""
        with self._lock:
            row = self._db.execute("PRAGMA synchronous").fetchone()
        return int(row[0])

    def load(self) -> list[JobRecord]:
        with self._lock:
            rows = self._db.execute(_SELECT + " ORDER BY seq").fetchall()
        return [row_record(r) for r in rows]

    def load_live(self, retain_settled: int) -> list[JobRecord]:
        """What a restarted broker needs in memory: every unsettled job, plus the settled jobs among
        the newest ``retain_settled`` (by seq) that clients are likely to ask about. Older settled
        jobs stay on disk and are read on demand (:meth:`lookup`), so a restart does not grow with
        settled history. Sets ``history_on_disk`` when some settled job was left on disk."""
        with self._lock:
            top = self._db.execute("SELECT max(seq) FROM jobs").fetchone()[0]
            self.next_seq = 0 if top is None else int(top) + 1
            cutoff = -1 if top is None else int(top) - retain_settled
            cur = self._db.execute(
                _SELECT + f" WHERE state NOT IN ({int(JobState.FULFILLED)},{int(JobState.REJECTED)}) OR seq > ?"
                " ORDER BY seq",
                (cutoff,),
            )
            records = [row_record(r) for r in cur]  # streamed: no list of raw rows beside the records
            older = self._db.execute("SELECT 1 FROM jobs WHERE seq <= ? LIMIT 1", (cutoff,)).fetchone()
        self.history_on_disk = older is not None
        return records

    def lookup(self, job_id: str) -> JobRecord | None:
        """One job's journaled record (a primary-key read on a separate read connection: WAL lets
        it run beside a commit, so it is cheap enough to call inline on the event loop)."""
        if self._reader is None:
            self._reader = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        row = self._reader.execute(_SELECT + " WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else row_record(row)

    def commit(self, upserts: Sequence[Row], deletes: Iterable[str]) -> None:
        self.write(upserts, deletes)
        self.flush()

    def write(self, upserts: Sequence[Row], deletes: Iterable[str]) -> None:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN")
            try:
                dels = [(d,) for d in deletes]
                if dels:  # (first: a row deleted here frees its seq and id for the upserts)
                    cur.executemany("DELETE FROM jobs WHERE id = ?", dels)
                if upserts:
                    cur.executemany(_UPSERT, upserts)
                    if cur.rowcount != len(upserts):
                        raise RuntimeError(f"journal write: {len(upserts) - cur.rowcount} row(s) name a seq"
                                           " another job holds")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            self.commits += 1

    def flush(self) -> None:
        """sync=full: fdatasync the WAL (what sqlite's synchronous=FULL does inside each commit).
        The WAL (beside the database file sqlite opened: symlinks resolved) is opened once, and again
        if it is another file now (device, inode, or unlinked); a newly opened WAL's directory entry
        is synced too. A missing WAL is an error, never a silent success: sqlite keeps it while the
        store's connection is open."""
        if self.sync != "full":
            return
        with self._wal_lock:
            if self._closed:
                raise RuntimeError(f"journal {self.path} is closed")
            st = os.stat(self._wal_path)  # FileNotFoundError: the WAL is gone (not WAL mode?) - raised
            if self._wal_fd is None or (st.st_dev, st.st_ino) != self._wal_id or os.fstat(self._wal_fd).st_nlink == 0:
                if self._wal_fd is not None:
                    os.close(self._wal_fd)
                    self._wal_fd = None
                fd = os.open(self._wal_path, os.O_RDONLY | os.O_CLOEXEC)
                st = os.fstat(fd)
                self._wal_id = (st.st_dev, st.st_ino)
                self._wal_fd = fd
                dfd = os.open(os.path.dirname(self._wal_path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
            _datasync(self._wal_fd)
            self.fsyncs += 1

    def checkpoint(self) -> None:
        """A PASSIVE checkpoint on a separate connection (never blocks the writer; copies what no
        reader still needs; syncs the WAL before and the database after, as `sync` says). sqlite
        writes the next transaction from the WAL's start, over the old frames, only if every frame
        was copied when it begins; under a steady stream of commits a checkpoint beside them never
        gets there (commits append while it copies) and the WAL grows without end, so the journal
        calls it once more between two of its writes (Journal._run), with little left to copy.

        The first call also turns sqlite's automatic checkpoint off for commits: by default it runs
        inside whichever commit crosses 1000 WAL pages (a WAL fsync, page copies and a database
        fsync added to that commit's latency and to every acknowledgement waiting for it); from
        then on the caller - the journal, from a worker thread, beside the commits - checkpoints
        (issue 15: dispatch p99). A store nobody checkpoints keeps sqlite's default."""
        with self._ckpt_lock:
            if self._ckpt is None:
                with self._lock:
                    self._db.execute("PRAGMA wal_autocheckpoint=0")
                self._ckpt = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False,
                                             isolation_level=None)
                self._ckpt.execute(f"PRAGMA synchronous={self.sync.upper()}")
            self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints_made += 1

    def close(self) -> None:
        with self._ckpt_lock:
            if self._ckpt is not None:
                self._ckpt.close()
                self._ckpt = None
        with self._wal_lock:
            self._closed = True
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None
        with self._lock:
            self._db.close()
            if self._reader is not None:
                self._reader.close()
                self._reader = None


@dataclass(frozen=True, slots=True)
class JournalStatistics:
    pending_rows: int
    commits: int
    rows_committed: int
    max_batch: int
    max_pending: int
    sync: str  # "memory" without a store
    fsyncs: int


_Job = tuple[Callable[[], None], trio.lowlevel.TrioToken, trio.Event, list[BaseException]]


class _CommitThread:
    """One long-lived worker thread for the journal's blocking commits. ``trio.to_thread.run_sync``
    costs a thread-cache handoff, a context copy, a limiter and a thread rename per call - a visible
    share of the broker's CPU at one commit every few requests (issue 15); this is a queue and an
    Event. Not cancellable once submitted (a commit that started must finish before its writers
    hear about it), like ``abandon_on_cancel=False``."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, fn: Callable[..., None], *args: object) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="broker-journal", daemon=True)
            self._thread.start()
        done = trio.Event()
        error: list[BaseException] = []
        self._jobs.put((functools.partial(fn, *args), trio.lowlevel.current_trio_token(), done, error))
        with trio.CancelScope(shield=True):
            await done.wait()
        if error:
            raise error[0]

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, token, done, error = job
            try:
                fn()
            except BaseException as exc:  # handed to the trio task that submitted it
                error.append(exc)
            with contextlib.suppress(trio.RunFinishedError):  # the broker is gone: nobody to tell
                token.run_sync_soon(done.set)

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None


# Batches up to this many rows are written on the event loop; larger ones (a big enqueue burst) in the
# journal's thread. Measured (issue 15, bench/broker_bench.py --quick, K = 10/100/1000): writing in a
# thread cost 0.03-0.1 ms of broker CPU per job (the thread and the event loop trade the GIL around
# every sqlite call and socket syscall); a write without its sync is ~20-50 us of the loop. The cap
# bounds how long one write can hold the loop. The WAL sync (`JobStore.flush`) runs in the thread
# when the loop has other work (one syscall, the GIL released throughout, while the loop goes on),
# on the loop when it has none (Journal._flush_in_thread).
INLINE_ROWS: Final = 2048
CHECKPOINT_ROWS: Final = 2000  # committed rows between two WAL checkpoints (a few thousand WAL pages)


@dataclass(slots=True)
class _Written:
    """A batch written to the store, waiting for a flush to make it durable."""

    generation: int
    ids: list[str]  # the upserted ids (what `on_committed` gets)
    keys: list[str]  # every row key of the batch (upserts and deletes)
    done: trio.Event


class Journal:
    """Group-commit front of a :class:`JobStore` (or of nothing: ``store=None`` keeps the broker in
    memory only, for tests and the virtual-clock benches).

    Two tasks: the writer takes whatever rows accumulated and writes them as one batch (`JobStore.write`);
    the flusher makes every batch written so far durable with one `JobStore.flush` in the journal's
    thread, then wakes the batches' writers (`write` returns) and calls `on_committed`. While a flush
    runs, the writer goes on writing the next batches, which the next flush covers: a write is
    acknowledged only after a flush that started after it, and the event loop never waits for the
    disk."""

    def __init__(
        self,
        store: JobStore | None,
        *,
        max_pending: int = 200_000,
        inline_rows: int = INLINE_ROWS,
        flush_thread: Literal["auto", "always", "never"] = "auto",
    ) -> None:
        self.store = store
        self.flush_thread = flush_thread
        self.inline_rows = inline_rows  # batches this small are written on the event loop, larger ones in a thread
        self.max_pending = max_pending
        self._upserts: dict[str, Row] = {}
        self._deletes: set[str] = set()
        self._ids: list[str] = []
        self._inflight: dict[str, int] = {}  # written, not yet flushed: key -> generation of its last write
        self._written: list[_Written] = []
        self._flushing = False  # the flusher is syncing (in the thread)
        self._last_written: trio.Event | None = None  # done event of the newest written batch
        self._batch_done = trio.Event()
        self._wakeup = trio.Event()
        self._flush_due = trio.Event()
        self._space = trio.Event()
        self.commits = 0
        self.rows_committed = 0
        self.max_batch = 0
        self.flushes = 0
        self.generation = 0  # number of the batch being filled
        self.durable_generation = -1
        self._committer = _CommitThread()
        self._checkpoint_due = trio.Event()
        self._rows_since_checkpoint = 0
        # unset from a checkpoint beside the writes until the writer's catch-up of it (_run) is done
        self._caught_up = trio.Event()
        self._caught_up.set()

    def _pending(self) -> int:
        return len(self._upserts) + len(self._deletes)

    def _flush_in_thread(self) -> bool:
        """"auto": in the thread when other tasks are ready to run (requests to serve while the disk
        syncs), else on the loop: with nothing else to do, the thread handoff (~0.1 ms of CPU: a
        futex wake, the GIL, a wake-up of the loop) would only add to a lone agent's round trip."""
        if self.flush_thread == "auto":
            return trio.lowlevel.current_statistics().tasks_runnable > 0
        return self.flush_thread == "always"

    async def write(self, records: dict[str, JobRecord], deletes: set[str]) -> list[str]:
        """Queue the rows and wait until they are durable. Returns the ids written."""
        if not records and not deletes:
            return []
        while self._pending() >= self.max_pending:  # bounded: writers wait for the disk
            await self._space.wait()
        ids = list(records)
        for job_id, rec in records.items():
            self._upserts[job_id] = record_row(rec)
            self._deletes.discard(job_id)
        for job_id in deletes:
            self._upserts.pop(job_id, None)
            self._deletes.add(job_id)
        self._ids.extend(ids)
        done = self._batch_done
        self._wakeup.set()
        await done.wait()
        return ids

    def is_pending(self, job_id: str) -> bool:
        return job_id in self._upserts or job_id in self._deletes or job_id in self._inflight

    async def wait_durable(self) -> None:
        """Wait until everything queued so far is durable."""
        if self._pending():
            await self._batch_done.wait()
        elif self._inflight and self._last_written is not None:
            await self._last_written.wait()

    async def run(
        self,
        on_committed: Callable[[list[str]], None],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            async with trio.open_nursery() as nursery:
                if self.store is not None and self.store.blocking:
                    nursery.start_soon(self._checkpointer, self.store)
                nursery.start_soon(self._flusher, on_committed)
                task_status.started()
                await self._run(on_committed)
        finally:
            self._committer.stop()

    async def _checkpointer(self, store: JobStore) -> None:
        """Checkpoints (see SqliteJobStore.checkpoint) every CHECKPOINT_ROWS committed rows, in a
        worker thread, while commits go on; one at a time."""
        first = True  # (the first one at start: it takes the checkpoints over)
        while True:
            if not first:  # (also after a failure: the next try waits for the next CHECKPOINT_ROWS rows)
                await self._checkpoint_due.wait()
            first = False
            # never one beside the writer's catch-up, pending or running (it would wait for the lock)
            await self._caught_up.wait()
            self._checkpoint_due = trio.Event()
            self._rows_since_checkpoint = 0
            try:
                await trio.to_thread.run_sync(store.checkpoint, abandon_on_cancel=False)
                self._caught_up = trio.Event()  # the writer finishes it between two writes (_run)
            except Exception as exc:  # a failed checkpoint leaves a longer WAL: the next one retries
                log.warning("journal checkpoint of %s failed: %s: %s", store.describe(), type(exc).__name__, exc)

    async def _run(self, on_committed: Callable[[list[str]], None]) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            if not self._upserts and not self._deletes:
                continue
            if not self._caught_up.is_set() and self.store is not None:
                # the checkpoint beside the commits left the frames appended while it ran: copy those
                # now, with no write in between, so this write starts the WAL over instead of
                # growing it (a growing WAL: unbounded disk, and every sync allocates blocks and
                # writes the inode). A few frames: in the journal's thread, requests go on meanwhile.
                try:
                    await self._committer.run(self.store.checkpoint)
                except Exception as exc:
                    log.warning("journal checkpoint of %s failed: %s: %s", self.store.describe(),
                                type(exc).__name__, exc)
                finally:
                    self._caught_up.set()
            upserts = list(self._upserts.values())
            deletes = list(self._deletes)
            keys = [*self._upserts, *self._deletes]
            batch = _Written(self.generation, self._ids, keys, self._batch_done)
            for key in keys:
                self._inflight[key] = batch.generation
            self._last_written = batch.done  # (now: wait_durable must wait for it during its write)
            self._upserts, self._deletes, self._ids = {}, set(), []
            self._batch_done = trio.Event()
            self.generation += 1
            rows = len(upserts) + len(deletes)
            if self.store is not None:
                store = self.store
                if not store.blocking or rows <= self.inline_rows:
                    store.write(upserts, deletes)
                else:
                    await self._committer.run(store.write, upserts, deletes)
            self.commits += 1
            self._rows_since_checkpoint += rows
            if self._rows_since_checkpoint >= CHECKPOINT_ROWS:
                self._checkpoint_due.set()
            self.rows_committed += rows
            self.max_batch = max(self.max_batch, rows)
            self._space.set()
            self._space = trio.Event()
            self._written.append(batch)
            if not self._flushing and len(self._written) == 1 and (
                    self.store is None or not self.store.blocking or not self._flush_in_thread()):
                # nothing else to do meanwhile (one agent, an idle producer, a store in memory): sync
                # here and answer, without a hop to the flusher task
                self._written = []
                if self.store is not None:
                    self.store.flush()
                self._complete([batch], on_committed)
            else:
                self._flush_due.set()
            await trio.lowlevel.checkpoint()  # let the requests that came in meanwhile join the next batch

    async def _flusher(self, on_committed: Callable[[list[str]], None]) -> None:
        while True:
            await self._flush_due.wait()
            self._flush_due = trio.Event()
            if not self._written:
                continue
            batches, self._written = self._written, []
            store = self.store
            if store is not None:
                self._flushing = True
                try:
                    if store.blocking and self._flush_in_thread():
                        await self._committer.run(store.flush)
                    else:
                        store.flush()
                finally:
                    self._flushing = False
            self._complete(batches, on_committed)
            await trio.lowlevel.checkpoint()

    def _complete(self, batches: list[_Written], on_committed: Callable[[list[str]], None]) -> None:
        """The batches are durable: forget their rows as in flight, tell the broker, wake their writers."""
        self.flushes += 1
        newest = batches[-1].generation
        self.durable_generation = newest
        for b in batches:
            for key in b.keys:
                if self._inflight.get(key, newest + 1) <= newest:
                    del self._inflight[key]
        for b in batches:
            on_committed(b.ids)
            b.done.set()

    def statistics(self) -> JournalStatistics:
        return JournalStatistics(
            pending_rows=self._pending(),
            commits=self.commits,
            rows_committed=self.rows_committed,
            max_batch=self.max_batch,
            max_pending=self.max_pending,
            sync="memory" if self.store is None else self.store.sync,
            fsyncs=0 if self.store is None else self.store.fsyncs,
        )
