"""Dials peers: static peers (kept connected) and peers found by a discovery source.

Discovery is pluggable: anything implementing `DiscoverySource` (the discv5 service) yields
`DiscoveredPeer(peer_id, multiaddr)` values or ENR-like objects (`peer_id` and `tcp_multiaddr()`,
as `p2p.enr.Enr` has). As Aztec's peer manager (p2p doc 6.5): a discovered peer without a TCP
address is ignored; it is dialled at once while below `max_peers`, else cached (at most
`cache_size`, oldest dropped); a failed dial is retried on later heartbeats up to 3 attempts.
Static peers are redialled whenever they are not connected (at most once per
`static_redial_interval`). Below `min_peers` (P2P_MIN_PEERS, libp2p's `minConnections`) the peers we
reached before (at most `cache_size` remembered, oldest forgotten; forgotten too after 3 failed redials)
are redialled, at most once per `autodial_interval`, as js-libp2p's auto-dialer does from its peer
store. The heartbeat is P2P_PEER_CHECK_INTERVAL_MS.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import trio

from p2p.libp2p_host import HostError, Libp2pHost

log = logging.getLogger(__name__)

PEER_CHECK_INTERVAL: Final = 1.0  # P2P_PEER_CHECK_INTERVAL_MS
MAX_DIAL_ATTEMPTS: Final = 3
DIAL_CONCURRENCY: Final = 8


@dataclass(frozen=True, slots=True)
class DiscoveredPeer:
    peer_id: str
    multiaddr: str  # /ip4/<ip>/tcp/<port>[/p2p/<id>]

    def dial_addr(self) -> str:
        return self.multiaddr if "/p2p/" in self.multiaddr else f"{self.multiaddr}/p2p/{self.peer_id}"


class EnrLike(Protocol):
    @property
    def peer_id(self) -> str: ...

    def tcp_multiaddr(self) -> str | None: ...


class DiscoverySource(Protocol):
    """What the peer manager needs from discovery (e.g. the discv5 service)."""

    def discovered_peers(self) -> AsyncIterator[DiscoveredPeer | EnrLike]: ...

    def local_enr(self) -> str | None:
        """Our own ENR text (`enr:...`), if discovery has one."""
        ...


def to_discovered(item: DiscoveredPeer | EnrLike) -> DiscoveredPeer | None:
    if isinstance(item, DiscoveredPeer):
        return item
    addr = item.tcp_multiaddr()
    return None if addr is None else DiscoveredPeer(item.peer_id, addr)


def peer_id_of(multiaddr: str) -> str:
    if "/p2p/" not in multiaddr:
        raise ValueError(f"static peer {multiaddr!r} must end in /p2p/<peer id>")
    return multiaddr.rsplit("/p2p/", 1)[1]


class PeerManager:
    def __init__(
        self,
        host: Libp2pHost,
        *,
        static_peers: Sequence[str] = (),
        discovery: DiscoverySource | None = None,
        max_peers: int = 100,
        min_peers: int = 10,
        cache_size: int = 100,
        heartbeat: float = PEER_CHECK_INTERVAL,
        static_redial_interval: float = 5.0,
        autodial_interval: float = 5.0,
    ) -> None:
        self.host = host
        self.static = {peer_id_of(a): a for a in static_peers}
        self.discovery = discovery
        self.max_peers = max_peers
        self.min_peers = min_peers
        self.cache_size = cache_size
        self.heartbeat = heartbeat
        self.static_redial_interval = static_redial_interval
        self.autodial_interval = autodial_interval
        self._reached: OrderedDict[str, str] = OrderedDict()  # peer -> dial address, for the min_peers redial
        self._redial_failures: dict[str, int] = {}  # a reached peer is forgotten after MAX_DIAL_ATTEMPTS of them
        self._last_autodial = -1e9
        self._cache: OrderedDict[str, tuple[str, int]] = OrderedDict()  # peer -> (addr, attempts)
        self._pending: set[str] = set()
        self._last_static_dial: dict[str, float] = {}
        self._limiter = trio.CapacityLimiter(DIAL_CONCURRENCY)
        self._stats = {
            "dials": 0,
            "dial_failures": 0,
            "discovered": 0,
            "ignored_no_tcp": 0,
            "cache_dropped": 0,
            "autodials": 0,
        }

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self.discovery is not None:
                nursery.start_soon(self._consume_discovery, self.discovery)
            task_status.started()
            while True:
                self._tick(nursery)
                await trio.sleep(self.heartbeat)

    def _connected(self) -> set[str]:
        return set(self.host.connected_peers())

    def _tick(self, nursery: trio.Nursery) -> None:
        connected = self._connected()
        now = trio.current_time()
        for pid, addr in self.static.items():
            if pid in connected or pid in self._pending or pid == self.host.peer_id:
                continue
            if now - self._last_static_dial.get(pid, -1e9) < self.static_redial_interval:
                continue
            self._last_static_dial[pid] = now
            self._start_dial(nursery, pid, addr, static=True)
        for pid in list(self._cache):
            if len(connected) + len(self._pending) >= self.max_peers:
                break
            if pid in connected:
                del self._cache[pid]
            elif pid not in self._pending:
                addr, _ = self._cache[pid]
                self._start_dial(nursery, pid, addr, static=False)
        self._autodial(nursery, connected, now)

    def _autodial(self, nursery: trio.Nursery, connected: set[str], now: float) -> None:
        """Below min_peers: redial peers we reached before and lost (not static, not queued)."""
        if len(connected) + len(self._pending) >= self.min_peers:
            return
        if now - self._last_autodial < self.autodial_interval:
            return
        self._last_autodial = now
        for pid, addr in list(self._reached.items()):
            if len(connected) + len(self._pending) >= self.min_peers:
                break
            if pid in connected or pid in self._pending or pid in self.static or pid in self._cache:
                continue
            self._stats["autodials"] += 1
            self._start_dial(nursery, pid, addr, static=False, redial=True)

    def _start_dial(self, nursery: trio.Nursery, pid: str, addr: str, *, static: bool, redial: bool = False) -> None:
        self._pending.add(pid)
        nursery.start_soon(self._dial, pid, addr, static, redial)

    async def _dial(self, pid: str, addr: str, static: bool, redial: bool = False) -> None:
        try:
            async with self._limiter:
                self._stats["dials"] += 1
                with trio.move_on_after(10):
                    await self.host.dial(addr)
                    self._cache.pop(pid, None)
                    self._remember(pid, addr)
                    return
                raise HostError(f"dial {addr} timed out")
        except HostError as e:
            self._stats["dial_failures"] += 1
            log.debug("dial %s failed: %s", addr, e)
            if redial:
                self._redial_failed(pid)
            elif not static and pid in self._cache:
                a, attempts = self._cache[pid]
                if attempts + 1 >= MAX_DIAL_ATTEMPTS:
                    del self._cache[pid]
                else:
                    self._cache[pid] = (a, attempts + 1)
        finally:
            self._pending.discard(pid)

    def _redial_failed(self, pid: str) -> None:
        failures = self._redial_failures.get(pid, 0) + 1
        if failures >= MAX_DIAL_ATTEMPTS:
            self._reached.pop(pid, None)
            self._redial_failures.pop(pid, None)
        else:
            self._redial_failures[pid] = failures

    def _remember(self, pid: str, addr: str) -> None:
        self._redial_failures.pop(pid, None)
        self._reached[pid] = addr
        self._reached.move_to_end(pid)
        while len(self._reached) > self.cache_size:
            forgotten, _ = self._reached.popitem(last=False)
            self._redial_failures.pop(forgotten, None)

    def add_peer(self, peer: DiscoveredPeer) -> None:
        """Queue a discovered peer for dialling (next heartbeat, or at once below max_peers)."""
        if peer.peer_id == self.host.peer_id or peer.peer_id in self._cache:
            return
        if peer.peer_id in self._connected():
            return
        self._cache[peer.peer_id] = (peer.dial_addr(), 0)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
            self._stats["cache_dropped"] += 1
        nursery = getattr(self, "_nursery", None)
        room = len(self._connected()) + len(self._pending) < self.max_peers
        if nursery is not None and room and peer.peer_id not in self._pending:
            self._start_dial(nursery, peer.peer_id, peer.dial_addr(), static=False)

    async def _consume_discovery(self, source: DiscoverySource) -> None:
        async for item in source.discovered_peers():
            self._stats["discovered"] += 1
            peer = to_discovered(item)
            if peer is None:
                self._stats["ignored_no_tcp"] += 1
                continue
            self.add_peer(peer)

    def statistics(self) -> dict[str, object]:
        return {
            "connected": len(self._connected()),
            "cached": len(self._cache),
            "pending_dials": len(self._pending),
            "static_peers": len(self.static),
            "min_peers": self.min_peers,
            "reached": len(self._reached),
            **self._stats,
        }
