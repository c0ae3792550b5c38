"""Adapters from L1Client to the ports other node components declare (kept here so those components
stay free of web3)."""

from __future__ import annotations

from node.l1.client import L1Client


class L1EscrowAdapter:
    """node.prover_node.bond.EscrowPort over an L1Client whose signer is the prover."""

    def __init__(self, client: L1Client) -> None:
        self.client = client

    async def escrow_deposit_of(self, prover: bytes) -> int:
        return await self.client.escrow_deposits(prover)

    async def token_balance_of(self, owner: bytes) -> int:
        return await self.client.token_balance(owner)

    async def token_allowance(self, owner: bytes) -> int:
        return await self.client.token_allowance(owner, self.client.addresses.proof_commitment_escrow)

    async def token_approve_escrow(self, amount: int) -> None:
        await self.client.token_approve(self.client.addresses.proof_commitment_escrow, amount)

    async def token_mint(self, amount: int) -> None:
        await self.client.token_mint(self.client.address, amount)

    async def escrow_deposit(self, amount: int) -> None:
        await self.client.escrow_deposit(amount)
