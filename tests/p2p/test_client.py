"""P2PClient embedding API: open_p2p_client, proposals -> attestations, discovery plug-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from core.aztec.header import Header
from p2p.client import P2PClient, P2PClientError, open_p2p_client
from p2p.enr import Enr
from p2p.peer_manager import DiscoveredPeer
from p2p.service import ManualChainState, P2PConfig, P2PService
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.consensus import ConsensusPayload
from p2p.wire.quote import address_of
from tests.p2p.test_network import CHAIN_ID, ROLLUP, make_quote, wait_for

PROPOSER_KEY = bytes([0x31]) * 32
VALIDATOR_KEY = bytes([0x32]) * 32


class ListDiscovery:
    """A DiscoverySource that yields a fixed list (the discv5 service plugs in the same way)."""

    def __init__(self, items: list[DiscoveredPeer | Enr]) -> None:
        self.items = items

    async def discovered_peers(self) -> AsyncIterator[DiscoveredPeer | Enr]:
        for item in self.items:
            yield item
        await trio.sleep_forever()

    def local_enr(self) -> str | None:
        return "enr:-test"


async def test_open_client_discovery_and_proposal_handler() -> None:
    state = ManualChainState(slot=20)
    cfg = P2PConfig(chain_id=CHAIN_ID, rollup_address=ROLLUP)
    async with open_p2p_client(cfg, chain_state=state) as a:
        # b learns a from discovery, once as an ENR without tcp (ignored) and once as a peer+addr
        no_tcp = Enr.create(bytes([0x41]) * 32, ip="127.0.0.1", udp=1)
        disc = ListDiscovery([no_tcp, DiscoveredPeer(a.peer_id, a.listen_addrs()[0].split("/p2p/")[0])])
        async with open_p2p_client(cfg, chain_state=state, discovery=disc) as b:
            assert b.get_enr() == "enr:-test"
            await wait_for(lambda: a.peer_id in b.peers())
            assert b.statistics()["peer_manager"]["ignored_no_tcp"] == 1  # type: ignore[index]

            async def on_proposal(p: BlockProposal, sender: bytes) -> BlockAttestation | None:
                assert sender == address_of(PROPOSER_KEY)
                return BlockAttestation.create(p.payload, VALIDATOR_KEY)

            a.register_block_proposal_handler(on_proposal)
            await wait_for(lambda: a.service.host.mesh_peers("/aztec/block_proposal/0.1.0"))
            header = Header.empty()
            proposal = BlockProposal.create(header, 0xAAAA, (bytes(31) + b"\x01",), PROPOSER_KEY)
            await b.broadcast_proposal(proposal)
            # a receives it, attests, gossips the attestation; b pools it
            await wait_for(lambda: b.get_attestations_for_slot(0, 0xAAAA))
            (att,) = b.get_attestations_for_slot(0, 0xAAAA)
            assert att.get_sender() == address_of(VALIDATOR_KEY)
            assert att.payload == ConsensusPayload(header, 0xAAAA, (bytes(31) + b"\x01",))

            await b.add_epoch_proof_quote(make_quote(fee=3))
            await wait_for(lambda: a.get_epoch_proof_quotes(1))
            assert a.best_epoch_proof_quote(1, 20) == make_quote(fee=3)
            assert a.delete_quotes_to_epoch(1) == 1


async def test_client_requires_running_service() -> None:
    client = P2PClient(P2PService(P2PConfig()))
    with pytest.raises(P2PClientError):
        await client.add_epoch_proof_quote(make_quote())

