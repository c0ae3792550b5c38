"""Turns (config, selected roles) into the ordered component list the supervisor runs.

Every role has one builder. Builders share a `Context`: the metrics registry, JSON-RPC dispatcher,
health registry, and, as typed fields, the components other roles use (the L1 client, the archiver,
the P2P client the prover node sends quotes through, the in-process broker, ...).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar, cast

import trio
from prometheus_client import CollectorRegistry

from core.http import SERVER_ERROR, Dispatcher, ExposureError, InvalidParams, JsonRpcError, check_exposure
from core.http.jsonrpc import param_int
from node.config import ConfigError, HostPort, NodeConfig, StartupError
from node.health import ComponentHealth, HealthRegistry, agents_probe, l1_probe, p2p_probe
from node.http import node_http_server
from node.metrics import OtlpPusher, build_info, new_registry
from node.supervisor import Named, leaf_exceptions

if TYPE_CHECKING:
    from node.archiver import Archiver
    from node.broker_watch import BrokerWatch
    from node.l1.client import L1Client
    from node.metrics import NodeMetrics
    from node.prover_node.epoch_job import EpochProvingJob
    from node.prover_node.node import ProverNode
    from node.sequencer.sequencer import MemorySources, Sequencer
    from node.txbot import TxBot
    from p2p.client import P2PClient
    from p2p.pools.quote_admission import AdmissionResult, QuoteAdmission
    from proving.agent import AgentPool
    from proving.broker.client import BrokerClient
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


# --- start-up checks and health (node-faults)
L1_STARTUP_TIMEOUT: Final = 10.0  # an ETHEREUM_HOST that does not answer within this is a start-up mistake


class StartupGuard:
    """Runs `inner` and turns an expected failure *before it is ready* into a StartupError whose one
    line names the cause (`explain(exc)`; None: not an expected failure, re-raised as is). Failures
    after start-up are left alone (outages are states, handled inside the components)."""

    def __init__(self, inner: Component, explain: Callable[[BaseException], str | None]) -> None:
        self.inner = inner
        self.explain = explain

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            try:
                info = await nursery.start(self.inner.run)
            except Exception as e:
                for leaf in leaf_exceptions(e, Exception):
                    if isinstance(leaf, ConfigError):
                        raise leaf from e
                    why = self.explain(leaf)
                    if why is not None:
                        raise StartupError(why) from e
                raise
            task_status.started(info)


def port_in_use(variable: str, host: str, port: int) -> Callable[[BaseException], str | None]:
    def explain(e: BaseException) -> str | None:
        if isinstance(e, OSError):
            return f"{variable}: cannot listen on {host}:{port}: {e.strerror or e}"
        return None

    return explain


def check_data_directory(path: Path) -> None:
    """DATA_DIRECTORY must be a directory we can create files in (checked before anything starts)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as e:
        raise StartupError(f"DATA_DIRECTORY {path}: not a writable directory ({e.strerror or e})") from None


