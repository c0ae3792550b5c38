"""Peer scoring as Aztec v0.63.1 does it (p2p doc 2.2 and 5), sans-IO.

- App score (`PeerScoring` in Aztec): penalties HighTolerance 2, MidTolerance 10, LowTolerance 50
  (P2P_PEER_PENALTY_VALUES sorted ascending), subtracted from a per-peer score that decays by 0.9
  per minute; weighted by `appSpecificWeight` 10 in the gossipsub score.
- Topic invalid-message deliveries (gossipsub P4, Aztec's tx/attestation/quote topic params):
  weight -20 per invalid delivery, counter decays by 0.5 per second (decayInterval 1 s), counter
  decays to zero below 0.1. Applied to every topic here (Aztec leaves block_proposal out by a
  copy-paste slip; we do not reproduce that).
- Total = 10 * app + sum over topics of (-20 * counter). Graylisted below -80: its gossip is ignored.

Decay is applied lazily from elapsed time on every read, so no timer is needed. Time comes from the
injected `now` callable (trio.current_time in services, a float in tests). Bounded: at most
`max_peers` peers are tracked; the entry closest to zero is dropped when full.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

APP_SPECIFIC_WEIGHT: Final = 10.0
INVALID_MESSAGE_DELIVERIES_WEIGHT: Final = -20.0
INVALID_MESSAGE_DELIVERIES_DECAY: Final = 0.5  # per second
DECAY_TO_ZERO: Final = 0.1
APP_SCORE_DECAY_PER_MINUTE: Final = 0.9
GRAYLIST_THRESHOLD: Final = -80.0


class PeerErrorSeverity(enum.Enum):
    """Aztec's names: 'low tolerance' = severe."""

    LOW_TOLERANCE = "LowToleranceError"
    MID_TOLERANCE = "MidToleranceError"
    HIGH_TOLERANCE = "HighToleranceError"


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    penalty_values: tuple[int, int, int] = (2, 10, 50)  # P2P_PEER_PENALTY_VALUES
    app_specific_weight: float = APP_SPECIFIC_WEIGHT
    invalid_delivery_weight: float = INVALID_MESSAGE_DELIVERIES_WEIGHT
    invalid_delivery_decay: float = INVALID_MESSAGE_DELIVERIES_DECAY
    app_decay_per_minute: float = APP_SCORE_DECAY_PER_MINUTE
    graylist_threshold: float = GRAYLIST_THRESHOLD
    max_peers: int = 10_000

    def penalty(self, severity: PeerErrorSeverity) -> int:
        high, mid, low = sorted(self.penalty_values)
        return {
            PeerErrorSeverity.HIGH_TOLERANCE: high,
            PeerErrorSeverity.MID_TOLERANCE: mid,
            PeerErrorSeverity.LOW_TOLERANCE: low,
        }[severity]


@dataclass(slots=True)
class _PeerState:
    app: float = 0.0
    app_t: float = 0.0
    invalid: dict[str, float] = field(default_factory=dict)
    invalid_t: float = 0.0
    penalties: int = 0
    invalid_deliveries: int = 0


class PeerScoring:
    def __init__(self, config: ScoringConfig | None = None, *, now: Callable[[], float]) -> None:
        self.config = config or ScoringConfig()
        self._now = now
        self._peers: dict[str, _PeerState] = {}
        self._penalties_total = 0
        self._invalid_total = 0
        self._evicted = 0

    def _state(self, peer: str) -> _PeerState:
        st = self._peers.get(peer)
        if st is None:
            if len(self._peers) >= self.config.max_peers:
                self._evict()
            now = self._now()
            st = self._peers[peer] = _PeerState(app_t=now, invalid_t=now)
        return st

    def _evict(self) -> None:
        victim = max(self._peers, key=lambda p: self.score(p))
        del self._peers[victim]
        self._evicted += 1

    def _decay(self, st: _PeerState) -> None:
        now = self._now()
        dt = now - st.app_t
        if dt > 0 and st.app:
            st.app *= self.config.app_decay_per_minute ** (dt / 60.0)
            if abs(st.app) < DECAY_TO_ZERO:
                st.app = 0.0
        st.app_t = now
        dt = now - st.invalid_t
        if dt > 0 and st.invalid:
            f = self.config.invalid_delivery_decay**dt
            for topic in list(st.invalid):
                v = st.invalid[topic] * f
                if v < DECAY_TO_ZERO:
                    del st.invalid[topic]
                else:
                    st.invalid[topic] = v
        st.invalid_t = now

    def penalize(self, peer: str, severity: PeerErrorSeverity) -> None:
        st = self._state(peer)
        self._decay(st)
        st.app -= self.config.penalty(severity)
        st.penalties += 1
        self._penalties_total += 1

    def invalid_delivery(self, peer: str, topic: str) -> None:
        st = self._state(peer)
        self._decay(st)
        st.invalid[topic] = st.invalid.get(topic, 0.0) + 1.0
        st.invalid_deliveries += 1
        self._invalid_total += 1

    def app_score(self, peer: str) -> float:
        st = self._peers.get(peer)
        if st is None:
            return 0.0
        self._decay(st)
        return st.app

    def score(self, peer: str) -> float:
        st = self._peers.get(peer)
        if st is None:
            return 0.0
        self._decay(st)
        c = self.config
        return c.app_specific_weight * st.app + c.invalid_delivery_weight * sum(st.invalid.values())

    def is_graylisted(self, peer: str) -> bool:
        return self.score(peer) < self.config.graylist_threshold

    def forget(self, peer: str) -> None:
        self._peers.pop(peer, None)

    def statistics(self) -> dict[str, object]:
        scores = {p: self.score(p) for p in self._peers}
        return {
            "tracked_peers": len(self._peers),
            "graylisted_peers": sum(1 for s in scores.values() if s < self.config.graylist_threshold),
            "penalties_total": self._penalties_total,
            "invalid_deliveries_total": self._invalid_total,
            "evicted": self._evicted,
        }
