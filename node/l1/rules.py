"""Aztec v0.63.1 L1 rules as small pure functions: slot/epoch arithmetic, claim checks in the Rollup's
order, pruning deadlines and the sequencer's best-quote choice.

Sources: Rollup.sol / Leonidas.sol (0.63.1) and the on-anvil measurements in
../shared/notes/aztec-v0.63.1-npm-and-l1.md §3 and aztec-v0.63.1-propose-and-prove.md §3-4. Names of
rejections are the Solidity custom error names, with the same arguments, so a prediction can be
compared with a real revert.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.aztec.constants import (
    AZTEC_EPOCH_DURATION,
    AZTEC_EPOCH_PROOF_CLAIM_WINDOW_IN_L2_SLOTS,
    AZTEC_SLOT_DURATION,
    PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST,
)
from p2p.pools.quote_admission import (
    ZERO_ADDRESS,
    basis_point_fee_ok,
    bond_covered_by_escrow,
    bond_meets_minimum,
    quote_not_expired,
    quote_signer,
)
from p2p.pools.quote_pool import drop_expired, select_best_quote
from p2p.wire.quote import EpochProofQuote

__all__ = [  # the time-independent checks and the best-quote choice are p2p's (gossip, admission and the
    # pool use them too), re-exported here
    "ZERO_ADDRESS",
    "basis_point_fee_ok",
    "bond_covered_by_escrow",
    "bond_meets_minimum",
    "drop_expired",
    "quote_not_expired",
    "select_best_quote",
]


@dataclass(frozen=True, slots=True)
class ProofClaim:
    """Rollup.proofClaim (DataStructures.EpochProofClaim)."""

    epoch_to_prove: int
    basis_point_fee: int
    bond_amount: int
    bond_provider: bytes
    proposer_claimant: bytes

    @property
    def exists(self) -> bool:
        return self.proposer_claimant != ZERO_ADDRESS


@dataclass(frozen=True, slots=True)
class ChainTips:
    """Rollup.tips(): the pending and proven L2 block numbers."""

    pending_block_number: int
    proven_block_number: int


@dataclass(frozen=True, slots=True)
class L1Timing:
    """The Rollup's timing constants (read them from the contract: GENESIS_TIME, SLOT_DURATION,
    EPOCH_DURATION, CLAIM_DURATION_IN_L2_SLOTS)."""

    genesis_time: int
    slot_duration: int = AZTEC_SLOT_DURATION
    epoch_duration: int = AZTEC_EPOCH_DURATION
    claim_duration: int = AZTEC_EPOCH_PROOF_CLAIM_WINDOW_IN_L2_SLOTS

    def __post_init__(self) -> None:
        if self.slot_duration <= 0 or self.epoch_duration <= 0 or self.genesis_time < 0:
            raise ValueError(f"invalid timing {self}")
        if not 0 <= self.claim_duration <= self.epoch_duration:
            raise ValueError(f"claim duration must be within an epoch: {self}")

    # --- slot / epoch arithmetic (Leonidas: getSlotAt, getEpochAt, getTimestampForSlot) ---
    def slot_at(self, timestamp: int) -> int:
        """L2 slot containing `timestamp`. Before genesis the contract underflows; we raise."""
        if timestamp < self.genesis_time:
            raise ValueError(f"timestamp {timestamp} is before genesis {self.genesis_time}")
        return (timestamp - self.genesis_time) // self.slot_duration

    def timestamp_for_slot(self, slot: int) -> int:
        """First second of `slot` (= the header timestamp a block in that slot must carry)."""
        if slot < 0:
            raise ValueError(f"negative slot {slot}")
        return self.genesis_time + slot * self.slot_duration

    def epoch_at_slot(self, slot: int) -> int:
        if slot < 0:
            raise ValueError(f"negative slot {slot}")
        return slot // self.epoch_duration

    def epoch_at(self, timestamp: int) -> int:
        return self.epoch_at_slot(self.slot_at(timestamp))

    def first_slot_of_epoch(self, epoch: int) -> int:
        if epoch < 0:
            raise ValueError(f"negative epoch {epoch}")
        return epoch * self.epoch_duration

    def position_in_epoch(self, slot: int) -> int:
        if slot < 0:
            raise ValueError(f"negative slot {slot}")
        return slot % self.epoch_duration

    def in_claim_phase(self, slot: int) -> bool:
        """Rollup: `positionInEpoch(currentSlot) < CLAIM_DURATION_IN_L2_SLOTS` (any epoch)."""
        return in_claim_phase(slot, self.epoch_duration, self.claim_duration)

    # --- deadlines (Rollup.canPruneAtTime) ---
    def prune_slot_unclaimed(self, epoch: int) -> int:
        """First slot at which an unproven, unclaimed `epoch` makes the chain prunable: S + E + W."""
        return self.first_slot_of_epoch(epoch) + self.epoch_duration + self.claim_duration

    def prune_slot_claimed(self, epoch: int) -> int:
        """First slot at which a claimed but unproven `epoch` is prunable: the start of epoch N+2."""
        return self.first_slot_of_epoch(epoch + 2)

    def proof_deadline(self, epoch: int) -> int:
        """Last timestamp at which the epoch root proof for a claimed `epoch` can be mined: the last
        second of epoch N+1."""
        return self.timestamp_for_slot(self.prune_slot_claimed(epoch)) - 1

    def claim_window_slots(self, epoch: int) -> range:
        """Slots in which a prover should let its quote for `epoch` be claimed: the claim phase of
        epoch N+1. (L1 also accepts claims in the claim phase of epoch N itself or of N+2 before
        anyone prunes; a claim in N+2 can be pruned at once and its bond is lost.)"""
        return claim_window(epoch, self.epoch_duration, self.claim_duration)


def claim_window(epoch: int, epoch_duration: int, claim_duration: int) -> range:
    """The slots of epoch N+1's claim phase, where a claim for `epoch` N should land (see
    `L1Timing.claim_window_slots`); each passes `in_claim_phase`, the check L1 applies."""
    if epoch < 0:
        raise ValueError(f"negative epoch {epoch}")
    start = (epoch + 1) * epoch_duration
    return range(start, start + claim_duration)


def can_prune_at_slot(
    timing: L1Timing,
    slot: int,
    *,
    pending_block: int,
    proven_block: int,
    oldest_pending_epoch: int,
    claimed_epoch: int | None,
) -> bool:
    """Rollup.canPruneAtTime: nothing pending -> False; otherwise prunable once the claim phase after
    the oldest pending epoch passed without a claim for it, or once epoch N+2 begins regardless."""
    if pending_block == proven_block:
        return False
    if slot < timing.prune_slot_unclaimed(oldest_pending_epoch):
        return False
    claim_exists = claimed_epoch == oldest_pending_epoch and slot < timing.prune_slot_claimed(oldest_pending_epoch)
    return not claim_exists


@dataclass(frozen=True, slots=True)
class ClaimRejection:
    """Why L1 would reject a claim: the Rollup's custom error name and its arguments."""

    error: str
    args: tuple[int | bytes, ...] = ()

    def __str__(self) -> str:
        return f"{self.error}({', '.join(a.hex() if isinstance(a, bytes) else str(a) for a in self.args)})"


