"""Pure validation rules per topic, penalties, and the intake gate (graylist, rate limit, queues)."""

from __future__ import annotations

import pytest
import trio

from p2p.gossip import EPOCH_PROOF_QUOTE_TOPIC, TX_TOPIC, GossipIntake, IntakeConfig, RateLimit, TokenBuckets
from p2p.pools.attestation_pool import AttestationPool
from p2p.pools.quote_pool import EpochProofQuotePool
from p2p.pools.tx_pool import TxPool
from p2p.scoring import PeerErrorSeverity, PeerScoring, ScoringConfig
from p2p.validation import (
    Accept,
    Ignore,
    QuoteValidationContext,
    Reject,
    TxValidationContext,
    validate_block_attestation,
    validate_block_proposal,
    validate_quote,
    validate_tx,
)
from p2p.wire.quote import SECP256K1_N, EpochProofQuote, EpochProofQuotePayload, Signature, address_of
from p2p.wire.tx import (
    ACC_PUBLIC_CALL_REQUESTS_OFFSET,
    ACC_PUBLIC_SIZE,
    OFF_ACCUMULATED,
    OFF_CHAIN_ID,
    OFF_MAX_BLOCK_NUMBER,
    Tx,
)
from tests.conftest import load_shared_vectors

KEY = bytes([5]) * 32
CHAIN, ROLLUP = 31337, bytes.fromhex("33" * 20)


def quote(epoch: int = 1, valid_until: int = 100, fee: int = 10, key: bytes = KEY) -> EpochProofQuote:
    return EpochProofQuote.new(
        EpochProofQuotePayload(epoch, valid_until, 2000, address_of(key), fee), key, CHAIN, ROLLUP
    )


def ctx(slot: int = 20, proven: int | None = None) -> QuoteValidationContext:
    return QuoteValidationContext(CHAIN, ROLLUP, current_slot=lambda: slot, proven_epoch=lambda: proven)


def test_quote_accept() -> None:
    q = quote()
    v = validate_quote(q.to_bytes(), ctx())
    assert isinstance(v, Accept) and v.value == q


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        # v0.63.1's decoder throws: Reject (penalty)
        (lambda b: b[:-1], Reject),
        (lambda b: b[:116] + (10_001).to_bytes(4, "big") + b[120:], Reject),  # fee > 10000
        (lambda b: b"", Reject),
        # v0.63.1 decodes these and forwards them: Ignore (no penalty)
        (lambda b: b + b"\0", Ignore),  # trailing bytes
        (lambda b: b[:184] + (29).to_bytes(4, "big"), Ignore),  # v
        (lambda b: b[:184] + (0).to_bytes(4, "big"), Ignore),  # v = 0 (TS accepts, L1 does not)
        (lambda b: b[:120] + bytes(64) + b[184:], Ignore),  # empty signature
        (lambda b: b[:5] + b"\x01" + b[6:], Ignore),  # payload changed: signer != prover
    ],
)
def test_quote_verdicts(mutate: object, kind: type) -> None:
    assert callable(mutate)
    v = validate_quote(mutate(quote().to_bytes()), ctx())
    assert isinstance(v, kind), v


@pytest.mark.parametrize(("chain", "rollup"), [(CHAIN + 1, ROLLUP), (CHAIN, bytes.fromhex("44" * 20))])
def test_quote_for_another_rollup_or_chain_ignored(chain: int, rollup: bytes) -> None:
    q = quote()
    other = QuoteValidationContext(chain, rollup, current_slot=lambda: 20)
    v = validate_quote(q.to_bytes(), other)
    assert isinstance(v, Ignore) and "not for us" in v.reason


def test_quote_high_s_variant_accepted_and_same_pool_key() -> None:
    q = quote()
    sig = q.signature
    hs = EpochProofQuote(q.payload, Signature(sig.r, SECP256K1_N - sig.s, 55 - sig.v))
    v = validate_quote(hs.to_bytes(), ctx())
    assert isinstance(v, Accept)  # L1 ecrecover accepts high-s as well
    pool = EpochProofQuotePool()
    pool.add_quote(q)
    assert pool.contains(hs)


@pytest.mark.parametrize(
    ("q_kw", "slot", "proven"),
    [
        ({"valid_until": 19}, 20, None),  # expired
        ({"epoch": 1}, 20, 1),  # already proven
        ({"epoch": 5}, 20, None),  # too far ahead (epoch 1 now)
        ({"epoch": 1}, 16 * 4, None),  # too old
    ],
)
def test_quote_ignored(q_kw: dict[str, int], slot: int, proven: int | None) -> None:
    q = quote(valid_until=q_kw.get("valid_until", 1000), epoch=q_kw.get("epoch", 1))
    assert isinstance(validate_quote(q.to_bytes(), ctx(slot, proven)), Ignore)


