"""Settings and shared types of the discv5 core (sans-IO)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

Address = tuple[str, int]
SessionKey = tuple[bytes, Address]  # (node id, UDP address): sessions are per endpoint
RandomBytes = Callable[[int], bytes]  # n -> n random bytes; `os.urandom` in production, seeded in tests


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


def system_random_bytes(n: int) -> bytes:
    """The default `RandomBytes`: the OS CSPRNG."""
    return os.urandom(n)