class L1Connection:
    """Connects to ETHEREUM_HOST and the Rollup (ROLLUP_CONTRACT_ADDRESS, else the canonical rollup of
    REGISTRY_CONTRACT_ADDRESS, else fetched from AZTEC_NODE_URL's `node_getL1ContractAddresses`),
    checks the chain id and that the address holds a v0.63.1 Rollup, and shares the client. Start-up
    mistakes (no answer within L1_STARTUP_TIMEOUT, no contract, another contract, another chain) are
    StartupErrors naming the variable. Once connected, the shared client retries forever: a later L1
    outage is a state reported in /health."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        from node.l1.client import L1Client, RetryPolicy
        from node.l1.errors import L1Error, L1TransientError

        c = self.ctx.config
        rollup: bytes | str | None = c.rollup_contract_address
        if rollup is None and c.registry_contract_address is not None:
            rollup = await _registry_rollup(c.ethereum_host, c.registry_contract_address)
        if rollup is None:
            if c.aztec_node_url is None:
                raise ConfigError(
                    "ROLLUP_CONTRACT_ADDRESS (or REGISTRY_CONTRACT_ADDRESS / AZTEC_NODE_URL to read it from) "
                    "is required"
                )
            rollup = await _fetch_rollup_address(c.aztec_node_url)
        where = f"ROLLUP_CONTRACT_ADDRESS {rollup if isinstance(rollup, str) else '0x' + rollup.hex()}"
        with trio.move_on_after(L1_STARTUP_TIMEOUT) as startup:
            try:
                chain_id, code = await trio.to_thread.run_sync(
                    lambda: _chain_id_and_code(c.ethereum_host, rollup), abandon_on_cancel=True)
            except Exception as e:
                raise StartupError(f"ETHEREUM_HOST {c.ethereum_host}: not answering ({_short(e)})") from None
            if chain_id != c.l1_chain_id:
                raise StartupError(f"ETHEREUM_HOST {c.ethereum_host} is chain {chain_id} but L1_CHAIN_ID is "
                                   f"{c.l1_chain_id}")
            if not code:
                raise StartupError(f"{where}: no contract at that address on ETHEREUM_HOST {c.ethereum_host} "
                                   f"(chain {chain_id})")
            try:
                client = await L1Client.connect(c.ethereum_host, rollup, retry=RetryPolicy(attempts=3))
                await client.timing()  # cached: /health derives the current epoch from it
            except L1TransientError as e:
                raise StartupError(f"ETHEREUM_HOST {c.ethereum_host}: not answering ({_short(e)})") from None
            except L1Error as e:
                raise StartupError(f"{where}: not a v0.63.1 Rollup on ETHEREUM_HOST {c.ethereum_host} "
                                   f"({_short(e)})") from None
            except Exception as e:  # e.g. output that does not decode: another contract
                raise StartupError(f"{where}: not a v0.63.1 Rollup ({type(e).__name__}: {_short(e)})") from None
        if startup.cancelled_caught:
            raise StartupError(f"ETHEREUM_HOST {c.ethereum_host}: no answer within {L1_STARTUP_TIMEOUT:.0f}s")
        client.retry = RetryPolicy.forever()  # from now on an outage is waited out, never raised
        self.ctx.l1 = client
        addresses = client.addresses.to_json()

        async def get_l1_contract_addresses() -> dict[str, Any]:
            return {f"{k}Address": v for k, v in addresses.items()}

        self.ctx.rpc.register("node_getL1ContractAddresses", get_l1_contract_addresses)
        log.info("connected to L1", extra={"rollup": client.addresses.rollup, "chain_id": chain_id})
        task_status.started(client.addresses.rollup)
        await trio.sleep_forever()


async def _registry_rollup(ethereum_host: str, registry: bytes) -> str:
    from node.l1.artifacts import ArtifactsError
    from node.l1.client import RetryPolicy, call_with_retry
    from node.l1.deploy import read_rollup_from_registry_sync
    from node.l1.rpc import SyncRpc

    rpc = SyncRpc.from_url(ethereum_host)
    try:
        return await call_with_retry(lambda: read_rollup_from_registry_sync(rpc, registry), RetryPolicy())
    except ArtifactsError as e:
        raise ConfigError(f"REGISTRY_CONTRACT_ADDRESS: {e}") from e


def _short(e: BaseException, limit: int = 200) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    for marker, reason in (("Errno 111", "connection refused"), ("Connection refused", "connection refused"),
                           ("timed out", "timed out"), ("Name or service not known", "unknown host"),
                           ("Temporary failure in name resolution", "unknown host")):
        if marker in text:
            return reason
    return text[:limit]


def _chain_id_and_code(url: str, address: bytes | str) -> tuple[int, bytes]:
    from web3 import Web3

    from node.l1.rpc import normalize_address

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 3}, exception_retry_configuration=None))
    return int(w3.eth.chain_id), bytes(w3.eth.get_code(normalize_address(address)))  # type: ignore[arg-type]


async def _fetch_rollup_address(url: str) -> bytes:
    import httpx

    body = {"jsonrpc": "2.0", "id": 1, "method": "node_getL1ContractAddresses", "params": []}
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            result = (await client.post(url, json=body)).json()["result"]
        return bytes.fromhex(str(result["rollupAddress"]).removeprefix("0x"))
    except (httpx.HTTPError, KeyError, ValueError, TypeError) as e:
        raise ConfigError(f"could not read the rollup address from AZTEC_NODE_URL {url}: {e!r}") from e


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
    http = node_http_server(host, port, ctx.rpc, ctx.registry, ctx.health.report, token=token, pages=view.pages())
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
    explain = port_in_use("P2P_UDP_LISTEN_ADDR", listen[0], listen[1])
    return [Named("bootnode", StartupGuard(node, explain))]


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
        base_port=c.devnet_base_port,
        tx_per_slot=c.txbot_tx_per_slot,
        quote_fee_bps=c.quote_provider_basis_point_fee,
        quote_bond=c.quote_provider_bond_amount,
        echo_children=c.log_level in ("debug", "trace"),
    )
    return [Named("devnet", Devnet(cfg))]


@builder("archiver")
def _archiver(ctx: Context) -> list[Named]:
    return _ensure_archiver(ctx)


def _l1_if_configured(ctx: Context) -> list[Named]:
    c = ctx.config
    return _ensure_l1(ctx) if (c.rollup_contract_address or c.registry_contract_address or c.aztec_node_url) else []


@builder("p2p")
def _p2p(ctx: Context) -> list[Named]:
    from core.aztec.serialization import DecodeError
    from node.p2p_node import P2PNode
    from p2p.wire.quote import EpochProofQuote, QuoteError
    from p2p.wire.tx import Tx

    node = P2PNode(ctx.config, ctx, ctx.registry)

    def client() -> P2PClient:
        if ctx.p2p is None:
            raise JsonRpcError(SERVER_ERROR, "p2p is not running yet")
        return ctx.p2p

    async def add_quote(quote: Any) -> None:
        try:
            q = EpochProofQuote.from_json(quote)
        except QuoteError as e:
            raise InvalidParams(f"invalid quote: {e}") from e
        _raise_unless_admitted(await client().add_epoch_proof_quote(q))  # same admission as gossip

    async def get_quotes(epoch: Any) -> list[dict[str, Any]]:
        return [q.to_json() for q in client().get_epoch_proof_quotes(param_int(epoch, "epoch", 0, 2**64))]

    async def get_enr() -> str | None:
        return client().get_enr()

    async def send_tx(tx_hex: str) -> None:
        try:
            tx = Tx.from_bytes(bytes.fromhex(str(tx_hex).removeprefix("0x")))
        except (DecodeError, ValueError) as e:
            raise InvalidParams(f"invalid tx: {e}") from e
        await client().send_tx(tx)

    ctx.rpc.register("node_addEpochProofQuote", add_quote)
    ctx.rpc.register("node_getEpochProofQuotes", get_quotes)
    ctx.rpc.register("node_getEncodedEnr", get_enr)
    ctx.rpc.register("node_sendTx", send_tx)
    ctx.health.add("p2p", p2p_probe(lambda: ctx.p2p))
    return [*_l1_if_configured(ctx), Named("p2p", node)]


def _raise_unless_admitted(res: AdmissionResult) -> None:
    """node_addEpochProofQuote answers an error for a quote the pool refused (a duplicate is fine)."""
    from p2p.pools.quote_admission import Admission

    if res.outcome not in (Admission.ADMITTED, Admission.DUPLICATE):
        raise InvalidParams(f"quote not admitted: {res.outcome.value}{': ' + res.reason if res.reason else ''}")


@builder("sequencer")
def _sequencer(ctx: Context) -> list[Named]:
    c = ctx.config
    if c.seq_publisher_private_key is None:
        raise ConfigError("--sequencer needs SEQ_PUBLISHER_PRIVATE_KEY")
    if c.seq_index is not None and c.seq_index >= c.seq_count:
        raise ConfigError(f"SEQ_INDEX {c.seq_index} must be below SEQ_COUNT {c.seq_count}")
    memory_sources: MemorySources | None = None
    if "p2p" not in ctx.roles:
        # quotes arrive over JSON-RPC (PROVER_COORDINATION_NODE_URL of provers); no tx gossip
        from node.sequencer.sequencer import MemorySources
        from p2p.wire.quote import EpochProofQuote, QuoteError

        memory_sources = sink = MemorySources()
        admissions: list[QuoteAdmission] = []

        async def admission() -> QuoteAdmission:
            """The sink's QuoteAdmission (the same rule and pool type as gossip), once L1 is up."""
            if not admissions:
                from node.l1.escrow_view import L1EscrowView
                from p2p.pools.quote_admission import QuoteAdmission

                l1 = ctx.l1
                if l1 is None:
                    raise JsonRpcError(SERVER_ERROR, "L1 is not connected yet")
                view = L1EscrowView(l1)
                await view.refresh_min_bond()
                admissions.append(QuoteAdmission(sink.quote_pool, chain_id=c.l1_chain_id,
                                                 rollup_address=bytes.fromhex(l1.addresses.rollup.removeprefix("0x")),
                                                 escrow=view))
            return admissions[0]

        async def add_quote(quote: Any) -> None:
            try:
                q = EpochProofQuote.from_json(quote)
            except QuoteError as e:
                raise InvalidParams(f"invalid quote: {e}") from e
            adm = await admission()
            timing = await need(ctx.l1, "the L1 client").timing()
            now = int(time.time())
            slot = timing.slot_at(now) if now >= timing.genesis_time else None
            _raise_unless_admitted(await adm.admit(q, current_slot=slot))

        async def get_quotes(epoch: Any) -> list[dict[str, Any]]:
            return [q.to_json() for q in sink.get_epoch_proof_quotes(param_int(epoch, "epoch", 0, 2**64))]

        ctx.rpc.register("node_addEpochProofQuote", add_quote)
        ctx.rpc.register("node_getEpochProofQuotes", get_quotes)

    async def make() -> Sequencer:
        from node.sequencer.sequencer import P2PAttestations, P2PSources, Sequencer

        publisher_key = c.seq_publisher_private_key
        assert publisher_key is not None
        l1 = need(ctx.l1, "the L1 client").with_signer(publisher_key)
        p2p = ctx.p2p
        sources: P2PSources | MemorySources = (
            P2PSources(p2p) if p2p is not None else need(memory_sources, "the P2P client")
        )
        validator_keys = [c.validator_private_key or publisher_key]
        attestations = P2PAttestations(p2p, validator_keys) if p2p is not None else None
        seq = Sequencer(
            l1,
            need(ctx.archiver, "the archiver"),
            txs=sources,
            quotes=sources,
            attestations=attestations,
            sequencer_index=c.seq_index or 0,
            sequencer_count=c.seq_count if c.seq_index is not None else 1,
            metrics=need(ctx.metrics, "the node metrics"),
        )

        def probe() -> ComponentHealth:
            last = seq.results[-1] if seq.results else None
            return ComponentHealth(True, {"lastSlot": str(last) if last else None, **seq.statistics()},
                                   seq.last_error)

        ctx.health.add("sequencer", probe)
        ctx.sequencer = seq  # also the live view's quote history
        return seq

    return [*_ensure_archiver(ctx), Named("sequencer", Deferred(make))]


