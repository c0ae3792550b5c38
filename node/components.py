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

from node.config import ConfigError, HostPort, NodeConfig
from node.http import HttpServer, JsonRpcDispatcher
from node.metrics import OtlpPusher, build_info, new_registry
from node.supervisor import Named

log = logging.getLogger("node.components")

# Start order: infrastructure first, then the roles that others depend on.
ROLE_ORDER = (
    "devnet", "p2p_bootstrap", "prover_broker", "archiver", "p2p", "prover", "prover_node", "sequencer", "tx_bot"
)


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


def _addr(hp: HostPort | None) -> tuple[str, int] | None:
    return None if hp is None else (hp.host or "0.0.0.0", hp.port)


@builder("p2p_bootstrap")
def _boot_node(ctx: Context) -> list[Named]:
    from p2p.discv5.bootnode import BootNode, BootNodeConfig

    c = ctx.config
    listen = _addr(c.p2p_udp_listen_addr)
    assert listen is not None
    announce = _addr(c.p2p_udp_announce_addr or c.p2p_tcp_announce_addr)
    try:
        node = BootNode(BootNodeConfig(udp_listen=listen, udp_announce=announce, private_key=c.peer_id_private_key))
    except ValueError as e:
        raise ConfigError(str(e)) from e

    async def get_encoded_enr() -> str:
        return node.service.enr.to_text()

    async def get_node_info() -> dict[str, Any]:
        return {"enr": node.service.enr.to_text(), "l1ChainId": c.l1_chain_id}

    ctx.rpc.register("node_getEncodedEnr", get_encoded_enr)
    ctx.rpc.register("pxe_getNodeInfo", get_node_info)
    return [Named("bootnode", node)]


@builder("devnet")
def _devnet(ctx: Context) -> list[Named]:
    from pathlib import Path

    from node.devnet import Devnet, DevnetConfig

    c = ctx.config
    if c.devnet_claim_window > c.devnet_epoch_duration:
        raise ConfigError("DEVNET_CLAIM_WINDOW must not exceed DEVNET_EPOCH_DURATION")
    cfg = DevnetConfig(
        data_dir=c.data_directory or Path(".devnet"),
        slot_duration=c.devnet_slot_duration,
        epoch_duration=c.devnet_epoch_duration,
        claim_window=c.devnet_claim_window,
        sequencers=c.devnet_sequencers,
        committee=c.devnet_committee,
        agents=c.devnet_prover_agents,
        tx_per_slot=c.txbot_tx_per_slot,
        quote_fee_bps=c.quote_provider_basis_point_fee,
        quote_bond=c.quote_provider_bond_amount,
        echo_children=c.log_level in ("debug", "trace"),
    )
    return [Named("devnet", Devnet(cfg))]
