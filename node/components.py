"""Turns (config, selected roles) into the ordered component list the supervisor runs.

Every role has one builder. Builders share a `Context`: the metrics registry, JSON-RPC dispatcher,
health registry, and, as typed fields, the components other roles use (the L1 client, the archiver,
the P2P client the prover node sends quotes through, the in-process broker, ...).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import trio
from prometheus_client import CollectorRegistry

from core.http import Dispatcher
from node.config import ConfigError, NodeConfig
from node.health import HealthRegistry
from node.http import NODE_LIMITS, node_http_server
from node.metrics import OtlpPusher, build_info, new_registry
from node.startup import StartupGuard, check_data_directory, port_in_use
from node.supervisor import Named

if TYPE_CHECKING:
    from node.archiver import Archiver
    from node.broker_watch import BrokerWatch
    from node.l1.client import L1Client
    from node.metrics import NodeMetrics
    from node.prover_node.epoch_job import EpochProvingJob
    from node.prover_node.node import ProverNode
    from node.sequencer.sequencer import Sequencer
    from p2p.client import P2PClient
    from proving.agent import AgentPool
    from proving.broker.core import ProvingBroker

log = logging.getLogger("node.components")
T = TypeVar("T")

# Start order: infrastructure first, then the roles that others depend on.
ROLE_ORDER = (
    "devnet",
    "p2p_bootstrap",
    "prover_broker",
    "archiver",
    "p2p",
    "prover",
    "prover_node",
    "sequencer",
    "tx_bot",
)


@dataclass
class Context:
    """What the builders share. The components other roles use are typed fields, each set by the one
    component that makes it, once that component runs; components start in order (ROLE_ORDER), so a
    later component's `make` finds them (`need(ctx.l1, ...)` names what is missing otherwise)."""

    config: NodeConfig
    roles: set[str]
    registry: CollectorRegistry = field(default_factory=new_registry)
    rpc: Dispatcher = field(default_factory=Dispatcher)
    health: HealthRegistry = field(default_factory=HealthRegistry)
    l1: L1Client | None = None  # L1Connection, once connected (retries forever from then on)
    archiver: Archiver | None = None  # the archiver component, when made
    p2p: P2PClient | None = None  # P2PNode, once its service runs
    broker: ProvingBroker | None = None  # the in-process broker (made with the component list)
    broker_watch: BrokerWatch | None = None  # for an external PROVER_BROKER_HOST
    agents: AgentPool | None = None  # --prover's agent pool, when made
    prover_node: ProverNode | None = None
    sequencer: Sequencer | None = None
    prover_job: EpochProvingJob | None = None  # the prover node's job (the live view's proof tree)
    metrics: NodeMetrics | None = None  # the roles' event metrics (set before the builders run)
    # once-per-node components already in the list (several roles need them)
    l1_added: bool = False
    archiver_added: bool = False


def need(value: T | None, what: str) -> T:
    """A component made by an earlier one: missing means the start order is wrong (a bug, not input)."""
    if value is None:
        raise RuntimeError(f"{what} is not running: it must start before the components that use it")
    return value


Builder = Callable[[Context], list[Named]]


class Component(Protocol):
    async def run(self, *, task_status: trio.TaskStatus[Any] = ...) -> None: ...


C = TypeVar("C", bound=Component)


class Deferred(Generic[C]):
    """A component constructed when its turn to start comes, i.e. after the components before it
    are ready (so its `make` can use what they set on the `Context`, like the L1 client)."""

    def __init__(self, make: Callable[[], Awaitable[C]]) -> None:
        self._make = make
        self.component: C | None = None

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        self.component = await self._make()
        await self.component.run(task_status=task_status)


BUILDERS: dict[str, Builder] = {}


