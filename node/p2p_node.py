"""`--p2p`: discv5 discovery + the libp2p gossip service, composed from the node config.

Bootstrap ENRs come from BOOTSTRAP_NODES and BOOT_NODE_URL (enr: records, a network name from
bootnodes.toml, or an Aztec node's JSON-RPC URL). Our ENR carries ip/tcp/udp from the announce
addresses and `aztec_network` = 0x01, signed with the same key as our libp2p peer id. When the node
knows the Rollup, the gossip validators see the real chain (current slot from L1 timing, proven
epoch and next block from L1 tips, refreshed every second); otherwise quotes are checked for
signature and shape only.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import trio
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from node.config import ConfigError, HostPort, NodeConfig, StartupError, p2p_config
from node.l1.escrow_view import L1EscrowView
from p2p.bootnodes import BootnodeError, resolve_bootstrap_enrs
from p2p.client import P2PClient
from p2p.discv5.service import Discv5Service
from p2p.enr import AZTEC_ENR_KEY, AZTEC_NETWORK_DEVNET, Enr
from p2p.keys import generate_private_key
from p2p.service import ManualChainState, P2PService

if TYPE_CHECKING:
    from node.components import Context

log = logging.getLogger("node.p2p")


def check_tcp_listen(variable: str, host: str, port: int) -> None:
    """py-libp2p only logs a TCP listen that fails and runs on without it: try the bind ourselves
    first (as its listener does, SO_REUSEADDR) so a busy port is a named start-up mistake."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(1)
        except OSError as e:
            raise StartupError(f"{variable} {host}:{port}: cannot listen ({e.strerror or e})") from None


def _concrete(hp: HostPort | None) -> HostPort | None:
    return hp if hp is not None and hp.host not in ("", "0.0.0.0", "::") else None


def gossip_trace(topic: str, data: bytes) -> None:
    """P2P_GOSSIP_TRACE: one line per accepted gossip message, with the wall-clock arrival time (the
    propagation bench matches the sha256 prefix against what it published)."""
    log.info("gossip arrival", extra={"topic": topic, "sha": hashlib.sha256(data).hexdigest()[:16],
                                      "arrival": time.time()})


class L1ChainState:
    """p2p.service.ChainState over L1: slot from wall time and the Rollup's timing, tips polled."""

    def __init__(self, l1: Any) -> None:
        self.l1 = l1
        self.timing: Any = None
        self._proven_epoch: int | None = None
        self._next_block: int | None = None

    def current_slot(self) -> int:
        return 0 if self.timing is None else int(self.timing.slot_at(int(time.time())))

    def proven_epoch(self) -> int | None:
        return self._proven_epoch

    def next_block_number(self) -> int | None:
        return self._next_block

    async def refresh(self) -> None:
        if self.timing is None:
            self.timing = await self.l1.timing()
        tips = await self.l1.tips()
        self._next_block = tips.pending_block_number + 1
        proven = tips.proven_block_number
        self._proven_epoch = await self.l1.epoch_for_block(proven) if proven else None

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as e:  # keep the last view; gossip validation must not stop on an L1 hiccup
                log.warning("chain state refresh failed: %s", e)
            await trio.sleep(1.0)