@builder("tx_bot")
def _tx_bot(ctx: Context) -> list[Named]:
    if "p2p" not in ctx.roles:
        raise ConfigError("--tx-bot gossips transactions: add --p2p")

    async def make() -> TxBot:
        from node.txbot import TxBot

        slot = 1.0
        if ctx.l1 is not None:
            slot = float((await ctx.l1.timing()).slot_duration)
        rate = max(ctx.config.txbot_tx_per_slot, 1) / slot
        return TxBot(need(ctx.p2p, "the P2P client"), chain_id=ctx.config.l1_chain_id, rate_per_second=rate)

    return [Named("tx-bot", Deferred(make))]


class _BrokerComponent:
    """The in-process ProvingBroker (durable under DATA_DIRECTORY/broker when set)."""

    def __init__(self, broker: ProvingBroker) -> None:
        self.broker = broker

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await self.broker.run(task_status=task_status)
        finally:
            if self.broker.store is not None:
                self.broker.store.close()


def _ensure_broker(ctx: Context) -> list[Named]:
    """One in-process broker per node: for --prover-broker, and for --prover / --prover-node when no
    PROVER_BROKER_HOST is given."""
    if ctx.broker is not None:
        return []
    from proving.broker.core import ProvingBroker
    from proving.broker.store import SqliteJobStore, SyncMode
    from proving.proof_store import UriPolicy

    c = ctx.config
    store = None
    if c.data_directory is not None:
        d = c.data_directory / "broker"
        d.mkdir(parents=True, exist_ok=True)
        store = SqliteJobStore(d / "broker.sqlite", sync=cast("SyncMode", c.prover_broker_db_sync))
    broker = ProvingBroker(
        store,
        job_timeout=c.prover_job_timeout_ms / 1000,
        poll_interval=c.prover_job_poll_interval_ms / 1000,
        max_attempts=c.prover_broker_job_max_retries,
        max_queued=c.prover_broker_max_queued_jobs,
        uri_policy=UriPolicy(_proof_dir(c), c.prover_broker_max_inline_bytes),
        registry=ctx.registry,
    )
    ctx.broker = broker

    def probe() -> ComponentHealth:
        return ComponentHealth(True, {"broker": {"inProcess": True, **_numbers(broker.statistics())}})

    ctx.health.add("broker", probe)
    return [Named("prover-broker", _BrokerComponent(broker))]


