"""Kademlia routing table (sans-IO): 256 buckets of 16 by log-distance, with replacement caches.

A full bucket does not evict on its own: the newcomer goes to the bucket's replacement cache and the
least-recently-seen entry is reported for a liveness check (PING). If that check fails the owner calls
`remove()`, which promotes the most recent replacement.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

from p2p.enr import Enr

BUCKET_SIZE = 16
REPLACEMENT_CACHE_SIZE = 8
NUM_BUCKETS = 256


def log_distance(a: bytes, b: bytes) -> int:
    """discv5 log2 distance: bit length of a XOR b (0 when equal, 256 at most)."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


def xor_distance(a: bytes, b: bytes) -> int:
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


@dataclass(slots=True)
class Entry:
    enr: Enr
    last_seen: float
    added_at: float


class InsertResult(Enum):
    ADDED = "added"
    UPDATED = "updated"
    PENDING = "pending"  # bucket full: queued in the replacement cache, liveness check needed
    IGNORED = "ignored"  # our own id


@dataclass(frozen=True, slots=True)
class Insert:
    result: InsertResult
    check: Enr | None = None  # least-recently-seen entry to PING when the bucket is full


class RoutingTable:
    def __init__(
        self,
        local_id: bytes,
        *,
        bucket_size: int = BUCKET_SIZE,
        replacement_size: int = REPLACEMENT_CACHE_SIZE,
    ) -> None:
        self.local_id = local_id
        self.bucket_size = bucket_size
        self.replacement_size = replacement_size
        # index d-1 holds nodes at log-distance d (1..256); most recently seen last
        self._buckets: list[OrderedDict[bytes, Entry]] = [OrderedDict() for _ in range(NUM_BUCKETS)]
        self._replacements: list[OrderedDict[bytes, Enr]] = [OrderedDict() for _ in range(NUM_BUCKETS)]

    def _index(self, node_id: bytes) -> int:
        return log_distance(self.local_id, node_id) - 1

    def __len__(self) -> int:
        return sum(len(b) for b in self._buckets)

    def __contains__(self, node_id: object) -> bool:
        return isinstance(node_id, bytes) and self.get(node_id) is not None

    def get(self, node_id: bytes) -> Entry | None:
        index = self._index(node_id)
        if index < 0:
            return None
        return self._buckets[index].get(node_id)

    def insert(self, enr: Enr, now: float) -> Insert:
        """Add or refresh a live node (call after it answered or completed a handshake)."""
        index = self._index(enr.node_id)
        if index < 0:
            return Insert(InsertResult.IGNORED)
        bucket = self._buckets[index]
        entry = bucket.get(enr.node_id)
        if entry is not None:
            if enr.seq >= entry.enr.seq:
                entry.enr = enr
            entry.last_seen = now
            bucket.move_to_end(enr.node_id)
            return Insert(InsertResult.UPDATED)
        if len(bucket) < self.bucket_size:
            bucket[enr.node_id] = Entry(enr, now, now)
            self._replacements[index].pop(enr.node_id, None)
            return Insert(InsertResult.ADDED)
        cache = self._replacements[index]
        cache[enr.node_id] = enr
        cache.move_to_end(enr.node_id)
        while len(cache) > self.replacement_size:
            cache.popitem(last=False)
        oldest = next(iter(bucket.values()))
        return Insert(InsertResult.PENDING, oldest.enr)

    def update_enr(self, enr: Enr) -> bool:
        """Replace a known node's record with a newer one (no liveness change)."""
        entry = self.get(enr.node_id)
        if entry is None or enr.seq <= entry.enr.seq:
            return False
        entry.enr = enr
        return True

    def mark_seen(self, node_id: bytes, now: float) -> None:
        index = self._index(node_id)
        if index < 0:
            return
        bucket = self._buckets[index]
        entry = bucket.get(node_id)
        if entry is not None:
            entry.last_seen = now
            bucket.move_to_end(node_id)

    def remove(self, node_id: bytes) -> Enr | None:
        """Drop a dead node; promote the newest replacement (returned, to be checked by the caller)."""
        index = self._index(node_id)
        if index < 0:
            return None
        bucket = self._buckets[index]
        if bucket.pop(node_id, None) is None:
            self._replacements[index].pop(node_id, None)
            return None
        cache = self._replacements[index]
        if cache:
            _, promoted = cache.popitem(last=True)
            bucket[promoted.node_id] = Entry(promoted, float("-inf"), float("-inf"))
            return promoted
        return None

    def nodes_at_distance(self, distance: int) -> list[Enr]:
        if not 1 <= distance <= NUM_BUCKETS:
            return []
        return [e.enr for e in reversed(self._buckets[distance - 1].values())]

    def closest(self, target: bytes, count: int = BUCKET_SIZE) -> list[Enr]:
        everything = [e.enr for bucket in self._buckets for e in bucket.values()]
        everything.sort(key=lambda enr: xor_distance(enr.node_id, target))
        return everything[:count]

    def entries(self) -> list[Entry]:
        return [e for bucket in self._buckets for e in bucket.values()]

    def enrs(self) -> list[Enr]:
        return [e.enr for e in self.entries()]

    def stale(self, now: float, max_age: float, limit: int) -> list[Enr]:
        """Entries not seen for max_age seconds, oldest first (for liveness pings)."""
        old = [e for e in self.entries() if now - e.last_seen >= max_age]
        old.sort(key=lambda e: e.last_seen)
        return [e.enr for e in old[:limit]]

    def bucket_sizes(self) -> dict[int, int]:
        return {i + 1: len(b) for i, b in enumerate(self._buckets) if b}


