"""Every runtime change we make to py-libp2p 0.8.1, in one place, one comment each.

`apply()` is idempotent and is called by `p2p.libp2p_host` before a host is built. Nothing else in
the code base touches py-libp2p internals.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import weakref
from collections import OrderedDict
from typing import Any, Final, Protocol

log = logging.getLogger(__name__)

AZTEC_IDENTIFY_PROTOCOL: Final = "/aztec/id/1.0.0"
AZTEC_IDENTIFY_PUSH_PROTOCOL: Final = "/aztec/id/push/1.0.0"
SUBSCRIPTION_CHANNEL_SIZE: Final = 256

_applied = False
SEQNO_LENGTH: Final = 8  # js gossipsub 13 (StrictSign) rejects any other length as InvalidSeqno
VERIFIED_ENVELOPES_MAX: Final = 8192  # ~ 2 minutes of messages at 60/s (gossipsub's seen TTL is 120 s)
SENDER_RECORDS_MAX: Final = 1024  # peers whose last signed peer record we remember (patch 13)
SENDER_RECORD_REUSE_S: Final = 5.0  # patch 14: our own signed peer record re-read at most this often
SENDER_RECORD_RECHECK_S: Final = 600.0  # re-consume an unchanged record this often (its peerstore TTL is 2 h)


class FaultHooks(Protocol):
    """What the patches below report to, set by `p2p.libp2p_host` as `_aztec_hooks` on a BasicHost and
    on its Swarm. Hosts without hooks (third-party test hosts) keep py-libp2p's behaviour."""

    def connection_allowed(self, peer: str) -> bool: ...
    def stream_opened(self, peer: str) -> bool: ...
    def stream_closed(self, peer: str) -> None: ...
    def fault(self, peer: str, kind: str, exc: BaseException | str) -> None: ...
    def message_begin(self, peer: str) -> bool: ...
    def message_end(self, peer: str) -> None: ...
    def envelope_invalid(self, peer: str, topic: str, reason: str) -> None: ...


def _hooks(obj: Any) -> FaultHooks | None:
    h: FaultHooks | None = getattr(obj, "_aztec_hooks", None)
    return h


def _stream_hooks(stream: Any) -> FaultHooks | None:
    swarm_conn = getattr(stream, "swarm_conn", None)
    return _hooks(getattr(swarm_conn, "swarm", None))


def _peer_of(stream: Any) -> str:
    try:
        return str(stream.muxed_conn.peer_id)
    except Exception:
        return "?"


def is_closure(exc: BaseException) -> bool:
    """The stream or connection ended (peer reset/closed it, EOF mid-read): not a protocol fault.
    Honest peers do this (timeouts, shutdown); malformed input is everything else."""
    import trio
    from libp2p.io.exceptions import ConnectionClosedError, IncompleteReadError
    from libp2p.network.connection.exceptions import RawConnError
    from libp2p.network.stream.exceptions import StreamError
    from libp2p.stream_muxer.exceptions import MuxedConnError, MuxedStreamError

    closures = (
        StreamError,
        MuxedStreamError,
        MuxedConnError,
        RawConnError,
        ConnectionClosedError,
        IncompleteReadError,
        trio.BrokenResourceError,
        trio.ClosedResourceError,
    )
    return isinstance(exc, closures)


RPC_CHECK_ABOVE: Final = 512  # bytes: a smaller RPC cannot hold enough entries to matter
RPC_MAX_PUBLISH: Final = 256  # messages in one RPC (js gossipsub sends what it has queued: a few)
RPC_MAX_CONTROL: Final = 256  # ihave + iwant + graft + prune (+ idontwant) entries in one RPC
RPC_MAX_IDS: Final = 10_000  # message ids over all its ihave/iwant entries (gossipsub's MaxIHaveLength: 5,000)


def rpc_over_limits(data: bytes) -> str | None:
    """Why a pubsub RPC (protobuf bytes) holds more than an honest peer sends, or None. Undecodable
    bytes are left to py-libp2p (None)."""
    from libp2p.pubsub.pb import rpc_pb2

    rpc = rpc_pb2.RPC()
    try:
        rpc.ParseFromString(data)
    except Exception:
        return None
    if len(rpc.publish) > RPC_MAX_PUBLISH:
        return f"{len(rpc.publish)} published messages in one RPC (limit {RPC_MAX_PUBLISH})"
    if not rpc.HasField("control"):
        return None
    entries = ids = 0
    for field, value in rpc.control.ListFields():
        if hasattr(value, "ListFields"):  # (a singular message field: extensions)
            continue
        entries += len(value)
        if field.name in ("ihave", "iwant", "idontwant"):
            ids += sum(len(e.messageIDs) for e in value)
    if entries > RPC_MAX_CONTROL:
        return f"{entries} control entries in one RPC (limit {RPC_MAX_CONTROL})"
    if ids > RPC_MAX_IDS:
        return f"{ids} message ids in one RPC's control entries (limit {RPC_MAX_IDS})"
    return None