def _proof_dir(c: NodeConfig) -> Path | None:
    """The proof store shared by an in-process broker, its agents and prover node (file:// URIs are
    accepted only inside it)."""
    return None if c.data_directory is None else c.data_directory / "proofs"


def _numbers(stats: Any) -> dict[str, Any]:
    import dataclasses
    import json

    d = dataclasses.asdict(stats) if dataclasses.is_dataclass(stats) and not isinstance(stats, type) else stats
    out: dict[str, Any] = json.loads(json.dumps(d, default=str)) if isinstance(d, dict) else {}
    return out


def _uses_local_broker(ctx: Context) -> bool:
    return "prover_broker" in ctx.roles or ctx.config.prover_broker_host is None


def mount_broker_rpc(rpc: Dispatcher, broker: ProvingBroker) -> None:
    """Serve the broker's JSON-RPC methods (enqueueProvingJob, getProvingJob, ...) on the node's
    dispatcher, i.e. on AZTEC_PORT like Aztec's `--prover-broker` (protected methods)."""
    from proving.broker.rpc import register_broker_methods

    register_broker_methods(rpc, broker)


@builder("prover_broker")
def _prover_broker(ctx: Context) -> list[Named]:
    c = ctx.config
    try:
        check_exposure(c.aztec_host, c.prover_broker_auth_token, what="--prover-broker on AZTEC_HOST",
                       token_var="PROVER_BROKER_AUTH_TOKEN")
    except ExposureError as e:
        raise ConfigError(str(e)) from None
    out = _ensure_broker(ctx)
    mount_broker_rpc(ctx.rpc, need(ctx.broker, "the in-process broker"))
    return out


