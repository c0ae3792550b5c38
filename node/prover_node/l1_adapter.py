"""The prover node's L1 ports (ChainReader, EscrowPort) on top of node.l1.client.L1Client."""

from __future__ import annotations

from node.l1.client import L1Client
from node.prover_node.monitor import ChainView


class ProverL1:
    def __init__(self, client: L1Client) -> None:
        if client.signer is None:
            raise ValueError("the prover node's L1 client needs PROVER_PUBLISHER_PRIVATE_KEY")
        self.client = client
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

    # EscrowPort
    async def escrow_deposit_of(self, prover: bytes) -> int:
        return await self.client.escrow_deposits(prover)

    async def token_balance_of(self, owner: bytes) -> int:
        return await self.client.token_balance(owner)

    async def token_allowance(self, owner: bytes) -> int:
        return await self.client.token_allowance(owner, self.client.addresses.proof_commitment_escrow)

    async def token_approve_escrow(self, amount: int) -> None:
        await self.client.token_approve(self.client.addresses.proof_commitment_escrow, amount)

    async def token_mint(self, amount: int) -> None:
        await self.client.token_mint(self.address, amount)

    async def escrow_deposit(self, amount: int) -> None:
        await self.client.escrow_deposit(amount)
