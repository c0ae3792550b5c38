"""Trio service around the sans-IO discv5 core: moves UDP datagrams and time, nothing else.

Bounded queues (documented drops): outgoing datagrams (1024; dropped when full, counted in
`send_dropped`), discovered ENRs for the peer manager (`discovered_buffer`; dropped when the consumer
lags, counted in `discovered_dropped`), per-source-address token buckets on inbound packets
(`rate_limited`).
"""

from __future__ import annotations

import logging
import math
import socket as _socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import trio

from p2p.discv5.config import RandomBytes, system_random_bytes
from p2p.discv5.errors import Discv5RequestError
from p2p.discv5.messages import Pong, TalkResp
from p2p.discv5.packet import MAX_PACKET_SIZE
from p2p.discv5.protocol import (
    Address,
    Discv5Config,
    Discv5Protocol,
    EnrDiscovered,
    LookupCompleted,
    RequestCompleted,
    RequestFailed,
)
from p2p.discv5.ratelimit import RateLimiter
from p2p.enr import AZTEC_NETWORK_DEVNET, Enr, port_bytes

log = logging.getLogger(__name__)

SEND_QUEUE_SIZE = 1024


@dataclass(slots=True)
class _Waiter:
    event: trio.Event = field(default_factory=trio.Event)
    value: Pong | tuple[Enr, ...] | TalkResp | None = None
    error: str | None = None