def _check_real_proofs(c: NodeConfig) -> None:
    if c.prover_real_proofs:
        raise ConfigError(
            "PROVER_REAL_PROOFS=true needs the barretenberg (bb) prover, which this Python node does not ship; "
            "set PROVER_REAL_PROOFS=false for simulated circuits with marked fake proofs"
        )


@builder("prover")
def _prover(ctx: Context) -> list[Named]:
    c = ctx.config
    _check_real_proofs(c)
    local = "prover_broker" in ctx.roles or ("prover_node" in ctx.roles and c.prover_broker_host is None)
    if not local and c.prover_broker_host is None:
        raise ConfigError("--prover needs PROVER_BROKER_HOST (or --prover-broker / --prover-node in the same process)")
    if local and c.prover_job_timeout_ms < 2 * c.prover_agent_poll_interval_ms:
        raise ConfigError(
            f"PROVER_JOB_TIMEOUT_MS ({c.prover_job_timeout_ms}) must be at least twice PROVER_AGENT_POLL_INTERVAL_MS "
            f"({c.prover_agent_poll_interval_ms}): agents heartbeat at that interval and would lose every job"
        )
    pre = _ensure_broker(ctx) if local else []

    async def make() -> AgentPool:
        from node.metrics import AgentJobTimer
        from proving.agent import AgentPool

        broker: ProvingBroker | str = need(ctx.broker, "the in-process broker") if local else str(c.prover_broker_host)
        timer = AgentJobTimer(need(ctx.metrics, "the node metrics"))
        pool = AgentPool(
            broker,
            c.prover_agent_concurrency,
            real_proofs=c.prover_real_proofs,
            heartbeat_interval=c.prover_agent_poll_interval_ms / 1000,
            file_root=_proof_dir(c),  # file:// inputs only inside DATA_DIRECTORY/proofs
            token=c.prover_broker_auth_token,
        )
        ctx.agents = pool
        pool.on_taken, pool.on_finished = timer.taken, timer.finished  # aztec_prover_agent_job* metrics
        log.info("prover agents", extra={"concurrency": c.prover_agent_concurrency,
                                         "broker": "in-process" if local else c.prover_broker_host})
        return pool

    ctx.health.add("agents", agents_probe(lambda: ctx.agents))
    watch = [] if local else _ensure_broker_watch(ctx)
    return [*pre, *watch, Named("prover", Deferred(make))]