@dataclass(frozen=True, slots=True)
class ClaimContext:
    """L1 state a claim is checked against (Rollup.validateEpochProofRightClaimAtTime)."""

    current_slot: int
    epoch_to_prove: int | None  # getEpochToProve(); None when pending == proven (NoEpochToProve)
    proposer: bytes  # getProposerAt(now); 0x0 when there is no committee
    sender: bytes  # msg.sender of the claim / proposeAndClaim
    already_claimed: bool  # proofClaim.proposerClaimant != 0 and proofClaim.epochToProve == epoch
    escrow_deposit: int  # ProofCommitmentEscrow.deposits(quote.prover)
    claim_duration: int = AZTEC_EPOCH_PROOF_CLAIM_WINDOW_IN_L2_SLOTS
    epoch_duration: int = AZTEC_EPOCH_DURATION
    min_bond: int = PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST


# Individual checks (each True when the rule is satisfied).
def proposer_ok(proposer: bytes, sender: bytes) -> bool:
    return proposer in (ZERO_ADDRESS, sender)


def epoch_matches(quote_epoch: int, epoch_to_prove: int) -> bool:
    return quote_epoch == epoch_to_prove


def in_claim_phase(slot: int, epoch_duration: int, claim_duration: int) -> bool:
    """Rollup__NotInClaimPhase unless positionInEpoch(slot) < CLAIM_DURATION_IN_L2_SLOTS."""
    return slot % epoch_duration < claim_duration


