"""The tx pool's durable store: DATA_DIRECTORY/tx_pool.sqlite (p2p.pools.tx_pool.TxStore).

v0.63.1 keeps its tx pool in its KV store; so do we. The pool reports each change as it happens
(`put` / `set_mined` / `delete`, plain method calls on the event loop: no blocking I/O there). The
changes are merged per tx hash in memory and written by `flush()` in one sqlite transaction, in a
worker thread, every `interval` seconds by `TxStoreFlusher.run()` and once more when the node stops
(group commit). The database runs WAL with synchronous=FULL, so a flushed transaction is fsync'd:
a tx is durable at most `interval` seconds after it entered the pool.

Bounded: the store mirrors the pool (itself bounded by count and bytes); the in-memory change set
holds at most one entry per tx hash and, past `max_queued` hashes, is flushed inline at once.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import trio

log = logging.getLogger("node.tx_store")

DEFAULT_FLUSH_INTERVAL: Final = 0.2
MAX_QUEUED: Final = 20_000
_UNSET: Final = -2  # "mined" value meaning: leave the stored status as it is


class SqliteTxStore:
    def __init__(self, path: Path, *, max_queued: int = MAX_QUEUED) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_queued = max_queued
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # every commit fsync'd
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS txs (hash BLOB PRIMARY KEY, seq INTEGER NOT NULL, raw BLOB NOT NULL, "
            "mined INTEGER)"
        )
        self._db_lock = threading.Lock()
        self._lock = threading.Lock()
        # hash -> (raw or None, mined: block | None (pending) | _UNSET (no change), delete?)
        self._changes: dict[bytes, tuple[bytes | None, int | None, bool]] = {}
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM txs").fetchone()
        self._seq = int(row[0])
        self._stats = {"flushes": 0, "written": 0, "inline_flushes": 0}

    # ----- TxStore (called by the pool, on the event loop; memory only)
    def put(self, tx_hash: bytes, raw: bytes) -> None:
        self._queue(tx_hash, (raw, None, False))

    def set_mined(self, tx_hashes: Sequence[bytes], block_number: int | None) -> None:
        for h in tx_hashes:
            with self._lock:
                prev = self._changes.get(h)
            if prev is not None and prev[2]:
                continue  # deleted: stays deleted
            raw = prev[0] if prev is not None else None
            self._queue(h, (raw, block_number, False))

    def delete(self, tx_hashes: Sequence[bytes]) -> None:
        for h in tx_hashes:
            self._queue(h, (None, _UNSET, True))

    def load(self) -> list[tuple[bytes, bytes, int | None]]:
        self.flush()
        with self._db_lock:
            rows = self._db.execute("SELECT hash, raw, mined FROM txs ORDER BY seq").fetchall()
        return [(bytes(h), bytes(r), None if m is None else int(m)) for h, r, m in rows]

    # ----- durability
    def _queue(self, h: bytes, change: tuple[bytes | None, int | None, bool]) -> None:
        with self._lock:
            self._changes[h] = change
            full = len(self._changes) >= self.max_queued
        if full:
            self._stats["inline_flushes"] += 1
            self.flush()

    def pending(self) -> int:
        """Changes queued for the next flush."""
        with self._lock:
            return len(self._changes)

    def flush(self) -> int:
        """Write every queued change in one fsync'd transaction; returns how many."""
        with self._lock:
            changes, self._changes = self._changes, {}
        if not changes:
            return 0
        with self._db_lock:
            cur = self._db.cursor()
            cur.execute("BEGIN")
            try:
                for h, (raw, mined, deleted) in changes.items():
                    if deleted:
                        cur.execute("DELETE FROM txs WHERE hash = ?", (h,))
                    elif raw is not None:
                        self._seq += 1
                        cur.execute(
                            "INSERT INTO txs (hash, seq, raw, mined) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT(hash) DO UPDATE SET mined = excluded.mined",
                            (h, self._seq, raw, mined),
                        )
                    elif mined != _UNSET:
                        cur.execute("UPDATE txs SET mined = ? WHERE hash = ?", (mined, h))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        self._stats["flushes"] += 1
        self._stats["written"] += len(changes)
        return len(changes)

    def statistics(self) -> dict[str, int]:
        with self._lock:
            queued = len(self._changes)
        return {**self._stats, "queued": queued}

    def close(self) -> None:
        self.flush()
        with self._db_lock:
            self._db.close()


class TxStoreFlusher:
    """Flushes the store every `interval` seconds in a worker thread, and once more on shutdown. A
    failed flush (disk full, ...) is logged once per failure streak and retried: the pool goes on."""

    def __init__(self, store: SqliteTxStore, interval: float = DEFAULT_FLUSH_INTERVAL) -> None:
        self.store = store
        self.interval = interval
        self.failing = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                await trio.sleep(self.interval)
                if not self.store.pending() and not self.failing:
                    continue  # nothing to write: no worker-thread round trip (5 a second per idle node)
                try:
                    await trio.to_thread.run_sync(self.store.flush)
                except sqlite3.Error as e:
                    if not self.failing:
                        log.error("tx pool store %s: flush failed (%s); retrying", self.store.path, e)
                    self.failing = True
                else:
                    if self.failing:
                        log.warning("tx pool store %s: flushing again", self.store.path)
                    self.failing = False
        finally:
            with trio.CancelScope(shield=True):
                try:
                    await trio.to_thread.run_sync(self.store.close)
                except sqlite3.Error as e:
                    log.error("tx pool store %s: final flush failed: %s", self.store.path, e)
