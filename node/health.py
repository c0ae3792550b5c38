"""What `/health` and `/ready` say: a report built from what the components know right now (sans-IO).

Each component registers a probe, a cheap synchronous callable returning a `ComponentHealth`
(healthy or not, a few facts, its last error). `HealthRegistry.report()` folds them into one JSON
document:

    {"status": "ok" | "degraded" | "starting", "ready": bool,
     "l1": {"reachable": ..., "downSince": ..., "lastError": ...} | null,
     "peers": int | null, "broker": {...} | null, "agents": {...} | null,
     "epoch": int | null, "lastError": {"time": ..., "level": ..., "message": ...} | null,
     "components": {name: {"healthy": bool, "error": str | null, ...}}}

`http_response(report, path)`: `/health` is 200 when ready and every component is healthy, else 503;
`/ready` is 200 once every component has started, else 503; `/status` always 200 (the report).
A probe that raises makes its component unhealthy with that error; it never breaks the report.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

# Facts a probe may report that are lifted to the report's top level (first probe wins).
TOP_LEVEL: Final = ("l1", "peers", "broker", "agents", "epoch")


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    healthy: bool
    facts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


Probe = Callable[[], ComponentHealth]


class LastErrorHandler(logging.Handler):
    """Remembers the last WARNING-or-worse log record (what went wrong most recently)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__(logging.WARNING)
        self.clock = clock
        self.last: dict[str, Any] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string in someone's log call must not break logging
            msg = str(record.msg)
        self.last = {"time": record.created, "level": record.levelname.lower(), "logger": record.name,
                     "message": msg[:500]}


class NodeStatus(enum.StrEnum):
    """The report's "status" (the value is the JSON text)."""

    OK = "ok"
    DEGRADED = "degraded"  # running, but a component reports an outage
    STARTING = "starting"  # not every component has started yet


class HealthRegistry:
    def __init__(self) -> None:
        self._probes: dict[str, Probe] = {}
        self.ready = False
        self.errors = LastErrorHandler()

    def add(self, name: str, probe: Probe) -> None:
        self._probes[name] = probe

    def mark_ready(self) -> None:
        self.ready = True

    def report(self) -> dict[str, Any]:
        components: dict[str, Any] = {}
        top: dict[str, Any] = dict.fromkeys(TOP_LEVEL)
        healthy = True
        for name, probe in list(self._probes.items()):
            try:
                h = probe()
            except Exception as e:
                h = ComponentHealth(False, error=f"probe failed: {type(e).__name__}: {e}")
            healthy &= h.healthy
            components[name] = {"healthy": h.healthy, "error": h.error,
                                **{k: v for k, v in h.facts.items() if k not in TOP_LEVEL}}
            for k in TOP_LEVEL:
                if k in h.facts and top[k] is None:
                    top[k] = h.facts[k]
        status = NodeStatus.STARTING if not self.ready else (NodeStatus.OK if healthy else NodeStatus.DEGRADED)
        return {"status": status, "ready": self.ready, **top, "lastError": self.errors.last,
                "components": components}


def http_response(report: dict[str, Any], path: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for GET /health, /ready or /status."""
    if path == "/ready":
        return (200 if report.get("ready") else 503), report
    if path == "/health":
        return (200 if report.get("status") == NodeStatus.OK else 503), report
    return 200, report


# ----- probes for the node's components (each reads state the component already keeps)


def l1_probe(get_client: Callable[[], Any]) -> Probe:
    """L1 reachability from the shared L1Client's `reachability`; the current epoch from its cached
    Rollup timing and wall time."""

    def probe() -> ComponentHealth:
        client = get_client()
        if client is None:
            return ComponentHealth(False, {"l1": {"reachable": None}}, "not connected yet")
        snap = client.reachability.snapshot()
        facts: dict[str, Any] = {"l1": snap}
        timing = getattr(client, "_timing", None)
        if timing is not None:
            facts["epoch"] = int(timing.slot_at(int(time.time()))) // int(timing.epoch_duration)
        ok = bool(snap["reachable"])
        return ComponentHealth(ok, facts, None if ok else f"L1 unreachable: {snap['lastError']}")

    return probe


def p2p_probe(get_client: Callable[[], Any]) -> Probe:
    def probe() -> ComponentHealth:
        client = get_client()
        if client is None:
            return ComponentHealth(False, {"peers": 0}, "p2p not started yet")
        peers = int(client.statistics().get("peers", 0))
        return ComponentHealth(peers > 0, {"peers": peers}, None if peers else "no peers connected")

    return probe


def agents_probe(get_pool: Callable[[], Any]) -> Probe:
    def probe() -> ComponentHealth:
        pool = get_pool()
        if pool is None:
            return ComponentHealth(False, {}, "agents not started yet")
        st = pool.statistics()
        raw = dataclasses.asdict(st) if dataclasses.is_dataclass(st) and not isinstance(st, type) else dict(st)
        facts = {k: v for k, v in raw.items() if isinstance(v, (int, float, str, bool))}
        return ComponentHealth(True, {"agents": facts})

    return probe