def _tx_raw(idx: int = 0, chain: int = CHAIN) -> bytearray:
    raw = bytearray(bytes.fromhex(load_shared_vectors("tx-vectors.json")["txs"][idx]["hex"]))
    raw[OFF_CHAIN_ID : OFF_CHAIN_ID + 32] = chain.to_bytes(32, "big")
    return raw


def test_tx_rules() -> None:
    c = TxValidationContext(chain_id=CHAIN, next_block_number=lambda: 10)
    assert isinstance(validate_tx(bytes(_tx_raw()), c), Accept)
    # well-formed but not for us / stricter than v0.63.1 on receipt: Ignore, never a penalty
    assert isinstance(validate_tx(bytes(_tx_raw(chain=1)), c), Ignore)
    assert isinstance(validate_tx(bytes(_tx_raw()), TxValidationContext(CHAIN, max_tx_size=1000)), Ignore)
    raw = _tx_raw()
    raw[OFF_MAX_BLOCK_NUMBER] = 1
    raw[OFF_MAX_BLOCK_NUMBER + 32] = 5  # maxBlockNumber 5 < next block 10
    assert isinstance(validate_tx(bytes(raw), c), Ignore)
    # enqueued call tampered: no longer matches the kernel's request
    raw = _tx_raw()
    tx = Tx.from_bytes(bytes(raw))
    off = len(tx.data) + 16 + 16 + 4 + 31  # first enqueued call's msgSender low byte
    raw[off] ^= 1
    v = validate_tx(bytes(raw), c)
    assert isinstance(v, Ignore) and "enqueued call" in v.reason
    # v0.63.1 decodes field elements >= the modulus and ignores trailing bytes: Ignore
    raw = _tx_raw()
    raw[OFF_CHAIN_ID : OFF_CHAIN_ID + 32] = b"\xff" * 32
    assert isinstance(validate_tx(bytes(raw), c), Ignore)
    assert isinstance(validate_tx(bytes(_tx_raw()) + b"\0\0", c), Ignore)
    # v0.63.1's decoder throws: Reject (gossipsub invalid delivery, as 0.63)
    v = validate_tx(bytes(_tx_raw())[:-1], c)
    assert isinstance(v, Reject) and v.invalid_delivery and v.severity is None


def test_tx_corrupt_public_call_section_is_a_verdict_not_an_exception() -> None:
    """Issue 10: public_call_requests() raised DecodeError out of validate_tx and killed pubsub."""
    c = TxValidationContext(chain_id=CHAIN)
    raw = _tx_raw(0)
    assert Tx.from_bytes(bytes(raw)).is_for_public
    base = OFF_ACCUMULATED + ACC_PUBLIC_SIZE + ACC_PUBLIC_CALL_REQUESTS_OFFSET  # first revertible request
    for word in range(4):
        bad = bytearray(raw)
        bad[base + 32 * word % 69 : base + 32 * word % 69 + 32] = b"\xff" * 32
        v = validate_tx(bytes(bad), c)
        assert isinstance(v, (Ignore, Accept)), v


def test_validators_are_total() -> None:
    """Any exception inside a validator becomes an Ignore (our fault, not the peer's)."""

    class Boom:
        def __call__(self) -> int:
            raise RuntimeError("chain state broken")

    bad_ctx = QuoteValidationContext(CHAIN, ROLLUP, current_slot=Boom())
    v = validate_quote(quote().to_bytes(), bad_ctx)
    assert isinstance(v, Ignore) and v.reason.startswith("internal error")


def test_consensus_validation() -> None:
    for c in load_shared_vectors("tx-vectors.json")["consensus"]:
        raw = bytes.fromhex(c["hex"])
        fn = validate_block_proposal if c["kind"] == "proposal" else validate_block_attestation
        v = fn(raw)
        assert isinstance(v, Accept) and v.value[1] == bytes.fromhex(c["recoveredSigner"][2:])
        assert isinstance(fn(raw[:-3]), Reject)
        assert isinstance(fn(raw + b"\0"), Ignore)  # trailing bytes: v0.63.1 decodes it
        hdr = bytearray(raw)
        hdr[68] = 1  # txsEffectsHash must start with 0: v0.63.1's ContentCommitment throws
        assert isinstance(fn(bytes(hdr)), Reject)
        assert isinstance(fn(raw, 100), Ignore)


def test_scoring_penalties_decay_and_graylist() -> None:
    t = [0.0]
    s = PeerScoring(ScoringConfig(), now=lambda: t[0])
    s.penalize("p", PeerErrorSeverity.HIGH_TOLERANCE)
    assert s.score("p") == -20
    s.penalize("p", PeerErrorSeverity.LOW_TOLERANCE)
    assert s.is_graylisted("p")  # -520
    t[0] = 60.0
    assert s.app_score("p") == pytest.approx(-52 * 0.9)
    s.invalid_delivery("q", EPOCH_PROOF_QUOTE_TOPIC)
    assert s.score("q") == pytest.approx(-20)
    t[0] = 61.0
    assert s.score("q") == pytest.approx(-10)
    t[0] = 70.0
    assert s.score("q") == 0
    assert ScoringConfig(penalty_values=(50, 2, 10)).penalty(PeerErrorSeverity.MID_TOLERANCE) == 10