def envelope_problem(msg: Any) -> str | None:
    """Why js gossipsub 13 (`validateToRawMessage`, StrictSign) would reject this message, or None.

    Checks, in js order: seqno present and 8 bytes (InvalidSeqno); signature present (InvalidSignature);
    `from` present and a peer id (InvalidPeerId); `key`, if present, a public key matching `from`, else a
    key embedded in `from` (InvalidPeerId); the signature over the message without key/signature
    (InvalidSignature). Also exactly one topic: js decodes `topic` as a single field, so a message
    signed over several topics never verifies there. Never raises: what cannot be checked is invalid."""
    try:
        return _envelope_problem(msg)
    except Exception as e:  # e.g. a topic id that is not UTF-8 (proto2 hands it over as bytes)
        return f"undecodable envelope: {type(e).__name__}"


class VerifiedEnvelopes:
    """Messages whose envelope passed `envelope_problem`, keyed by (from, seqno) and holding what the
    signature covers plus the signature and key, so an identical copy (gossipsub delivers each message
    once per mesh peer) is known valid without a second ECDSA verify. Only an exact match counts: a
    copy with other data, topic, key or signature is checked in full (same verdict as without the
    cache). Bounded: least recently added dropped past `max_entries`."""

    def __init__(self, max_entries: int = VERIFIED_ENVELOPES_MAX) -> None:
        self.max_entries = max_entries
        self._known: OrderedDict[tuple[bytes, bytes], tuple[bytes, bytes, tuple[str, ...], bytes]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _entry(msg: Any) -> tuple[bytes, bytes, tuple[str, ...], bytes]:
        return (bytes(msg.signature), bytes(msg.key), tuple(msg.topicIDs), hashlib.sha256(msg.data).digest())

    def known(self, msg: Any) -> bool:
        try:
            entry = self._known.get((bytes(msg.from_id), bytes(msg.seqno)))
            ok = entry is not None and entry == self._entry(msg)
        except Exception:  # an odd field (e.g. a non-UTF-8 topic): not known, checked in full
            ok = False
        if ok:
            self.hits += 1
        else:
            self.misses += 1
        return ok

    def statistics(self) -> dict[str, int]:
        """Entries held (at most max_entries; the oldest is dropped) and exact-copy hits/misses."""
        return {"entries": len(self._known), "max_entries": self.max_entries, "hits": self.hits,
                "misses": self.misses}

    def remember(self, msg: Any) -> None:
        try:
            self._known[(bytes(msg.from_id), bytes(msg.seqno))] = self._entry(msg)
        except Exception:
            return
        if len(self._known) > self.max_entries:
            self._known.popitem(last=False)


verified_envelopes = VerifiedEnvelopes()


def _envelope_problem(msg: Any) -> str | None:
    from libp2p.crypto.serialization import deserialize_public_key
    from libp2p.peer.id import ID
    from libp2p.pubsub.pb import rpc_pb2
    from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX

    if len(msg.topicIDs) != 1:
        return f"{len(msg.topicIDs)} topics"
    if len(msg.seqno) != SEQNO_LENGTH:
        return f"InvalidSeqno: {len(msg.seqno)}-byte seqno"
    if not msg.signature:
        return "InvalidSignature: no signature"
    if not msg.from_id:
        return "InvalidPeerId: no from"
    try:
        sender = ID(bytes(msg.from_id))
        embedded = sender.extract_public_key()
        if msg.key:
            key = deserialize_public_key(bytes(msg.key))
            if ID.from_pubkey(key) != sender:
                return "InvalidPeerId: key does not match from"
        elif embedded is not None:
            key = embedded
        else:
            return "InvalidPeerId: no key and none in from"
    except Exception as e:
        return f"InvalidPeerId: {type(e).__name__}"
    unsigned = rpc_pb2.Message(data=msg.data, topicIDs=msg.topicIDs, from_id=msg.from_id, seqno=msg.seqno)
    try:
        ok = key.verify(PUBSUB_SIGNING_PREFIX.encode() + unsigned.SerializeToString(), bytes(msg.signature))
    except Exception:
        ok = False
    return None if ok else "InvalidSignature"


def apply() -> None:
    global _applied
    if _applied:
        return
    import libp2p.host.basic_host as basic_host
    import libp2p.pubsub.gossipsub as gossipsub
    import libp2p.pubsub.pubsub as pubsub
    from libp2p.custom_types import TProtocol

    # 1. Outbound identify: Aztec (js identify with protocolPrefix 'aztec') only serves
    #    /aztec/id/1.0.0; py-libp2p dials the module-global `IdentifyID` (/ipfs/id/1.0.0), which makes
    #    every connection to an Aztec node log a failed negotiation. Our own hosts serve both ids.
    basic_host.IdentifyID = TProtocol(AZTEC_IDENTIFY_PROTOCOL)  # type: ignore[attr-defined]

    # 2. GossipSub._check_equivocation is a non-spec check that stores every message ever seen in a
    #    dict that is never pruned (unbounded memory). Under StrictSign the signature already binds
    #    from+seqno to the content, so the check adds nothing: make it a no-op.
    def _no_equivocation_check(self: Any, msg: Any) -> bool:
        return True

    gossipsub.GossipSub._check_equivocation = _no_equivocation_check  # type: ignore[method-assign]

    # 3. The per-topic subscription channel is only 32 deep and drops (with a warning per message)
    #    when the reader lags. Our intake happens in the topic validator and the subscription is only
    #    drained, but a deeper channel keeps bursts from spamming warnings.
    pubsub.SUBSCRIPTION_CHANNEL_SIZE = SUBSCRIPTION_CHANNEL_SIZE

    # 4. pubsub.signature_validator raises instead of answering False when a message's `key` field is
    #    not a valid public key (ValueError from coincurve) or a topic id is not UTF-8 (proto2 hands it
    #    over as bytes, rebuilding the signed payload raises UnicodeDecodeError); in push_msg that
    #    exception ends pubsub (found by bench/fuzz_long.py). A signature we cannot check is invalid.
    _signature_validator = pubsub.signature_validator  # type: ignore[attr-defined]

    def _signature_validator_no_raise(msg: Any) -> bool:
        if verified_envelopes.known(msg):  # patch 11: patch 7 just verified this exact message
            return True
        try:
            return bool(_signature_validator(msg))
        except Exception:
            return False

    pubsub.signature_validator = _signature_validator_no_raise  # type: ignore[attr-defined]

    _apply_containment()
    _apply_per_message_costs()
    _apply_iwant_limits()
    _applied = True


IWANT_MAX_IDS: Final = 500  # distinct message ids served per IWANT (go-libp2p caps IHAVE at 5,000)
IWANT_RETRANSMISSIONS: Final = 3  # times one peer gets one message by IWANT (go: GossipSubGossipRetransmission)
IWANT_COUNTS_MAX: Final = 65_536  # (peer, message id) pairs remembered for that


class IwantLimiter:
    """Which ids of a peer's IWANT to serve: each id once per request, at most IWANT_MAX_IDS, and a
    message at most IWANT_RETRANSMISSIONS times to the same peer (bounded memory, oldest forgotten)."""

    def __init__(self, max_pairs: int = IWANT_COUNTS_MAX) -> None:
        self.max_pairs = max_pairs
        self._served: OrderedDict[tuple[str, Any], int] = OrderedDict()
        self.refused = 0

    def allow(self, peer: str, ids: Any) -> list[Any]:
        out: list[Any] = []
        for mid in dict.fromkeys(ids):
            if len(out) >= IWANT_MAX_IDS:
                self.refused += 1
                break
            key = (peer, mid)
            n = self._served.get(key, 0)
            if n >= IWANT_RETRANSMISSIONS:
                self.refused += 1
                continue
            self._served[key] = n + 1
            self._served.move_to_end(key)
            out.append(mid)
        while len(self._served) > self.max_pairs:
            self._served.popitem(last=False)
        return out


def _apply_iwant_limits() -> None:
    """16. GossipSub.handle_iwant answered every id of an IWANT from the message cache, repeats
    included, with no cap: one ~100 KB cached message named 2,000 times in a 98 KB IWANT made the node
    build (and copy twice) a 200 MB reply and stall the loop; at the 16 MiB RPC limit it runs out of
    memory (found by review). Now each id is served once per IWANT, at most IWANT_MAX_IDS of them, and
    a message at most IWANT_RETRANSMISSIONS times per peer (go-libp2p's rules)."""
    import libp2p.pubsub.gossipsub as gossipsub
    from libp2p.pubsub.pb import rpc_pb2

    orig = gossipsub.GossipSub.handle_iwant
    limiter = IwantLimiter()

    async def _handle_iwant(self: Any, iwant_msg: Any, sender_peer_id: Any) -> None:
        ids = list(iwant_msg.messageIDs)
        keep = limiter.allow(str(sender_peer_id), ids)
        if not keep:
            return
        if len(keep) != len(ids):
            iwant_msg = rpc_pb2.ControlIWant(messageIDs=keep)
        await orig(self, iwant_msg, sender_peer_id)

    gossipsub.GossipSub.handle_iwant = _handle_iwant  # type: ignore[method-assign]


def _apply_containment() -> None:
    """Patches 5-10 (4 is main's signature-validator patch): no exception raised while handling one
    peer's input may leave that peer's handler (py-libp2p lets them escape into the connection
    nursery, which ends the host)."""
    import libp2p.host.basic_host as basic_host
    import libp2p.network.swarm as swarm
    import libp2p.pubsub.pubsub as pubsub
    from libp2p.exceptions import ParseError
    from libp2p.io.exceptions import MessageTooLarge
    from libp2p.network.exceptions import SwarmException

    # 5. Every inbound stream, whatever its protocol (meshsub, identify, identify push, ping, req/resp):
    #    the hooks may refuse it first (peer banned, too many open streams, opening them too fast), and
    #    an exception from negotiation or from the protocol's handler resets that stream and is
    #    reported as the peer's fault instead of ending the connection's nursery (and the host).
    orig_stream_handler = basic_host.BasicHost._swarm_stream_handler

    async def _swarm_stream_handler(self: Any, net_stream: Any) -> None:
        hooks = _hooks(self)
        if hooks is None:
            await orig_stream_handler(self, net_stream)
            return
        peer = _peer_of(net_stream)
        if not hooks.stream_opened(peer):
            with contextlib.suppress(Exception):
                await net_stream.reset()
            return
        try:
            await orig_stream_handler(self, net_stream)
        except Exception as e:
            if not is_closure(e):
                hooks.fault(peer, str(getattr(net_stream, "protocol_id", None) or "stream"), e)
            with contextlib.suppress(Exception):
                await net_stream.reset()
        finally:
            hooks.stream_closed(peer)

    basic_host.BasicHost._swarm_stream_handler = _swarm_stream_handler  # type: ignore[method-assign]

    # 6. Pubsub.stream_handler only catches stream/varint errors: a frame that does not parse as an
    #    RPC (google.protobuf DecodeError, e.g. `03 0a 0b 0c`) or an error in the router's control
    #    handling escaped it. Now any exception drops that stream and the peer's pubsub state (as
    #    py-libp2p does for a read error) and is reported as a fault.
    orig_pubsub_stream_handler = pubsub.Pubsub.stream_handler

    async def _pubsub_stream_handler(self: Any, stream: Any) -> None:
        try:
            await orig_pubsub_stream_handler(self, stream)
        except Exception as e:
            peer_id = stream.muxed_conn.peer_id
            with contextlib.suppress(Exception):
                await stream.reset()
            with contextlib.suppress(Exception):
                self._handle_dead_peer(peer_id)
            hooks = _hooks(self.host)
            if is_closure(e):
                pass
            elif hooks is not None:
                hooks.fault(str(peer_id), "meshsub", e)
            else:
                log.info("pubsub stream from %s dropped: %r", peer_id, e)

    pubsub.Pubsub.stream_handler = _pubsub_stream_handler  # type: ignore[method-assign]

    # 7. push_msg runs as a pubsub service task per received message; an exception in it (a topic
    #    validator raising, a key that does not deserialize in the signature check, ...) cancelled
    #    the whole pubsub service. Now: (a) the gossip envelope is checked as js gossipsub 13 does
    #    under StrictSign (8-byte seqno, from/key/signature; `envelope_problem`) and a failing message
    #    is rejected and scored as an invalid delivery, never forwarded; (b) at most a bounded number
    #    of one peer's messages are in flight (the hooks drop the rest); (c) any exception drops only
    #    that message and is reported as the forwarder's fault. Our own publishes pass unchanged.
    orig_push_msg = pubsub.Pubsub.push_msg

    async def _push_msg(self: Any, msg_forwarder: Any, msg: Any) -> None:
        hooks = _hooks(self.host)
        if msg_forwarder == self.host.get_id():
            await orig_push_msg(self, msg_forwarder, msg)
            return
        if hooks is None:  # a host that is not ours: contain only
            try:
                await orig_push_msg(self, msg_forwarder, msg)
            except Exception as e:
                log.info("gossip message from %s dropped: %r", msg_forwarder, e)
            return
        peer = str(msg_forwarder)
        if self.strict_signing and not verified_envelopes.known(msg):  # patch 11: copies verified once
            problem = envelope_problem(msg)
            if problem is not None:
                topic = msg.topicIDs[0] if len(msg.topicIDs) else ""
                hooks.envelope_invalid(peer, topic if isinstance(topic, str) else repr(topic), problem)
                return
            verified_envelopes.remember(msg)
        if not hooks.message_begin(peer):
            return
        try:
            await orig_push_msg(self, msg_forwarder, msg)
        except Exception as e:
            hooks.fault(peer, "gossip", e)
        finally:
            hooks.message_end(peer)

    pubsub.Pubsub.push_msg = _push_msg  # type: ignore[method-assign]

    # 8. An inbound RPC whose length prefix exceeds the limit, or is not a valid varint, is handled by
    #    py-libp2p (stream reset) but not charged to anyone: report it as the peer's fault first.
    orig_read_limited = pubsub.read_varint_prefixed_bytes_limited  # type: ignore[attr-defined]

    # 15. (here too) An RPC holding more entries than an honest peer sends is dropped whole, before
    #     py-libp2p starts a task per published message (its task manager scans every task it runs
    #     for each new one: 10,000 tiny messages in one 1.7 MB RPC held the loop 40 s, quadratic) or
    #     walks the control entries (200,000 empty IWANTs: 4.8 s and a warning each), and charged to
    #     the peer (found by review). `rpc_over_limits` says what is too much.
    async def _read_limited(reader: Any, max_length: int) -> bytes:
        try:
            data: bytes = await orig_read_limited(reader, max_length)
        except (MessageTooLarge, ParseError) as e:
            hooks = _stream_hooks(reader)
            if hooks is not None:
                hooks.fault(_peer_of(reader), "meshsub", e)
            raise
        if len(data) > RPC_CHECK_ABOVE:
            problem = rpc_over_limits(data)
            if problem is not None:
                hooks = _stream_hooks(reader)
                if hooks is not None:
                    hooks.fault(_peer_of(reader), "meshsub", problem)
                return b""  # (an empty RPC: nothing to do)
        return data

    pubsub.read_varint_prefixed_bytes_limited = _read_limited  # type: ignore[attr-defined]

    # 9. Outbound identify runs as a trio *system* task (spawn_system_task): an exception escaping it is
    #    a TrioInternalError that ends the whole run. py-libp2p catches most errors inside; this makes
    #    sure nothing a peer's identify answer causes can escape.
    orig_identify_entry = basic_host.BasicHost._identify_task_entry

    async def _identify_task_entry(self: Any, peer_id: Any, reason: str) -> None:
        try:
            await orig_identify_entry(self, peer_id, reason)
        except Exception as e:
            hooks = _hooks(self)
            if hooks is not None:
                hooks.fault(str(peer_id), "identify", e)
            else:
                log.info("identify of %s failed: %r", peer_id, e)

    basic_host.BasicHost._identify_task_entry = _identify_task_entry  # type: ignore[method-assign]

    # 10. Connection gate by peer id: a banned peer's connection (inbound or outbound) is closed as
    #    soon as its peer id is known (after the security handshake), before any stream is served.
    orig_add_conn = swarm.Swarm.add_conn

    async def _add_conn(self: Any, muxed_conn: Any, direction: str = "unknown") -> Any:
        hooks = _hooks(self)
        if hooks is not None and not hooks.connection_allowed(str(muxed_conn.peer_id)):
            with contextlib.suppress(Exception):
                await muxed_conn.close()
            raise SwarmException(f"peer {muxed_conn.peer_id} is banned")
        return await orig_add_conn(self, muxed_conn, direction)

    swarm.Swarm.add_conn = _add_conn  # type: ignore[method-assign]


def _apply_per_message_costs() -> None:
    """Patches 11-14: py-libp2p work per gossip message that the propagation profile (issue 15,
    bench/p2p_propagation.py --profile) showed and that changes nothing on the wire or in any verdict."""
    import libp2p.pubsub.gossipsub as gossipsub
    import libp2p.pubsub.pubsub as pubsub
    import libp2p.stream_muxer.yamux.yamux as yamux

    # 11. (in patches 4 and 7 above) Each message arrives once per mesh peer (up to D=8 copies) and
    #     patch 7 checked every copy's envelope, an ECDSA verify plus a protobuf re-encode of the
    #     payload, before py-libp2p's seen check; py-libp2p then verified the first copy's signature a
    #     second time. `verified_envelopes` remembers each verified (from, seqno) with its signature,
    #     key, topic and a digest of the data: an exact copy skips both verifies.

    # 12. Yamux window updates: py-libp2p 0.8.1 defaults PY_YAMUX_RELEASE_ON_READ to on, which sends a
    #     WINDOW_UPDATE frame (one more noise-encrypted write) after every read that leaves the window
    #     above half, i.e. one per gossip message per stream. go-yamux and js-yamux send one when half
    #     the window is consumed; so do we now (the hysteresis path below it). The PY_YAMUX_* tuning
    #     variables are read once here instead of several os.getenv calls per read.
    release_on_read = yamux._yamux_release_on_read() if yamux._py_yamux_env_set("RELEASE_ON_READ") else False
    hysteresis_off = yamux._yamux_disable_hysteresis()
    divisor = yamux._yamux_batch_threshold_divisor()
    perf_debug = yamux._perf_yamux_debug_enabled()
    yamux._yamux_release_on_read = lambda: release_on_read
    yamux._yamux_disable_hysteresis = lambda: hysteresis_off
    yamux._yamux_batch_threshold_divisor = lambda: divisor
    yamux._perf_yamux_debug_enabled = lambda: perf_debug

    # 13. py-libp2p peers attach their signed peer record (an Envelope) to every pubsub RPC and the
    #     receiver verified its signature on every RPC (`maybe_consume_signed_record`). An unchanged
    #     record from the same peer is now consumed once per SENDER_RECORD_RECHECK_S (its peerstore TTL
    #     is 2 h); a new or changed one is checked as before.
    orig_consume = pubsub.maybe_consume_signed_record  # type: ignore[attr-defined]
    last: OrderedDict[Any, tuple[bytes, float]] = OrderedDict()

    def _consume_once(msg: Any, host: Any, peer_id: Any) -> bool:
        if not msg.HasField("senderRecord"):
            return True
        record = bytes(msg.senderRecord)
        now = time.monotonic()
        seen = last.get(peer_id)
        if seen is not None and seen[0] == record and now - seen[1] < SENDER_RECORD_RECHECK_S:
            return True
        ok = bool(orig_consume(msg, host, peer_id))
        if ok:
            last[peer_id] = (record, now)
            last.move_to_end(peer_id)
            if len(last) > SENDER_RECORDS_MAX:
                last.popitem(last=False)
        return ok

    pubsub.maybe_consume_signed_record = _consume_once  # type: ignore[attr-defined]
    gossipsub.maybe_consume_signed_record = _consume_once  # type: ignore[attr-defined]

    # 14. Every RPC pubsub sends (each forwarded message, each control message) carries our signed
    #     peer record, and `env_to_send_in_RPC` re-read and re-parsed the host's listen multiaddrs each
    #     time to see whether the cached record is still current. The answer is now reused for
    #     SENDER_RECORD_REUSE_S (a changed listen address reaches peers that much later; the record
    #     itself is still made and signed by py-libp2p).
    import libp2p.pubsub.floodsub as floodsub

    orig_env = pubsub.env_to_send_in_RPC  # type: ignore[attr-defined]
    own: weakref.WeakKeyDictionary[Any, tuple[bytes, float]] = weakref.WeakKeyDictionary()

    def _env_reused(host: Any) -> tuple[bytes, bool]:
        now = time.monotonic()
        hit = own.get(host)
        if hit is not None and now - hit[1] < SENDER_RECORD_REUSE_S:
            return hit[0], False
        envelope, fresh = orig_env(host)
        with contextlib.suppress(TypeError):  # a host that cannot be weakly referenced: not cached
            own[host] = (envelope, now)
        return envelope, fresh

    for module in (pubsub, gossipsub, floodsub):
        module.env_to_send_in_RPC = _env_reused  # type: ignore[attr-defined]
