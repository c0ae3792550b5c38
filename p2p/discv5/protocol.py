"""The discv5 v5.1 node core (sans-IO): sessions, WHOAREYOU handshake, requests, table, lookups.

Bytes and time go in (`receive(data, addr, now)`, `tick(now)`, API calls); datagrams and events come
out (`take_outgoing()`, `take_events()`). The trio service in `service.py` only moves them.
Randomness comes from the `random_bytes` callable given to the constructor (`os.urandom` by default).

Sessions are keyed by (node id, UDP address). A message we cannot decrypt (no session, or the peer
lost its keys) is answered with WHOAREYOU; a handshake packet must match the challenge we sent.
Outgoing requests without a session start with a random packet; the WHOAREYOU that answers it (matched
by nonce) makes us re-send the request as a handshake packet. Other requests to the same node wait
until that handshake went out.

The parts: `sessions` (session and challenge caches), `handshake` (packet sealing and both sides of
the handshake, pure), `requests` (outstanding calls and handshake waiters), `routing` (table, known
records, FINDNODE answers), `lookup` (iterative lookups); this class ties them to packets and time.

Bounds (what is dropped when full): sessions (LRU evicted), active challenges (oldest dropped),
outstanding calls (new requests fail at once with "too many requests"), calls waiting for a handshake
per node (new ones fail), known ENRs (oldest forgotten), concurrent lookups (new ones finish empty).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from coincurve import PrivateKey

from p2p.discv5 import handshake
from p2p.discv5.config import Address, Discv5Config, RandomBytes, SessionKey, system_random_bytes
from p2p.discv5.crypto import aes_gcm_decrypt
from p2p.discv5.errors import Discv5CryptoError, Discv5DecodeError
from p2p.discv5.events import EnrDiscovered, Event, LookupCompleted, RequestCompleted, RequestFailed
from p2p.discv5.lookup import Lookup
from p2p.discv5.messages import FindNode, Message, Nodes, Ping, Pong, Request, TalkReq, TalkResp, decode_message
from p2p.discv5.packet import (
    MAX_PACKET_SIZE,
    HandshakeAuthdata,
    MessageAuthdata,
    Packet,
    WhoAreYouAuthdata,
    decode_packet,
)
from p2p.discv5.requests import Call, CallTable, Owner
from p2p.discv5.routing import NODES_ENR_BUDGET, InsertResult, KnownEnrs, RoutingTable, pack_nodes, select_nodes
from p2p.discv5.sessions import ChallengeCache, Session, SessionCache
from p2p.enr import Enr

# re-exported: users import the core's vocabulary from here
__all__ = ["NODES_ENR_BUDGET", "Address", "Discv5Config", "Discv5Protocol", "EnrDiscovered", "Event"]
__all__ += ["LookupCompleted", "RandomBytes", "RequestCompleted", "RequestFailed", "SessionKey"]

log = logging.getLogger(__name__)
STAT_KEYS: tuple[str, ...] = ("packets_in", "packets_out", "decode_errors", "decrypt_failures", "whoareyou_sent")
STAT_KEYS += ("handshakes_in", "handshakes_out", "handshake_failures", "unsolicited", "requests_in", "calls_failed")
STAT_KEYS += ("oversize_dropped",)


@dataclass(slots=True)
class _LookupState:
    handle: int
    lookup: Lookup
    started: float


class Discv5Protocol:
    def __init__(
        self,
        private_key: bytes,
        enr: Enr,
        config: Discv5Config | None = None,
        *,
        random_bytes: RandomBytes = system_random_bytes,
    ) -> None:
        if PrivateKey(private_key).public_key.format(compressed=True) != enr.public_key:
            raise ValueError("private key does not match the local ENR")
        self.config = config or Discv5Config()
        self._key = private_key
        self._enr = enr
        self._random = random_bytes
        self.local_id = enr.node_id
        self.table = RoutingTable(self.local_id)
        c = self.config
        self._sessions = SessionCache(c.session_cache_size, c.session_timeout)
        self._challenges = ChallengeCache(c.max_challenges, c.handshake_timeout)
        self._calls = CallTable(c.max_waiting_per_node)
        self._known = KnownEnrs(self.local_id, c.max_known_enrs)
        self._lookups: dict[int, _LookupState] = {}
        self._liveness: set[bytes] = set()
        self._next_handle = 1
        self._next_liveness = 0.0
        self._outgoing: deque[tuple[bytes, Address]] = deque()
        self._events: deque[Event] = deque()
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)

    # ---- properties / outputs -----------------------------------------------------------------
    @property
    def enr(self) -> Enr:
        return self._enr

    def set_local_enr(self, enr: Enr) -> None:
        if enr.node_id != self.local_id:
            raise ValueError("a node cannot change its identity")
        self._enr = enr

    def take_outgoing(self) -> list[tuple[bytes, Address]]:
        out = list(self._outgoing)
        self._outgoing.clear()
        return out

    def take_events(self) -> list[Event]:
        out = list(self._events)
        self._events.clear()
        return out

    def known_enrs(self) -> list[Enr]:
        return self._known.values()

    def session_count(self) -> int:
        return len(self._sessions)

    def statistics(self) -> dict[str, int]:
        return {
            **self.stats,
            "sessions": len(self._sessions),
            "challenges": len(self._challenges),
            "calls": len(self._calls),
            "known_enrs": len(self._known),
            "table_size": len(self.table),
            "lookups": len(self._lookups),
        }

    # ---- API ----------------------------------------------------------------------------------
    def add_enr(self, enr: Enr, now: float) -> bool:
        """Add a record (e.g. a bootstrap node) straight to the routing table, like discv5 `addEnr`."""
        if enr.node_id == self.local_id or enr.udp_endpoint() is None:
            return False
        self._learn(enr)
        result = self.table.insert(enr, now)
        if result.result is InsertResult.PENDING and result.check is not None:
            self._liveness_check(result.check, now)
        return result.result in (InsertResult.ADDED, InsertResult.UPDATED)

    def ping(self, enr: Enr, now: float) -> int:
        return self._request(enr, Ping(self._request_id(), self._enr.seq), Owner.USER, now)

    def find_node(self, enr: Enr, distances: list[int], now: float) -> int:
        return self._request(enr, FindNode(self._request_id(), tuple(distances)), Owner.USER, now)

    def talk_req(self, enr: Enr, protocol: bytes, request: bytes, now: float) -> int:
        return self._request(enr, TalkReq(self._request_id(), protocol, request), Owner.USER, now)

    def start_lookup(self, target: bytes, now: float) -> int:
        handle = self._handle()
        seeds = self.table.closest(target, self.config.lookup_results)
        if len(self._lookups) >= self.config.max_lookups or not seeds:
            self._events.append(LookupCompleted(handle, ()))
            return handle
        lookup = Lookup(
            self.local_id,
            target,
            seeds,
            parallelism=self.config.lookup_parallelism,
            num_results=self.config.lookup_results,
        )
        self._lookups[handle] = _LookupState(handle, lookup, now)
        self._advance_lookup(handle, now)
        return handle

    # ---- time ---------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        deadlines = [c.sent_at + self.config.request_timeout for c in self._calls.calls.values()]
        deadlines += [s.started + self.config.lookup_timeout for s in self._lookups.values()]
        if len(self.table):
            deadlines.append(self._next_liveness)
        return min(deadlines) if deadlines else None

    def tick(self, now: float) -> None:
        timeout = self.config.request_timeout
        for call in list(self._calls.calls.values()):
            if now - call.sent_at < timeout or call.request_id not in self._calls:
                continue
            if call.attempts <= self.config.request_retries and call.nodes_seen == 0:
                self._calls.stop_waiting(call)  # it stops waiting for another call's handshake and tries itself
                self._transmit(call, now)
            elif call.nodes_seen and call.enrs:
                self._complete(call, tuple(call.enrs), now)  # partial NODES answer, like js
            else:
                self._fail(call, "timeout", now)
        self._challenges.expire(now)
        for handle, state in list(self._lookups.items()):
            if now - state.started >= self.config.lookup_timeout:
                self._finish_lookup(handle)
        if len(self.table) and now >= self._next_liveness:
            self._next_liveness = now + max(1.0, self.config.ping_interval / 10)
            for enr in self.table.stale(now, self.config.ping_interval, self.config.liveness_pings_per_tick):
                self._liveness_check(enr, now)

    # ---- inbound ------------------------------------------------------------------------------
    def receive(self, data: bytes, addr: Address, now: float) -> None:
        self.stats["packets_in"] += 1
        try:
            packet = decode_packet(data, self.local_id)
        except Discv5DecodeError as exc:
            self.stats["decode_errors"] += 1
            log.debug("dropping packet from %s: %s", addr, exc)
            return
        auth = packet.authdata
        if isinstance(auth, MessageAuthdata):
            self._on_message_packet(packet, auth, addr, now)
        elif isinstance(auth, WhoAreYouAuthdata):
            self._on_whoareyou(packet, addr, now)
        else:
            self._on_handshake(packet, auth, addr, now)

    def _on_message_packet(self, packet: Packet, auth: MessageAuthdata, addr: Address, now: float) -> None:
        key = (auth.src_id, addr)
        session = self._sessions.get(key, now)
        if session is None:
            self._send_whoareyou(auth.src_id, addr, packet.nonce, now)
            return
        try:
            plaintext = aes_gcm_decrypt(session.read_key, packet.nonce, packet.message, packet.message_ad)
        except Discv5CryptoError:
            # The peer lost our session (or this is its random packet): drop keys, re-handshake.
            self.stats["decrypt_failures"] += 1
            self._sessions.drop(key)
            self._send_whoareyou(auth.src_id, addr, packet.nonce, now)
            return
        self._dispatch(plaintext, auth.src_id, addr, session, now)

    def _on_whoareyou(self, packet: Packet, addr: Address, now: float) -> None:
        call = self._calls.by_nonce(packet.nonce)
        if call is None or call.addr != addr:
            self.stats["unsolicited"] += 1
            return
        if call.handshake_sent:
            self._fail(call, "peer sent WHOAREYOU again after our handshake", now)
            return
        try:
            sealed, session = handshake.initiate(
                self._key, self._enr, call.enr, packet, call.request, now, self._random
            )
        except Discv5CryptoError as exc:
            self._fail(call, f"handshake failed: {exc}", now)
            return
        self._send_datagram(sealed.datagram, addr)
        self.stats["handshakes_out"] += 1
        self._sessions.store(call.key, session)
        call.handshake_sent = True
        call.sent_at = now
        self._calls.sent_with(call, sealed.nonce)
        for waiting in self._calls.handshake_done(call):
            self._transmit(waiting, now)

    def _on_handshake(self, packet: Packet, auth: HandshakeAuthdata, addr: Address, now: float) -> None:
        key = (auth.src_id, addr)
        challenge = self._challenges.take(key, now)
        if challenge is None:
            self.stats["unsolicited"] += 1
            return
        result = handshake.accept(self._key, self.local_id, packet, auth, challenge, addr, now)
        if isinstance(result, handshake.Refused):
            self.stats["handshake_failures"] += 1
            log.debug("handshake from %s refused: %s", addr, result.reason)
            if result.keep_challenge:
                self._challenges.restore(key, challenge)
            return
        self.stats["handshakes_in"] += 1
        if not result.verified and not self.config.allow_unverified_sessions:
            return
        self._sessions.store(key, result.session)
        self._learn(result.enr)
        if result.verified:
            self._table_insert(result.enr, now)
        self._dispatch(result.plaintext, auth.src_id, addr, result.session, now)

    def _dispatch(self, plaintext: bytes, src: bytes, addr: Address, session: Session, now: float) -> None:
        try:
            message = decode_message(plaintext)
        except Discv5DecodeError as exc:
            self.stats["decode_errors"] += 1
            log.debug("bad message from %s: %s", addr, exc)
            return
        self.table.mark_seen(src, now)
        if isinstance(message, Ping | FindNode | TalkReq):
            self.stats["requests_in"] += 1
            self._on_request(message, src, addr, session, now)
        else:
            self._on_response(message, src, addr, now)

    def _on_request(self, message: Request, src: bytes, addr: Address, session: Session, now: float) -> None:
        if isinstance(message, Ping):
            pong = Pong(message.request_id, self._enr.seq, addr[0], addr[1])
            self._send_message(session, src, addr, pong)
            # only for a record whose endpoint this PING came from: a forged handshake record
            # naming any address would make us send refresh requests there (found by review)
            enr = session.enr
            if enr is not None and message.enr_seq > enr.seq and addr in (enr.udp_endpoint(), enr.udp6_endpoint()):
                self._refresh_enr(enr, now)
        elif isinstance(message, FindNode):
            found = select_nodes(self.table, self._enr, src, message.distances, self.config.max_findnode_results)
            packs = pack_nodes(found)
            for pack in packs:
                self._send_message(session, src, addr, Nodes(message.request_id, len(packs), tuple(pack)))
        else:
            self._send_message(session, src, addr, TalkResp(message.request_id, b""))

    def _on_response(self, message: Message, src: bytes, addr: Address, now: float) -> None:
        call = self._calls.get(message.request_id)
        if call is None or call.node_id != src or call.addr != addr:
            self.stats["unsolicited"] += 1
            return
        verified = call.enr.udp_endpoint() == addr or call.enr.udp6_endpoint() == addr
        if verified:
            self._table_insert(call.enr, now)
        request = call.request
        if isinstance(message, Pong) and isinstance(request, Ping):
            if message.enr_seq > call.enr.seq:
                self._refresh_enr(call.enr, now)
            self._complete(call, message, now)
        elif isinstance(message, TalkResp) and isinstance(request, TalkReq):
            self._complete(call, message, now)
        elif isinstance(message, Nodes) and isinstance(request, FindNode):
            self._on_nodes(call, request, message, now)
        else:
            self._fail(call, f"unexpected {type(message).__name__} response", now)

    def _on_nodes(self, call: Call, request: FindNode, message: Nodes, now: float) -> None:
        call.sent_at = now
        if call.add_nodes(request, message, self.local_id, self.config.max_nodes_responses):
            self._complete(call, tuple(call.enrs), now)

    # ---- outbound -----------------------------------------------------------------------------
    def _handle(self) -> int:
        handle = self._next_handle
        self._next_handle += 1
        return handle

    def _request_id(self) -> bytes:
        while True:
            request_id = self._random(8)
            if request_id not in self._calls:
                return request_id

    def _request(self, enr: Enr, request: Request, owner: Owner, now: float, lookup: int = 0) -> int:
        handle = self._handle()
        addr = enr.udp_endpoint() or enr.udp6_endpoint()
        call = Call(handle, request, enr, addr or ("", 0), owner, lookup)
        if addr is None or enr.node_id == self.local_id:
            self._fail(call, "record has no UDP endpoint" if addr is None else "cannot send to ourselves", now)
            return handle
        if len(self._calls) >= self.config.max_calls:
            self._fail(call, "too many requests in flight", now, local=True)
            return handle
        self._calls.add(call)
        if call.key not in self._sessions and self._calls.handshake_in_progress(call.key):
            if self._calls.wait(call):
                call.sent_at = now
            else:
                self._fail(call, "too many requests waiting for a handshake", now, local=True)
            return handle
        self._transmit(call, now)
        return handle

    def _transmit(self, call: Call, now: float) -> None:
        """(Re-)send a call: encrypted if a session exists, else a random packet to provoke WHOAREYOU."""
        call.attempts += 1
        call.sent_at = now
        call.handshake_sent = False
        self._calls.forget_nonce(call)
        session = self._sessions.get(call.key, now)
        key = session.write_key if session is not None else None
        sealed = handshake.seal_message(self.local_id, call.node_id, key, call.request, self._random)
        if session is None:
            self._calls.drives_handshake(call)
        self._calls.sent_with(call, sealed.nonce)
        self._send_datagram(sealed.datagram, call.addr)

    def _send_message(self, session: Session, dest: bytes, addr: Address, message: Message) -> None:
        sealed = handshake.seal_message(self.local_id, dest, session.write_key, message, self._random)
        self._send_datagram(sealed.datagram, addr)

    def _send_whoareyou(self, src: bytes, addr: Address, nonce: bytes, now: float) -> None:
        key = (src, addr)
        if self._challenges.pending(key, now):
            return  # one challenge at a time per peer; a lost one expires and is re-sent
        datagram, challenge = handshake.whoareyou(src, nonce, self._known.newest(src, self.table), now, self._random)
        self._challenges.put(key, challenge)
        self.stats["whoareyou_sent"] += 1
        self._send_datagram(datagram, addr)

    def _send_datagram(self, data: bytes, addr: Address) -> None:
        if len(data) > MAX_PACKET_SIZE:
            self.stats["oversize_dropped"] += 1
            log.warning("not sending a %d-byte packet to %s (limit %d)", len(data), addr, MAX_PACKET_SIZE)
            return
        self.stats["packets_out"] += 1
        self._outgoing.append((data, addr))

    # ---- call completion ------------------------------------------------------------------------
    def _remove_call(self, call: Call, now: float) -> None:
        # if this call drove a handshake, that handshake is gone: the calls waiting on it try their own
        for other in self._calls.remove(call):
            other.attempts = 0
            if other.key not in self._sessions and self._calls.handshake_in_progress(other.key):
                self._calls.requeue(other)
            else:
                self._transmit(other, now)

    def _complete(self, call: Call, response: Pong | tuple[Enr, ...] | TalkResp, now: float) -> None:
        self._remove_call(call, now)
        if call.owner is Owner.USER:
            if isinstance(response, tuple):
                for enr in response:
                    self._learn(enr)
            self._events.append(RequestCompleted(call.handle, response))
        elif call.owner is Owner.LOOKUP:
            assert isinstance(response, tuple)
            for enr in response:
                self._learn(enr)
            state = self._lookups.get(call.lookup)
            if state is not None:
                state.lookup.on_response(call.node_id, list(response))
                self._advance_lookup(call.lookup, now)
        elif call.owner is Owner.LIVENESS:
            self._liveness.discard(call.node_id)
        elif call.owner is Owner.ENR_REFRESH and isinstance(response, tuple):
            for enr in response:
                if enr.node_id == call.node_id:
                    self._learn(enr)
                    self.table.update_enr(enr)
                    self._sessions.update_enr(enr)

    def _fail(self, call: Call, reason: str, now: float, *, local: bool = False) -> None:
        """`local`: the call never left (our own limits), which says nothing about the peer."""
        self.stats["calls_failed"] += 1
        self._remove_call(call, now)
        if call.owner is Owner.USER:
            self._events.append(RequestFailed(call.handle, reason))
        elif call.owner is Owner.LOOKUP:
            state = self._lookups.get(call.lookup)
            if state is not None:
                state.lookup.on_failure(call.node_id)
                self._advance_lookup(call.lookup, now)
        elif call.owner is Owner.LIVENESS:
            self._liveness.discard(call.node_id)
            if local:  # (checked again at a later tick; a healthy entry was removed for our own limit)
                return
            promoted = self.table.remove(call.node_id)
            log.debug("removed unresponsive node %s", call.node_id.hex()[:16])
            if promoted is not None:
                self._liveness_check(promoted, now)

    # ---- lookups ------------------------------------------------------------------------------
    def _advance_lookup(self, handle: int, now: float) -> None:
        state = self._lookups.get(handle)
        if state is None:
            return
        while not state.lookup.done:
            queries = state.lookup.next_queries()
            if not queries:
                return
            for enr, distances in queries:
                self._request(enr, FindNode(self._request_id(), tuple(distances)), Owner.LOOKUP, now, handle)
                if handle not in self._lookups:
                    return
        self._finish_lookup(handle)

    def _finish_lookup(self, handle: int) -> None:
        state = self._lookups.pop(handle, None)
        if state is None:
            return
        for call in list(self._calls.calls.values()):
            if call.owner is Owner.LOOKUP and call.lookup == handle:
                call.lookup = 0  # let in-flight queries finish without a lookup to report to
        self._events.append(LookupCompleted(handle, tuple(state.lookup.result())))

    # ---- table & records ----------------------------------------------------------------------
    def _learn(self, enr: Enr) -> None:
        if self._known.learn(enr):
            self._events.append(EnrDiscovered(enr))

    def _table_insert(self, enr: Enr, now: float) -> None:
        result = self.table.insert(enr, now)
        if result.result is InsertResult.PENDING and result.check is not None:
            self._liveness_check(result.check, now)

    def _liveness_check(self, enr: Enr, now: float) -> None:
        if enr.node_id in self._liveness:
            return
        self._liveness.add(enr.node_id)
        self._request(enr, Ping(self._request_id(), self._enr.seq), Owner.LIVENESS, now)

    def _refresh_enr(self, enr: Enr, now: float) -> None:
        refreshing = [c for c in self._calls.calls.values() if c.owner is Owner.ENR_REFRESH]
        if len(refreshing) >= self.config.max_calls // 8 or any(c.node_id == enr.node_id for c in refreshing):
            return  # (at most an eighth of the request slots: lookups and liveness checks keep theirs)
        self._request(enr, FindNode(self._request_id(), (0,)), Owner.ENR_REFRESH, now)