def flatten_numbers(obj: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested statistics() dict, keyed by their path joined with '_'."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten_numbers(v, f"{prefix}_{k}" if prefix else str(k)))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix] = float(obj)
    return out


class StatisticsCollector(Collector):
    """Exposes a component's statistics() on /metrics as `<namespace>_<path>` gauges (the top-level keys
    in `exclude` are left out: node/metrics.py's P2PCollector exports them as labelled metrics)."""

    def __init__(self, namespace: str, stats: Callable[[], Any], exclude: frozenset[str] = frozenset()) -> None:
        self.namespace, self.stats, self.exclude = namespace, stats, exclude

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        st = self.stats()
        if isinstance(st, dict):
            st = {k: v for k, v in st.items() if k not in self.exclude}
        for path, value in sorted(flatten_numbers(st).items()):
            name = f"{self.namespace}_{re.sub(r'[^a-zA-Z0-9_]', '_', path)}"
            g = GaugeMetricFamily(name, f"{self.namespace} statistics: {path}")
            g.add_metric([], value)
            yield g


class P2PNode:
    def __init__(
        self,
        config: NodeConfig,
        ctx: Context,
        registry: CollectorRegistry | None = None,
        status_interval: float = 15.0,
    ) -> None:
        """Reads `ctx.l1` when it starts (None: no L1, chain state set by hand, bonds unchecked) and
        sets `ctx.p2p` once the service runs."""
        self.config = config
        self.ctx = ctx
        self.registry = registry
        self.status_interval = status_interval
        self.client: P2PClient | None = None

    async def _log_status(self, client: P2PClient) -> None:
        """What an operator wants to see: peers, pools, what arrived (every `status_interval` s)."""
        while True:
            await trio.sleep(self.status_interval)
            st = client.statistics()
            flat = flatten_numbers(st)
            # accepted messages per topic, e.g. received_tx, received_epoch_proof_quote
            received = {
                "received_" + k.split("/")[2]: int(v)
                for k, v in flat.items()
                if k.startswith("gossip_topics_/aztec/") and k.endswith("_accepted")
            }
            log.info(
                "p2p status",
                extra={
                    "peers": st.get("peers"),
                    "txs_pending": int(flat.get("tx_pool_pending", 0)),
                    "quotes": int(flat.get("quote_pool_quotes", 0)),
                    **received,
                },
            )

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        c = self.config
        try:
            bootstrap = await resolve_bootstrap_enrs(bootstrap_nodes=c.bootstrap_nodes, boot_node_url=c.boot_node_url)
        except BootnodeError as e:
            raise ConfigError(f"BOOT_NODE_URL / BOOTSTRAP_NODES: {e}") from e
        key = c.peer_id_private_key or generate_private_key()
        tcp_announce = _concrete(c.p2p_tcp_announce_addr) or _concrete(c.p2p_tcp_listen_addr)
        if tcp_announce is None:
            raise ConfigError("P2P_TCP_ANNOUNCE_ADDR is required when listening on 0.0.0.0")
        udp_announce = _concrete(c.p2p_udp_announce_addr) or HostPort(tcp_announce.host, c.p2p_udp_listen_addr.port)
        enr = Enr.create(
            key,
            ip=tcp_announce.host,
            tcp=tcp_announce.port,
            udp=udp_announce.port or None,
            extra={AZTEC_ENR_KEY: bytes([AZTEC_NETWORK_DEVNET])},
        )
        udp_listen = (c.p2p_udp_listen_addr.host or "0.0.0.0", c.p2p_udp_listen_addr.port)
        discovery = Discv5Service(key, enr, listen=udp_listen, bootstrap=bootstrap)
        l1 = self.ctx.l1
        chain_state: Any = L1ChainState(l1) if l1 is not None else ManualChainState()
        epoch_duration = 32
        if l1 is not None:
            await chain_state.refresh()
            epoch_duration = chain_state.timing.epoch_duration
        rollup = bytes.fromhex(l1.addresses.rollup.removeprefix("0x")) if l1 is not None else bytes(20)
        # quote admission reads prover bonds from the escrow (cached per L1 block); no L1: not checked
        escrow = L1EscrowView(l1) if l1 is not None else None
        if escrow is not None:
            await escrow.refresh_min_bond()
        tx_store = None
        if c.data_directory is not None:  # the tx pool survives restarts, like v0.63.1's KV store
            from node.tx_store import SqliteTxStore

            tx_store = SqliteTxStore(c.data_directory / "tx_pool.sqlite")
        listen = c.p2p_tcp_listen_addr
        check_tcp_listen("P2P_TCP_LISTEN_ADDR", listen.host or "0.0.0.0", listen.port)
        service = P2PService(
            p2p_config(c, private_key=key, announce=tcp_announce, rollup_address=rollup, epoch_duration=epoch_duration),
            chain_state=chain_state,
            discovery=discovery,
            escrow=escrow,
            tx_store=tx_store,
        )
        if c.p2p_gossip_trace:
            service.intake.on_accept = gossip_trace
        if tx_store is not None:
            restored = await trio.to_thread.run_sync(service.tx_pool.restore, chain_state.next_block_number())
            log.info("tx pool restored", extra={"txs": restored, "path": str(tx_store.path)})
        async with trio.open_nursery() as nursery:
            if tx_store is not None:
                from node.tx_store import TxStoreFlusher

                await nursery.start(TxStoreFlusher(tx_store).run)
            if isinstance(chain_state, L1ChainState):
                nursery.start_soon(chain_state.run)
            try:
                await nursery.start(discovery.run)
            except OSError as e:  # busy or unavailable UDP port: a start-up mistake, named
                raise StartupError(f"P2P_UDP_LISTEN_ADDR {udp_listen[0]}:{udp_listen[1]}: cannot listen "
                                   f"({e.strerror or e})") from None
            info = await nursery.start(service.run)
            self.client = P2PClient(service)
            self.ctx.p2p = self.client
            log.info(
                "p2p started",
                extra={"peer_id": info.peer_id, "enr": discovery.local_enr(), "bootstrap": len(bootstrap)},
            )
            if self.registry is not None:
                from node.metrics import P2PCollector

                self.registry.register(P2PCollector(self.client.statistics))
                self.registry.register(StatisticsCollector(  # the rest (pools, scoring, req/resp) as plain gauges
                    "aztec_p2p_stats", self.client.statistics,
                    exclude=frozenset({"gossip", "peers", "peers_by_direction", "published", "peer_id"})))
            nursery.start_soon(self._log_status, self.client)
            task_status.started(info)
