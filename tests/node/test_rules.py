"""node.l1.rules: slot/epoch arithmetic, claim checks in L1 order, deadlines, best-quote choice."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.aztec.constants import MAX_BASIS_POINT_FEE, PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST
from node.l1.rules import (
    ZERO_ADDRESS,
    ClaimContext,
    ClaimRejection,
    L1Timing,
    basis_point_fee_ok,
    bond_covered_by_escrow,
    bond_meets_minimum,
    can_prune_at_slot,
    check_claim,
    check_signature,
    drop_expired,
    escrow_top_up,
    quote_not_expired,
    select_best_quote,
)
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, Signature, address_of

KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
PROVER = address_of(KEY)
SENDER = b"\x42" * 20
CHAIN = 31337
ROLLUP = "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707"

timings = st.integers(1, 64).flatmap(
    lambda e: st.builds(
        L1Timing,
        genesis_time=st.integers(0, 2**40),
        slot_duration=st.integers(1, 100),
        epoch_duration=st.just(e),
        claim_duration=st.integers(0, e),
    )
)


def quote(epoch: int = 0, valid_until: int = 100, bond: int = 5000, fee: int = 123) -> EpochProofQuote:
    return EpochProofQuote.new(EpochProofQuotePayload(epoch, valid_until, bond, PROVER, fee), KEY, CHAIN, ROLLUP)


def unsigned(fee: int, valid_until: int = 100, tag: int = 0) -> EpochProofQuote:
    return EpochProofQuote(EpochProofQuotePayload(0, valid_until, 1000 + tag, PROVER, fee), Signature(1, 1, 27))


def ctx(**kw: object) -> ClaimContext:
    base = dict(
        current_slot=4,
        epoch_to_prove=0,
        proposer=ZERO_ADDRESS,
        sender=SENDER,
        already_claimed=False,
        escrow_deposit=6000,
        claim_duration=2,
        epoch_duration=4,
    )
    base.update(kw)
    return ClaimContext(**base)  # type: ignore[arg-type]


# ---- timing ----
@given(timings, st.integers(0, 2**32))
def test_slot_and_timestamp_roundtrip(t: L1Timing, slot: int) -> None:
    ts = t.timestamp_for_slot(slot)
    assert t.slot_at(ts) == slot
    assert t.slot_at(ts + t.slot_duration - 1) == slot
    assert t.slot_at(ts + t.slot_duration) == slot + 1
    epoch = t.epoch_at_slot(slot)
    assert t.first_slot_of_epoch(epoch) <= slot < t.first_slot_of_epoch(epoch + 1)
    assert t.position_in_epoch(slot) == slot - t.first_slot_of_epoch(epoch)
    assert t.in_claim_phase(slot) == (t.position_in_epoch(slot) < t.claim_duration)
    assert t.epoch_at(ts) == epoch


def test_defaults_and_errors() -> None:
    t = L1Timing(genesis_time=1000)
    assert (t.slot_duration, t.epoch_duration, t.claim_duration) == (24, 16, 13)
    assert t.slot_at(1000) == 0 and t.slot_at(1023) == 0 and t.slot_at(1024) == 1
    assert t.in_claim_phase(16 + 12) and not t.in_claim_phase(16 + 13)  # slot 28 ok, 29 not
    with pytest.raises(ValueError):
        t.slot_at(999)
    with pytest.raises(ValueError):
        L1Timing(0, 12, 4, 5)
    with pytest.raises(ValueError):
        L1Timing(0, 0, 4, 2)


@given(timings, st.integers(0, 2**20))
def test_deadlines(t: L1Timing, epoch: int) -> None:
    s, e, w = t.first_slot_of_epoch(epoch), t.epoch_duration, t.claim_duration
    assert t.prune_slot_unclaimed(epoch) == s + e + w
    assert t.prune_slot_claimed(epoch) == s + 2 * e
    assert t.proof_deadline(epoch) == t.timestamp_for_slot(s + 2 * e) - 1
    assert t.slot_at(t.proof_deadline(epoch)) == s + 2 * e - 1  # last second of epoch N+1
    window = t.claim_window_slots(epoch)
    assert len(window) == w and all(t.epoch_at_slot(x) == epoch + 1 and t.in_claim_phase(x) for x in window)


@given(timings, st.integers(0, 1000), st.integers(0, 5000), st.booleans())
def test_can_prune(t: L1Timing, epoch: int, slot: int, claimed: bool) -> None:
    got = can_prune_at_slot(
        t, slot, pending_block=5, proven_block=2, oldest_pending_epoch=epoch, claimed_epoch=epoch if claimed else None
    )
    unclaimed_from = t.prune_slot_unclaimed(epoch)
    claimed_from = t.prune_slot_claimed(epoch)
    assert got == (slot >= (max(unclaimed_from, claimed_from) if claimed else unclaimed_from))
    # nothing pending: never
    assert not can_prune_at_slot(t, slot, pending_block=2, proven_block=2, oldest_pending_epoch=epoch,
                                 claimed_epoch=None)
    # a stale claim for another epoch does not protect
    assert can_prune_at_slot(
        t, slot, pending_block=5, proven_block=2, oldest_pending_epoch=epoch, claimed_epoch=epoch + 1
    ) == (slot >= unclaimed_from)


def test_prune_measured_values() -> None:
    # note: E = 4, W = 2; claimed epoch 2 prunable from slot 16, unclaimed epoch 4 from slot 22
    t = L1Timing(0, 12, 4, 2)
    assert not can_prune_at_slot(t, 15, pending_block=9, proven_block=7, oldest_pending_epoch=2, claimed_epoch=2)
    assert can_prune_at_slot(t, 16, pending_block=9, proven_block=7, oldest_pending_epoch=2, claimed_epoch=2)
    assert not can_prune_at_slot(t, 21, pending_block=9, proven_block=7, oldest_pending_epoch=4, claimed_epoch=None)
    assert can_prune_at_slot(t, 22, pending_block=9, proven_block=7, oldest_pending_epoch=4, claimed_epoch=None)


# ---- individual rules ----
@given(st.integers(0, 2**64), st.integers(0, 2**64))
def test_expiry_inclusive(valid_until: int, slot: int) -> None:
    assert quote_not_expired(valid_until, slot) == (valid_until >= slot)


@given(st.integers(-10, 2**32))
def test_fee_bound(fee: int) -> None:
    assert basis_point_fee_ok(fee) == (0 <= fee <= MAX_BASIS_POINT_FEE)


@given(st.integers(0, 10**30), st.integers(0, 10**30))
def test_bond_rules(bond: int, deposit: int) -> None:
    assert bond_meets_minimum(bond) == (bond >= PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST)
    assert bond_covered_by_escrow(bond, deposit) == (bond <= deposit)
    top = escrow_top_up(deposit, bond)
    assert top >= 0 and deposit + top >= max(bond, PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST)
    assert top == 0 or deposit + top == max(bond, PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST)


# ---- check_claim: order of checks as the Rollup runs them ----
def test_check_claim_passes_and_each_rejection() -> None:
    q = quote()
    assert check_claim(q, ctx(), chain_id=CHAIN, rollup=ROLLUP) is None
    assert check_claim(q, ctx(epoch_to_prove=None)) == ClaimRejection("Rollup__NoEpochToProve")
    assert check_claim(quote(valid_until=3), ctx()) == ClaimRejection("Rollup__QuoteExpired", (4, 3))
    assert check_claim(quote(valid_until=4), ctx()) is None  # inclusive
    assert check_claim(q, ctx(proposer=b"\x01" * 20)) == ClaimRejection(
        "Leonidas__InvalidProposer", (b"\x01" * 20, SENDER)
    )
    assert check_claim(q, ctx(proposer=SENDER)) is None
    assert check_claim(quote(epoch=1), ctx()) == ClaimRejection("Rollup__NotClaimingCorrectEpoch", (0, 1))
    assert check_claim(q, ctx(current_slot=6)) == ClaimRejection("Rollup__NotInClaimPhase", (2, 2))
    assert check_claim(q, ctx(already_claimed=True)) == ClaimRejection("Rollup__ProofRightAlreadyClaimed")
    assert check_claim(quote(bond=999), ctx()) == ClaimRejection("Rollup__InsufficientBondAmount", (1000, 999))
    assert check_claim(quote(bond=6001), ctx()) == ClaimRejection("Rollup__InsufficientFundsInEscrow", (6001, 6000))


def test_check_claim_fee_and_signature() -> None:
    p = EpochProofQuotePayload(0, 100, 5000, PROVER, 0)
    object.__setattr__(p, "basis_point_fee", 10_001)  # only reachable from a foreign encoder
    bad_fee = EpochProofQuote(p, Signature(1, 1, 27))
    assert check_claim(bad_fee, ctx()) == ClaimRejection("Rollup__InvalidBasisPointFee", (10_001,))
    q = quote()
    assert check_signature(q, CHAIN, ROLLUP) is None
    assert check_signature(q, CHAIN + 1, ROLLUP) is not None
    empty = EpochProofQuote(q.payload, Signature(0, 0, 0))
    assert check_claim(empty, ctx(), chain_id=CHAIN, rollup=ROLLUP) == ClaimRejection(
        "SignatureLib__CannotVerifyEmpty"
    )
    v0 = EpochProofQuote(q.payload, Signature(q.signature.r, q.signature.s, q.signature.v - 27))
    assert check_claim(v0, ctx(), chain_id=CHAIN, rollup=ROLLUP) == ClaimRejection(
        "SignatureLib__InvalidSignature", (PROVER, ZERO_ADDRESS)
    )


def test_first_failure_wins() -> None:
    # expired AND wrong epoch AND bond too small: expiry is checked first
    q = quote(epoch=3, valid_until=1, bond=1)
    rej = check_claim(q, ctx(already_claimed=True, current_slot=7))
    assert rej is not None and rej.error == "Rollup__QuoteExpired"
    rej = check_claim(quote(epoch=3, bond=1), ctx(already_claimed=True, current_slot=7))
    assert rej is not None and rej.error == "Rollup__NotClaimingCorrectEpoch"


# ---- best quote ----
def test_best_quote_lowest_fee_stable_and_drops_expired() -> None:
    a, b, c, d = unsigned(300, tag=1), unsigned(100, tag=2), unsigned(100, tag=3), unsigned(50, valid_until=3, tag=4)
    assert select_best_quote([a, b, c, d], slot=4) is b  # d expired, b before c
    assert select_best_quote([a, c, b], slot=4) is c
    assert select_best_quote([d], slot=4) is None
    assert select_best_quote([d], slot=3) is d  # validUntilSlot == slot is still valid
    assert select_best_quote([], slot=0) is None
    assert drop_expired([a, d, b], 4) == [a, b]


@given(st.lists(st.tuples(st.integers(0, MAX_BASIS_POINT_FEE), st.integers(0, 20)), max_size=30), st.integers(0, 20))
def test_best_quote_matches_stable_sort(entries: list[tuple[int, int]], slot: int) -> None:
    quotes = [unsigned(fee, valid, tag=i) for i, (fee, valid) in enumerate(entries)]
    alive = [q for q in quotes if q.payload.valid_until_slot >= slot]
    expected = sorted(alive, key=lambda q: q.payload.basis_point_fee)[0] if alive else None
    assert select_best_quote(quotes, slot) is expected


# ---- one source for the time-independent checks: quote admission (p2p) and check_claim agree ----
OTHER_KEY = bytes.fromhex("5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a")


@given(st.integers(0, 10_000), st.integers(0, 3000), st.sampled_from(["good", "other", "empty", "bad-v"]))
def test_admission_and_claim_checks_agree(fee: int, bond: int, sig: str) -> None:
    """For every fee (the payload refuses one above 10000), bond and kind of signature, p2p's
    admission rule refuses a quote exactly when check_claim (in a context where every time/L1 rule
    passes) names a signature, fee or bond error."""
    from p2p.pools.quote_admission import static_problem

    payload = EpochProofQuotePayload(0, 100, bond, PROVER, fee)
    if sig == "good":
        q = EpochProofQuote.new(payload, KEY, CHAIN, ROLLUP)
    elif sig == "other":
        theirs = EpochProofQuotePayload(0, 100, bond, address_of(OTHER_KEY), fee)
        q = EpochProofQuote(payload, EpochProofQuote.new(theirs, OTHER_KEY, CHAIN, ROLLUP).signature)
    elif sig == "empty":
        q = EpochProofQuote(payload, Signature(0, 0, 0))
    else:
        good = EpochProofQuote.new(payload, KEY, CHAIN, ROLLUP).signature
        q = EpochProofQuote(payload, Signature(good.r, good.s, 29))
    admitted = static_problem(q, chain_id=CHAIN, rollup_address=bytes.fromhex(ROLLUP[2:]),
                              min_bond=PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST) is None
    rejection = check_claim(q, ctx(escrow_deposit=10**9), chain_id=CHAIN, rollup=ROLLUP)
    assert admitted == (rejection is None), (admitted, rejection)


def test_time_independent_checks_have_one_home() -> None:
    import node.l1.rules as rules
    import p2p.pools.quote_admission as admission

    names = ("basis_point_fee_ok", "bond_meets_minimum", "bond_covered_by_escrow", "quote_signer", "quote_not_expired")
    for name in names:
        assert getattr(rules, name) is getattr(admission, name), name
    import p2p.validation as gossip

    assert rules.quote_signer is gossip.quote_signer and rules.quote_not_expired is gossip.quote_not_expired


def test_best_quote_has_one_home_and_asks_claimable_in_fee_order_until_yes() -> None:
    import node.l1.rules as rules
    import p2p.pools.quote_pool as pool

    assert rules.select_best_quote is pool.select_best_quote and rules.drop_expired is pool.drop_expired
    quotes = [unsigned(50, tag=0), unsigned(10, tag=1), unsigned(30, tag=2), unsigned(10, tag=3), unsigned(5, 1, tag=4)]
    asked: list[int] = []

    def claimable(q: EpochProofQuote) -> bool:
        asked.append(q.payload.bond_amount - 1000)
        return q.payload.basis_point_fee >= 30

    best = select_best_quote(quotes, 4, claimable)
    assert best is quotes[2]
    assert asked == [1, 3, 2]  # expired tag 4 never asked; equal fees in arrival order; stops at the first yes
