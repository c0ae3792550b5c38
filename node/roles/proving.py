"""Role builders for proving: the broker, prover agents, the external-broker watch, the prover node."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import trio

from core.http import Dispatcher, ExposureError, check_exposure
from node.components import Context, Deferred, builder, need
from node.config import ConfigError, NodeConfig
from node.health import ComponentHealth, agents_probe
from node.roles.common import _ensure_archiver, _numbers
from node.supervisor import Named

if TYPE_CHECKING:
    from node.prover_node.node import ProverNode
    from proving.agent import AgentPool
    from proving.broker.client import BrokerClient
    from proving.broker.core import ProvingBroker

log = logging.getLogger("node.components")


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
