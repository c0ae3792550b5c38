"""Quote admission: which EpochProofQuotes may enter the pool (sans-IO rule + thin async driver).

A quote is admitted only if it could be claimed on L1 as far as can be known without the clock:
- its EIP-712 signature recovers to its prover under OUR chain id and Rollup (SignatureLib);
- `basisPointFee <= 10000` (Rollup__InvalidBasisPointFee);
- `bondAmount >= PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST` (Rollup__InsufficientBondAmount);
- the prover has at least `bondAmount` deposited in the ProofCommitmentEscrow
  (Rollup__InsufficientFundsInEscrow), read through an injected read-only `EscrowView` that the
  node implements over L1 and caches per L1 block.
Time-dependent rules (expiry, claim phase, epoch to prove, proposer) stay with the validator /
the proposer's eth_call. The pool then bounds what is admitted (per epoch, per prover per epoch,
total) and evicts by (claimable, fee), where claimable = not expired and bond still covered by the
deposit we know (`QuoteAdmission.claimable`, installed as the pool's hook).

Spam cannot beat it: a throwaway key has no deposit, so its quotes never enter the pool (on gossip
they are IGNOREd: a relay cannot know the bond, so it is not penalised; the originators are counted
by the gossip intake), and one bonded prover can hold at most `max_per_prover` quotes per epoch.
Gossip, `node_addEpochProofQuote` and the sequencer's own sink all use this one type.

Without an escrow view (a node with no L1) the bond cannot be checked: `statistics()` says so and
every other rule still applies.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, Protocol

from p2p.pools.quote_pool import AddResult, EpochProofQuotePool
from p2p.validation import ZERO_ADDRESS, quote_not_expired, quote_signature_problem, quote_signer
from p2p.wire.quote import MAX_BASIS_POINT_FEE, EpochProofQuote

PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST: Final = 1000  # Rollup.sol 0.63.1 (read from L1 when known)
MAX_COUNTED_ORIGINS: Final = 1024
__all__ = ["ZERO_ADDRESS", "quote_not_expired", "quote_signer"]  # p2p.validation's, with the rules below


class EscrowView(Protocol):
    """Read-only L1 facts the admission rule needs. Implemented in node/ over the L1 client."""

    def cached_deposit(self, prover: bytes) -> int | None:
        """Deposit of `prover` as last read (any L1 block), or None if never read. No I/O."""
        ...

    async def deposit_of(self, prover: bytes) -> int | None:
        """Deposit at the current L1 block (cached per block); None if it cannot be read now."""
        ...

    def min_bond(self) -> int:
        """The Rollup's PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST."""
        ...


class Admission(enum.Enum):
    ADMITTED = "admitted"
    DUPLICATE = "duplicate"
    REFUSED_FULL = "refused_full"
    REFUSED_PROVER_CAP = "refused_prover_cap"
    BAD_SIGNATURE = "bad_signature"  # not signed by the prover for our rollup and chain
    FEE_OUT_OF_RANGE = "fee_out_of_range"
    BOND_BELOW_MINIMUM = "bond_below_minimum"
    UNBONDED = "unbonded"  # escrow deposit below bondAmount
    BOND_UNKNOWN = "bond_unknown"  # the deposit could not be read (L1 down, lookup budget spent)

    @property
    def admitted(self) -> bool:
        return self is Admission.ADMITTED


_FROM_ADD: Final = {
    AddResult.ADDED: Admission.ADMITTED,
    AddResult.DUPLICATE: Admission.DUPLICATE,
    AddResult.REFUSED_FULL: Admission.REFUSED_FULL,
    AddResult.REFUSED_PROVER_CAP: Admission.REFUSED_PROVER_CAP,
}


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    outcome: Admission
    reason: str = ""

    @property
    def admitted(self) -> bool:
        return self.outcome.admitted


# ---- the pure rule ------------------------------------------------------------------------------
# The claim checks that need neither the clock nor L1 state, written once (with the signature rule
# in p2p/validation.py): node/l1/rules.check_claim (the full claim in the Rollup's order) calls them.
def basis_point_fee_ok(fee: int) -> bool:
    """Rollup__InvalidBasisPointFee unless 0 <= basisPointFee <= 10000."""
    return 0 <= fee <= MAX_BASIS_POINT_FEE


def bond_meets_minimum(bond: int, min_bond: int = PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST) -> bool:
    """Rollup__InsufficientBondAmount unless bondAmount >= the minimum."""
    return bond >= min_bond


def bond_covered_by_escrow(bond: int, deposit: int) -> bool:
    """Rollup__InsufficientFundsInEscrow unless the prover's escrow deposit covers bondAmount."""
    return bond <= deposit


