"""`p2p.pools.quote_admission.EscrowView` over the L1 client: ProofCommitmentEscrow deposits, cached
per L1 block, with a bounded number of lookups per block.

- `deposit_of(prover)`: the deposit at the current L1 block. The block number is re-read at most
  every `block_poll` seconds; a prover read at that block is answered from the cache. A lookup for a
  prover not read at the current block costs one eth_call, at most `lookups_per_block` per L1 block
  and `concurrency` at a time: a flood of quotes from throwaway keys cannot turn into a flood of L1
  calls. Over budget, or when L1 fails, the last value read (any block) is returned, else None (the
  admission rule then refuses the quote as BOND_UNKNOWN; the prover can resend later).
- `cached_deposit(prover)`: last value read, no I/O (the gossip validator's synchronous pre-check).
- `min_bond()`: PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST, read once by `refresh_min_bond()`.
The cache holds at most `max_provers` entries (least recently used dropped).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

import trio

from core.aztec.constants import PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST
from node.l1.errors import L1Error

log = logging.getLogger("node.l1.escrow")

DEFAULT_MAX_PROVERS: Final = 4096
DEFAULT_LOOKUPS_PER_BLOCK: Final = 64


class L1EscrowView:
    def __init__(
        self,
        l1: Any,  # node.l1.client.L1Client (escrow_deposits, block_number, min_bond_amount)
        *,
        block_poll: float = 1.0,
        lookups_per_block: int = DEFAULT_LOOKUPS_PER_BLOCK,
        max_provers: int = DEFAULT_MAX_PROVERS,
        concurrency: int = 4,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.l1 = l1
        self.block_poll = block_poll
        self.lookups_per_block = lookups_per_block
        self.max_provers = max_provers
        self._clock = clock
        self._limiter = trio.CapacityLimiter(concurrency)
        self._cache: OrderedDict[bytes, tuple[int, int]] = OrderedDict()  # prover -> (deposit, block)
        self._block = -1
        self._block_read_at = float("-inf")
        self._lookups_this_block = 0
        self._min_bond = PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST
        self._stats = {"lookups": 0, "cache_hits": 0, "over_budget": 0, "l1_errors": 0, "stale_answers": 0}

    # ---- EscrowView ---------------------------------------------------------------------------
    def min_bond(self) -> int:
        return self._min_bond

    def cached_deposit(self, prover: bytes) -> int | None:
        hit = self._cache.get(prover)
        return None if hit is None else hit[0]

    async def deposit_of(self, prover: bytes) -> int | None:
        await self._refresh_block()
        hit = self._cache.get(prover)
        if hit is not None and hit[1] >= self._block:
            self._stats["cache_hits"] += 1
            self._cache.move_to_end(prover)
            return hit[0]
        if self._lookups_this_block >= self.lookups_per_block:
            self._stats["over_budget"] += 1
            return self._stale(hit)
        self._lookups_this_block += 1
        block = self._block
        try:
            async with self._limiter:
                deposit = int(await self.l1.escrow_deposits(prover))
        except (L1Error, OSError, ValueError) as e:
            self._stats["l1_errors"] += 1
            log.warning("escrow deposit of 0x%s unreadable: %s", prover.hex(), e)
            return self._stale(hit)
        self._stats["lookups"] += 1
        self._cache[prover] = (deposit, block)
        self._cache.move_to_end(prover)
        while len(self._cache) > self.max_provers:
            self._cache.popitem(last=False)
        return deposit

    # ---- helpers ------------------------------------------------------------------------------
    def _stale(self, hit: tuple[int, int] | None) -> int | None:
        if hit is None:
            return None
        self._stats["stale_answers"] += 1
        return hit[0]

    async def _refresh_block(self) -> None:
        now = self._clock()
        if now - self._block_read_at < self.block_poll:
            return
        try:
            block = int(await self.l1.block_number())
        except (L1Error, OSError, ValueError) as e:
            self._stats["l1_errors"] += 1
            log.warning("L1 block number unreadable: %s", e)
            return
        self._block_read_at = now
        if block != self._block:
            self._block = block
            self._lookups_this_block = 0

    async def refresh_min_bond(self) -> int:
        try:
            self._min_bond = int(await self.l1.min_bond_amount())
        except (L1Error, OSError, ValueError) as e:
            log.warning("PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST unreadable, using %d: %s", self._min_bond, e)
        return self._min_bond

    def statistics(self) -> dict[str, int]:
        return {**self._stats, "cached_provers": len(self._cache), "l1_block": self._block}
