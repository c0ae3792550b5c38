"""Role builders for the network side: boot node, devnet, archiver, p2p, sequencer, tx bot."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from core.http import SERVER_ERROR, InvalidParams, JsonRpcError
from core.http.jsonrpc import param_int
from node.components import Context, Deferred, builder, need
from node.config import ConfigError, HostPort
from node.health import ComponentHealth, p2p_probe
from node.roles.common import _ensure_archiver, _ensure_l1
from node.startup import StartupGuard, port_in_use
from node.supervisor import Named

if TYPE_CHECKING:
    from node.sequencer.sequencer import MemorySources, Sequencer
    from node.txbot import TxBot
    from p2p.client import P2PClient
    from p2p.pools.quote_admission import AdmissionResult, QuoteAdmission


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