def static_problem(
    quote: EpochProofQuote, *, chain_id: int, rollup_address: bytes, min_bond: int, signature_verified: bool = False
) -> AdmissionResult | None:
    """The claim checks that depend neither on time nor on L1 state; None if all pass.
    `signature_verified`: the caller already recovered the prover under the same chain and rollup
    (the gossip validator), so the ecrecover is not repeated."""
    p = quote.payload
    if not signature_verified:
        problem = quote_signature_problem(quote, chain_id, rollup_address)
        if problem is not None:
            return AdmissionResult(Admission.BAD_SIGNATURE, problem)
    if not basis_point_fee_ok(p.basis_point_fee):
        return AdmissionResult(Admission.FEE_OUT_OF_RANGE, f"basisPointFee {p.basis_point_fee}")
    if not bond_meets_minimum(p.bond_amount, min_bond):
        return AdmissionResult(Admission.BOND_BELOW_MINIMUM, f"bondAmount {p.bond_amount} < minimum {min_bond}")
    return None


def bond_problem(quote: EpochProofQuote, deposit: int | None) -> AdmissionResult | None:
    """Escrow check; `deposit` None means it could not be read."""
    bond = quote.payload.bond_amount
    if deposit is None:
        return AdmissionResult(Admission.BOND_UNKNOWN, f"escrow deposit of 0x{quote.payload.prover.hex()} unknown")
    if not bond_covered_by_escrow(bond, deposit):
        return AdmissionResult(
            Admission.UNBONDED, f"prover 0x{quote.payload.prover.hex()} has {deposit} in escrow, bond is {bond}"
        )
    return None


# ---- the driver ---------------------------------------------------------------------------------
class QuoteAdmission:
    """The one way into an `EpochProofQuotePool` (gossip, JSON-RPC, the sequencer's sink)."""

    def __init__(
        self,
        pool: EpochProofQuotePool,
        *,
        chain_id: int,
        rollup_address: bytes,
        escrow: EscrowView | None = None,
    ) -> None:
        self.pool = pool
        self.chain_id = chain_id
        self.rollup_address = rollup_address
        self.escrow = escrow
        pool.claimable = self.claimable
        self._stats: dict[str, int] = {a.value: 0 for a in Admission}
        self._unbonded_origins: OrderedDict[str, int] = OrderedDict()

    def min_bond(self) -> int:
        return self.escrow.min_bond() if self.escrow is not None else PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST

    def claimable(self, quote: EpochProofQuote, _current_slot: int | None) -> bool:
        """Bond still covered by the deposit we last read (the pool adds the expiry check)."""
        if self.escrow is None:
            return True
        deposit = self.escrow.cached_deposit(quote.payload.prover)
        return deposit is not None and bond_covered_by_escrow(quote.payload.bond_amount, deposit)

    def precheck(self, quote: EpochProofQuote, *, signature_verified: bool = False) -> AdmissionResult | None:
        """Synchronous part (for the gossip validator): static rules and the cached deposit.
        None = nothing known against it yet (the async `admit` decides)."""
        bad = static_problem(
            quote,
            chain_id=self.chain_id,
            rollup_address=self.rollup_address,
            min_bond=self.min_bond(),
            signature_verified=signature_verified,
        )
        if bad is not None:
            return bad
        if self.escrow is not None:
            deposit = self.escrow.cached_deposit(quote.payload.prover)
            if deposit is not None and not bond_covered_by_escrow(quote.payload.bond_amount, deposit):
                return bond_problem(quote, deposit)
        return None

    async def admit(
        self, quote: EpochProofQuote, *, current_slot: int | None = None, signature_verified: bool = False
    ) -> AdmissionResult:
        res = self.precheck(quote, signature_verified=signature_verified)
        if res is None and self.escrow is not None:
            res = bond_problem(quote, await self.escrow.deposit_of(quote.payload.prover))
        if res is None:
            res = AdmissionResult(_FROM_ADD[self.pool.add_quote(quote, current_slot=current_slot)])
        self._stats[res.outcome.value] += 1
        return res

    def count_unbonded_origin(self, origin: str) -> None:
        """Who keeps publishing quotes without a bond (bounded; oldest origin forgotten)."""
        self._unbonded_origins[origin] = self._unbonded_origins.pop(origin, 0) + 1
        if len(self._unbonded_origins) > MAX_COUNTED_ORIGINS:
            self._unbonded_origins.popitem(last=False)

    def unbonded_origins(self) -> dict[str, int]:
        return dict(self._unbonded_origins)

    def statistics(self) -> dict[str, object]:
        return {
            **self._stats,
            "bond_checked": self.escrow is not None,
            "min_bond": self.min_bond(),
            "unbonded_origins": len(self._unbonded_origins),
        }
