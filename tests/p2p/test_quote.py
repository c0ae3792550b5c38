"""EpochProofQuote against vectors produced by @aztec/circuit-types@0.63.1 (byte for byte)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.aztec.serialization import DecodeError
from p2p.wire.quote import (
    QUOTE_SIZE,
    EpochProofQuote,
    EpochProofQuotePayload,
    QuoteError,
    Signature,
    domain_separator,
)
from tests.conftest import load_shared_vectors


def _hex(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def _vectors() -> dict[str, Any]:
    return load_shared_vectors("quote-vectors.json")  # type: ignore[no-any-return]


def _valid() -> list[dict[str, Any]]:
    return _vectors()["valid"]  # type: ignore[no-any-return]


def _invalid(name: str) -> dict[str, Any]:
    return next(v for v in _vectors()["invalid"] if v["name"] == name)


@pytest.mark.parametrize("idx", range(6))
def test_valid_vector_byte_exact(idx: int) -> None:
    v = _valid()[idx]
    inp = v["inputs"]
    key = _hex(inp["privateKey"])
    payload = EpochProofQuotePayload(
        epoch_to_prove=int(inp["epochToProve"]),
        valid_until_slot=int(inp["validUntilSlot"]),
        bond_amount=int(inp["bondAmount"]),
        prover=_hex(v["proverAddress"]),
        basis_point_fee=int(inp["basisPointFee"]),
    )
    assert payload.to_bytes() == _hex(v["payloadBuffer"])
    chain, rollup = int(inp["chainId"]), inp["rollupAddress"]
    assert domain_separator(chain, _hex(rollup)) == _hex(v["eip712"]["domainSeparator"])
    assert payload.struct_hash() == _hex(v["eip712"]["structHash"])
    assert payload.digest(chain, rollup) == _hex(v["digestFromRollupQuoteToDigest"])
    # same fields, same key -> same signature and bytes (RFC 6979)
    quote = EpochProofQuote.new(payload, key, chain, rollup)
    assert quote.signature.to_bytes() == _hex(v["signature"]["buffer"])
    assert quote.to_bytes() == _hex(v["quoteBuffer"])
    assert len(quote.to_bytes()) == QUOTE_SIZE
    assert quote.p2p_message_identifier() == _hex(v["p2pMessageIdentifier"])
    assert quote.to_json() == v["quoteJson"]
    # the other direction: decode their bytes and JSON
    decoded = EpochProofQuote.from_bytes(_hex(v["quoteBuffer"]))
    assert decoded == quote
    assert EpochProofQuote.from_json(v["quoteJson"]) == quote
    assert decoded.recover_signer(chain, rollup) == _hex(v["recoveredAddress"])


@pytest.mark.parametrize(
    "name", ["truncated_quote_buffer_187_bytes", "truncated_quote_buffer_184_bytes",
             "truncated_quote_buffer_120_bytes", "truncated_quote_buffer_100_bytes",
             "truncated_quote_buffer_0_bytes"]
)
def test_truncated_buffers_give_aztecs_error(name: str) -> None:
    v = _invalid(name)
    with pytest.raises(DecodeError) as exc:
        EpochProofQuote.from_bytes(_hex(v["quoteBuffer"]), strict_length=False)
    assert str(exc.value) == v["quoteFromBufferResult"]["errorMessage"]
    with pytest.raises(QuoteError, match="must be 188 bytes"):
        EpochProofQuote.from_bytes(_hex(v["quoteBuffer"]))


def test_trailing_bytes_lenient_and_strict() -> None:
    v = _invalid("quote_buffer_with_2_trailing_bytes")
    q = EpochProofQuote.from_bytes(_hex(v["quoteBuffer"]), strict_length=False)
    assert q.to_bytes() == _hex(v["quoteFromBufferResult"]["reserialized"])
    with pytest.raises(QuoteError):
        EpochProofQuote.from_bytes(_hex(v["quoteBuffer"]))


def test_fee_above_10000_rejected_like_typescript() -> None:
    v = _invalid("basisPointFee_2pow32_minus_1")
    with pytest.raises(QuoteError, match=v["payloadConstructorError"]):
        EpochProofQuotePayload(1, 100, 1000, _hex(v["proverAddress"]), 4294967295)


def test_prover_must_match_signer() -> None:
    v = _invalid("prover_field_differs_from_signer")
    payload = EpochProofQuotePayload(1, 100, 1000, _hex(v["proverField"]), 1)
    with pytest.raises(QuoteError) as exc:
        EpochProofQuote.new(payload, _hex(v["privateKey"]), 31337, "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707")
    assert str(exc.value) == v["epochProofQuoteNewError"]


@pytest.mark.parametrize("name", ["tampered_bondAmount_lowest_bit", "tampered_epochToProve_1_to_2"])
def test_tampered_quote_recovers_someone_else(name: str) -> None:
    v = _invalid(name)
    base = next(x for x in _valid() if x["name"] == v["basedOn"])
    q = EpochProofQuote.from_bytes(_hex(v["quoteBuffer"]))
    inp = base["inputs"]
    assert q.recover_signer(int(inp["chainId"]), inp["rollupAddress"]) != _hex(base["proverAddress"])


def test_high_s_recovers_the_prover_like_l1() -> None:
    v = _invalid("high_s_malleated_signature")
    base = next(x for x in _valid() if x["name"] == v["basedOn"])
    q = EpochProofQuote.from_bytes(_hex(v["quoteBuffer"]))
    inp = base["inputs"]
    assert q.recover_signer(int(inp["chainId"]), inp["rollupAddress"]) == _hex(v["tsRecoverAddress"])


def test_v_0_1_and_empty_signatures_rejected_like_l1() -> None:
    for name, match in [("v_as_recovery_bit_0_or_1", "v must be 27 or 28"), ("empty_signature_all_zero", "empty")]:
        v = _invalid(name)
        q = EpochProofQuote.from_bytes(_hex(v["quoteBuffer"]))
        with pytest.raises(QuoteError, match=match):
            q.recover_signer(31337, "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707")
    assert EpochProofQuote.from_bytes(_hex(_invalid("empty_signature_all_zero")["quoteBuffer"])).signature.is_empty


def test_spec_doc_vector() -> None:
    """The vector in ../shared/protocol/aztec-v0.63-p2p.md section 4.2."""
    key = bytes([1]) * 32
    payload = EpochProofQuotePayload(5, 100, 2000, _hex("1a642f0e3c3af545e7acbd38b07251b3990914f1"), 250)
    q = EpochProofQuote.new(payload, key, 31337, "0x" + "22" * 20)
    assert q.digest(31337, "0x" + "22" * 20).hex() == "2a58d790e83a9d7e3a2fd444d11450c154ffec9cf79eea11b1432639af843075"
    assert q.signature == Signature(
        0x2223D70264F1CE04AAB383BEDD5F0B44F3619365585DAA482C1E84A7B2331F89,
        0x6B516DA0AE685741BDC4BC2BCB71C4D3BA2E8B34893E6F8F6BCE8DB7B784D034,
        27,
    )
    assert q.p2p_message_identifier().hex() == "585ab4dc0896decb52584fc59462db0be1b933c967b658b8915d642e506aac79"


@given(st.binary(max_size=400))
def test_decoder_never_crashes(data: bytes) -> None:
    try:
        q = EpochProofQuote.from_bytes(data, strict_length=False)
    except DecodeError:
        return
    assert q.to_bytes() == data[:QUOTE_SIZE]


@given(st.binary(min_size=QUOTE_SIZE, max_size=QUOTE_SIZE))
def test_recover_never_crashes(data: bytes) -> None:
    try:
        q = EpochProofQuote.from_bytes(data)
        addr = q.recover_signer(1, b"\x11" * 20)
    except DecodeError:
        return
    assert len(addr) == 20


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=20) | st.integers(), max_size=5))
def test_json_decoder_never_crashes(obj: dict[str, object]) -> None:
    with pytest.raises(QuoteError):
        EpochProofQuote.from_json(obj)
