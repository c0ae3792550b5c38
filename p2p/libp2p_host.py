"""py-libp2p 0.8.1 behind a narrow interface, configured like an Aztec v0.63.1 node.

Nothing outside this module (and `libp2p_patches.py`) imports `libp2p`. What it sets up:

- TCP transport only, Noise only (`/noise`), muxers yamux (`/yamux/1.0.0`) then mplex (`/mplex/6.7.0`).
- secp256k1 identity (peer ids `16Uiu2...`), from a 32-byte secret (see `p2p.keys` for
  PEER_ID_PRIVATE_KEY parsing).
- Identify served under `/ipfs/id/1.0.0` and Aztec's `/aztec/id/1.0.0` (+ push); dialled under the
  Aztec id (patch in `libp2p_patches.py`).
- GossipSub D=8, Dlo=4, Dhi=12, heartbeat 1 s, mcache 5/3, fanout TTL 60 s, seen TTL 120 s,
  prune/unsubscribe backoff 60/10 s, StrictSign, default message id (from + seqno), raw payloads,
  py-libp2p's non-spec spam rate limiter off, max inbound RPC 4 MiB (as v0.63.1's js peers).
- Gossip validation: a synchronous topic validator per topic (our `TopicHandler`), run before the
  message is forwarded. Messages we published ourselves are passed without intake.
- Scoring: py-libp2p 0.8.1 has a single global set of topic weights, no per-topic params, no
  Dlazy/flood-publish knobs. We zero its topic weights and feed our own `PeerScoring` total (which
  implements Aztec's app score and the per-topic invalid-delivery counters) through its
  app-specific score hook with weight 1, so its graylist (-80) gate excludes the same peers.
- Containment (with a `p2p.containment.PeerGuard`): the patches in `libp2p_patches.py` report every
  inbound stream, gossip message and exception caused by a peer to `_Hooks` here; every negotiated
  protocol is rate-limited per peer; a banned peer is disconnected (the `_enforce` task), its new
  connections are closed and its gossip dropped. An exception in our topic validator drops that
  message only (HighTolerance penalty for the forwarder).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import trio

from p2p import libp2p_patches
from p2p.containment import PeerGuard
from p2p.scoring import PeerErrorSeverity, PeerScoring

log = logging.getLogger(__name__)

NOISE_PROTOCOL: Final = "/noise"
YAMUX_PROTOCOL: Final = "/yamux/1.0.0"
MPLEX_PROTOCOL: Final = "/mplex/6.7.0"
IPFS_IDENTIFY_PUSH_PROTOCOL: Final = "/ipfs/id/push/1.0.0"
MAX_IDENTIFY_SIZE: Final = 64 * 1024
GOSSIPSUB_PROTOCOLS: Final = ("/meshsub/1.1.0", "/meshsub/1.0.0", "/floodsub/1.0.0")
DEFAULT_MAX_INBOUND_RPC_SIZE: Final = 4 * 1024 * 1024  # v0.63.1's it-length-prefixed default: no honest peer sends more


class HostError(Exception):
    """A libp2p operation failed (dial, stream, publish); the message says which."""


@dataclass(frozen=True, slots=True)
class GossipsubParams:
    """Aztec v0.63.1 values (p2p doc 2.1) unless noted."""

    d: int = 8
    d_lo: int = 4
    d_hi: int = 12
    d_lazy: int = 6  # informational: py-libp2p 0.8.1 has no Dlazy knob (gossips to all non-mesh)
    heartbeat_interval_s: int = 1
    mcache_length: int = 5
    mcache_gossip: int = 3
    fanout_ttl_s: int = 60
    seen_ttl_s: int = 120
    prune_backoff_s: int = 60
    unsubscribe_backoff_s: int = 10
    max_inbound_rpc_size: int = DEFAULT_MAX_INBOUND_RPC_SIZE
    graylist_threshold: float = -80.0
    publish_threshold: float = -50.0
    gossip_threshold: float = -10.0


@dataclass(frozen=True, slots=True)
class HostConfig:
    private_key: bytes  # 32-byte secp256k1 secret
    listen_addrs: Sequence[str] = ("/ip4/127.0.0.1/tcp/0",)
    announce_addrs: Sequence[str] = ()
    gossipsub: GossipsubParams = field(default_factory=GossipsubParams)
    muxers: Sequence[str] = (YAMUX_PROTOCOL, MPLEX_PROTOCOL)  # preference order (Aztec: yamux, mplex)


@dataclass(frozen=True, slots=True)
class HostInfo:
    peer_id: str
    listen_addrs: tuple[str, ...]


class Stream(Protocol):
    """The part of a libp2p stream req/resp needs."""

    async def read(self, n: int | None = None) -> bytes: ...
    async def write(self, data: bytes) -> None: ...
    async def close_write(self) -> None: ...
    async def close(self) -> None: ...
    async def reset(self) -> None: ...

    @property
    def remote_peer(self) -> str: ...


# validator(topic, forwarder_peer_id, origin_peer_id, data) -> forward?
TopicValidator = Callable[[str, str, str, bytes], bool]
StreamHandler = Callable[[Stream], Awaitable[None]]


class _StreamAdapter:
    __slots__ = ("_s",)

    def __init__(self, s: Any) -> None:
        self._s = s

    async def read(self, n: int | None = None) -> bytes:
        return bytes(await self._s.read(n))

    async def write(self, data: bytes) -> None:
        await self._s.write(data)

    async def close_write(self) -> None:
        await self._s.close_write()

    async def close(self) -> None:
        await self._s.close()

    async def reset(self) -> None:
        await self._s.reset()

    @property
    def remote_peer(self) -> str:
        return str(self._s.muxed_conn.peer_id)


class _Hooks:
    """`libp2p_patches.FaultHooks` for one host: the PeerGuard's decisions plus the ban queue."""

    def __init__(self, guard: PeerGuard, bans: trio.MemorySendChannel[str]) -> None:
        self.guard = guard
        self._bans = bans
        self.ban_queue_dropped = 0

    def _enforce(self, peer: str, banned: bool) -> None:
        if banned:
            try:
                self._bans.send_nowait(peer)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                self.ban_queue_dropped += 1  # the peer stays banned; the next fault queues it again

    def connection_allowed(self, peer: str) -> bool:
        return self.guard.allow_connection(peer)

    def stream_opened(self, peer: str) -> bool:
        ok = self.guard.open_stream(peer)
        if not ok:
            self._enforce(peer, self.guard.is_banned(peer))
        return ok

    def stream_closed(self, peer: str) -> None:
        self.guard.close_stream(peer)

    def fault(self, peer: str, kind: str, exc: BaseException | str) -> None:
        detail = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self._enforce(peer, self.guard.fault(peer, kind, detail))

    def message_begin(self, peer: str) -> bool:
        ok = self.guard.begin_message(peer)
        if not ok:
            self._enforce(peer, self.guard.is_banned(peer))
        return ok

    def message_end(self, peer: str) -> None:
        self.guard.end_message(peer)

    def envelope_invalid(self, peer: str, topic: str, reason: str) -> None:
        self._enforce(peer, self.guard.envelope_invalid(peer, topic, reason))

    def protocol_allowed(self, peer: str, protocol: str) -> bool:
        ok = self.guard.allow_protocol(peer, protocol)
        if not ok:
            self._enforce(peer, self.guard.is_banned(peer))
        return ok

    def after_gossip(self, peer: str) -> None:
        self._enforce(peer, self.guard.check_ban(peer))


