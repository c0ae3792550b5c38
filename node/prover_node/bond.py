"""BondManager: keeps the prover's deposit in the ProofCommitmentEscrow above the minimum.

Rule (pure, `node.l1.rules.escrow_top_up`, the one checked against L1 in interop/test_l1_claim.py):
with `required` the bond of the quote about to be sent (0 on start-up and after a claim), nothing
happens while deposit >= max(minimum, required); otherwise deposit max(target, minimum, required) -
deposit. Tokens: approve the escrow for what is missing; if the
wallet holds too few tokens and minting is allowed (the devnet's TestERC20), mint the difference;
otherwise fail with a clear InsufficientTokens error (the operator must fund the prover).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from node.l1.rules import escrow_top_up

log = logging.getLogger("node.prover_node.bond")


class InsufficientTokens(Exception):
    pass


class EscrowPort(Protocol):
    """The L1 calls the BondManager needs (node.l1 client adapters implement it)."""

    async def escrow_deposit_of(self, prover: bytes) -> int: ...
    async def token_balance_of(self, owner: bytes) -> int: ...
    async def token_allowance(self, owner: bytes) -> int: ...  # allowance owner -> escrow
    async def token_approve_escrow(self, amount: int) -> None: ...
    async def token_mint(self, amount: int) -> None: ...
    async def escrow_deposit(self, amount: int) -> None: ...


@dataclass
class BondManager:
    l1: EscrowPort
    prover: bytes
    minimum: int
    target: int
    allow_mint: bool = False
    deposited_total: int = 0
    on_deposit: Callable[[int], None] | None = None  # sees the escrow deposit each time it is read (metrics)

    async def ensure_bond(self, required: int = 0) -> int:
        """Top the escrow up if needed; returns the amount deposited (0 if none was needed)."""
        deposit = await self.l1.escrow_deposit_of(self.prover)
        if self.on_deposit is not None:
            self.on_deposit(deposit)
        amount = escrow_top_up(deposit, required, min_bond=self.minimum, target=self.target)
        if amount == 0:
            return 0
        balance = await self.l1.token_balance_of(self.prover)
        if balance < amount:
            if not self.allow_mint:
                raise InsufficientTokens(
                    f"escrow deposit {deposit} is below {max(self.minimum, required)} and the prover holds only "
                    f"{balance} tokens, {amount} needed: fund 0x{self.prover.hex()}"
                )
            await self.l1.token_mint(amount - balance)
        if await self.l1.token_allowance(self.prover) < amount:
            await self.l1.token_approve_escrow(amount)
        await self.l1.escrow_deposit(amount)
        self.deposited_total += amount
        if self.on_deposit is not None:
            self.on_deposit(deposit + amount)
        log.info("escrow topped up", extra={"deposited": amount, "deposit_before": deposit})
        return amount
