"""P2PService: the long-running p2p component (host, gossip intake, pools, req/resp, peer manager).

    service = P2PService(P2PConfig(chain_id=..., rollup_address=...), chain_state=..., discovery=...)
    info = await nursery.start(service.run)   # P2PServiceInfo(peer_id, listen_addrs, enr)

`chain_state` tells quote/tx validation the current L2 slot, the proven epoch and the next block
number (the node wires its archiver/L1 view in; `ManualChainState` is a settable default).
`discovery` is any `p2p.peer_manager.DiscoverySource` (the discv5 service).
`topics` is the gossip topic registry (`p2p.topics.TOPICS`, the four v0.63.1 topics, by default).
Cancellation of the surrounding scope is the shutdown path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import trio

from p2p.containment import ContainmentConfig, PeerGuard
from p2p.gossip import GossipIntake, IntakeConfig
from p2p.keys import generate_private_key
from p2p.libp2p_host import GossipsubParams, HostConfig, Libp2pHost
from p2p.peer_manager import DiscoverySource, PeerManager
from p2p.pools.attestation_pool import AttestationPool
from p2p.pools.quote_admission import EscrowView, QuoteAdmission
from p2p.pools.quote_pool import EpochProofQuotePool
from p2p.pools.tx_pool import TxPool, TxStore
from p2p.reqresp import ReqResp
from p2p.scoring import PeerScoring, ScoringConfig
from p2p.topics import TOPICS, TopicRegistry
from p2p.validation import AZTEC_EPOCH_DURATION, QuoteValidationContext, TxValidationContext


class ChainState(Protocol):
    def current_slot(self) -> int: ...
    def proven_epoch(self) -> int | None: ...
    def next_block_number(self) -> int | None: ...


@dataclass(slots=True)
class ManualChainState:
    """A ChainState whose values the embedding code sets (tests, tools without L1)."""

    slot: int = 0
    proven: int | None = None
    next_block: int | None = None

    def current_slot(self) -> int:
        return self.slot

    def proven_epoch(self) -> int | None:
        return self.proven

    def next_block_number(self) -> int | None:
        return self.next_block


@dataclass(frozen=True, slots=True)
class P2PConfig:
    """What the p2p service needs, as plain typed values. The node fills it from its environment
    (`node.config.p2p_config`); an embedder builds it directly."""

    private_key: bytes | None = None  # 32-byte secp256k1 secret; random (new peer id) if None, as 0.63
    listen_addrs: Sequence[str] = ("/ip4/127.0.0.1/tcp/0",)
    announce_addrs: Sequence[str] = ()
    static_peers: Sequence[str] = ()  # /ip4/../tcp/../p2p/<id>
    chain_id: int = 31337  # L1_CHAIN_ID
    rollup_address: bytes = bytes(20)  # EIP-712 verifyingContract for quote signatures
    epoch_duration: int = AZTEC_EPOCH_DURATION
    max_peers: int = 100  # P2P_MAX_PEERS
    min_peers: int = 10  # P2P_MIN_PEERS: below it the peer manager redials peers it reached before
    peer_check_interval: float = 1.0  # P2P_PEER_CHECK_INTERVAL_MS / 1000: peer manager heartbeat
    autodial_interval: float = 5.0  # below min_peers, redial at most this often (js-libp2p autoDialInterval)
    gossipsub: GossipsubParams = field(default_factory=GossipsubParams)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    containment: ContainmentConfig = field(default_factory=ContainmentConfig)
    quote_pool_max_per_epoch: int = 128
    quote_pool_max_total: int = 1024
    quote_pool_max_per_prover: int = 4  # per prover per epoch
    tx_pool_max_txs: int = 10_000
    tx_pool_max_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class P2PServiceInfo:
    peer_id: str
    listen_addrs: tuple[str, ...]
    enr: str | None


class P2PService:
    def __init__(
        self,
        config: P2PConfig,
        *,
        chain_state: ChainState | None = None,
        discovery: DiscoverySource | None = None,
        clock: Callable[[], float] = trio.current_time,
        escrow: EscrowView | None = None,
        tx_store: TxStore | None = None,
        topics: TopicRegistry = TOPICS,
    ) -> None:
        self.config = config
        self.topics = topics  # every registered topic is subscribed, validated and delivered
        self.chain_state: ChainState = chain_state or ManualChainState()
        self.discovery = discovery
        self.private_key = config.private_key or generate_private_key()
        self.scoring = PeerScoring(config.scoring, now=clock)
        self.guard = PeerGuard(config.containment, scoring=self.scoring, now=clock)
        self.quote_pool = EpochProofQuotePool(
            max_per_epoch=config.quote_pool_max_per_epoch,
            max_total=config.quote_pool_max_total,
            max_per_prover=config.quote_pool_max_per_prover,
        )
        # the one way into the quote pool (gossip, P2PClient.add_epoch_proof_quote); `escrow` is the
        # node's read-only L1 view of ProofCommitmentEscrow deposits (None: bond not checked)
        self.quote_admission = QuoteAdmission(
            self.quote_pool, chain_id=config.chain_id, rollup_address=config.rollup_address, escrow=escrow
        )
        self.tx_pool = TxPool(max_txs=config.tx_pool_max_txs, max_bytes=config.tx_pool_max_bytes, store=tx_store)
        self.attestation_pool = AttestationPool()
        cs = self.chain_state
        self.quote_ctx = QuoteValidationContext(
            chain_id=config.chain_id,
            rollup_address=config.rollup_address,
            current_slot=cs.current_slot,
            proven_epoch=cs.proven_epoch,
            epoch_duration=config.epoch_duration,
        )
        self.intake = GossipIntake(
            quote_ctx=self.quote_ctx,
            tx_ctx=TxValidationContext(chain_id=config.chain_id, next_block_number=cs.next_block_number),
            scoring=self.scoring,
            quote_pool=self.quote_pool,
            tx_pool=self.tx_pool,
            attestation_pool=self.attestation_pool,
            now=clock,
            config=config.intake,
            quote_admission=self.quote_admission,
            topics=topics,
        )
        self.host = Libp2pHost(
            HostConfig(
                private_key=self.private_key,
                listen_addrs=tuple(config.listen_addrs),
                announce_addrs=tuple(config.announce_addrs),
                gossipsub=config.gossipsub,
            ),
            topics=topics.topics,
            validator=self.intake.validate,
            app_score=self.scoring.score,
            guard=self.guard,
        )
        self.intake.publisher = self.host.publish
        self.reqresp = ReqResp(self.host, tx_pool=self.tx_pool, scoring=self.scoring, now=clock)
        self.peer_manager = PeerManager(
            self.host,
            static_peers=config.static_peers,
            discovery=discovery,
            max_peers=config.max_peers,
            min_peers=config.min_peers,
            heartbeat=config.peer_check_interval,
            autodial_interval=config.autodial_interval,
        )
        self.peer_id = self.host.peer_id
        self.ready = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[P2PServiceInfo] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.intake.run)
            host_info = await nursery.start(self.host.run)
            self.reqresp.install()
            await nursery.start(self.peer_manager.run)
            self.ready.set()
            task_status.started(P2PServiceInfo(host_info.peer_id, host_info.listen_addrs, self.get_enr()))

    def get_enr(self) -> str | None:
        return None if self.discovery is None else self.discovery.local_enr()

    def listen_addrs(self) -> list[str]:
        return self.host.listen_addrs()

    async def publish(self, topic: str, data: bytes) -> None:
        await self.host.publish(topic, data)

    def statistics(self) -> dict[str, object]:
        return {
            "peer_id": self.peer_id,
            "peers": len(self.host.connected_peers()),
            "peers_by_direction": self.host.peers_by_direction(),
            "gossip": self.intake.statistics(),
            "quote_pool": self.quote_pool.statistics(),
            "quote_admission": self.quote_admission.statistics(),
            "tx_pool": self.tx_pool.statistics(),
            "attestation_pool": self.attestation_pool.statistics(),
            "scoring": self.scoring.statistics(),
            "reqresp": self.reqresp.statistics(),
            "peer_manager": self.peer_manager.statistics(),
            "host": self.host.statistics(),
            "published": self.host.publish_count,
        }