# ---- records we know (beyond the table) and FINDNODE answers -------------------------------------
# Bytes available for ENRs in one NODES packet: 1280 minus masking-iv(16), static header(23), src-id(32),
# GCM tag(16), message type(1) and RLP overhead (outer list 3, request id 9, total 9, inner list 3),
# rounded down for margin.
NODES_ENR_BUDGET = 1150


class KnownEnrs:
    """The newest record of every node we heard of, at most `max_size` (least recently seen dropped)."""

    def __init__(self, local_id: bytes, max_size: int) -> None:
        self._local_id = local_id
        self._max_size = max_size
        self._known: OrderedDict[bytes, Enr] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def get(self, node_id: bytes) -> Enr | None:
        return self._known.get(node_id)

    def values(self) -> list[Enr]:
        return list(self._known.values())

    def newest(self, node_id: bytes, table: RoutingTable) -> Enr | None:
        """The highest-seq record of `node_id` we have, in the table or here."""
        entry = table.get(node_id)
        known = self._known.get(node_id)
        if entry is not None and (known is None or entry.enr.seq >= known.seq):
            return entry.enr
        return known

    def learn(self, enr: Enr) -> bool:
        """Remember `enr`; True if it is new (an unknown node or a higher seq)."""
        if enr.node_id == self._local_id:
            return False
        known = self._known.get(enr.node_id)
        if known is not None and known.seq >= enr.seq:
            self._known.move_to_end(enr.node_id)
            return False
        self._known[enr.node_id] = enr
        self._known.move_to_end(enr.node_id)
        while len(self._known) > self._max_size:
            self._known.popitem(last=False)
        return True


def select_nodes(
    table: RoutingTable, local_enr: Enr, asker: bytes, distances: tuple[int, ...], limit: int
) -> list[Enr]:
    """Records a FINDNODE for `distances` gets (distance 0 = our own), the asker left out, at most `limit`."""
    found: list[Enr] = []
    seen: set[bytes] = set()
    for distance in dict.fromkeys(distances):
        candidates = [local_enr] if distance == 0 else table.nodes_at_distance(distance)
        for enr in candidates:
            if enr.node_id not in seen and enr.node_id != asker:
                seen.add(enr.node_id)
                found.append(enr)
        if len(found) >= limit:
            break
    return found[:limit]


def pack_nodes(enrs: list[Enr], budget: int = NODES_ENR_BUDGET) -> list[list[Enr]]:
    """Split records over NODES messages that fit one packet each (always at least one, maybe empty)."""
    packs: list[list[Enr]] = []
    size = 0
    for enr in enrs:
        length = len(enr.to_rlp())
        if not packs or size + length > budget:
            packs.append([])
            size = 0
        packs[-1].append(enr)
        size += length
    return packs or [[]]
