"""Session keys and WHOAREYOU challenges, bounded (sans-IO).

Sessions are keyed by (node id, UDP address); the least recently used is evicted when the cache is
full, and a session older than `session_timeout` is dropped when next looked up. Challenges (one per
peer endpoint) expire after `handshake_timeout`; when `max_challenges` are outstanding the oldest is
dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from p2p.discv5.config import SessionKey
from p2p.enr import Enr


@dataclass(slots=True)
class Session:
    write_key: bytes
    read_key: bytes
    enr: Enr | None
    established_at: float


@dataclass(slots=True)
class Challenge:
    data: bytes  # the WHOAREYOU packet's masking-iv + header: the handshake's challenge-data
    remote_enr: Enr | None
    sent_at: float


class SessionCache:
    def __init__(self, max_size: int, timeout: float) -> None:
        self._max_size = max_size
        self._timeout = timeout
        self._sessions: OrderedDict[SessionKey, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, key: SessionKey) -> bool:
        return key in self._sessions

    def get(self, key: SessionKey, now: float) -> Session | None:
        """The live session for `key` (marked recently used), or None (an expired one is dropped)."""
        session = self._sessions.get(key)
        if session is None:
            return None
        if now - session.established_at > self._timeout:
            del self._sessions[key]
            return None
        self._sessions.move_to_end(key)
        return session

    def store(self, key: SessionKey, session: Session) -> None:
        self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > self._max_size:
            self._sessions.popitem(last=False)

    def drop(self, key: SessionKey) -> None:
        self._sessions.pop(key, None)

    def update_enr(self, enr: Enr) -> None:
        """A newer record of a node replaces the one its sessions carry."""
        for key, session in self._sessions.items():
            if key[0] == enr.node_id and session.enr is not None and session.enr.seq < enr.seq:
                session.enr = enr


class ChallengeCache:
    def __init__(self, max_size: int, timeout: float) -> None:
        self._max_size = max_size
        self._timeout = timeout
        self._challenges: OrderedDict[SessionKey, Challenge] = OrderedDict()

    def __len__(self) -> int:
        return len(self._challenges)

    def pending(self, key: SessionKey, now: float) -> bool:
        """A challenge to `key` is outstanding and not expired (we send one at a time per peer)."""
        existing = self._challenges.get(key)
        return existing is not None and now - existing.sent_at < self._timeout

    def put(self, key: SessionKey, challenge: Challenge) -> None:
        self._challenges[key] = challenge
        self._challenges.move_to_end(key)
        while len(self._challenges) > self._max_size:
            self._challenges.popitem(last=False)

    def take(self, key: SessionKey, now: float) -> Challenge | None:
        """Remove and return the live challenge sent to `key`, if any."""
        challenge = self._challenges.pop(key, None)
        if challenge is None or now - challenge.sent_at > self._timeout:
            return None
        return challenge

    def restore(self, key: SessionKey, challenge: Challenge) -> None:
        """Put a taken challenge back (a forged answer must not cancel the genuine peer's handshake)."""
        self._challenges[key] = challenge

    def expire(self, now: float) -> None:
        for key, challenge in list(self._challenges.items()):
            if now - challenge.sent_at > self._timeout:
                del self._challenges[key]
