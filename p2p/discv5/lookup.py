"""Iterative Kademlia lookup (sans-IO), like @chainsafe/discv5's findNode/findRandomNode.

The owner asks `next_queries()` for peers to send FINDNODE to (at most `parallelism` in flight),
feeds answers with `on_response`/`on_failure`, and stops when `done`. FINDNODE asks for the
log-distance of the target from the queried peer plus its neighbours (d, d+1, d-1).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from p2p.discv5.routing import log_distance, xor_distance
from p2p.enr import Enr

LOOKUP_PARALLELISM = 3
LOOKUP_RESULTS = 16
LOOKUP_NUM_DISTANCES = 3


class PeerState(Enum):
    NOT_CONTACTED = 0
    WAITING = 1
    SUCCEEDED = 2
    FAILED = 3


@dataclass(slots=True)
class _Peer:
    enr: Enr
    state: PeerState = PeerState.NOT_CONTACTED


def lookup_distances(target: bytes, peer_id: bytes, count: int = LOOKUP_NUM_DISTANCES) -> list[int]:
    """Distances to ask a peer for: d, d+1, d-1, d+2, ... within 1..256."""
    d = log_distance(target, peer_id)
    if d == 0:
        return [0]
    out = [d]
    step = 1
    while len(out) < count and step < 256:
        for candidate in (d + step, d - step):
            if 1 <= candidate <= 256 and len(out) < count:
                out.append(candidate)
        step += 1
    return out


class Lookup:
    def __init__(
        self,
        local_id: bytes,
        target: bytes,
        seeds: list[Enr],
        *,
        parallelism: int = LOOKUP_PARALLELISM,
        num_results: int = LOOKUP_RESULTS,
        max_peers: int = 256,
    ) -> None:
        self.local_id = local_id
        self.target = target
        self.parallelism = parallelism
        self.num_results = num_results
        self.max_peers = max_peers
        self._peers: dict[bytes, _Peer] = {}
        self.discovered: dict[bytes, Enr] = {}
        self._add(seeds)

    def _add(self, enrs: list[Enr]) -> None:
        for enr in enrs:
            if enr.node_id == self.local_id:
                continue
            known = self._peers.get(enr.node_id)
            if known is None:
                if len(self._peers) >= self.max_peers:
                    continue
                self._peers[enr.node_id] = _Peer(enr)
            elif enr.seq > known.enr.seq:
                known.enr = enr
            self.discovered[enr.node_id] = self._peers[enr.node_id].enr

    def _ordered(self) -> list[_Peer]:
        return sorted(self._peers.values(), key=lambda p: xor_distance(p.enr.node_id, self.target))

    @property
    def in_flight(self) -> int:
        return sum(1 for p in self._peers.values() if p.state is PeerState.WAITING)

    def next_queries(self) -> list[tuple[Enr, list[int]]]:
        """Peers to query now (marks them in flight)."""
        out: list[tuple[Enr, list[int]]] = []
        budget = self.parallelism - self.in_flight
        if budget <= 0:
            return out
        considered = 0
        for peer in self._ordered():
            if considered >= self.num_results:
                break
            if peer.state is PeerState.FAILED:
                continue
            considered += 1
            if peer.state is PeerState.NOT_CONTACTED:
                peer.state = PeerState.WAITING
                out.append((peer.enr, lookup_distances(self.target, peer.enr.node_id)))
                if len(out) >= budget:
                    break
        return out

    def on_response(self, node_id: bytes, enrs: list[Enr]) -> None:
        peer = self._peers.get(node_id)
        if peer is not None:
            peer.state = PeerState.SUCCEEDED
        self._add(enrs)

    def on_failure(self, node_id: bytes) -> None:
        peer = self._peers.get(node_id)
        if peer is not None:
            peer.state = PeerState.FAILED

    @property
    def done(self) -> bool:
        if self.in_flight:
            return False
        considered = 0
        for peer in self._ordered():
            if peer.state is PeerState.FAILED:
                continue
            if peer.state is PeerState.NOT_CONTACTED:
                return False
            considered += 1
            if considered >= self.num_results:
                break
        return True

    def result(self) -> list[Enr]:
        """The closest peers that answered."""
        answered = [p.enr for p in self._ordered() if p.state is PeerState.SUCCEEDED]
        return answered[: self.num_results]
