"""The sequencer's quote history (the live view's "quotes seen"): each quote with why it was or was
not chosen — expired, refused by the claim rules (and which), rejected by L1 (and why), a higher fee,
chosen — bounded, newest kept."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from node.l1.errors import DecodedRevert, L1RevertError
from node.l1.rules import ZERO_ADDRESS, ClaimContext
from node.sequencer import sequencer as seqmod
from node.sequencer.sequencer import MemorySources, Sequencer
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of

KEYS = [bytes([i + 1]) * 32 for i in range(5)]
ROLLUP = bytes(20)


class FakeL1:
    signer = object()
    address = "0x" + "11" * 20

    addresses = SimpleNamespace(rollup=ROLLUP)

    def __init__(self, refuse: set[bytes], unbonded: frozenset[bytes] = frozenset()) -> None:
        self.refuse = refuse  # L1's eth_call rejects their quotes (what the rules cannot see)
        self.unbonded = unbonded  # no escrow deposit: the claim rules refuse their quotes
        self.validated: list[bytes] = []

    async def claimable_epoch(self) -> int:
        return 3

    async def claim_context(self, quote_prover: bytes | None, *, timestamp: int | None = None) -> ClaimContext:
        return ClaimContext(current_slot=10, epoch_to_prove=3, proposer=ZERO_ADDRESS, sender=bytes.fromhex("11" * 20),
                            already_claimed=False, escrow_deposit=0)

    async def chain_id(self) -> int:
        return 31337

    async def escrow_deposits(self, prover: bytes) -> int:
        return 0 if prover in self.unbonded else 10**6

    async def validate_epoch_proof_right_claim_at_time(self, ts: int, q: EpochProofQuote) -> None:
        self.validated.append(q.payload.prover)
        if q.payload.prover in self.refuse:
            raise L1RevertError(DecodedRevert("Rollup__InsufficientBondAmount", (1000, 5), b""))


def quote(i: int, fee: int, valid_until: int, epoch: int = 3) -> EpochProofQuote:
    payload = EpochProofQuotePayload(epoch, valid_until, 1000, address_of(KEYS[i]), fee)
    return EpochProofQuote.new(payload, KEYS[i], 31337, ROLLUP)


def sequencer(refuse: set[bytes], quotes: list[EpochProofQuote],
              unbonded: frozenset[bytes] = frozenset()) -> Sequencer:
    src = MemorySources()
    for q in quotes:
        src.quote_pool.add_quote(q)
    return Sequencer(FakeL1(refuse, unbonded), object(), txs=src, quotes=src)  # type: ignore[arg-type]


async def test_every_quote_seen_has_a_verdict() -> None:
    qs = [quote(0, 300, 20), quote(1, 100, 20), quote(2, 50, 20), quote(3, 10, 5), quote(4, 5, 20)]
    seq = sequencer({address_of(KEYS[2])}, qs, unbonded=frozenset({address_of(KEYS[4])}))
    best = await seq._best_quote(10, 0)
    assert best is not None and best.payload.prover == address_of(KEYS[1])
    why = {h["prover"]: (h["why"], h["chosen"]) for h in seq.quote_history.values()}
    hexp = ["0x" + address_of(k).hex() for k in KEYS]
    assert why[hexp[1]] == ("chosen (lowest fee)", True)
    assert why[hexp[0]] == ("fee 300 bps > 100 bps", False)
    assert why[hexp[2]][0].startswith("rejected by L1: ") and "InsufficientBondAmount" in why[hexp[2]][0]
    assert why[hexp[3]][0] == "expired (valid until slot 5 < 10)"
    assert why[hexp[4]] == ("refused by the claim rules: Rollup__InsufficientFundsInEscrow(1000, 0)", False)
    assert address_of(KEYS[4]) not in seq.l1.validated  # type: ignore[attr-defined]  # no eth_call spent on it
    verdicts = {v: seq.metrics.registry.get_sample_value("aztec_sequencer_quote_verdicts_total", {"verdict": v})
                for v in ("chosen", "higher_fee", "expired", "rejected_by_rules", "rejected_by_l1")}
    assert verdicts == {"chosen": 1, "higher_fee": 1, "expired": 1, "rejected_by_rules": 1, "rejected_by_l1": 1}
    assert all(h["slot"] == 10 and h["epoch"] == 3 and h["bond"] == 1000 for h in seq.quote_history.values())
    await seq._best_quote(11, 0)  # judged again: one entry per quote, the latest verdict
    assert len(seq.quote_history) == 5 and all(h["slot"] == 11 for h in seq.quote_history.values())


async def test_history_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seqmod, "QUOTE_HISTORY", 3)
    seq = sequencer(set(), [])
    for fee in range(10):
        seq._note_quote(1, quote(0, fee, 20), "x", False)
    kept: list[Any] = [h["fee_bps"] for h in seq.quote_history.values()]
    assert kept == [7, 8, 9]