def check_signature(quote: EpochProofQuote, chain_id: int, rollup: bytes | str) -> ClaimRejection | None:
    """SignatureLib.verify: not empty, v in {27, 28}, ecrecover(digest) == prover (high-s accepted)."""
    recovered = quote_signer(quote, chain_id, rollup)
    if recovered is None:
        return ClaimRejection("SignatureLib__CannotVerifyEmpty")
    if recovered != quote.payload.prover:
        return ClaimRejection("SignatureLib__InvalidSignature", (quote.payload.prover, recovered))
    return None


def check_claim(
    quote: EpochProofQuote, ctx: ClaimContext, *, chain_id: int | None = None, rollup: bytes | str | None = None
) -> ClaimRejection | None:
    """First rule L1 would reject the claim for, in the Rollup's order; None if it would pass.

    The signature is checked only when chain_id and rollup are given."""
    p = quote.payload
    if chain_id is not None and rollup is not None:
        sig = check_signature(quote, chain_id, rollup)
        if sig is not None:
            return sig
    if ctx.epoch_to_prove is None:
        return ClaimRejection("Rollup__NoEpochToProve")
    if not quote_not_expired(p.valid_until_slot, ctx.current_slot):
        return ClaimRejection("Rollup__QuoteExpired", (ctx.current_slot, p.valid_until_slot))
    if not basis_point_fee_ok(p.basis_point_fee):
        return ClaimRejection("Rollup__InvalidBasisPointFee", (p.basis_point_fee,))
    if not proposer_ok(ctx.proposer, ctx.sender):
        return ClaimRejection("Leonidas__InvalidProposer", (ctx.proposer, ctx.sender))
    if not epoch_matches(p.epoch_to_prove, ctx.epoch_to_prove):
        return ClaimRejection("Rollup__NotClaimingCorrectEpoch", (ctx.epoch_to_prove, p.epoch_to_prove))
    if not in_claim_phase(ctx.current_slot, ctx.epoch_duration, ctx.claim_duration):
        return ClaimRejection("Rollup__NotInClaimPhase", (ctx.current_slot % ctx.epoch_duration, ctx.claim_duration))
    if ctx.already_claimed:
        return ClaimRejection("Rollup__ProofRightAlreadyClaimed")
    if not bond_meets_minimum(p.bond_amount, ctx.min_bond):
        return ClaimRejection("Rollup__InsufficientBondAmount", (ctx.min_bond, p.bond_amount))
    if not bond_covered_by_escrow(p.bond_amount, ctx.escrow_deposit):
        return ClaimRejection("Rollup__InsufficientFundsInEscrow", (p.bond_amount, ctx.escrow_deposit))
    return None


def escrow_top_up(
    deposit: int, bond: int = 0, *, min_bond: int = PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST, target: int = 0
) -> int:
    """Tokens a prover must deposit into the ProofCommitmentEscrow (the BondManager's rule).

    The floor is max(min_bond, bond): `bond` is the bondAmount of the quote about to be sent (0 on
    start-up and after a claim). Nothing while deposit >= floor; otherwise top up to max(target,
    floor), so a prover refills to its target rather than to the bare floor each time."""
    if deposit < 0 or bond < 0:
        raise ValueError("deposit and bond must be >= 0")
    floor = max(bond, min_bond)
    if deposit >= floor:
        return 0
    return max(target, floor) - deposit