class Libp2pHost:
    """One libp2p host with gossipsub. Construct, then `await nursery.start(host.run)`."""

    def __init__(
        self,
        config: HostConfig,
        *,
        topics: Sequence[str],
        validator: TopicValidator,
        app_score: Callable[[str], float] | None = None,
        guard: PeerGuard | None = None,
    ) -> None:
        libp2p_patches.apply()
        from libp2p import new_host
        from libp2p.crypto.secp256k1 import create_new_key_pair
        from libp2p.crypto.x25519 import create_new_key_pair as create_x25519
        from libp2p.custom_types import TProtocol
        from libp2p.pubsub.gossipsub import GossipSub
        from libp2p.pubsub.pubsub import Pubsub
        from libp2p.pubsub.score import ScoreParams
        from libp2p.security.noise.transport import Transport as NoiseTransport
        from libp2p.stream_muxer.mplex.mplex import Mplex
        from libp2p.stream_muxer.yamux.yamux import Yamux
        from multiaddr import Multiaddr

        self._config = config
        self._topics = tuple(topics)
        self._validator = validator
        self._app_score = app_score
        key_pair = create_new_key_pair(config.private_key)
        sec_opt = {TProtocol(NOISE_PROTOCOL): NoiseTransport(key_pair, noise_privkey=create_x25519().private_key)}
        known: dict[str, Any] = {YAMUX_PROTOCOL: Yamux, MPLEX_PROTOCOL: Mplex}
        unknown = [m for m in config.muxers if m not in known]
        if unknown or not config.muxers:
            raise HostError(f"unsupported muxers {unknown} (supported: {list(known)})")
        muxer_opt: dict[Any, Any] = {TProtocol(m): known[m] for m in config.muxers}
        self._host: Any = new_host(
            key_pair=key_pair,
            sec_opt=sec_opt,
            muxer_opt=muxer_opt,
            listen_addrs=[Multiaddr(a) for a in config.listen_addrs],
            announce_addrs=[Multiaddr(a) for a in config.announce_addrs] or None,
            enable_tcp=True,
        )
        g = config.gossipsub
        score = ScoreParams(
            publish_threshold=g.publish_threshold,
            gossip_threshold=g.gossip_threshold,
            graylist_threshold=g.graylist_threshold,
            accept_px_threshold=10.0,
            p6_appl_slack_weight=1.0,
            p6_appl_slack_decay=1.0,
            app_specific_score_fn=self._score_fn if app_score is not None else None,
        )
        self._router: Any = GossipSub(
            protocols=[TProtocol(p) for p in GOSSIPSUB_PROTOCOLS],
            degree=g.d,
            degree_low=g.d_lo,
            degree_high=g.d_hi,
            time_to_live=g.fanout_ttl_s,
            gossip_window=g.mcache_gossip,
            gossip_history=g.mcache_length,
            heartbeat_interval=g.heartbeat_interval_s,
            prune_back_off=g.prune_backoff_s,
            unsubscribe_back_off=g.unsubscribe_backoff_s,
            score_params=score,
            adaptive_gossip_enabled=False,
            spam_protection_enabled=False,
            eclipse_protection_enabled=False,
        )
        self._pubsub: Any = Pubsub(
            self._host,
            self._router,
            seen_ttl=g.seen_ttl_s,
            strict_signing=True,
            max_inbound_rpc_size=g.max_inbound_rpc_size,
        )
        self.peer_id: str = str(self._host.get_id())
        self._ready = trio.Event()
        self._stream_handlers: dict[str, StreamHandler] = {}
        self.publish_count = 0
        self.drained_count = 0
        if guard is None:  # containment is not optional: a guard with its own scoring
            guard = PeerGuard(scoring=PeerScoring(now=trio.current_time), now=trio.current_time)
        self.guard = guard
        self._ban_send, self._ban_recv = trio.open_memory_channel[str](1024)
        self._hooks: _Hooks | None = _Hooks(guard, self._ban_send)
        # read by libp2p_patches: on the host (streams, gossip) and its swarm (connections)
        setattr(self._host, "_aztec_hooks", self._hooks)  # noqa: B010
        setattr(self._host.get_network(), "_aztec_hooks", self._hooks)  # noqa: B010
        self.validator_errors = 0
        self.disconnected_banned = 0

    # ---- lifecycle -----------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[HostInfo] = trio.TASK_STATUS_IGNORED) -> None:
        from libp2p.custom_types import TProtocol
        from libp2p.identity.identify.identify import identify_handler_for
        from libp2p.identity.identify_push.identify_push import identify_push_handler_for
        from libp2p.tools.anyio_service import background_trio_service
        from multiaddr import Multiaddr

        host = self._host
        async with host.run([Multiaddr(a) for a in self._config.listen_addrs]):
            host.set_stream_handler(
                TProtocol(libp2p_patches.AZTEC_IDENTIFY_PROTOCOL), identify_handler_for(host, use_varint_format=True)
            )
            for push_id in (libp2p_patches.AZTEC_IDENTIFY_PUSH_PROTOCOL, IPFS_IDENTIFY_PUSH_PROTOCOL):
                push = identify_push_handler_for(host, use_varint_format=True)
                if self._hooks is not None:
                    push = self._identify_push_handler(push_id)
                host.set_stream_handler(TProtocol(push_id), push)
            async with background_trio_service(self._pubsub), background_trio_service(self._router):
                await self._pubsub.wait_until_ready()
                async with trio.open_nursery() as nursery:
                    for topic in self._topics:
                        self._pubsub.set_topic_validator(topic, self._make_validator(topic), False)
                        sub = await self._pubsub.subscribe(topic)
                        nursery.start_soon(self._drain, sub)
                    self._gate_protocols()
                    if self._hooks is not None:
                        nursery.start_soon(self._enforce_bans)
                    self._ready.set()
                    task_status.started(self.info())
                    await trio.sleep_forever()

    def info(self) -> HostInfo:
        return HostInfo(self.peer_id, tuple(self.listen_addrs()))

    def listen_addrs(self) -> list[str]:
        return [str(a) for a in self._host.get_addrs()]

    async def _drain(self, sub: Any) -> None:
        # Intake happens in the validator; the subscription only has to be emptied.
        while True:
            await sub.get()
            self.drained_count += 1

    async def _enforce_bans(self) -> None:
        """Disconnect banned peers (the swarm gate then refuses their new connections)."""
        async for peer in self._ban_recv:
            if peer not in self.connected_peers():
                continue
            try:
                await self.disconnect(peer)
                self.disconnected_banned += 1
            except HostError as e:
                log.debug("disconnecting banned %s failed: %s", peer, e)

    def _identify_push_handler(self, protocol: str) -> Any:
        """py-libp2p's identify-push handler, but a push that does not parse (bad length prefix, over
        MAX_IDENTIFY_SIZE, not an Identify protobuf) is the peer's fault, not only a log line."""
        from libp2p.identity.identify.pb.identify_pb2 import Identify
        from libp2p.identity.update import update_peerstore_from_identify
        from libp2p.io.exceptions import IncompleteReadError
        from libp2p.utils.varint import read_varint_prefixed_bytes_limited

        host, hooks = self._host, self._hooks
        assert hooks is not None

        async def _push(stream: Any) -> None:
            peer_id = stream.muxed_conn.peer_id
            try:
                with trio.move_on_after(10.0):
                    data = await read_varint_prefixed_bytes_limited(stream, MAX_IDENTIFY_SIZE)
                    msg = Identify()
                    msg.ParseFromString(data)
                    await update_peerstore_from_identify(host.get_peerstore(), peer_id, msg)
            except Exception as e:
                if libp2p_patches.is_closure(e) and not isinstance(e, IncompleteReadError):
                    return
                hooks.fault(str(peer_id), protocol, e)
                with contextlib.suppress(Exception):
                    await stream.reset()
                return
            with contextlib.suppress(Exception):
                await stream.close()

        return _push

    def _gate_protocols(self) -> None:
        """Wrap every registered protocol handler with the per-peer, per-protocol rate check."""
        for proto, handler in list(self._host.multiselect.handlers.items()):
            self._host.multiselect.handlers[proto] = self._gated(str(proto), handler)

    def _gated(self, protocol: str, handler: Any) -> Any:
        hooks = self._hooks
        if hooks is None or getattr(handler, "_aztec_gated", False):
            return handler

        async def _h(stream: Any) -> None:
            peer = str(stream.muxed_conn.peer_id)
            if not hooks.protocol_allowed(peer, protocol):
                with contextlib.suppress(Exception):
                    await stream.reset()
                return
            try:
                await handler(stream)
            finally:
                hooks.guard.protocol_closed(peer, protocol)

        _h._aztec_gated = True  # type: ignore[attr-defined]
        return _h

    def _score_fn(self, peer: Any) -> float:
        assert self._app_score is not None
        return self._app_score(str(peer))

    def _make_validator(self, topic: str) -> Callable[[Any, Any], bool]:
        from libp2p.peer.id import ID

        me = self._host.get_id()
        validate = self._validator
        hooks = self._hooks

        def _v(forwarder: Any, msg: Any) -> bool:
            if forwarder == me:
                return True  # our own publish: already in our pools
            peer = str(forwarder)
            if hooks is not None and hooks.guard.is_banned(peer):
                return False
            try:
                ok = validate(topic, peer, str(ID(bytes(msg.from_id))), bytes(msg.data))
            except Exception as e:  # our validator's bug or an input it did not foresee: drop this one
                self.validator_errors += 1
                log.warning("topic validator for %s failed on a message from %s: %r", topic, peer, e)
                if hooks is not None:
                    hooks.guard.scoring.penalize(peer, PeerErrorSeverity.HIGH_TOLERANCE)
                ok = False
            if not ok and hooks is not None:
                hooks.after_gossip(peer)
            return ok

        return _v

    # ---- gossip --------------------------------------------------------------------------
    async def publish(self, topic: str, data: bytes) -> None:
        await self._ready.wait()
        try:
            await self._pubsub.publish(topic, data)
        except Exception as e:  # py-libp2p raises assorted types here
            raise HostError(f"publish on {topic} failed: {e!r}") from e
        self.publish_count += 1

    def mesh_peers(self, topic: str) -> list[str]:
        return [str(p) for p in self._router.mesh.get(topic, ())]

    def topic_peers(self, topic: str) -> list[str]:
        return [str(p) for p in self._pubsub.peer_topics.get(topic, ())]

    def subscribed_topics(self) -> list[str]:
        """The topics this host is subscribed to right now (after `run` started)."""
        return [str(t) for t in self._pubsub.topic_ids]

    # ---- connections ---------------------------------------------------------------------
    async def dial(self, multiaddr_with_p2p: str) -> str:
        """Dial `/ip4/.../tcp/.../p2p/<id>`; returns the remote peer id."""
        from libp2p.peer.peerinfo import info_from_p2p_addr
        from multiaddr import Multiaddr

        try:
            info = info_from_p2p_addr(Multiaddr(multiaddr_with_p2p))
        except Exception as e:
            raise HostError(f"bad multiaddr {multiaddr_with_p2p!r}: {e}") from e
        try:
            await self._host.connect(info)
        except Exception as e:
            raise HostError(f"dial {multiaddr_with_p2p} failed: {e!r}") from e
        return str(info.peer_id)

    async def disconnect(self, peer_id: str) -> None:
        from libp2p.peer.id import ID

        try:
            await self._host.disconnect(ID.from_base58(peer_id))
        except Exception as e:
            raise HostError(f"disconnect {peer_id} failed: {e!r}") from e

    def connected_peers(self) -> list[str]:
        return [str(p) for p in self._host.get_connected_peers()]

    def peers_by_direction(self) -> dict[str, int]:
        """Connected peers by who dialed (the first connection's direction as py-libp2p records it)."""
        out = {"inbound": 0, "outbound": 0, "unknown": 0}
        conns = getattr(self._host.get_network(), "connections", {})
        for lst in list(conns.values()):
            conn = lst[0] if isinstance(lst, list) and lst else lst
            d = getattr(conn, "direction", None)
            name = str(getattr(d, "name", d) or "").lower()
            out[name if name in ("inbound", "outbound") else "unknown"] += 1
        return out

    # ---- streams (req/resp) --------------------------------------------------------------
    def set_stream_handler(self, protocol: str, handler: StreamHandler) -> None:
        from libp2p.custom_types import TProtocol

        async def _h(stream: Any) -> None:
            try:
                await handler(_StreamAdapter(stream))
            except Exception as e:  # a bad peer must never take the host down
                with contextlib.suppress(Exception):
                    await stream.reset()
                if libp2p_patches.is_closure(e):
                    log.debug("%s stream from %s ended early: %r", protocol, stream.muxed_conn.peer_id, e)
                elif self._hooks is not None:
                    self._hooks.fault(str(stream.muxed_conn.peer_id), protocol, e)
                else:
                    log.info("stream handler %s failed: %r", protocol, e)

        self._host.set_stream_handler(TProtocol(protocol), self._gated(protocol, _h))

    def statistics(self) -> dict[str, object]:
        st: dict[str, object] = {
            "validator_errors": self.validator_errors,
            "disconnected_banned": self.disconnected_banned,
            # process-wide (libp2p_patches patch 11): envelopes verified once per message, not per copy
            "verified_envelopes": libp2p_patches.verified_envelopes.statistics(),
        }
        if self._hooks is not None:
            st["containment"] = self._hooks.guard.statistics()
            st["ban_queue_dropped"] = self._hooks.ban_queue_dropped
        return st

    async def new_stream(self, peer_id: str, protocol: str) -> Stream:
        from libp2p.custom_types import TProtocol
        from libp2p.peer.id import ID

        try:
            s = await self._host.new_stream(ID.from_base58(peer_id), [TProtocol(protocol)])
        except Exception as e:
            raise HostError(f"open {protocol} to {peer_id} failed: {e!r}") from e
        return _StreamAdapter(s)
