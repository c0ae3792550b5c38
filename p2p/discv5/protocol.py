"""The discv5 v5.1 node core (sans-IO): sessions, WHOAREYOU handshake, requests, table, lookups.

Bytes and time go in (`receive(data, addr, now)`, `tick(now)`, API calls); datagrams and events come
out (`take_outgoing()`, `take_events()`). The trio service in `service.py` only moves them.

Sessions are keyed by (node id, UDP address). A message we cannot decrypt (no session, or the peer
lost its keys) is answered with WHOAREYOU; a handshake packet must match the challenge we sent.
Outgoing requests without a session start with a random packet; the WHOAREYOU that answers it (matched
by nonce) makes us re-send the request as a handshake packet. Other requests to the same node wait
until that handshake went out.

Bounds (what is dropped when full): sessions (LRU evicted), active challenges (oldest dropped),
outstanding calls (new requests fail at once with "too many requests"), calls waiting for a handshake
per node (new ones fail), known ENRs (oldest forgotten), concurrent lookups (new ones finish empty).
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import Enum

from coincurve import PrivateKey

from p2p.discv5.crypto import aes_gcm_decrypt, aes_gcm_encrypt, derive_keys, ecdh, id_sign, id_verify
from p2p.discv5.errors import Discv5CryptoError, Discv5DecodeError
from p2p.discv5.lookup import Lookup
from p2p.discv5.messages import (
    FindNode,
    Message,
    Nodes,
    Ping,
    Pong,
    Request,
    TalkReq,
    TalkResp,
    decode_message,
    encode_message,
)
from p2p.discv5.packet import (
    MAX_PACKET_SIZE,
    HandshakeAuthdata,
    MessageAuthdata,
    Packet,
    WhoAreYouAuthdata,
    decode_packet,
)
from p2p.discv5.routing import InsertResult, RoutingTable, log_distance
from p2p.enr import Enr

log = logging.getLogger(__name__)

Address = tuple[str, int]
SessionKey = tuple[bytes, Address]
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# Bytes available for ENRs in one NODES packet: 1280 minus masking-iv(16), static header(23), src-id(32),
# GCM tag(16), message type(1) and RLP overhead (outer list 3, request id 9, total 9, inner list 3),
# rounded down for margin.
NODES_ENR_BUDGET = 1150


@dataclass(frozen=True, slots=True)
class Discv5Config:
    request_timeout: float = 2.0  # Aztec: requestTimeout 2000 ms
    request_retries: int = 1
    handshake_timeout: float = 2.0  # how long a sent WHOAREYOU challenge stays valid
    lookup_timeout: float = 8.0
    lookup_parallelism: int = 3
    lookup_results: int = 16
    session_cache_size: int = 1000
    session_timeout: float = 86400.0
    max_challenges: int = 1000
    max_calls: int = 1024
    max_waiting_per_node: int = 32
    max_known_enrs: int = 4096
    max_lookups: int = 16
    max_nodes_responses: int = 5  # like @chainsafe/discv5: NODES totals above 5 are truncated
    max_findnode_results: int = 16
    allow_unverified_sessions: bool = True  # Aztec sets allowUnverifiedSessions: true
    ping_interval: float = 300.0
    liveness_pings_per_tick: int = 8


# ---- events ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RequestCompleted:
    handle: int
    response: Pong | tuple[Enr, ...] | TalkResp


@dataclass(frozen=True, slots=True)
class RequestFailed:
    handle: int
    reason: str


@dataclass(frozen=True, slots=True)
class LookupCompleted:
    handle: int
    enrs: tuple[Enr, ...]


@dataclass(frozen=True, slots=True)
class EnrDiscovered:
    enr: Enr


Event = RequestCompleted | RequestFailed | LookupCompleted | EnrDiscovered


class _Owner(Enum):
    USER = "user"
    LOOKUP = "lookup"
    LIVENESS = "liveness"
    ENR_REFRESH = "enr-refresh"


@dataclass(slots=True)
class _Session:
    write_key: bytes
    read_key: bytes
    enr: Enr | None
    established_at: float


@dataclass(slots=True)
class _Challenge:
    data: bytes
    remote_enr: Enr | None
    sent_at: float


@dataclass(slots=True)
class _Call:
    handle: int
    request: Request
    enr: Enr
    addr: Address
    owner: _Owner
    lookup: int = 0
    sent_at: float = 0.0
    attempts: int = 0
    nonce: bytes = b""
    handshake_sent: bool = False
    nodes_expected: int = 0
    nodes_seen: int = 0
    enrs: list[Enr] = field(default_factory=list)

    @property
    def node_id(self) -> bytes:
        return self.enr.node_id

    @property
    def key(self) -> SessionKey:
        return (self.enr.node_id, self.addr)


@dataclass(slots=True)
class _LookupState:
    handle: int
    lookup: Lookup
    started: float


def _random_secret() -> bytes:
    while True:
        secret = os.urandom(32)
        if 0 < int.from_bytes(secret, "big") < _SECP256K1_ORDER:
            return secret


class Discv5Protocol:
    def __init__(self, private_key: bytes, enr: Enr, config: Discv5Config | None = None) -> None:
        if PrivateKey(private_key).public_key.format(compressed=True) != enr.public_key:
            raise ValueError("private key does not match the local ENR")
        self.config = config or Discv5Config()
        self._key = private_key
        self._enr = enr
        self.local_id = enr.node_id
        self.table = RoutingTable(self.local_id)
        self._sessions: OrderedDict[SessionKey, _Session] = OrderedDict()
        self._challenges: OrderedDict[SessionKey, _Challenge] = OrderedDict()
        self._calls: dict[bytes, _Call] = {}
        self._nonces: dict[bytes, bytes] = {}
        self._handshaking: dict[SessionKey, bytes] = {}
        self._waiting: dict[SessionKey, list[_Call]] = {}
        self._known: OrderedDict[bytes, Enr] = OrderedDict()
        self._lookups: dict[int, _LookupState] = {}
        self._liveness: set[bytes] = set()
        self._next_handle = 1
        self._next_liveness = 0.0
        self._outgoing: deque[tuple[bytes, Address]] = deque()
        self._events: deque[Event] = deque()
        self.stats: dict[str, int] = {
            "packets_in": 0,
            "packets_out": 0,
            "decode_errors": 0,
            "decrypt_failures": 0,
            "whoareyou_sent": 0,
            "handshakes_in": 0,
            "handshakes_out": 0,
            "handshake_failures": 0,
            "unsolicited": 0,
            "requests_in": 0,
            "calls_failed": 0,
            "oversize_dropped": 0,
        }

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
        return list(self._known.values())

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
        return self._request(enr, Ping(self._request_id(), self._enr.seq), _Owner.USER, now)

    def find_node(self, enr: Enr, distances: list[int], now: float) -> int:
        return self._request(enr, FindNode(self._request_id(), tuple(distances)), _Owner.USER, now)

    def talk_req(self, enr: Enr, protocol: bytes, request: bytes, now: float) -> int:
        return self._request(enr, TalkReq(self._request_id(), protocol, request), _Owner.USER, now)

    def start_lookup(self, target: bytes, now: float) -> int:
        handle = self._handle()
        seeds = self.table.closest(target, self.config.lookup_results)
        if len(self._lookups) >= self.config.max_lookups or not seeds:
            self._events.append(LookupCompleted(handle, ()))
            return handle
        self._lookups[handle] = _LookupState(
            handle,
            Lookup(
                self.local_id,
                target,
                seeds,
                parallelism=self.config.lookup_parallelism,
                num_results=self.config.lookup_results,
            ),
            now,
        )
        self._advance_lookup(handle, now)
        return handle

    # ---- time ---------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        deadlines = [c.sent_at + self.config.request_timeout for c in self._calls.values()]
        deadlines += [s.started + self.config.lookup_timeout for s in self._lookups.values()]
        if len(self.table):
            deadlines.append(self._next_liveness)
        return min(deadlines) if deadlines else None

    def tick(self, now: float) -> None:
        timeout = self.config.request_timeout
        for call in list(self._calls.values()):
            if now - call.sent_at < timeout or call.request.request_id not in self._calls:
                continue
            if call.attempts <= self.config.request_retries and call.nodes_seen == 0:
                waiting = self._waiting.get(call.key)
                if waiting is not None and call in waiting:
                    waiting.remove(call)  # it stops waiting for another call's handshake and tries itself
                self._transmit(call, now)
            elif call.nodes_seen and call.enrs:
                self._complete(call, tuple(call.enrs), now)  # partial NODES answer, like js
            else:
                self._fail(call, "timeout", now)
        for key, challenge in list(self._challenges.items()):
            if now - challenge.sent_at > self.config.handshake_timeout:
                del self._challenges[key]
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
            self._on_whoareyou(packet, auth, addr, now)
        else:
            self._on_handshake(packet, auth, addr, now)

    def _on_message_packet(self, packet: Packet, auth: MessageAuthdata, addr: Address, now: float) -> None:
        key = (auth.src_id, addr)
        session = self._session(key, now)
        if session is None:
            self._send_whoareyou(auth.src_id, addr, packet.nonce, now)
            return
        try:
            plaintext = aes_gcm_decrypt(session.read_key, packet.nonce, packet.message, packet.message_ad)
        except Discv5CryptoError:
            # The peer lost our session (or this is its random packet): drop keys, re-handshake.
            self.stats["decrypt_failures"] += 1
            self._sessions.pop(key, None)
            self._send_whoareyou(auth.src_id, addr, packet.nonce, now)
            return
        self._dispatch(plaintext, auth.src_id, addr, session, now)

    def _on_whoareyou(self, packet: Packet, auth: WhoAreYouAuthdata, addr: Address, now: float) -> None:
        request_id = self._nonces.pop(packet.nonce, None)
        call = self._calls.get(request_id) if request_id is not None else None
        if call is None or call.addr != addr:
            self.stats["unsolicited"] += 1
            return
        if call.handshake_sent:
            self._fail(call, "peer sent WHOAREYOU again after our handshake", now)
            return
        eph_secret = _random_secret()
        eph_pub = bytes(PrivateKey(eph_secret).public_key.format(compressed=True))
        challenge_data = packet.message_ad
        try:
            secret = ecdh(call.enr.public_key, eph_secret)
        except Discv5CryptoError as exc:
            self._fail(call, f"handshake failed: {exc}", now)
            return
        initiator_key, recipient_key = derive_keys(secret, challenge_data, self.local_id, call.node_id)
        signature = id_sign(self._key, challenge_data, eph_pub, call.node_id)
        record = self._enr if auth.enr_seq < self._enr.seq else None
        nonce = os.urandom(12)
        masking_iv = os.urandom(16)
        handshake_auth = HandshakeAuthdata(self.local_id, signature, eph_pub, record)
        head = Packet(masking_iv, nonce, handshake_auth)
        message = aes_gcm_encrypt(initiator_key, nonce, encode_message(call.request), head.message_ad)
        self._send_datagram(Packet(masking_iv, nonce, handshake_auth, message).encode(call.node_id), addr)
        self.stats["handshakes_out"] += 1
        self._store_session(call.key, _Session(initiator_key, recipient_key, call.enr, now))
        call.handshake_sent = True
        call.nonce = nonce
        call.sent_at = now
        self._nonces[nonce] = call.request.request_id
        if self._handshaking.get(call.key) == call.request.request_id:
            del self._handshaking[call.key]
        for waiting in self._waiting.pop(call.key, []):
            if waiting.request.request_id in self._calls:
                self._transmit(waiting, now)

    def _on_handshake(self, packet: Packet, auth: HandshakeAuthdata, addr: Address, now: float) -> None:
        key = (auth.src_id, addr)
        challenge = self._challenges.pop(key, None)
        if challenge is None or now - challenge.sent_at > self.config.handshake_timeout:
            self.stats["unsolicited"] += 1
            return
        enr = auth.record
        if enr is not None and enr.node_id != auth.src_id:
            self.stats["handshake_failures"] += 1
            return
        if enr is None or (challenge.remote_enr is not None and challenge.remote_enr.seq > enr.seq):
            enr = challenge.remote_enr
        if enr is None:
            self.stats["handshake_failures"] += 1
            log.debug("handshake from %s without a record we could use", addr)
            return
        if not id_verify(enr.public_key, auth.id_signature, challenge.data, auth.eph_pubkey, self.local_id):
            self.stats["handshake_failures"] += 1
            self._challenges[key] = challenge  # keep the challenge: the genuine peer may still answer
            return
        try:
            secret = ecdh(auth.eph_pubkey, self._key)
            initiator_key, recipient_key = derive_keys(secret, challenge.data, auth.src_id, self.local_id)
            plaintext = aes_gcm_decrypt(initiator_key, packet.nonce, packet.message, packet.message_ad)
        except Discv5CryptoError:
            self.stats["handshake_failures"] += 1
            return
        self.stats["handshakes_in"] += 1
        session = _Session(recipient_key, initiator_key, enr, now)
        verified = enr.udp_endpoint() == addr or enr.udp6_endpoint() == addr
        if not verified and not self.config.allow_unverified_sessions:
            return
        self._store_session(key, session)
        self._learn(enr)
        if verified:
            self._table_insert(enr, now)
        self._dispatch(plaintext, auth.src_id, addr, session, now)

    def _dispatch(self, plaintext: bytes, src: bytes, addr: Address, session: _Session, now: float) -> None:
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

    def _on_request(self, message: Request, src: bytes, addr: Address, session: _Session, now: float) -> None:
        if isinstance(message, Ping):
            pong = Pong(message.request_id, self._enr.seq, addr[0], addr[1])
            self._send_message(session, src, addr, pong)
            if session.enr is not None and message.enr_seq > session.enr.seq:
                self._refresh_enr(session.enr, addr, now)
        elif isinstance(message, FindNode):
            self._send_nodes(session, src, addr, message)
        else:
            self._send_message(session, src, addr, TalkResp(message.request_id, b""))

    def _send_nodes(self, session: _Session, src: bytes, addr: Address, request: FindNode) -> None:
        found: list[Enr] = []
        seen: set[bytes] = set()
        for distance in dict.fromkeys(request.distances):
            candidates = [self._enr] if distance == 0 else self.table.nodes_at_distance(distance)
            for enr in candidates:
                if enr.node_id not in seen and enr.node_id != src:
                    seen.add(enr.node_id)
                    found.append(enr)
            if len(found) >= self.config.max_findnode_results:
                break
        found = found[: self.config.max_findnode_results]
        packs: list[list[Enr]] = []
        size = 0
        for enr in found:
            length = len(enr.to_rlp())
            if not packs or size + length > NODES_ENR_BUDGET:
                packs.append([])
                size = 0
            packs[-1].append(enr)
            size += length
        if not packs:
            packs = [[]]
        for pack in packs:
            self._send_message(session, src, addr, Nodes(request.request_id, len(packs), tuple(pack)))

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
                self._refresh_enr(call.enr, addr, now)
            self._complete(call, message, now)
        elif isinstance(message, TalkResp) and isinstance(request, TalkReq):
            self._complete(call, message, now)
        elif isinstance(message, Nodes) and isinstance(request, FindNode):
            wanted = set(request.distances)
            for enr in message.enrs:
                if log_distance(enr.node_id, src) in wanted and enr.node_id != self.local_id:
                    call.enrs.append(enr)
            if call.nodes_seen == 0:
                call.nodes_expected = min(max(message.total, 1), self.config.max_nodes_responses)
            call.nodes_seen += 1
            call.sent_at = now
            if call.nodes_seen >= call.nodes_expected:
                self._complete(call, tuple(call.enrs), now)
        else:
            self._fail(call, f"unexpected {type(message).__name__} response", now)

    # ---- outbound -----------------------------------------------------------------------------
    def _handle(self) -> int:
        handle = self._next_handle
        self._next_handle += 1
        return handle

    def _request_id(self) -> bytes:
        while True:
            request_id = os.urandom(8)
            if request_id not in self._calls:
                return request_id

    def _request(self, enr: Enr, request: Request, owner: _Owner, now: float, lookup: int = 0) -> int:
        handle = self._handle()
        addr = enr.udp_endpoint() or enr.udp6_endpoint()
        call = _Call(handle, request, enr, addr or ("", 0), owner, lookup)
        if addr is None or enr.node_id == self.local_id:
            self._fail(call, "record has no UDP endpoint" if addr is None else "cannot send to ourselves", now)
            return handle
        if len(self._calls) >= self.config.max_calls:
            self._fail(call, "too many requests in flight", now)
            return handle
        self._calls[request.request_id] = call
        key = call.key
        holder = self._handshaking.get(key)
        if key not in self._sessions and holder is not None and holder in self._calls:
            waiting = self._waiting.setdefault(key, [])
            if len(waiting) >= self.config.max_waiting_per_node:
                self._fail(call, "too many requests waiting for a handshake", now)
            else:
                call.sent_at = now
                waiting.append(call)
            return handle
        self._transmit(call, now)
        return handle

    def _transmit(self, call: _Call, now: float) -> None:
        """(Re-)send a call: encrypted if a session exists, else a random packet to provoke WHOAREYOU."""
        call.attempts += 1
        call.sent_at = now
        call.handshake_sent = False
        self._nonces.pop(call.nonce, None)
        session = self._session(call.key, now)
        nonce = os.urandom(12)
        masking_iv = os.urandom(16)
        auth = MessageAuthdata(self.local_id)
        head = Packet(masking_iv, nonce, auth)
        if session is not None:
            body = aes_gcm_encrypt(session.write_key, nonce, encode_message(call.request), head.message_ad)
        else:
            body = os.urandom(20)
            self._handshaking[call.key] = call.request.request_id
        call.nonce = nonce
        self._nonces[nonce] = call.request.request_id
        self._send_datagram(Packet(masking_iv, nonce, auth, body).encode(call.node_id), call.addr)

    def _send_message(self, session: _Session, dest: bytes, addr: Address, message: Message) -> None:
        nonce = os.urandom(12)
        masking_iv = os.urandom(16)
        auth = MessageAuthdata(self.local_id)
        head = Packet(masking_iv, nonce, auth)
        body = aes_gcm_encrypt(session.write_key, nonce, encode_message(message), head.message_ad)
        self._send_datagram(Packet(masking_iv, nonce, auth, body).encode(dest), addr)

    def _send_whoareyou(self, src: bytes, addr: Address, nonce: bytes, now: float) -> None:
        key = (src, addr)
        existing = self._challenges.get(key)
        if existing is not None and now - existing.sent_at < self.config.handshake_timeout:
            return  # one challenge at a time per peer; a lost one expires and is re-sent
        known = self._known_enr(src)
        masking_iv = os.urandom(16)
        packet = Packet(masking_iv, nonce, WhoAreYouAuthdata(os.urandom(16), known.seq if known else 0))
        self._challenges[key] = _Challenge(packet.message_ad, known, now)
        self._challenges.move_to_end(key)
        while len(self._challenges) > self.config.max_challenges:
            self._challenges.popitem(last=False)
        self.stats["whoareyou_sent"] += 1
        self._send_datagram(packet.encode(src), addr)

    def _send_datagram(self, data: bytes, addr: Address) -> None:
        if len(data) > MAX_PACKET_SIZE:
            self.stats["oversize_dropped"] += 1
            log.warning("not sending a %d-byte packet to %s (limit %d)", len(data), addr, MAX_PACKET_SIZE)
            return
        self.stats["packets_out"] += 1
        self._outgoing.append((data, addr))

    # ---- call completion ------------------------------------------------------------------------
    def _remove_call(self, call: _Call, now: float) -> None:
        self._calls.pop(call.request.request_id, None)
        self._nonces.pop(call.nonce, None)
        key = call.key
        if self._handshaking.get(key) == call.request.request_id:
            del self._handshaking[key]
            # the handshake this call drove is gone: let the next waiting call try its own
            waiting = self._waiting.pop(key, [])
            for other in waiting:
                if other.request.request_id in self._calls:
                    other.attempts = 0
                    self._request_again(other, now)

    def _request_again(self, call: _Call, now: float) -> None:
        key = call.key
        holder = self._handshaking.get(key)
        if key not in self._sessions and holder is not None and holder in self._calls:
            self._waiting.setdefault(key, []).append(call)
        else:
            self._transmit(call, now)

    def _complete(self, call: _Call, response: Pong | tuple[Enr, ...] | TalkResp, now: float) -> None:
        self._remove_call(call, now)
        if call.owner is _Owner.USER:
            if isinstance(response, tuple):
                for enr in response:
                    self._learn(enr)
            self._events.append(RequestCompleted(call.handle, response))
        elif call.owner is _Owner.LOOKUP:
            assert isinstance(response, tuple)
            for enr in response:
                self._learn(enr)
            state = self._lookups.get(call.lookup)
            if state is not None:
                state.lookup.on_response(call.node_id, list(response))
                self._advance_lookup(call.lookup, now)
        elif call.owner is _Owner.LIVENESS:
            self._liveness.discard(call.node_id)
        elif call.owner is _Owner.ENR_REFRESH and isinstance(response, tuple):
            for enr in response:
                if enr.node_id == call.node_id:
                    self._learn(enr)
                    self.table.update_enr(enr)
                    for key, session in self._sessions.items():
                        if key[0] == enr.node_id and session.enr is not None and session.enr.seq < enr.seq:
                            session.enr = enr

    def _fail(self, call: _Call, reason: str, now: float) -> None:
        self.stats["calls_failed"] += 1
        self._remove_call(call, now)
        if call.owner is _Owner.USER:
            self._events.append(RequestFailed(call.handle, reason))
        elif call.owner is _Owner.LOOKUP:
            state = self._lookups.get(call.lookup)
            if state is not None:
                state.lookup.on_failure(call.node_id)
                self._advance_lookup(call.lookup, now)
        elif call.owner is _Owner.LIVENESS:
            self._liveness.discard(call.node_id)
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
                self._request(enr, FindNode(self._request_id(), tuple(distances)), _Owner.LOOKUP, now, handle)
                if handle not in self._lookups:
                    return
        self._finish_lookup(handle)

    def _finish_lookup(self, handle: int) -> None:
        state = self._lookups.pop(handle, None)
        if state is None:
            return
        for call in list(self._calls.values()):
            if call.owner is _Owner.LOOKUP and call.lookup == handle:
                call.lookup = 0  # let in-flight queries finish without a lookup to report to
        self._events.append(LookupCompleted(handle, tuple(state.lookup.result())))

    # ---- table & records ----------------------------------------------------------------------
    def _learn(self, enr: Enr) -> None:
        if enr.node_id == self.local_id:
            return
        known = self._known.get(enr.node_id)
        if known is not None and known.seq >= enr.seq:
            self._known.move_to_end(enr.node_id)
            return
        self._known[enr.node_id] = enr
        self._known.move_to_end(enr.node_id)
        while len(self._known) > self.config.max_known_enrs:
            self._known.popitem(last=False)
        self._events.append(EnrDiscovered(enr))

    def _known_enr(self, node_id: bytes) -> Enr | None:
        entry = self.table.get(node_id)
        known = self._known.get(node_id)
        if entry is not None and (known is None or entry.enr.seq >= known.seq):
            return entry.enr
        return known

    def _table_insert(self, enr: Enr, now: float) -> None:
        result = self.table.insert(enr, now)
        if result.result is InsertResult.PENDING and result.check is not None:
            self._liveness_check(result.check, now)

    def _liveness_check(self, enr: Enr, now: float) -> None:
        if enr.node_id in self._liveness:
            return
        self._liveness.add(enr.node_id)
        self._request(enr, Ping(self._request_id(), self._enr.seq), _Owner.LIVENESS, now)

    def _refresh_enr(self, enr: Enr, addr: Address, now: float) -> None:
        if any(c.owner is _Owner.ENR_REFRESH and c.node_id == enr.node_id for c in self._calls.values()):
            return
        self._request(enr, FindNode(self._request_id(), (0,)), _Owner.ENR_REFRESH, now)

    # ---- sessions -----------------------------------------------------------------------------
    def _session(self, key: SessionKey, now: float) -> _Session | None:
        session = self._sessions.get(key)
        if session is None:
            return None
        if now - session.established_at > self.config.session_timeout:
            del self._sessions[key]
            return None
        self._sessions.move_to_end(key)
        return session

    def _store_session(self, key: SessionKey, session: _Session) -> None:
        self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > self.config.session_cache_size:
            self._sessions.popitem(last=False)
