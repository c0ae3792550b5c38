"""Quote admission: bond in escrow, time-independent claim checks, per-prover cap, eviction by
(claimable, fee), and the griefing scenario of issue 10 (unbonded throwaway keys vs one honest quote).

The escrow is an in-memory `EscrowView` (the Protocol seam p2p declares); the same rule over the
real v0.63.1 escrow on anvil is interop/test_quote_admission_l1.py."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from p2p.gossip import EPOCH_PROOF_QUOTE_TOPIC, GossipIntake, IntakeConfig, RateLimit
from p2p.pools.attestation_pool import AttestationPool
from p2p.pools.quote_admission import Admission, QuoteAdmission
from p2p.pools.quote_pool import AddResult, EpochProofQuotePool
from p2p.pools.tx_pool import TxPool
from p2p.scoring import PeerScoring
from p2p.validation import QuoteValidationContext, TxValidationContext
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, Signature, address_of

CHAIN, ROLLUP = 31337, bytes.fromhex("33" * 20)
HONEST = bytes([7]) * 32


class MemoryEscrow:
    """EscrowView over a dict; counts reads so tests can see what admission asks."""

    def __init__(self, deposits: dict[bytes, int] | None = None, min_bond: int = 1000) -> None:
        self.deposits = dict(deposits or {})
        self._cache: dict[bytes, int] = {}
        self._min = min_bond
        self.reads = 0

    def cached_deposit(self, prover: bytes) -> int | None:
        return self._cache.get(prover)

    async def deposit_of(self, prover: bytes) -> int | None:
        self.reads += 1
        self._cache[prover] = self.deposits.get(prover, 0)
        return self._cache[prover]

    def min_bond(self) -> int:
        return self._min


def key(i: int) -> bytes:
    return hashlib.sha256(b"throwaway" + i.to_bytes(4, "big")).digest()


def quote(k: bytes = HONEST, *, epoch: int = 1, fee: int = 100, bond: int = 2000, valid_until: int = 100,
          rollup: bytes = ROLLUP, chain: int = CHAIN) -> EpochProofQuote:
    return EpochProofQuote.new(EpochProofQuotePayload(epoch, valid_until, bond, address_of(k), fee), k, chain, rollup)


def admission(deposits: dict[bytes, int], **pool_kw: Any) -> tuple[QuoteAdmission, MemoryEscrow]:
    escrow = MemoryEscrow(deposits)
    return QuoteAdmission(EpochProofQuotePool(**pool_kw), chain_id=CHAIN, rollup_address=ROLLUP, escrow=escrow), escrow


async def test_static_rules_and_bond() -> None:
    adm, _ = admission({address_of(HONEST): 5000})
    assert (await adm.admit(quote())).outcome is Admission.ADMITTED
    assert (await adm.admit(quote())).outcome is Admission.DUPLICATE
    assert (await adm.admit(quote(rollup=bytes(20)))).outcome is Admission.BAD_SIGNATURE  # other rollup
    assert (await adm.admit(quote(chain=1))).outcome is Admission.BAD_SIGNATURE  # other chain
    assert (await adm.admit(quote(bond=999, fee=1))).outcome is Admission.BOND_BELOW_MINIMUM
    assert (await adm.admit(quote(bond=5001, fee=2))).outcome is Admission.UNBONDED  # deposit 5000
    assert (await adm.admit(quote(bond=5000, fee=3))).outcome is Admission.ADMITTED  # exactly covered
    q = quote(fee=4)
    garbage = EpochProofQuote(q.payload, Signature(q.signature.r ^ 1, q.signature.s, q.signature.v))
    assert (await adm.admit(garbage)).outcome is Admission.BAD_SIGNATURE
    assert (await adm.admit(quote(key(1)))).outcome is Admission.UNBONDED
    st_ = adm.statistics()
    assert st_["admitted"] == 2 and st_["unbonded"] == 2 and st_["bond_checked"] is True


async def test_griefing_1000_unbonded_fee0_quotes_cannot_displace_the_honest_one() -> None:
    """Issue 10: ~130 fee-0 quotes from throwaway keys filled the 128-quote bucket and evicted the
    honest quote. With admission none of them enters; the honest one stays the best claimable."""
    adm, escrow = admission({address_of(HONEST): 10_000})
    honest = quote(fee=500)
    outcomes = []
    for i in range(500):
        outcomes.append((await adm.admit(quote(key(i), fee=0))).outcome)
    assert (await adm.admit(honest)).outcome is Admission.ADMITTED
    for i in range(500, 1000):
        outcomes.append((await adm.admit(quote(key(i), fee=0))).outcome)
    assert outcomes == [Admission.UNBONDED] * 1000
    pool = adm.pool
    assert pool.get_quotes(1) == [honest]
    assert pool.best_quote(1, current_slot=10) == honest
    assert adm.statistics()["unbonded"] == 1000 and escrow.reads == 1001


async def test_griefing_through_gossip_ignored_not_penalised_and_origins_counted() -> None:
    adm, _ = admission({address_of(HONEST): 10_000})
    t = [0.0]
    cfg = IntakeConfig(queue_size=2048)
    cfg.rate_limits[EPOCH_PROOF_QUOTE_TOPIC] = RateLimit(10_000, 10_000)
    g = GossipIntake(
        quote_ctx=QuoteValidationContext(CHAIN, ROLLUP, current_slot=lambda: 20),
        tx_ctx=TxValidationContext(CHAIN),
        scoring=PeerScoring(now=lambda: t[0]),
        quote_pool=adm.pool,
        tx_pool=TxPool(),
        attestation_pool=AttestationPool(),
        now=lambda: t[0],
        config=cfg,
        quote_admission=adm,
    )
    spam = [quote(key(i), fee=0) for i in range(1000)]
    honest = quote(fee=500)
    async with trio.open_nursery() as n:
        await n.start(g.run)
        # first sight of an unknown prover: forwarded (a relay cannot know), refused by the pool
        for q in spam:
            g.validate(EPOCH_PROOF_QUOTE_TOPIC, "relay", "attacker", q.to_bytes())
        assert g.validate(EPOCH_PROOF_QUOTE_TOPIC, "relay", "honest", honest.to_bytes())
        await trio.testing.wait_all_tasks_blocked()  # the consumer has drained the queue
        assert adm.statistics()["admitted"] == 1 and adm.statistics()["unbonded"] == 1000
        # the same throwaway provers again (new signatures): now known unbonded -> ignored, counted
        again = [quote(key(i), fee=1) for i in range(50)]
        assert not any(g.validate(EPOCH_PROOF_QUOTE_TOPIC, "relay", "attacker", q.to_bytes()) for q in again)
        n.cancel_scope.cancel()
    assert adm.pool.get_quotes(1) == [honest]
    assert adm.pool.best_quote(1, 20) == honest
    assert g.scoring.score("relay") == 0  # ignored, never penalised
    assert adm.unbonded_origins() == {"attacker": 50}


async def test_per_prover_cap() -> None:
    adm, _ = admission({address_of(HONEST): 10_000}, max_per_prover=3)
    for fee in (50, 40, 30):
        assert (await adm.admit(quote(fee=fee))).admitted
    assert (await adm.admit(quote(fee=60))).outcome is Admission.REFUSED_PROVER_CAP  # worse than all
    assert (await adm.admit(quote(fee=10))).admitted  # better: evicts its own fee-50 quote
    assert sorted(q.payload.basis_point_fee for q in adm.pool.get_quotes(1)) == [10, 30, 40]
    assert (await adm.admit(quote(fee=10, epoch=2))).admitted  # the cap is per epoch


def _fake(prover: int, fee: int, valid_until: int = 100, nonce: int = 1, epoch: int = 1) -> EpochProofQuote:
    return EpochProofQuote(
        EpochProofQuotePayload(epoch, valid_until, 1000, bytes([prover]) * 20, fee), Signature(nonce, 1, 27)
    )


def test_eviction_never_lets_unclaimable_displace_claimable() -> None:
    withdrawn = {bytes([9]) * 20}
    pool = EpochProofQuotePool(max_per_epoch=3, claimable=lambda q, _s: q.payload.prover not in withdrawn)
    cheap_unclaimable = _fake(9, 0, nonce=1)
    a, b = _fake(1, 50, nonce=2), _fake(2, 60, nonce=3)
    for q in (cheap_unclaimable, a, b):
        assert pool.add_quote(q, current_slot=10) is AddResult.ADDED
    # a claimable quote, dearer than everything, evicts the unclaimable one first
    c = _fake(3, 9000, nonce=4)
    assert pool.add_quote(c, current_slot=10) is AddResult.ADDED
    assert cheap_unclaimable not in pool.get_quotes(1)
    # an unclaimable fee-0 quote cannot displace any claimable one
    assert pool.add_quote(_fake(9, 0, nonce=5), current_slot=10) is AddResult.REFUSED_FULL
    # expired counts as unclaimable: it goes before a claimable dearer one
    expired = _fake(4, 1, valid_until=5, nonce=6)
    pool2 = EpochProofQuotePool(max_per_epoch=2)
    pool2.add_quote(expired, current_slot=3)
    pool2.add_quote(a, current_slot=3)
    assert pool2.add_quote(b, current_slot=10) is AddResult.ADDED
    assert pool2.get_quotes(1) == [a, b]
    # among claimable ones the highest fee goes (ties: the newest)
    assert pool.add_quote(_fake(5, 55, nonce=7), current_slot=10) is AddResult.ADDED
    assert sorted(q.payload.basis_point_fee for q in pool.get_quotes(1)) == [50, 55, 60]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 11), st.integers(0, 10_000), st.integers(1, 10**6)),
        min_size=1,
        max_size=80,
    ),
    st.integers(1, 6),
    st.integers(1, 3),
)
def test_best_claimable_survives_any_flood(items: list[tuple[int, int, int]], per_epoch: int, per_prover: int) -> None:
    """Whatever is offered, in any order: bounds hold, and the best claimable fee in the pool is the
    lowest fee ever offered by a claimable quote (provers 0-5 claimable, 6-11 not)."""
    pool = EpochProofQuotePool(
        max_per_epoch=per_epoch, max_per_prover=per_prover, claimable=lambda q, _s: q.payload.prover[0] < 6
    )
    offered_claimable: list[int] = []
    for prover, fee, nonce in items:
        q = _fake(prover, fee, nonce=nonce)
        res = pool.add_quote(q, current_slot=10)
        if prover < 6 and res is not AddResult.DUPLICATE:
            offered_claimable.append(fee)
        qs = pool.get_quotes(1)
        assert len(qs) <= per_epoch
        for p in {x.payload.prover for x in qs}:
            assert sum(1 for x in qs if x.payload.prover == p) <= per_prover
    best = pool.best_quote(1, 10)
    if offered_claimable:
        assert best is not None and best.payload.basis_point_fee == min(offered_claimable)
    else:
        assert best is None


async def test_no_escrow_view_still_checks_static_rules() -> None:
    adm = QuoteAdmission(EpochProofQuotePool(), chain_id=CHAIN, rollup_address=ROLLUP)
    assert (await adm.admit(quote(key(3)))).admitted  # bond not checkable without L1
    assert (await adm.admit(quote(rollup=bytes(20)))).outcome is Admission.BAD_SIGNATURE
    assert adm.statistics()["bond_checked"] is False


@pytest.mark.parametrize("deposit", [None, 0])
async def test_bond_unknown_or_zero_refused(deposit: int | None) -> None:
    class Down(MemoryEscrow):
        async def deposit_of(self, prover: bytes) -> int | None:
            return deposit

    adm = QuoteAdmission(EpochProofQuotePool(), chain_id=CHAIN, rollup_address=ROLLUP, escrow=Down())
    res = await adm.admit(quote())
    assert res.outcome is (Admission.BOND_UNKNOWN if deposit is None else Admission.UNBONDED)
    assert len(adm.pool) == 0