class Discv5Service:
    """A discv5 v5.1 node on one IPv4 UDP socket.

    Like Aztec's peer-manager heartbeat (p2p doc 6.5), a random-target lookup runs every
    `random_lookup_interval` seconds (None: never), the first one `first_lookup_delay` seconds after
    start; `pause_lookups(True)` stops them (e.g. when the peer manager is at P2P_MAX_PEERS).

    If `enr` has no `udp` port (e.g. listening on port 0 in tests), the bound port (and the listen IP
    if `ip` is missing) is written into the record after binding (seq + 1).
    """

    def __init__(
        self,
        private_key: bytes,
        enr: Enr,
        *,
        listen: Address = ("127.0.0.1", 0),
        config: Discv5Config | None = None,
        bootstrap: Sequence[Enr] = (),
        aztec_network: int | None = AZTEC_NETWORK_DEVNET,
        discovered_buffer: int = 256,
        rate_limit: float = 200.0,
        rate_burst: float = 400.0,
        ip_rate_limit: float = 2000.0,
        random_lookup_interval: float | None = 1.0,
        first_lookup_delay: float = 2.0,
        publish_discovered: bool = True,
        random_bytes: RandomBytes = system_random_bytes,
    ) -> None:
        self._private_key = private_key
        self._listen = listen
        self._random = random_bytes
        self.core = Discv5Protocol(private_key, enr, config, random_bytes=random_bytes)
        self._bootstrap = list(bootstrap)
        self._aztec_network = aztec_network
        # per source address (ip:port), plus a looser one per IP so port-hopping cannot flood us
        self._limiter = RateLimiter(rate_limit, rate_burst)
        self._ip_limiter = RateLimiter(ip_rate_limit, 2 * ip_rate_limit)
        self._waiters: dict[int, _Waiter] = {}
        self._wake = trio.Event()
        self._armed = math.inf  # deadline the timer loop sleeps until
        self._send_tx, self._send_rx = trio.open_memory_channel[tuple[bytes, Address]](SEND_QUEUE_SIZE)
        self._disc_tx, self._disc_rx = trio.open_memory_channel[Enr](discovered_buffer)
        self._lookup_interval = random_lookup_interval
        self._first_lookup_delay = first_lookup_delay
        self._lookups_paused = False
        self._publish = publish_discovered
        self._running = False
        self.stats = {
            "send_dropped": 0,
            "discovered_dropped": 0,
            "oversize_in": 0,
            "socket_errors": 0,
            "core_errors": 0,
        }

    # ---- properties ---------------------------------------------------------------------------
    @property
    def enr(self) -> Enr:
        return self.core.enr

    @property
    def node_id(self) -> bytes:
        return self.core.local_id

    def discovered(self) -> trio.MemoryReceiveChannel[Enr]:
        """Newly learned ENRs with `aztec_network` == 0x01 (or all, if aztec_network=None).

        One consumer (the peer manager). When it lags by more than the buffer, ENRs are dropped.
        """
        return self._disc_rx

    async def discovered_peers(self) -> AsyncIterator[Enr]:
        """`p2p.peer_manager.DiscoverySource`: yields the same ENRs as `discovered()`."""
        async for enr in self._disc_rx:
            yield enr

    def local_enr(self) -> str | None:
        """`p2p.peer_manager.DiscoverySource`: our ENR text."""
        return self.core.enr.to_text()

    def known_enrs(self) -> list[Enr]:
        return self.core.known_enrs()

    def table_enrs(self) -> list[Enr]:
        return self.core.table.enrs()

    def statistics(self) -> dict[str, int]:
        dropped = self._limiter.dropped + self._ip_limiter.dropped
        return {**self.core.statistics(), **self.stats, "rate_limited": dropped}

    # ---- API ----------------------------------------------------------------------------------
    def add_enr(self, enr: Enr) -> bool:
        added = self.core.add_enr(enr, trio.current_time())
        self._pump()
        return added

    def pause_lookups(self, paused: bool) -> None:
        self._lookups_paused = paused

    async def ping(self, enr: Enr) -> Pong:
        value = await self._wait(self.core.ping(enr, trio.current_time()))
        assert isinstance(value, Pong)
        return value

    async def find_node(self, enr: Enr, distances: list[int]) -> list[Enr]:
        value = await self._wait(self.core.find_node(enr, distances, trio.current_time()))
        assert isinstance(value, tuple)
        return list(value)

    async def talk_req(self, enr: Enr, protocol: bytes, request: bytes) -> bytes:
        value = await self._wait(self.core.talk_req(enr, protocol, request, trio.current_time()))
        assert isinstance(value, TalkResp)
        return value.response

    async def lookup(self, target: bytes) -> list[Enr]:
        """Iterative lookup of `target`; returns the closest nodes that answered."""
        value = await self._wait(self.core.start_lookup(target, trio.current_time()))
        assert isinstance(value, tuple)
        return list(value)

    async def find_random_node(self) -> list[Enr]:
        """Lookup of a random id (Aztec's peer manager runs this every heartbeat)."""
        return await self.lookup(self._random(32))

    async def _wait(self, handle: int) -> Pong | tuple[Enr, ...] | TalkResp:
        if not self._running:
            raise Discv5RequestError("discv5 service is not running")
        waiter = _Waiter()
        self._waiters[handle] = waiter
        try:
            self._pump()
            await waiter.event.wait()
        finally:
            self._waiters.pop(handle, None)
        if waiter.error is not None or waiter.value is None:
            raise Discv5RequestError(waiter.error or "request failed")
        return waiter.value

    # ---- trio plumbing ------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[Enr] = trio.TASK_STATUS_IGNORED) -> None:
        sock = trio.socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        with sock:
            await sock.bind(self._listen)
            host, port = sock.getsockname()[:2]
            enr = self.core.enr
            if enr.udp is None:
                changes: dict[str | bytes, bytes] = {"udp": port_bytes(port)}
                if enr.ip is None and host != "0.0.0.0":
                    changes["ip"] = _socket.inet_aton(host)
                self.core.set_local_enr(enr.updated(self._private_key, set_=changes))
            now = trio.current_time()
            for record in self._bootstrap:
                self.core.add_enr(record, now)
            log.info("discv5 listening on %s:%d as %s", host, port, self.core.enr.to_text())
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._receive_loop, sock)
                    nursery.start_soon(self._send_loop, sock)
                    nursery.start_soon(self._timer_loop)
                    if self._lookup_interval is not None:
                        nursery.start_soon(self._lookup_loop, self._lookup_interval)
                    self._running = True
                    self._pump()
                    task_status.started(self.core.enr)
            finally:
                self._running = False
                for waiter in self._waiters.values():
                    waiter.error = "discv5 service stopped"
                    waiter.event.set()

    async def _receive_loop(self, sock: trio.socket.SocketType) -> None:
        while True:
            try:
                data, raw_addr = await sock.recvfrom(MAX_PACKET_SIZE + 1)
            except OSError as exc:  # e.g. ICMP errors surfaced on some platforms
                self.stats["socket_errors"] += 1
                log.debug("recvfrom failed: %s", exc)
                continue
            if len(data) > MAX_PACKET_SIZE:
                self.stats["oversize_in"] += 1
                continue
            addr = (str(raw_addr[0]), int(raw_addr[1]))
            now = trio.current_time()
            if not self._ip_limiter.allow(addr[0], now) or not self._limiter.allow(f"{addr[0]}:{addr[1]}", now):
                continue
            try:
                self.core.receive(data, addr, now)
            except Exception as exc:  # a bug in the core must not take the node down: drop the packet
                self.stats["core_errors"] += 1
                log.warning("discv5: dropped a packet from %s:%d that failed: %r", addr[0], addr[1], exc)
            try:
                self._pump()
            except Exception as exc:
                self.stats["core_errors"] += 1
                log.warning("discv5: handling the result of a packet from %s:%d failed: %r", addr[0], addr[1], exc)

    async def _send_loop(self, sock: trio.socket.SocketType) -> None:
        async for data, addr in self._send_rx:
            try:
                await sock.sendto(data, addr)
            except OSError as exc:
                self.stats["socket_errors"] += 1
                log.debug("sendto %s failed: %s", addr, exc)

    async def _timer_loop(self) -> None:
        while True:
            deadline = self.core.next_deadline()
            self._armed = deadline if deadline is not None else math.inf
            with trio.move_on_at(self._armed):
                await self._wake.wait()
            if self._wake.is_set():
                self._wake = trio.Event()
            self.core.tick(trio.current_time())
            self._pump()

    async def _lookup_loop(self, interval: float) -> None:
        await trio.sleep(self._first_lookup_delay)
        while True:
            if not self._lookups_paused and len(self.core.table):
                try:
                    await self.find_random_node()
                except Discv5RequestError as exc:
                    log.debug("random lookup failed: %s", exc)
            await trio.sleep(interval)

    def _pump(self) -> None:
        for data, addr in self.core.take_outgoing():
            try:
                self._send_tx.send_nowait((data, addr))
            except trio.WouldBlock:
                self.stats["send_dropped"] += 1
        for event in self.core.take_events():
            if isinstance(event, EnrDiscovered):
                if not self._publish:
                    continue
                if self._aztec_network is None or event.enr.is_aztec(self._aztec_network):
                    try:
                        self._disc_tx.send_nowait(event.enr)
                    except trio.WouldBlock:
                        self.stats["discovered_dropped"] += 1
                continue
            waiter = self._waiters.get(event.handle)
            if waiter is None:
                continue
            if isinstance(event, RequestCompleted):
                waiter.value = event.response
            elif isinstance(event, LookupCompleted):
                waiter.value = event.enrs
            elif isinstance(event, RequestFailed):
                waiter.error = event.reason
            waiter.event.set()
        deadline = self.core.next_deadline()
        if deadline is not None and deadline < self._armed and not self._wake.is_set():
            self._wake.set()  # something new is due earlier than the timer loop sleeps
