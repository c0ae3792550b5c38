"""Pool rules and property tests (bounds, best-quote choice, tx states)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from p2p.pools.attestation_pool import AttestationPool
from p2p.pools.quote_pool import AddResult, EpochProofQuotePool
from p2p.pools.tx_pool import TxPool
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, Signature
from p2p.wire.tx import Tx
from tests.conftest import load_shared_vectors

PROVER = bytes.fromhex("11" * 20)


def fake_quote(epoch: int, fee: int, valid_until: int = 100, nonce: int = 1) -> EpochProofQuote:
    """Unsigned-but-distinct quotes (pools do not verify signatures; validation does)."""
    return EpochProofQuote(EpochProofQuotePayload(epoch, valid_until, 1000, PROVER, fee), Signature(nonce, 1, 27))


def test_best_quote_lowest_fee_stable_not_expired_claimable() -> None:
    p = EpochProofQuotePool()
    a, b, c, d = (
        fake_quote(1, 50, nonce=1),
        fake_quote(1, 20, nonce=2),
        fake_quote(1, 20, nonce=3),
        fake_quote(1, 5, 9, 4),
    )
    for q in (a, b, c, d):
        assert p.add_quote(q) is AddResult.ADDED
    assert p.best_quote(1, 10) == b  # d expired (9 < 10); b before c on the tie
    assert p.best_quote(1, 5) == d
    assert p.best_quote(1, 10, is_claimable=lambda q: q != b) == c
    assert p.best_quote(2, 10) is None
    assert p.get_quotes(1) == [a, b, c, d]
    assert p.add_quote(a) is AddResult.DUPLICATE
    p.delete_quotes_to_epoch(1)
    assert len(p) == 0


def test_epoch_full_drops_highest_fee() -> None:
    p = EpochProofQuotePool(max_per_epoch=3)
    for i, fee in enumerate((30, 10, 20)):
        p.add_quote(fake_quote(1, fee, nonce=i + 1))
    assert p.add_quote(fake_quote(1, 40, nonce=9)) is AddResult.REFUSED_FULL
    assert p.add_quote(fake_quote(1, 5, nonce=10)) is AddResult.ADDED
    assert sorted(q.payload.basis_point_fee for q in p.get_quotes(1)) == [5, 10, 20]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10_000), st.integers(0, 50), st.integers(1, 30)), max_size=120)
)
def test_quote_pool_bounded_property(items: list[tuple[int, int, int, int]]) -> None:
    p = EpochProofQuotePool(max_per_epoch=7, max_total=20)
    for epoch, fee, vu, nonce in items:
        p.add_quote(fake_quote(epoch, fee, vu, nonce), current_slot=10)
        assert len(p) <= 20
        assert all(len(p.get_quotes(e)) <= 7 for e in p.epochs())
    for e in p.epochs():
        best = p.best_quote(e, 0)
        qs = p.get_quotes(e)
        assert best is not None and best.payload.basis_point_fee == min(q.payload.basis_point_fee for q in qs)
        assert best == next(q for q in qs if q.payload.basis_point_fee == best.payload.basis_point_fee)
    p.prune_expired(25)
    assert all(q.payload.valid_until_slot >= 25 for e in p.epochs() for q in p.get_quotes(e))
    assert "quotes" in p.statistics()


def _txs() -> list[Tx]:
    return [Tx.from_bytes(bytes.fromhex(t["hex"])) for t in load_shared_vectors("tx-vectors.json")["txs"]]


def test_tx_pool_states() -> None:
    pool = TxPool()
    txs = _txs()
    assert pool.add_txs(txs) == 3
    h = [t.tx_hash() for t in txs]
    assert pool.get_tx_status(h[0]) == "pending"
    pool.mark_as_mined(h[:2], 7)
    assert pool.get_tx_status(h[0]) == "mined" and pool.get_pending_tx_hashes() == [h[2]]
    assert pool.get_mined_tx_hashes() == [(h[0], 7), (h[1], 7)]
    pool.mark_mined_as_pending([h[1]])
    assert set(pool.get_pending_tx_hashes()) == {h[1], h[2]}
    pool.delete_txs([h[2]])
    assert pool.get_tx_by_hash(h[2]) is None and pool.get_tx_status(h[2]) is None
    assert len(pool.get_all_txs()) == 2


def test_tx_pool_evicts_oldest_pending_and_refuses_when_all_mined() -> None:
    txs = _txs()
    pool = TxPool(max_txs=2)
    pool.add_tx(txs[0])
    pool.add_tx(txs[1])
    assert pool.add_tx(txs[2])  # evicts txs[0]
    assert txs[0].tx_hash() not in pool and len(pool) == 2
    pool.mark_as_mined([txs[1].tx_hash(), txs[2].tx_hash()], 1)
    assert not pool.add_tx(txs[0])
    assert pool.statistics()["refused_full"] == 1


def test_attestation_pool() -> None:
    c = load_shared_vectors("tx-vectors.json")["consensus"]
    atts = [BlockAttestation.from_bytes(bytes.fromhex(x["hex"])) for x in c if x["kind"] == "attestation"]
    pool = AttestationPool()
    for a in atts:
        pool.add_attestation(a, a.get_sender())
    a0 = atts[0]
    got = pool.get_attestations_for_slot(a0.slot_number, a0.archive)
    assert a0 in got
    assert not pool.add_attestation(a0, a0.get_sender())  # duplicate sender


def test_forged_far_slots_cannot_lock_the_current_slots_attestations_out() -> None:
    """64 attestations for slots near 10^9 filled the pool (the lowest slot was dropped, so a lower
    one - the current slot - was refused) until a restart (found by review). The slot farthest from
    the current one goes; proposals per slot and bytes are bounded too."""
    import dataclasses

    c = load_shared_vectors("tx-vectors.json")["consensus"]
    base = next(BlockAttestation.from_bytes(bytes.fromhex(x["hex"])) for x in c if x["kind"] == "attestation")

    def at(slot: int, archive: int | None = None) -> BlockAttestation:
        gv = dataclasses.replace(base.payload.header.global_variables, slot_number=slot)
        header = dataclasses.replace(base.payload.header, global_variables=gv)
        payload = dataclasses.replace(base.payload, header=header,
                                      archive=base.payload.archive if archive is None else archive)
        return dataclasses.replace(base, payload=payload)

    pool = AttestationPool(max_slots=8, max_archives_per_slot=2)
    for i in range(8):
        assert pool.add_attestation(at(10**9 + i), b"forger", current_slot=100)
    assert pool.add_attestation(at(100), b"honest", current_slot=100)  # the farthest forged slot goes
    assert pool.get_attestations_for_slot(100, base.payload.archive)
    assert not pool.add_attestation(at(10**9 + 50), b"forger", current_slot=100)  # farther than all: refused
    assert pool.add_attestation(at(101, 1), b"x", current_slot=100)
    assert pool.add_attestation(at(101, 2), b"x", current_slot=100)
    assert not pool.add_attestation(at(101, 3), b"x", current_slot=100)  # a third proposal for one slot
    small = AttestationPool(max_bytes=2500)  # (two of these attestations fit)
    assert small.add_attestation(at(5), b"a", current_slot=5)
    assert small.add_attestation(at(6), b"a", current_slot=5)
    assert small.add_attestation(at(5, 7), b"b", current_slot=5)  # slot 6 goes for the bytes
    assert small.statistics()["bytes"] <= 2500 and small.statistics()["evicted_slots"] == 1
    small.delete_attestations_older_than(6)
    assert small.statistics()["bytes"] == 0


class QuotePoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pool = EpochProofQuotePool(max_per_epoch=4, max_total=9)
        self.n = 0

    @rule(epoch=st.integers(0, 4), fee=st.integers(0, 100), vu=st.integers(0, 40))
    def add(self, epoch: int, fee: int, vu: int) -> None:
        self.n += 1
        self.pool.add_quote(fake_quote(epoch, fee, vu, self.n), current_slot=5)

    @rule(epoch=st.integers(0, 4))
    def delete_to(self, epoch: int) -> None:
        self.pool.delete_quotes_to_epoch(epoch)
        assert all(e > epoch for e in self.pool.epochs())

    @rule(slot=st.integers(0, 40))
    def prune(self, slot: int) -> None:
        self.pool.prune_expired(slot)

    @invariant()
    def bounded(self) -> None:
        assert len(self.pool) <= 9
        assert sum(len(self.pool.get_quotes(e)) for e in self.pool.epochs()) == len(self.pool)


TestQuotePoolMachine = QuotePoolMachine.TestCase
