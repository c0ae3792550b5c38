"""core.aztec: the one header codec (binary and field forms agree, v0.63.1 rejections kept), and the
circuits' JSON codec over the shared model contains what the model refuses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.aztec import header as hd
from core.aztec.constants import HEADER_FIELDS_LENGTH, HEADER_LENGTH
from core.aztec.serialization import FR_MODULUS, DecodeError
from core.aztec.tx_effect import TxEffect
from p2p.wire import compat
from proving.circuits.structs import CircuitInputError, decode, encode

fields = st.integers(0, FR_MODULUS - 1)
hashes = st.integers(0, 2**248 - 1)
snapshots = st.builds(hd.AppendOnlyTreeSnapshot, fields, st.integers(0, 2**32 - 1))
headers = st.builds(
    hd.Header,
    snapshots,
    st.builds(hd.ContentCommitment, fields, hashes, hashes, hashes),
    st.builds(hd.StateReference, snapshots, st.builds(hd.PartialStateReference, snapshots, snapshots, snapshots)),
    st.builds(hd.GlobalVariables, fields, fields, fields, fields, fields, st.integers(0, 2**160 - 1), fields, fields,
              fields),
    fields,
)


@given(headers)
def test_binary_and_field_forms_agree(h: hd.Header) -> None:
    raw = h.to_bytes()
    assert len(raw) == HEADER_LENGTH and hd.Header.from_bytes(raw) == h
    assert compat.block_proposal_error(raw + bytes(32 + 4 + 68)) is None  # v0.63.1 takes it too
    f = h.to_fields()
    assert len(f) == HEADER_FIELDS_LENGTH
    assert f[0] == int.from_bytes(raw[0:32], "big") and f[1] == int.from_bytes(raw[32:36], "big")
    snaps = [(164 + 36 * i, 164 + 36 * i + 32) for i in range(4)]
    got = [int.from_bytes(raw[a:b], "big") for a, b in snaps]
    assert got == [f[6], f[8], f[10], f[12]]
    assert f[2:6] == [int.from_bytes(raw[36 + 32 * i : 68 + 32 * i], "big") for i in range(4)]
    assert f[19] == int.from_bytes(raw[468:488], "big")  # coinbase
    assert f[23] == int.from_bytes(raw[584:616], "big")  # totalFees


@pytest.mark.parametrize("offset", [68, 100, 132])  # txsEffectsHash, inHash, outHash
def test_untruncated_content_hash_is_refused_like_v0_63_1(offset: int) -> None:
    raw = bytearray(hd.Header.empty().to_bytes())
    raw[offset] = 1
    with pytest.raises(DecodeError, match="truncated and left padded"):
        hd.Header.from_bytes(bytes(raw))
    assert compat.block_proposal_error(bytes(raw) + bytes(32 + 4 + 68)) is not None


def test_strict_decoding_refuses_what_v0_63_1_takes() -> None:
    raw = hd.Header.empty().to_bytes()
    with pytest.raises(DecodeError):
        hd.Header.from_bytes(raw + b"\0")  # trailing bytes
    over = FR_MODULUS.to_bytes(32, "big") + raw[32:]
    with pytest.raises(DecodeError, match="BN254"):
        hd.Header.from_bytes(over)
    assert compat.block_proposal_error(over + bytes(32 + 4 + 68)) is None


def test_encoding_refuses_values_outside_their_width() -> None:
    with pytest.raises(ValueError):
        hd.Header(
            hd.AppendOnlyTreeSnapshot(FR_MODULUS, 0), hd.ContentCommitment(0, 0, 0, 0), hd.StateReference.empty(),
            hd.GlobalVariables.empty(), 0,
        ).to_bytes()
    with pytest.raises(ValueError, match="coinbase"):
        hd.GlobalVariables(0, 0, 0, 0, 0, 1 << 160, 0, 0, 0).to_bytes()


def test_circuit_json_of_an_oversized_tx_effect_is_an_input_error() -> None:
    good = encode(TxEffect(nullifiers=(bytes(31) + b"\1",)))
    assert decode(TxEffect, good) == TxEffect(nullifiers=(bytes(31) + b"\1",))
    too_many = dict(good, note_hashes=["0x" + "00" * 32] * 65)
    with pytest.raises(CircuitInputError, match="65 entries exceed"):
        decode(TxEffect, too_many)
    short_word = dict(good, nullifiers=["0x0102"])
    with pytest.raises(CircuitInputError, match="32 bytes"):
        decode(TxEffect, short_word)
    with pytest.raises(CircuitInputError, match="hex"):
        decode(TxEffect, dict(good, nullifiers=["0xzz"]))
