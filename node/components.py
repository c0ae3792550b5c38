"""Turns (config, selected roles) into the ordered component list the supervisor runs.

Every role has one builder. Builders share a `Context` (metrics registry, JSON-RPC dispatcher, and
the components other roles expose, e.g. the P2P client the prover node sends quotes through).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio
from prometheus_client import CollectorRegistry

from node.config import ConfigError, HostPort, NodeConfig
from node.http import HttpServer, JsonRpcDispatcher, JsonRpcError
from node.metrics import OtlpPusher, build_info, new_registry
from node.supervisor import Named

log = logging.getLogger("node.components")

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
    config: NodeConfig
    roles: set[str]
    registry: CollectorRegistry = field(default_factory=new_registry)
    rpc: JsonRpcDispatcher = field(default_factory=JsonRpcDispatcher)
    shared: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=lambda: {"status": "ok"})


Builder = Callable[[Context], list[Named]]


class Deferred:
    """A component constructed when its turn to start comes, i.e. after the components before it
    are ready (so it can use what they put in `Context.shared`, like the L1 client)."""

    def __init__(self, make: Callable[[], Awaitable[Any]]) -> None:
        self._make = make
        self.component: Any = None

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        self.component = await self._make()
        await self.component.run(task_status=task_status)


class L1Connection:
    """Connects to ETHEREUM_HOST and the Rollup (ROLLUP_CONTRACT_ADDRESS, else fetched from
    AZTEC_NODE_URL's `node_getL1ContractAddresses`), checks the chain id, and shares the client."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        from node.l1.client import L1Client

        c = self.ctx.config
        rollup = c.rollup_contract_address
        if rollup is None:
            if c.aztec_node_url is None:
                raise ConfigError("ROLLUP_CONTRACT_ADDRESS (or AZTEC_NODE_URL to fetch it from) is required")
            rollup = await _fetch_rollup_address(c.aztec_node_url)
        client = await L1Client.connect(c.ethereum_host, rollup)
        chain_id = await client.chain_id()
        if chain_id != c.l1_chain_id:
            raise ConfigError(f"ETHEREUM_HOST is chain {chain_id} but L1_CHAIN_ID is {c.l1_chain_id}")
        self.ctx.shared["l1"] = client
        addresses = client.addresses.to_json()

        async def get_l1_contract_addresses() -> dict[str, Any]:
            return {f"{k}Address": v for k, v in addresses.items()}

        self.ctx.rpc.register("node_getL1ContractAddresses", get_l1_contract_addresses)
        log.info("connected to L1", extra={"rollup": client.addresses.rollup, "chain_id": chain_id})
        task_status.started(client.addresses.rollup)
        await trio.sleep_forever()


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
    if "l1_component" in ctx.shared:
        return []
    ctx.shared["l1_component"] = True
    return [Named("l1", L1Connection(ctx))]


def _ensure_archiver(ctx: Context) -> list[Named]:
    if "archiver_component" in ctx.shared:
        return []
    ctx.shared["archiver_component"] = True

    async def make() -> Any:
        from node.archiver import Archiver

        archiver = Archiver(
            ctx.shared["l1"],
            data_directory=ctx.config.data_directory,
            polling_interval=max(0.2, ctx.config.prover_node_polling_interval_ms / 1000),
        )
        ctx.shared["archiver"] = archiver
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
    return _ensure_l1(ctx) if (c.rollup_contract_address or c.aztec_node_url) else []


@builder("p2p")
def _p2p(ctx: Context) -> list[Named]:
    from node.p2p_node import P2PNode
    from p2p.wire.quote import EpochProofQuote, QuoteError
    from p2p.wire.serialization import DecodeError
    from p2p.wire.tx import Tx

    node = P2PNode(ctx.config, ctx.shared, ctx.registry)

    def client() -> Any:
        if node.client is None:
            raise JsonRpcError("p2p is not running yet", code=-32000)
        return node.client

    async def add_quote(quote: Any) -> None:
        try:
            q = EpochProofQuote.from_json(quote)
        except QuoteError as e:
            raise JsonRpcError(f"invalid quote: {e}") from e
        _raise_unless_admitted(await client().add_epoch_proof_quote(q))  # same admission as gossip

    async def get_quotes(epoch: Any) -> list[dict[str, Any]]:
        return [q.to_json() for q in client().get_epoch_proof_quotes(int(epoch))]

    async def get_enr() -> str | None:
        return client().get_enr()  # type: ignore[no-any-return]

    async def send_tx(tx_hex: str) -> None:
        try:
            tx = Tx.from_bytes(bytes.fromhex(str(tx_hex).removeprefix("0x")))
        except (DecodeError, ValueError) as e:
            raise JsonRpcError(f"invalid tx: {e}") from e
        await client().send_tx(tx)

    ctx.rpc.register("node_addEpochProofQuote", add_quote)
    ctx.rpc.register("node_getEpochProofQuotes", get_quotes)
    ctx.rpc.register("node_getEncodedEnr", get_enr)
    ctx.rpc.register("node_sendTx", send_tx)
    return [*_l1_if_configured(ctx), Named("p2p", node)]


def _raise_unless_admitted(res: Any) -> None:
    """node_addEpochProofQuote answers an error for a quote the pool refused (a duplicate is fine)."""
    from p2p.pools.quote_admission import Admission

    if res.outcome not in (Admission.ADMITTED, Admission.DUPLICATE):
        raise JsonRpcError(f"quote not admitted: {res.outcome.value}{': ' + res.reason if res.reason else ''}")


@builder("sequencer")
def _sequencer(ctx: Context) -> list[Named]:
    c = ctx.config
    if c.seq_publisher_private_key is None:
        raise ConfigError("--sequencer needs SEQ_PUBLISHER_PRIVATE_KEY")
    if c.seq_index is not None and c.seq_index >= c.seq_count:
        raise ConfigError(f"SEQ_INDEX {c.seq_index} must be below SEQ_COUNT {c.seq_count}")
    memory_sources: Any = None
    if "p2p" not in ctx.roles:
        # quotes arrive over JSON-RPC (PROVER_COORDINATION_NODE_URL of provers); no tx gossip
        from node.sequencer.sequencer import MemorySources
        from p2p.wire.quote import EpochProofQuote, QuoteError

        memory_sources = MemorySources()
        admissions: list[Any] = []

        async def admission() -> Any:
            """The sink's QuoteAdmission (the same rule and pool type as gossip), once L1 is up."""
            if not admissions:
                from node.l1.escrow_view import L1EscrowView
                from p2p.pools.quote_admission import QuoteAdmission

                l1 = ctx.shared.get("l1")
                if l1 is None:
                    raise JsonRpcError("L1 is not connected yet", code=-32000)
                view = L1EscrowView(l1)
                await view.refresh_min_bond()
                admissions.append(QuoteAdmission(memory_sources.quote_pool, chain_id=c.l1_chain_id,
                                                 rollup_address=bytes.fromhex(l1.addresses.rollup.removeprefix("0x")),
                                                 escrow=view))
            return admissions[0]

        async def add_quote(quote: Any) -> None:
            try:
                q = EpochProofQuote.from_json(quote)
            except QuoteError as e:
                raise JsonRpcError(f"invalid quote: {e}") from e
            adm = await admission()
            timing = await ctx.shared["l1"].timing()
            now = int(time.time())
            slot = timing.slot_at(now) if now >= timing.genesis_time else None
            _raise_unless_admitted(await adm.admit(q, current_slot=slot))

        async def get_quotes(epoch: Any) -> list[dict[str, Any]]:
            return [q.to_json() for q in memory_sources.get_epoch_proof_quotes(int(epoch))]

        ctx.rpc.register("node_addEpochProofQuote", add_quote)
        ctx.rpc.register("node_getEpochProofQuotes", get_quotes)

    async def make() -> Any:
        from node.sequencer.sequencer import P2PAttestations, P2PSources, Sequencer

        publisher_key = c.seq_publisher_private_key
        assert publisher_key is not None
        l1 = ctx.shared["l1"].with_signer(publisher_key)
        p2p = ctx.shared.get("p2p")
        sources = P2PSources(p2p) if p2p is not None else memory_sources
        validator_keys = [c.validator_private_key or publisher_key]
        attestations = P2PAttestations(p2p, validator_keys) if p2p is not None else None
        return Sequencer(
            l1,
            ctx.shared["archiver"],
            txs=sources,
            quotes=sources,
            attestations=attestations,
            sequencer_index=c.seq_index or 0,
            sequencer_count=c.seq_count if c.seq_index is not None else 1,
        )

    return [*_ensure_archiver(ctx), Named("sequencer", Deferred(make))]


@builder("tx_bot")
def _tx_bot(ctx: Context) -> list[Named]:
    if "p2p" not in ctx.roles:
        raise ConfigError("--tx-bot gossips transactions: add --p2p")

    async def make() -> Any:
        from node.txbot import TxBot

        slot = 1.0
        if "l1" in ctx.shared:
            slot = float((await ctx.shared["l1"].timing()).slot_duration)
        rate = max(ctx.config.txbot_tx_per_slot, 1) / slot
        return TxBot(ctx.shared["p2p"], chain_id=ctx.config.l1_chain_id, rate_per_second=rate)

    return [Named("tx-bot", Deferred(make))]


class _BrokerComponent:
    """The in-process ProvingBroker (durable under DATA_DIRECTORY/broker when set)."""

    def __init__(self, broker: Any) -> None:
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
    if "broker_component" in ctx.shared:
        return []
    ctx.shared["broker_component"] = True
    from proving.broker.core import ProvingBroker
    from proving.broker.store import SqliteJobStore

    store = None
    if ctx.config.data_directory is not None:
        d = ctx.config.data_directory / "broker"
        d.mkdir(parents=True, exist_ok=True)
        store = SqliteJobStore(d / "broker.sqlite")
    broker = ProvingBroker(store, registry=ctx.registry)
    ctx.shared["broker"] = broker
    return [Named("prover-broker", _BrokerComponent(broker))]


def _uses_local_broker(ctx: Context) -> bool:
    return "prover_broker" in ctx.roles or ctx.config.prover_broker_host is None


def mount_broker_rpc(rpc: JsonRpcDispatcher, broker: Any) -> None:
    """Serve the broker's JSON-RPC methods (enqueueProvingJob, getProvingJob, ...) on the node's
    dispatcher, i.e. on AZTEC_PORT like Aztec's `--prover-broker`."""
    from proving.broker.rpc import build_dispatcher

    inner = build_dispatcher(broker)

    def make(name: str) -> Callable[..., Awaitable[Any]]:
        async def handler(*args: Any, **kwargs: Any) -> Any:
            params: Any = kwargs if kwargs and not args else list(args)
            out = await inner.handle_one({"jsonrpc": "2.0", "id": 1, "method": name, "params": params})
            if out is None:
                return None
            if "error" in out:
                err = out["error"]
                raise JsonRpcError(str(err.get("message")), code=int(err.get("code", -32603)))
            return out.get("result")

        return handler

    for name in inner.methods:
        rpc.register(name, make(name))


@builder("prover_broker")
def _prover_broker(ctx: Context) -> list[Named]:
    out = _ensure_broker(ctx)
    mount_broker_rpc(ctx.rpc, ctx.shared["broker"])
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
    pre = _ensure_broker(ctx) if local else []

    async def make() -> Any:
        from proving.agent import AgentPool

        broker: Any = ctx.shared["broker"] if local else c.prover_broker_host
        pool = AgentPool(broker, c.prover_agent_concurrency, real_proofs=c.prover_real_proofs)
        ctx.shared["agents"] = pool
        log.info("prover agents", extra={"concurrency": c.prover_agent_concurrency,
                                         "broker": "in-process" if local else c.prover_broker_host})
        return pool

    return [*pre, Named("prover", Deferred(make))]


class _ProverNodeService:
    """The ProverNode plus, with an external broker, the BrokerClient's settle follower."""

    def __init__(self, node: Any, client: Any | None, extra: Sequence[Any] = ()) -> None:
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
    pre = _ensure_broker(ctx) if local else []

    async def make() -> Any:
        from node.prover_node.bond import BondManager
        from node.prover_node.epoch_job import ArchiverBlockSource, EpochProvingJob, HttpQuoteSink, P2PQuoteSink
        from node.prover_node.l1_adapter import ProverL1
        from node.prover_node.node import ProverNode
        from node.prover_node.quote_provider import HttpQuoteProvider, QuoteProvider, SimpleQuoteProvider
        from proving.broker.client import BrokerClient
        from proving.proof_store import FileProofStore, InlineProofStore, ProofStore

        assert key is not None
        l1 = ctx.shared["l1"].with_signer(key)
        chain = ProverL1(l1)
        archiver = ctx.shared["archiver"]
        client: Any = None
        store: ProofStore
        if local:
            broker = ctx.shared["broker"]
            producer: Callable[[], Any] = lambda: broker  # noqa: E731
            store = FileProofStore(c.data_directory / "proofs") if c.data_directory else InlineProofStore()
        else:
            assert c.prover_broker_host is not None
            client = BrokerClient(c.prover_broker_host, connections=4)
            producer = lambda: client  # noqa: E731
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
        sink: Any
        if "p2p" in ctx.shared:
            sink = P2PQuoteSink(ctx.shared["p2p"])
        else:
            sink = HttpQuoteSink(str(c.prover_coordination_node_url))
        job = EpochProvingJob(
            l1=l1,
            archiver=archiver,
            producer=producer,
            proof_store=store,
            prover_id=int.from_bytes(chain.address, "big"),
        )
        bond = BondManager(
            chain,
            chain.address,
            minimum=c.prover_minimum_escrow_amount,
            target=c.target_escrow_amount,
            allow_mint=c.bond_token_mint,
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
        )
        ctx.shared["prover_node"] = node

        async def get_prover_node_stats() -> dict[str, Any]:
            return {**node.statistics(), "lastEpoch": job.last}

        ctx.rpc.register("prover_getStatistics", get_prover_node_stats)
        return _ProverNodeService(node, client, extra)

    return [*pre, *_ensure_archiver(ctx), Named("prover-node", Deferred(make))]
