"""Turns (config, selected roles) into the ordered component list the supervisor runs.

Every role has one builder. Builders share a `Context` (metrics registry, JSON-RPC dispatcher, and
the components other roles expose, e.g. the P2P client the prover node sends quotes through).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from node.config import ConfigError, NodeConfig
from node.http import HttpServer, JsonRpcDispatcher
from node.metrics import OtlpPusher, build_info, new_registry
from node.supervisor import Named

log = logging.getLogger("node.components")

# Start order: infrastructure first, then the roles that others depend on.
ROLE_ORDER = ("devnet", "p2p_bootstrap", "prover_broker", "archiver", "p2p", "prover", "prover_node", "sequencer")


@dataclass
class Context:
    config: NodeConfig
    roles: set[str]
    registry: CollectorRegistry = field(default_factory=new_registry)
    rpc: JsonRpcDispatcher = field(default_factory=JsonRpcDispatcher)
    shared: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=lambda: {"status": "ok"})


Builder = Callable[[Context], list[Named]]
BUILDERS: dict[str, Builder] = {}


def builder(role: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[role] = fn
        return fn

    return register


def build_components(config: NodeConfig, roles: set[str]) -> list[Named]:
    unknown = roles - set(ROLE_ORDER)
    if unknown:
        raise ConfigError(f"unknown roles {sorted(unknown)}")
    missing = [r for r in ROLE_ORDER if r in roles and r not in BUILDERS]
    if missing:
        flags = ", ".join("--" + r.replace("_", "-") for r in missing)
        raise ConfigError(f"{flags}: not available in this build yet")
    ctx = Context(config, roles)
    components: list[Named] = []
    for role in ROLE_ORDER:
        if role in roles:
            components += BUILDERS[role](ctx)
    build_info(ctx.registry, sorted(roles))
    components.append(
        Named("http", HttpServer(config.aztec_host, config.aztec_port, ctx.rpc, ctx.registry, lambda: ctx.health))
    )
    if config.otel_metrics_endpoint:
        components.append(Named("otlp", OtlpPusher(config.otel_metrics_endpoint, ctx.registry, "aztec-py-node")))
    return components