def builder(role: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[role] = fn
        return fn

    return register


def build_components(config: NodeConfig, roles: set[str]) -> list[Named]:
    import node.roles  # noqa: F401  registers every role's builder (imported here: no import cycle)

    unknown = roles - set(ROLE_ORDER)
    if unknown:
        raise ConfigError(f"unknown roles {sorted(unknown)}")
    missing = [r for r in ROLE_ORDER if r in roles and r not in BUILDERS]
    if missing:
        flags = ", ".join("--" + r.replace("_", "-") for r in missing)
        raise ConfigError(f"{flags}: not available in this build yet")
    if config.prover_agent_enabled and "prover_node" in roles:
        roles = roles | {"prover"}
    if config.data_directory is not None and "devnet" not in roles:  # the devnet checks its own
        check_data_directory(config.data_directory)
    ctx = Context(config, roles)
    _install_metrics(ctx)
    _install_last_error_handler(ctx.health)
    host, port = config.aztec_host, config.aztec_port
    if "devnet" in roles:  # everything the devnet serves: 127.0.0.1, inside DEVNET_BASE_PORT's range
        from node.devnet import devnet_http_port

        host, port = "127.0.0.1", devnet_http_port(config.devnet_base_port)
    # the HTTP server starts first, so /health and /ready answer while the rest starts
    token = config.prover_broker_auth_token if "prover_broker" in roles else None
    view = _live_view(ctx)
    limits = NODE_LIMITS
    if "prover_broker" in roles:  # one connection per agent: room for thousands of them (issue 15)
        n = config.prover_broker_max_connections
        limits = dataclasses.replace(NODE_LIMITS, max_connections=n, max_per_client=max(1, n // 2))
    http = node_http_server(host, port, ctx.rpc, ctx.registry, ctx.health.report, token=token,
                            pages=view.pages(), limits=limits)
    components: list[Named] = [Named("http", StartupGuard(http, port_in_use("AZTEC_PORT", host, port)))]
    for role in ROLE_ORDER:
        if role in roles:
            components += BUILDERS[role](ctx)
    build_info(ctx.registry, sorted(roles))
    if config.otel_metrics_endpoint:
        components.append(Named("otlp", OtlpPusher(config.otel_metrics_endpoint, ctx.registry, "aztec-py-node")))
    components.append(Named("ready", _Ready(ctx.health)))
    return components


def _install_metrics(ctx: Context) -> None:
    """The roles' metrics (node/metrics.py CATALOG) on the node's registry: event counters for the roles
    this node runs, and collectors reading the shared L1 client's and the agents' statistics()."""
    from node.metrics import AgentCollector, L1Collector, NodeMetrics

    sources = {"prover node": "prover_node", "sequencer": "sequencer", "agents": "prover"}
    run = {k for k, role in sources.items() if role in ctx.roles}
    ctx.metrics = NodeMetrics(ctx.registry, run)
    ctx.registry.register(L1Collector(lambda: ctx.l1))
    if "prover" in ctx.roles:
        ctx.registry.register(AgentCollector(lambda: ctx.agents))


# --- the live epoch view and `status` (live-view)
def _live_view(ctx: Context) -> Any:
    """GET /, /epoch, /api/epoch and the open, read-only node_getEpochView / node_getProverStatus."""
    from node.live_view import LiveView

    view = LiveView(
        prover_node=lambda: ctx.prover_node,
        prover_job=lambda: ctx.prover_job,
        broker=lambda: ctx.broker,
        agents=lambda: ctx.agents,
        sequencer=lambda: ctx.sequencer,
        l1=lambda: ctx.l1,
        prover_address=lambda: getattr(ctx.prover_node, "address", None),
        roles=sorted(ctx.roles),
    )

    async def epoch_view() -> dict[str, Any]:
        return view.epoch_view()

    ctx.rpc.register("node_getEpochView", epoch_view)
    ctx.rpc.register("node_getProverStatus", view.prover_status)
    return view


def _install_last_error_handler(health: HealthRegistry) -> None:
    root = logging.getLogger()
    for h in [h for h in root.handlers if isinstance(h, type(health.errors))]:
        root.removeHandler(h)
    root.addHandler(health.errors)


class _Ready:
    """Last component: once it starts, every other one has, so /ready turns 200."""

    def __init__(self, health: HealthRegistry) -> None:
        self.health = health

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.health.mark_ready()
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            self.health.ready = False