def _ensure_broker_watch(ctx: Context) -> list[Named]:
    """For an external PROVER_BROKER_HOST: say within seconds when it does not answer, keep going,
    report it in /health (see node/broker_watch.py for why this is not a start-up exit)."""
    if ctx.broker_watch is not None or ctx.config.prover_broker_host is None:
        return []
    from node.broker_watch import BrokerWatch

    watch = BrokerWatch(ctx.config.prover_broker_host)
    ctx.broker_watch = watch
    ctx.health.add("broker", watch.probe())
    return [Named("broker-watch", watch)]


class _ProverNodeService:
    """The ProverNode plus, with an external broker, the BrokerClient's settle follower."""

    def __init__(self, node: ProverNode, client: BrokerClient | None, extra: Sequence[Any] = ()) -> None:
        self.node = node
        self.client = client
        self.extra = tuple(extra)  # services next to the node (speculative proving)

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                if self.client is not None:
                    await nursery.start(self.client.run)
                await nursery.start(self.node.run)
                for service in self.extra:
                    await nursery.start(service.run)
                task_status.started()
        finally:
            if self.client is not None:
                with trio.CancelScope(shield=True):
                    await self.client.aclose()


async def _async_value(value: Any) -> Any:
    return value


@builder("prover_node")
def _prover_node(ctx: Context) -> list[Named]:
    c = ctx.config
    key = c.prover_publisher_private_key
    if key is None:
        raise ConfigError("--prover-node needs PROVER_PUBLISHER_PRIVATE_KEY")
    if "p2p" not in ctx.roles and c.prover_coordination_node_url is None:
        raise ConfigError("--prover-node sends quotes over p2p (--p2p) or to PROVER_COORDINATION_NODE_URL")
    _check_real_proofs(c)
    local = _uses_local_broker(ctx)
    pre = _ensure_broker(ctx) if local else _ensure_broker_watch(ctx)

    async def make() -> _ProverNodeService:
        from node.prover_node.bond import BondManager
        from node.prover_node.epoch_job import ArchiverBlockSource, EpochProvingJob, HttpQuoteSink, P2PQuoteSink
        from node.prover_node.l1_adapter import ProverL1
        from node.prover_node.node import ProverNode
        from node.prover_node.quote_provider import HttpQuoteProvider, QuoteProvider, SimpleQuoteProvider
        from proving.broker.client import BrokerClient
        from proving.proof_store import FileProofStore, InlineProofStore, ProofStore

        assert key is not None
        l1 = need(ctx.l1, "the L1 client").with_signer(key)
        chain = ProverL1(l1)
        archiver = need(ctx.archiver, "the archiver")
        client: BrokerClient | None = None
        store: ProofStore
        if local:
            broker = need(ctx.broker, "the in-process broker")
            producer: Callable[[], Any] = lambda: broker  # noqa: E731
            proof_dir = _proof_dir(c)
            store = FileProofStore(proof_dir) if proof_dir is not None else InlineProofStore()
        else:
            assert c.prover_broker_host is not None
            remote = client = BrokerClient(c.prover_broker_host, connections=4, token=c.prover_broker_auth_token)
            producer = lambda: remote  # noqa: E731
            store = InlineProofStore()  # agents may run on other hosts
        provider: QuoteProvider = (
            HttpQuoteProvider(c.quote_provider_url)
            if c.quote_provider_url
            else SimpleQuoteProvider(c.quote_provider_basis_point_fee, c.quote_provider_bond_amount)
        )
        extra: list[Any] = []
        spec: Any = None
        if c.prover_speculative_proving:  # streaming speculative proving (issue 14)
            from node.prover_node.speculation import SpeculativeProving

            async def roots() -> tuple[int, int]:
                return await l1.vk_tree_root(), await l1.protocol_contract_tree_root()

            spec = SpeculativeProving(
                chain=chain, archiver=archiver, producer=producer, proof_store=store,
                prover_id=int.from_bytes(chain.address, "big"), me=chain.address,
                polling_interval=c.prover_node_polling_interval_ms / 1000, roots=roots,
                max_outstanding=max(1, int(c.quote_plan_agents * c.prover_speculative_share * 2)),
            )
            extra.append(spec)
            ctx.rpc.register("prover_getSpeculationStatistics", lambda: _async_value(spec.statistics()))
        if c.quote_provider_plan and not c.quote_provider_url:  # deadline-aware quotes (issue 14)
            from node.prover_node.plan_quote import ArchiverShapes, PlanQuoteConfig, PlanQuoteProvider

            timing = await l1.timing()
            provider = PlanQuoteProvider(
                PlanQuoteConfig(
                    agents=c.quote_plan_agents, bond_amount=c.quote_provider_bond_amount,
                    slot_duration=timing.slot_duration, epoch_duration=timing.epoch_duration,
                    claim_window=timing.claim_duration, genesis_time=timing.genesis_time,
                    seconds_per_mgate=c.quote_plan_seconds_per_mgate,
                    deadline_margin=c.quote_plan_deadline_margin,
                    cost_per_agent_hour=c.quote_cost_per_agent_hour, profit_margin=c.quote_profit_margin,
                ),
                ArchiverShapes(archiver, timing.epoch_duration),
                **({} if spec is None else {"done_keys": spec.done_keys}),
            )
            plan_provider = provider
            ctx.rpc.register("prover_getQuotePlan", lambda: _async_value(plan_provider.statistics()))
        sink: P2PQuoteSink | HttpQuoteSink = (
            P2PQuoteSink(ctx.p2p) if ctx.p2p is not None else HttpQuoteSink(str(c.prover_coordination_node_url))
        )
        job = EpochProvingJob(
            l1=l1,
            archiver=archiver,
            producer=producer,
            proof_store=store,
            prover_id=int.from_bytes(chain.address, "big"),
            metrics=need(ctx.metrics, "the node metrics"),
        )
        bond = BondManager(
            chain,
            chain.address,
            minimum=c.prover_minimum_escrow_amount,
            target=c.target_escrow_amount,
            allow_mint=c.bond_token_mint,
            on_deposit=need(ctx.metrics, "the node metrics").escrow_deposit.set,
        )
        node = ProverNode(
            chain=chain,
            blocks=ArchiverBlockSource(archiver, l1),
            quote_provider=provider,
            quote_sink=sink,
            bond=bond,
            prover=job,
            signer_key=key,
            prover_address=chain.address,
            chain_id=c.l1_chain_id,
            rollup_address=bytes.fromhex(l1.addresses.rollup.removeprefix("0x")),
            polling_interval=c.prover_node_polling_interval_ms / 1000,
            metrics=need(ctx.metrics, "the node metrics"),
        )
        ctx.prover_node = node
        ctx.prover_job = job  # the live view's proof tree

        async def get_prover_node_stats() -> dict[str, Any]:
            return {**node.statistics(), "lastEpoch": job.last}

        ctx.rpc.register("prover_getStatistics", get_prover_node_stats)
        ctx.health.add("prover_node", lambda: ComponentHealth(True, {**node.statistics(), "lastEpoch": job.last}))
        return _ProverNodeService(node, client, extra)

    return [*pre, *_ensure_archiver(ctx), Named("prover-node", Deferred(make))]
