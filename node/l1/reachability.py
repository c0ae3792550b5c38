"""Is L1 answering? One endpoint's outage as a state, not as exceptions (sans-IO; time injected).

`L1Reachability` is fed the outcome of every L1 request attempt by the retrying client
(`node.l1.client`): a transport failure (`failure`) or any answer at all, a revert included
(`success`). It goes DOWN after `down_after` consecutive failed attempts (default 1: an attempt
already waited up to the RPC timeout) and UP on the next answer,
and returns the transition so the driver logs exactly one line per state change ("L1 down since ...",
"L1 back after Ns"). `/health` reads `snapshot()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DOWN_AFTER_FAILURES: Final = 1  # a request attempt that got no answer (each waits up to the RPC timeout)


@dataclass(frozen=True, slots=True)
class WentDown:
    since: float  # wall-clock time of the first failed attempt of this outage
    error: str


@dataclass(frozen=True, slots=True)
class CameBack:
    down_for: float  # seconds (monotonic)


Transition = WentDown | CameBack | None


@dataclass
class L1Reachability:
    down_after: int = DOWN_AFTER_FAILURES
    reachable: bool = True
    consecutive_failures: int = 0
    first_failure_at: float | None = None  # monotonic
    first_failure_wall: float | None = None
    down_since_wall: float | None = None
    last_error: str | None = None
    last_ok_wall: float | None = None
    outages: int = 0
    failures: int = 0

    def failure(self, error: str, *, now: float, wall: float) -> Transition:
        self.failures += 1
        self.consecutive_failures += 1
        self.last_error = error
        if self.first_failure_at is None:
            self.first_failure_at, self.first_failure_wall = now, wall
        if self.reachable and self.consecutive_failures >= self.down_after:
            self.reachable = False
            self.outages += 1
            self.down_since_wall = self.first_failure_wall
            return WentDown(self.first_failure_wall or wall, error)
        return None

    def success(self, *, now: float, wall: float) -> Transition:
        self.last_ok_wall = wall
        first = self.first_failure_at
        was_down = not self.reachable
        self.reachable = True
        self.consecutive_failures = 0
        self.first_failure_at = self.first_failure_wall = None
        self.down_since_wall = None
        if was_down:
            return CameBack(max(0.0, now - (first if first is not None else now)))
        return None

    def snapshot(self) -> dict[str, object]:
        return {
            "reachable": self.reachable,
            "downSince": self.down_since_wall,
            "lastError": self.last_error,
            "lastOk": self.last_ok_wall,
            "outages": self.outages,
            "failedAttempts": self.failures,
        }
