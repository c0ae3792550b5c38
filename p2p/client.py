"""P2PClient: the API sequencer/prover tooling embeds (Aztec 0.63 P2PClient, p2p doc 8.3, Pythonic).

    async with open_p2p_client(P2PConfig(...), chain_state=...) as client:
        await client.add_epoch_proof_quote(quote)

or start a `P2PService` in your own nursery and wrap it: `client = P2PClient(service)`.
Block sync (getL2Tips, handleBlockStreamEvent...) lives in the node; it calls `mark_txs_as_mined`,
`delete_txs`, `delete_quotes_to_epoch` and updates the chain state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, Literal

import trio

from p2p.gossip import BlockProposalHandler
from p2p.peer_manager import DiscoveredPeer, DiscoverySource
from p2p.pools.quote_admission import Admission, AdmissionResult
from p2p.pools.tx_pool import TxStatus
from p2p.service import ChainState, P2PConfig, P2PService
from p2p.topics import BLOCK_ATTESTATION, BLOCK_PROPOSAL, EPOCH_PROOF_QUOTE, TX, TopicSpec
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.quote import EpochProofQuote
from p2p.wire.tx import Tx


class P2PClientError(Exception):
    """The client cannot do what was asked (e.g. not started)."""


class P2PClient:
    def __init__(self, service: P2PService) -> None:
        self.service = service

    # ---- state ---------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return self.service.ready.is_set()

    def _require_ready(self) -> None:
        if not self.is_ready():
            raise P2PClientError("P2P client is not running")

    @property
    def peer_id(self) -> str:
        return self.service.peer_id

    def listen_addrs(self) -> list[str]:
        return self.service.listen_addrs()

    def get_enr(self) -> str | None:
        return self.service.get_enr()

    def peers(self) -> list[str]:
        return self.service.host.connected_peers()

    async def connect(self, multiaddr: str) -> str:
        """Dial a peer now (`/ip4/../tcp/../p2p/<id>`); returns its peer id."""
        return await self.service.host.dial(multiaddr)

    def add_peer(self, peer_id: str, multiaddr: str) -> None:
        self.service.peer_manager.add_peer(DiscoveredPeer(peer_id, multiaddr))

    def statistics(self) -> dict[str, object]:
        return self.service.statistics()

    # ---- any registered gossip topic -----------------------------------------------------
    async def publish(self, topic: TopicSpec | str, value: Any) -> None:
        """Gossip `value` (encoded by the topic's codec) on a topic of the service's registry,
        given as its `TopicSpec`, its name (`"tx"`) or its topic string."""
        self._require_ready()
        spec = self._spec(topic)
        await self.service.publish(spec.topic, spec.encode(value))

    def _spec(self, topic: TopicSpec | str) -> TopicSpec:
        key = topic.topic if isinstance(topic, TopicSpec) else topic
        reg = self.service.topics
        spec = reg.get(key)
        if spec is None:
            try:
                spec = reg.by_name(key)
            except KeyError:
                raise P2PClientError(f"topic {key!r} is not registered") from None
        return spec

    # ---- epoch proof quotes --------------------------------------------------------------
    async def add_epoch_proof_quote(self, quote: EpochProofQuote) -> AdmissionResult:
        """Admit into the local pool (same admission as gossip: signature for our rollup and chain,
        bond >= minimum and covered by the prover's escrow deposit, fee range, caps), then gossip it
        if admitted (Aztec's addEpochProofQuote, which pools and gossips anything)."""
        self._require_ready()
        res = await self.service.quote_admission.admit(quote, current_slot=self.service.chain_state.current_slot())
        if res.outcome is Admission.ADMITTED:
            await self.broadcast_epoch_proof_quote(quote)
        return res

    async def broadcast_epoch_proof_quote(self, quote: EpochProofQuote) -> None:
        self._require_ready()
        await self.publish(EPOCH_PROOF_QUOTE, quote)

    def get_epoch_proof_quotes(self, epoch: int) -> list[EpochProofQuote]:
        return self.service.quote_pool.get_quotes(epoch)

    def best_epoch_proof_quote(
        self,
        epoch: int,
        current_slot: int,
        is_claimable: Callable[[EpochProofQuote], bool] = lambda _q: True,
    ) -> EpochProofQuote | None:
        return self.service.quote_pool.best_quote(epoch, current_slot, is_claimable)

    def delete_quotes_to_epoch(self, epoch: int) -> int:
        return self.service.quote_pool.delete_quotes_to_epoch(epoch)

    # ---- txs -----------------------------------------------------------------------------
    async def send_tx(self, tx: Tx) -> None:
        self._require_ready()
        raw = tx.to_bytes()
        self.service.tx_pool.add_tx(tx, raw)
        await self.service.publish(TX.topic, raw)

    def get_tx_by_hash_from_pool(self, tx_hash: bytes) -> Tx | None:
        return self.service.tx_pool.get_tx_by_hash(tx_hash)

    async def get_tx_by_hash(self, tx_hash: bytes) -> Tx | None:
        """From the pool, else from peers over /aztec/req/tx/0.1.0 (stored when found)."""
        tx = self.service.tx_pool.get_tx_by_hash(tx_hash)
        if tx is not None:
            return tx
        return await self.request_tx_by_hash(tx_hash)

    async def request_tx_by_hash(self, tx_hash: bytes) -> Tx | None:
        self._require_ready()
        return await self.service.reqresp.request_tx(tx_hash)

    async def request_txs(self, tx_hashes: Iterable[bytes]) -> list[Tx | None]:
        return [await self.request_tx_by_hash(h) for h in tx_hashes]

    def get_txs(self, which: Literal["all", "pending", "mined"] = "all") -> list[Tx]:
        pool = self.service.tx_pool
        if which == "all":
            return pool.get_all_txs()
        hashes = pool.get_pending_tx_hashes() if which == "pending" else [h for h, _ in pool.get_mined_tx_hashes()]
        return [t for t in (pool.get_tx_by_hash(h) for h in hashes) if t is not None]

    def get_tx_status(self, tx_hash: bytes) -> TxStatus | None:
        return self.service.tx_pool.get_tx_status(tx_hash)

    def delete_txs(self, tx_hashes: Iterable[bytes]) -> None:
        self._require_ready()
        self.service.tx_pool.delete_txs(tx_hashes)

    def mark_txs_as_mined(self, tx_hashes: Iterable[bytes], block_number: int) -> None:
        self.service.tx_pool.mark_as_mined(tx_hashes, block_number)

    def mark_mined_as_pending(self, tx_hashes: Iterable[bytes]) -> None:
        self.service.tx_pool.mark_mined_as_pending(tx_hashes)

    # ---- consensus -----------------------------------------------------------------------
    async def broadcast_proposal(self, proposal: BlockProposal) -> None:
        self._require_ready()
        await self.publish(BLOCK_PROPOSAL, proposal)

    async def broadcast_attestation(self, attestation: BlockAttestation) -> None:
        self._require_ready()
        await self.publish(BLOCK_ATTESTATION, attestation)

    def register_block_proposal_handler(self, handler: BlockProposalHandler) -> None:
        """`handler(proposal, sender) -> attestation | None`; a returned attestation is gossiped."""
        self.service.intake.proposal_handlers.append(handler)

    def get_attestations_for_slot(self, slot: int, proposal_id: int) -> list[BlockAttestation]:
        return self.service.attestation_pool.get_attestations_for_slot(slot, proposal_id)


@asynccontextmanager
async def open_p2p_client(
    config: P2PConfig,
    *,
    chain_state: ChainState | None = None,
    discovery: DiscoverySource | None = None,
) -> AsyncIterator[P2PClient]:
    """Start a P2PService in a private nursery; stop it when the block exits."""
    service = P2PService(config, chain_state=chain_state, discovery=discovery)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        try:
            yield P2PClient(service)
        finally:
            nursery.cancel_scope.cancel()
