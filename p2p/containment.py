"""Per-peer fault containment, rate limits and bans for the libp2p host (sans-IO; clock injected).

`PeerGuard` is consulted by the host at every point where a remote peer makes us do work:

- a new inbound stream (`open_stream`): refused when the peer is banned, already has
  `max_inbound_streams_per_peer` streams open (memory bound per peer), or opens streams faster than
  `stream_rate` overall or than its protocol's entry in `protocol_rates` (identify, identify push,
  meshsub, ping; req/resp has its own limiter in `p2p.reqresp`). A refused stream is reset; an
  over-rate peer also gets a HighTolerance penalty.
- a gossip message (`begin_message`): at most `max_inflight_messages_per_peer` of a peer's messages
  are being validated/forwarded at once; more are dropped (counted), never queued.
- a fault (`fault`): an exception raised while handling the peer's frame, message or request, or a
  gossip envelope that js gossipsub 13 would reject (`envelope_invalid`). Faults are penalised
  (MidTolerance; an envelope is a topic invalid delivery as in gossipsub) and counted.

A peer is banned (`ban_duration_s`, then forgotten) when its score falls below `ban_score_threshold`
(far below the -80 graylist, so an honest relay that forwarded a few bad messages is only
graylisted), when it causes `ban_after_faults` faults within `fault_window_s`, or when it keeps
sending: `ban_after_graylisted_messages` gossip messages within `fault_window_s` while graylisted
(a graylisted peer's messages are dropped unvalidated, so they would never lower its score further). The driver
(`p2p.libp2p_host`) disconnects a banned peer, refuses its new connections and drops its messages.
Everything is bounded (peers tracked, banned peers); `statistics()` reports it all.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from p2p.gossip import RateLimit, TokenBuckets
from p2p.scoring import PeerErrorSeverity, PeerScoring

log = logging.getLogger(__name__)

IDENTIFY_PROTOCOLS: Final = ("/ipfs/id/1.0.0", "/aztec/id/1.0.0")
IDENTIFY_PUSH_PROTOCOLS: Final = ("/ipfs/id/push/1.0.0", "/aztec/id/push/1.0.0")
MESHSUB_PROTOCOLS: Final = ("/meshsub/1.1.0", "/meshsub/1.0.0", "/floodsub/1.0.0")
PING_PROTOCOLS: Final = ("/ipfs/ping/1.0.0",)


def _default_protocol_rates() -> dict[str, RateLimit]:
    rates: dict[str, RateLimit] = {}
    for p in IDENTIFY_PROTOCOLS:
        rates[p] = RateLimit(1.0, 5)  # one per connection is normal
    for p in IDENTIFY_PUSH_PROTOCOLS:
        rates[p] = RateLimit(1.0, 5)  # sent when the peer's addresses/protocols change
    for p in MESHSUB_PROTOCOLS:
        rates[p] = RateLimit(0.5, 4)  # one long-lived stream per connection
    for p in PING_PROTOCOLS:
        rates[p] = RateLimit(1.0, 5)
    return rates


def _default_protocol_max_open() -> dict[str, int]:
    # js gossipsub keeps one inbound stream per peer (a new one replaces the old); allow a changeover
    return dict.fromkeys(MESHSUB_PROTOCOLS, 2)


@dataclass(frozen=True, slots=True)
class ContainmentConfig:
    ban_duration_s: float = 600.0  # P2P_BAN_DURATION_S
    ban_score_threshold: float = -500.0  # P2P_BAN_SCORE_THRESHOLD (graylist is -80)
    ban_after_faults: int = 5  # P2P_BAN_AFTER_FAULTS: protocol faults within fault_window_s
    fault_window_s: float = 60.0
    max_inbound_streams_per_peer: int = 32  # P2P_MAX_STREAMS_PER_PEER
    stream_rate: RateLimit = field(default_factory=lambda: RateLimit(20.0, 64))  # new inbound streams/s per peer
    protocol_rates: dict[str, RateLimit] = field(default_factory=_default_protocol_rates)
    protocol_max_open: dict[str, int] = field(default_factory=_default_protocol_max_open)  # per peer
    max_inflight_messages_per_peer: int = 256
    ban_after_graylisted_messages: int = 200
    max_tracked_peers: int = 10_000
    max_banned_peers: int = 10_000


@dataclass(slots=True)
class _PeerState:
    streams: int = 0
    inflight: int = 0
    faults: deque[float] = field(default_factory=deque)
    graylisted_msgs: deque[float] = field(default_factory=deque)


class PeerGuard:
    def __init__(
        self,
        config: ContainmentConfig | None = None,
        *,
        scoring: PeerScoring,
        now: Callable[[], float],
    ) -> None:
        self.config = config or ContainmentConfig()
        self.scoring = scoring
        self._now = now
        self._peers: OrderedDict[str, _PeerState] = OrderedDict()
        self._banned: OrderedDict[str, float] = OrderedDict()  # peer -> ban end
        self._buckets = TokenBuckets(self.config.max_tracked_peers)
        self._proto_open: dict[tuple[str, str], int] = {}  # only protocols in protocol_max_open; > 0 only
        self._stats: dict[str, int] = {
            "streams_opened": 0,
            "streams_refused_banned": 0,
            "streams_refused_too_many": 0,
            "streams_refused_rate": 0,
            "messages_dropped_inflight": 0,
            "messages_dropped_banned": 0,
            "faults": 0,
            "envelope_rejected": 0,
            "bans": 0,
            "bans_expired": 0,
            "bans_dropped_full": 0,
            "connections_refused_banned": 0,
            "refused_table_full": 0,
        }
        self.faults_by_kind: dict[str, int] = {}

    # ---- bans -----------------------------------------------------------------------------
    def is_banned(self, peer: str) -> bool:
        end = self._banned.get(peer)
        if end is None:
            return False
        if self._now() >= end:
            del self._banned[peer]
            self._stats["bans_expired"] += 1
            return False
        return True

    def ban(self, peer: str, reason: str) -> bool:
        """Ban `peer` until now + ban_duration_s. Returns True if it was not banned before."""
        fresh = not self.is_banned(peer)
        self._banned.pop(peer, None)
        self._banned[peer] = self._now() + self.config.ban_duration_s
        while len(self._banned) > self.config.max_banned_peers:
            self._banned.popitem(last=False)  # the oldest ban ends early
            self._stats["bans_dropped_full"] += 1
        if fresh:
            self._stats["bans"] += 1
            log.info("banned peer %s for %.0f s: %s", peer, self.config.ban_duration_s, reason)
        return fresh

    def allow_connection(self, peer: str) -> bool:
        if self.is_banned(peer):
            self._stats["connections_refused_banned"] += 1
            return False
        return True

    def check_ban(self, peer: str) -> bool:
        """Ban `peer` if its score is below the ban threshold; True if it is (now) banned."""
        if self.is_banned(peer):
            return True
        score = self.scoring.score(peer)
        if score < self.config.ban_score_threshold:
            self.ban(peer, f"score {score:.0f} < {self.config.ban_score_threshold:.0f}")
            return True
        return False

    # ---- streams --------------------------------------------------------------------------
    def _state(self, peer: str) -> _PeerState | None:
        """The peer's entry; None if the table is full of peers that hold streams/messages open."""
        st = self._peers.get(peer)
        if st is not None:
            self._peers.move_to_end(peer)
            return st
        if len(self._peers) >= self.config.max_tracked_peers:
            # forget the least recently active peer that holds nothing open
            for p, old in self._peers.items():
                if old.streams == 0 and old.inflight == 0:
                    del self._peers[p]
                    break
            else:
                self._stats["refused_table_full"] += 1
                return None
        st = self._peers[peer] = _PeerState()
        return st

    def open_stream(self, peer: str) -> bool:
        """A new inbound stream (before protocol negotiation). False: reset it."""
        if self.is_banned(peer):
            self._stats["streams_refused_banned"] += 1
            return False
        st = self._state(peer)
        if st is None:
            return False
        if st.streams >= self.config.max_inbound_streams_per_peer:
            self._stats["streams_refused_too_many"] += 1
            return False
        if not self._buckets.allow((peer, "*streams"), self.config.stream_rate, self._now()):
            self._stats["streams_refused_rate"] += 1
            self.scoring.penalize(peer, PeerErrorSeverity.HIGH_TOLERANCE)
            self.check_ban(peer)
            return False
        st.streams += 1
        self._stats["streams_opened"] += 1
        return True

    def close_stream(self, peer: str) -> None:
        st = self._peers.get(peer)
        if st is not None and st.streams > 0:
            st.streams -= 1

    def allow_protocol(self, peer: str, protocol: str) -> bool:
        """Per-peer rate (`protocol_rates`) and open-stream cap (`protocol_max_open`) for one negotiated
        protocol. True: call `protocol_closed` when the stream ends."""
        cap = self.config.protocol_max_open.get(protocol)
        if cap is not None and self._proto_open.get((peer, protocol), 0) >= cap:
            self._stats["streams_refused_too_many"] += 1
            return False
        limit = self.config.protocol_rates.get(protocol)
        if limit is not None and not self._buckets.allow((peer, protocol), limit, self._now()):
            self._stats["streams_refused_rate"] += 1
            self.scoring.penalize(peer, PeerErrorSeverity.HIGH_TOLERANCE)
            self.check_ban(peer)
            return False
        if cap is not None:
            self._proto_open[(peer, protocol)] = self._proto_open.get((peer, protocol), 0) + 1
        return True

    def protocol_closed(self, peer: str, protocol: str) -> None:
        n = self._proto_open.get((peer, protocol), 0)
        if n <= 1:
            self._proto_open.pop((peer, protocol), None)
        else:
            self._proto_open[(peer, protocol)] = n - 1

    # ---- gossip messages ------------------------------------------------------------------
    def begin_message(self, peer: str) -> bool:
        if self.is_banned(peer):
            self._stats["messages_dropped_banned"] += 1
            return False
        st = self._state(peer)
        if st is None:
            return False
        if self.scoring.is_graylisted(peer):
            now = self._now()
            q = st.graylisted_msgs
            q.append(now)
            while q and now - q[0] > self.config.fault_window_s:
                q.popleft()
            while len(q) > self.config.ban_after_graylisted_messages:
                q.popleft()
            if len(q) >= self.config.ban_after_graylisted_messages:
                q.clear()
                self.ban(peer, f"{self.config.ban_after_graylisted_messages} messages while graylisted")
                self._stats["messages_dropped_banned"] += 1
                return False
        if st.inflight >= self.config.max_inflight_messages_per_peer:
            self._stats["messages_dropped_inflight"] += 1
            return False
        st.inflight += 1
        return True

    def end_message(self, peer: str) -> None:
        st = self._peers.get(peer)
        if st is not None and st.inflight > 0:
            st.inflight -= 1

    def envelope_invalid(self, peer: str, topic: str, reason: str) -> bool:
        """A message js gossipsub 13 rejects under StrictSign (bad seqno/from/key/signature).
        Counted as an invalid delivery on its topic, as gossipsub scores it. True: peer banned."""
        self._stats["envelope_rejected"] += 1
        self.scoring.invalid_delivery(peer, topic)
        log.debug("rejected gossip envelope from %s on %s: %s", peer, topic, reason)
        return self.check_ban(peer)

    # ---- faults ---------------------------------------------------------------------------
    def fault(self, peer: str, kind: str, detail: str) -> bool:
        """An exception while handling the peer's input (`kind`: protocol or 'gossip').
        Penalised (MidTolerance) and counted; True if the peer is (now) banned."""
        self._stats["faults"] += 1
        self.faults_by_kind[kind] = self.faults_by_kind.get(kind, 0) + 1
        if len(self.faults_by_kind) > 64:  # protocol names come from us, but stay bounded
            self.faults_by_kind.pop(next(iter(self.faults_by_kind)))
        self.scoring.penalize(peer, PeerErrorSeverity.MID_TOLERANCE)
        log.info("fault from peer %s on %s: %s", peer, kind, detail[:200])
        if self.is_banned(peer):
            return True
        now = self._now()
        st = self._state(peer)
        if st is None:
            return self.check_ban(peer)
        st.faults.append(now)
        while st.faults and now - st.faults[0] > self.config.fault_window_s:
            st.faults.popleft()
        while len(st.faults) > self.config.ban_after_faults:
            st.faults.popleft()
        if len(st.faults) >= self.config.ban_after_faults:
            st.faults.clear()
            self.ban(peer, f"{self.config.ban_after_faults} faults within {self.config.fault_window_s:.0f} s")
            return True
        return self.check_ban(peer)

    def banned_peers(self) -> list[str]:
        return [p for p in list(self._banned) if self.is_banned(p)]

    def statistics(self) -> dict[str, object]:
        return {
            **self._stats,
            "banned_now": len(self.banned_peers()),
            "tracked_peers": len(self._peers),
            "open_streams": sum(st.streams for st in self._peers.values()),
            "inflight_messages": sum(st.inflight for st in self._peers.values()),
            "faults_by_kind": dict(self.faults_by_kind),
        }
