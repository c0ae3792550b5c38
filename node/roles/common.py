"""Once-per-node components several roles need (the L1 connection, the archiver)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.components import Context, Deferred, need
from node.health import ComponentHealth, l1_probe
from node.startup import L1Connection
from node.supervisor import Named

if TYPE_CHECKING:
    from node.archiver import Archiver


def _ensure_l1(ctx: Context) -> list[Named]:
    """The L1 connection, once per node, before the first component that needs it."""
    if ctx.l1_added:
        return []
    ctx.l1_added = True
    ctx.health.add("l1", l1_probe(lambda: ctx.l1))
    return [Named("l1", L1Connection(ctx))]


def _ensure_archiver(ctx: Context) -> list[Named]:
    if ctx.archiver_added:
        return []
    ctx.archiver_added = True

    async def make() -> Archiver:
        from node.archiver import Archiver

        archiver = Archiver(
            need(ctx.l1, "the L1 client"),
            data_directory=ctx.config.data_directory,
            polling_interval=max(0.2, ctx.config.prover_node_polling_interval_ms / 1000),
        )
        ctx.archiver = archiver
        ctx.health.add("archiver", lambda: ComponentHealth(True, {"tip": archiver.block_number(),
                                                                   **_numbers(archiver.statistics())}))
        return archiver

    return [*_ensure_l1(ctx), Named("archiver", Deferred(make))]


def _numbers(stats: Any) -> dict[str, Any]:
    import dataclasses
    import json

    d = dataclasses.asdict(stats) if dataclasses.is_dataclass(stats) and not isinstance(stats, type) else stats
    out: dict[str, Any] = json.loads(json.dumps(d, default=str)) if isinstance(d, dict) else {}
    return out
