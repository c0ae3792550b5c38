"""TxPool: pending/mined txs like Aztec's AztecKVTxPool (p2p doc 8.2), in memory and bounded (sans-IO).

Operations mirror 0.63: add_txs (new txs become pending), get_tx_by_hash, mark_as_mined,
mark_mined_as_pending, delete_txs, get_all_txs, get_all_tx_hashes, get_pending_tx_hashes,
get_mined_tx_hashes, get_tx_status. 0.63 has no size limit; this pool holds at most `max_txs` txs
and `max_bytes` serialized bytes. When full, the **oldest pending** tx is dropped to make room; if
only mined txs remain the incoming tx is refused (mined txs are removed by the block stream).

Durable (like 0.63's KV store) when given a `TxStore`: every change is passed to the store as it
happens (the store decides how to batch and fsync; node/tx_store.py is the sqlite one under
DATA_DIRECTORY). `restore(next_block_number)` reloads the stored txs in their original order and
drops (from memory and store) the ones that were mined, that no longer decode, or whose
max_block_number is below the next block (expired: they can never be included).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Final, Literal, Protocol

from core.aztec.serialization import DecodeError
from p2p.wire.tx import Tx

TxStatus = Literal["pending", "mined"]
DEFAULT_MAX_TXS: Final = 10_000
DEFAULT_MAX_BYTES: Final = 512 * 1024 * 1024


class TxStore(Protocol):
    """Where a TxPool keeps its txs across restarts. Calls come from the pool as changes happen."""

    def put(self, tx_hash: bytes, raw: bytes) -> None: ...  # a new pending tx
    def set_mined(self, tx_hashes: Sequence[bytes], block_number: int | None) -> None: ...  # None: pending
    def delete(self, tx_hashes: Sequence[bytes]) -> None: ...
    def load(self) -> list[tuple[bytes, bytes, int | None]]: ...  # (hash, raw, mined block), oldest first


class TxPool:
    def __init__(
        self, *, max_txs: int = DEFAULT_MAX_TXS, max_bytes: int = DEFAULT_MAX_BYTES, store: TxStore | None = None
    ) -> None:
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.store = store
        self._txs: dict[bytes, tuple[Tx, bytes]] = {}
        self._pending: OrderedDict[bytes, None] = OrderedDict()  # insertion order = age
        self._mined: dict[bytes, int] = {}
        self._bytes = 0
        self._stats = {"added": 0, "duplicates": 0, "evicted": 0, "refused_full": 0, "deleted": 0,
                       "restored": 0, "dropped_on_restore": 0}

    def restore(self, next_block_number: int | None = None) -> int:
        """Reload the store's txs (see the module doc); returns how many are back in the pool."""
        if self.store is None:
            return 0
        drop: list[bytes] = []
        for h, raw, mined in self.store.load():
            try:
                tx = Tx.from_bytes(raw)
            except (DecodeError, ValueError):
                drop.append(h)
                continue
            mbn = tx.max_block_number
            if mined is not None or (next_block_number is not None and mbn is not None and mbn < next_block_number):
                drop.append(h)
                continue
            if self._insert(tx, raw, h):
                self._stats["restored"] += 1
            else:
                drop.append(h)
        if drop:
            self.store.delete(drop)
            self._stats["dropped_on_restore"] += len(drop)
        return self._stats["restored"]

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._txs

    def add_tx(self, tx: Tx, raw: bytes | None = None) -> bool:
        """Add one tx as pending; False if already known or refused because the pool is full."""
        h = tx.tx_hash()
        if h in self._txs:
            self._stats["duplicates"] += 1
            return False
        raw = raw if raw is not None else tx.to_bytes()
        if not self._insert(tx, raw, h):
            return False
        self._stats["added"] += 1
        if self.store is not None:
            self.store.put(h, raw)
        return True

    def _insert(self, tx: Tx, raw: bytes, h: bytes) -> bool:
        while len(self._txs) >= self.max_txs or self._bytes + len(raw) > self.max_bytes:
            if not self._pending:
                self._stats["refused_full"] += 1
                return False
            oldest = next(iter(self._pending))
            self._drop(oldest)
            self._stats["evicted"] += 1
        self._txs[h] = (tx, raw)
        self._bytes += len(raw)
        self._pending[h] = None
        return True

    def add_txs(self, txs: Iterable[Tx]) -> int:
        return sum(1 for tx in txs if self.add_tx(tx))

    def _drop(self, h: bytes) -> None:
        entry = self._txs.pop(h, None)
        if entry is not None:
            self._bytes -= len(entry[1])
            if self.store is not None:
                self.store.delete([h])
        self._pending.pop(h, None)
        self._mined.pop(h, None)

    def get_tx_by_hash(self, tx_hash: bytes) -> Tx | None:
        entry = self._txs.get(tx_hash)
        return None if entry is None else entry[0]

    def get_raw_tx(self, tx_hash: bytes) -> bytes | None:
        entry = self._txs.get(tx_hash)
        return None if entry is None else entry[1]

    def mark_as_mined(self, tx_hashes: Iterable[bytes], block_number: int) -> None:
        changed = []
        for h in tx_hashes:
            if h in self._txs:
                self._pending.pop(h, None)
                self._mined[h] = block_number
                changed.append(h)
        if changed and self.store is not None:
            self.store.set_mined(changed, block_number)

    def mark_mined_as_pending(self, tx_hashes: Iterable[bytes]) -> None:
        changed = []
        for h in tx_hashes:
            if self._mined.pop(h, None) is not None:
                self._pending[h] = None
                changed.append(h)
        if changed and self.store is not None:
            self.store.set_mined(changed, None)

    def delete_txs(self, tx_hashes: Iterable[bytes]) -> None:
        for h in tx_hashes:
            if h in self._txs:
                self._drop(h)
                self._stats["deleted"] += 1

    def get_all_txs(self) -> list[Tx]:
        return [t for t, _ in self._txs.values()]

    def get_all_tx_hashes(self) -> list[bytes]:
        return list(self._txs)

    def get_pending_tx_hashes(self) -> list[bytes]:
        return list(self._pending)

    def get_mined_tx_hashes(self) -> list[tuple[bytes, int]]:
        return list(self._mined.items())

    def get_tx_status(self, tx_hash: bytes) -> TxStatus | None:
        if tx_hash in self._pending:
            return "pending"
        if tx_hash in self._mined:
            return "mined"
        return None

    def statistics(self) -> dict[str, object]:
        return {
            "txs": len(self._txs),
            "pending": len(self._pending),
            "mined": len(self._mined),
            "bytes": self._bytes,
            "max_txs": self.max_txs,
            "max_bytes": self.max_bytes,
            **self._stats,
        }
