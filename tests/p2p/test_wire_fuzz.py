"""Hypothesis fuzzing of every gossip payload decoder: a valid object or DecodeError, nothing else.

Inputs: random bytes, and mutations (byte flips, truncation, extension, splices) of the real
vectors. The gossip validators are fuzzed too: they must return a verdict, never raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.aztec.header import Header
from core.aztec.serialization import DecodeError
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
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of
from p2p.wire.tx import Tx
from tests.conftest import load_shared_vectors

_V = load_shared_vectors("tx-vectors.json")
TX_SEEDS = [bytes.fromhex(t["hex"]) for t in _V["txs"]]
CONSENSUS_SEEDS = [bytes.fromhex(c["hex"]) for c in _V["consensus"]]
KEY = bytes([3]) * 32
QUOTE_SEED = EpochProofQuote.new(
    EpochProofQuotePayload(1, 100, 2000, address_of(KEY), 250), KEY, 1, bytes(20)
).to_bytes()
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "extend", "splice", "u32"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[i:]
        elif op == "extend":
            data += draw(st.binary(max_size=64))
        elif op == "splice":
            data[i:i] = draw(st.binary(max_size=64))
        else:  # a length/count field blown up
            data[i : i + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"]))
    return bytes(data)


def _decode_or_decode_error(fn: Callable[[bytes], Any], data: bytes) -> None:
    try:
        obj = fn(data)
    except DecodeError:
        return
    # a successful decode re-encodes to the same bytes
    assert obj.to_bytes() == data


@SETTINGS
@given(st.one_of(st.binary(max_size=2048), mutated(TX_SEEDS)))
def test_fuzz_tx_decoder(data: bytes) -> None:
    _decode_or_decode_error(Tx.from_bytes, data)


@SETTINGS
@given(st.one_of(st.binary(max_size=1024), mutated(CONSENSUS_SEEDS)))
def test_fuzz_block_proposal_decoder(data: bytes) -> None:
    _decode_or_decode_error(BlockProposal.from_bytes, data)


@SETTINGS
@given(st.one_of(st.binary(max_size=1024), mutated(CONSENSUS_SEEDS)))
def test_fuzz_block_attestation_decoder(data: bytes) -> None:
    _decode_or_decode_error(BlockAttestation.from_bytes, data)


@SETTINGS
@given(st.one_of(st.binary(min_size=600, max_size=640), mutated([bytes.fromhex(_V["consensus"][0]["header"]["hex"])])))
def test_fuzz_header_decoder(data: bytes) -> None:
    _decode_or_decode_error(Header.from_bytes, data)


@SETTINGS
@given(st.one_of(st.binary(min_size=180, max_size=196), mutated([QUOTE_SEED])))
def test_fuzz_quote_decoder(data: bytes) -> None:
    _decode_or_decode_error(EpochProofQuote.from_bytes, data)


QCTX = QuoteValidationContext(chain_id=1, rollup_address=bytes(20), current_slot=lambda: 20)
TCTX = TxValidationContext(chain_id=0)


@SETTINGS
@given(
    st.sampled_from(["quote", "tx", "proposal", "attestation"]),
    st.one_of(st.binary(max_size=1024), mutated([QUOTE_SEED, *TX_SEEDS, *CONSENSUS_SEEDS])),
)
def test_fuzz_validators_never_raise(kind: str, data: bytes) -> None:
    fn: dict[str, Callable[[bytes], object]] = {
        "quote": lambda d: validate_quote(d, QCTX),
        "tx": lambda d: validate_tx(d, TCTX),
        "proposal": validate_block_proposal,
        "attestation": validate_block_attestation,
    }
    verdict = fn[kind](data)
    assert isinstance(verdict, Accept | Reject | Ignore)
    if isinstance(verdict, Reject):
        assert verdict.reason
