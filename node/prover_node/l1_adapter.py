"""The prover node's L1 ports (ChainReader, EscrowPort) on top of node.l1.client.L1Client."""

from __future__ import annotations

from node.l1.client import L1Client
from node.l1.ports import L1EscrowAdapter
from node.prover_node.monitor import ChainView


class ProverL1(L1EscrowAdapter):
    """ChainReader for the prover node; the EscrowPort methods come from L1EscrowAdapter."""

    def __init__(self, client: L1Client) -> None:
        if client.signer is None:
            raise ValueError("the prover node's L1 client needs PROVER_PUBLISHER_PRIVATE_KEY")
        super().__init__(client)
        self.address = bytes.fromhex(client.address.removeprefix("0x"))

    async def chain_view(self) -> ChainView:
        c = self.client
        timing = await c.timing()
        slot = await c.current_slot()
        tips = await c.tips()
        epoch_to_prove = await c.epoch_to_prove()
        claim = await c.proof_claim()
        return ChainView(
            current_slot=slot,
            epoch_duration=timing.epoch_duration,
            claim_window=timing.claim_duration,
            pending_block=tips.pending_block_number,
            proven_block=tips.proven_block_number,
            epoch_to_prove=epoch_to_prove,
            claim=claim if claim.exists else None,
        )
