"""TxPool: pending/mined txs like Aztec's AztecKVTxPool (p2p doc 8.2), in memory and bounded (sans-IO).

Operations mirror 0.63: add_txs (new txs become pending), get_tx_by_hash, mark_as_mined,
mark_mined_as_pending, delete_txs, get_all_txs, get_all_tx_hashes, get_pending_tx_hashes,
get_mined_tx_hashes, get_tx_status. 0.63 has no size limit; this pool holds at most `max_txs` txs
and `max_bytes` serialized bytes. When full, the **oldest pending** tx is dropped to make room; if
only mined txs remain the incoming tx is refused (mined txs are removed by the block stream).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Final, Literal

from p2p.wire.tx import Tx

TxStatus = Literal["pending", "mined"]
DEFAULT_MAX_TXS: Final = 10_000
DEFAULT_MAX_BYTES: Final = 512 * 1024 * 1024


class TxPool:
    def __init__(self, *, max_txs: int = DEFAULT_MAX_TXS, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self._txs: dict[bytes, tuple[Tx, bytes]] = {}
        self._pending: OrderedDict[bytes, None] = OrderedDict()  # insertion order = age
        self._mined: dict[bytes, int] = {}
        self._bytes = 0
        self._stats = {"added": 0, "duplicates": 0, "evicted": 0, "refused_full": 0, "deleted": 0}

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
        self._stats["added"] += 1
        return True

    def add_txs(self, txs: Iterable[Tx]) -> int:
        return sum(1 for tx in txs if self.add_tx(tx))

    def _drop(self, h: bytes) -> None:
        entry = self._txs.pop(h, None)
        if entry is not None:
            self._bytes -= len(entry[1])
        self._pending.pop(h, None)
        self._mined.pop(h, None)

    def get_tx_by_hash(self, tx_hash: bytes) -> Tx | None:
        entry = self._txs.get(tx_hash)
        return None if entry is None else entry[0]

    def get_raw_tx(self, tx_hash: bytes) -> bytes | None:
        entry = self._txs.get(tx_hash)
        return None if entry is None else entry[1]

    def mark_as_mined(self, tx_hashes: Iterable[bytes], block_number: int) -> None:
        for h in tx_hashes:
            if h in self._txs:
                self._pending.pop(h, None)
                self._mined[h] = block_number

    def mark_mined_as_pending(self, tx_hashes: Iterable[bytes]) -> None:
        for h in tx_hashes:
            if self._mined.pop(h, None) is not None:
                self._pending[h] = None

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