def test_token_buckets_bounded() -> None:
    b = TokenBuckets(max_keys=2)
    lim = RateLimit(1, 2)
    assert b.allow(("a", "t"), lim, 0) and b.allow(("a", "t"), lim, 0)
    assert not b.allow(("a", "t"), lim, 0)
    assert b.allow(("a", "t"), lim, 1.0)
    b.allow(("b", "t"), lim, 1.0)
    b.allow(("c", "t"), lim, 1.0)
    assert len(b._b) == 2


def _intake(queue_size: int = 4, quote_rate: RateLimit | None = None) -> GossipIntake:
    t = [0.0]
    cfg = IntakeConfig(queue_size=queue_size)
    if quote_rate is not None:
        cfg.rate_limits[EPOCH_PROOF_QUOTE_TOPIC] = quote_rate
    return GossipIntake(
        quote_ctx=ctx(),
        tx_ctx=TxValidationContext(CHAIN),
        scoring=PeerScoring(now=lambda: t[0]),
        quote_pool=EpochProofQuotePool(),
        tx_pool=TxPool(),
        attestation_pool=AttestationPool(),
        now=lambda: t[0],
        config=cfg,
    )


def test_intake_flood_of_invalid_quotes_graylists_peer() -> None:
    g = _intake()
    bad = quote().to_bytes()[:150]  # undecodable by v0.63.1 as well
    for _ in range(5):
        assert not g.validate(EPOCH_PROOF_QUOTE_TOPIC, "spammer", "spammer", bad)
    assert g.scoring.is_graylisted("spammer")
    # now even valid quotes from it are dropped unseen
    assert not g.validate(EPOCH_PROOF_QUOTE_TOPIC, "spammer", "spammer", quote().to_bytes())
    st = g.statistics()["topics"][EPOCH_PROOF_QUOTE_TOPIC]  # type: ignore[index]
    assert st["graylisted"] >= 1 and st["rejected"] == 3  # -40 each: graylisted after the third
    # an honest relay forwarding expired quotes, quotes for another rollup or with a corrupted
    # signature (v0.63.1 forwards all of them) is not penalised
    other_rollup = EpochProofQuote.new(
        EpochProofQuotePayload(1, 100, 2000, address_of(KEY), 3), KEY, CHAIN, bytes.fromhex("44" * 20)
    )
    flipped = bytearray(quote().to_bytes())
    flipped[140] ^= 1
    for i in range(20):
        assert not g.validate(EPOCH_PROOF_QUOTE_TOPIC, "relay", "x", quote(valid_until=5, fee=i).to_bytes())
        assert not g.validate(EPOCH_PROOF_QUOTE_TOPIC, "relay", "x", other_rollup.to_bytes())
        assert not g.validate(EPOCH_PROOF_QUOTE_TOPIC, "relay", "x", bytes(flipped))
    assert g.scoring.score("relay") == 0
    assert not g.scoring.is_graylisted("relay")


def test_intake_queue_full_drops_and_counts() -> None:
    g = _intake(queue_size=2)
    for fee in range(5):
        assert g.validate(EPOCH_PROOF_QUOTE_TOPIC, "p", "p", quote(fee=fee).to_bytes())
    st = g.statistics()["topics"][EPOCH_PROOF_QUOTE_TOPIC]  # type: ignore[index]
    assert st["accepted"] == 5 and st["queue_full_dropped"] == 3


def test_intake_rate_limit() -> None:
    g = _intake(queue_size=100, quote_rate=RateLimit(1, 3))
    results = [g.validate(EPOCH_PROOF_QUOTE_TOPIC, "p", "p", quote(fee=f).to_bytes()) for f in range(6)]
    assert results == [True, True, True, False, False, False]
    assert g.scoring.score("p") == 0


async def test_intake_consumer_fills_pools() -> None:
    g = _intake(queue_size=16)
    raw = bytes(_tx_raw(2))
    async with trio.open_nursery() as n:
        await n.start(g.run)
        assert g.validate(EPOCH_PROOF_QUOTE_TOPIC, "p", "p", quote().to_bytes())
        assert g.validate(TX_TOPIC, "p", "p", raw)
        await trio.testing.wait_all_tasks_blocked()  # the consumers drained both queues
        assert g.quote_pool.get_quotes(1) == [quote()]
        assert g.tx_pool.get_raw_tx(Tx.from_bytes(raw).tx_hash()) == raw
        # duplicates are ignored (not forwarded, not penalised)
        assert not g.validate(EPOCH_PROOF_QUOTE_TOPIC, "p", "p", quote().to_bytes())
        assert not g.validate(TX_TOPIC, "p", "p", raw)
        n.cancel_scope.cancel()
