"""node.l1.propose builders over the data model (core.aztec): header layout, body encoding,
txsEffectsHash trees, proof args."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.aztec.constants import (
    EMPTY_BLOCK_OUT_HASH,
    EMPTY_BLOCK_TXS_EFFECTS_HASH,
    EMPTY_INBOX_ROOT,
    EMPTY_TX_EFFECT_HASH,
    GENESIS_ARCHIVE_ROOT,
    HEADER_LENGTH,
)
from core.aztec.hashing import accumulate, sha256_merkle_root, sha256_to_field, unbalanced_sha256_root
from core.aztec.tx_effect import EMPTY_TX_EFFECT, Body, TxEffect
from node.l1.propose import BlockBuildError, EpochProofArgs, build_block

fields = st.binary(min_size=32, max_size=32).map(lambda b: b"\0" + b[1:])
effects = st.builds(
    TxEffect,
    revert_code=st.integers(0, 2),
    transaction_fee=st.integers(0, 2**128),
    note_hashes=st.lists(fields, max_size=4).map(tuple),
    nullifiers=st.lists(fields, min_size=1, max_size=4).map(tuple),
    l2_to_l1_msgs=st.lists(fields, max_size=3).map(tuple),
    public_data_writes=st.lists(st.tuples(fields, fields), max_size=3).map(tuple),
)


def test_known_empty_values() -> None:
    assert sha256_to_field(b"") == b"\0" + hashlib.sha256(b"").digest()[:31]
    assert EMPTY_TX_EFFECT.hash() == EMPTY_TX_EFFECT_HASH
    assert len(EMPTY_TX_EFFECT.to_bytes()) == 181
    assert Body().to_bytes() == b"\0\0\0\0"
    assert Body().txs_effects_hash() == EMPTY_BLOCK_TXS_EFFECTS_HASH
    assert Body((EMPTY_TX_EFFECT,)).txs_effects_hash() == EMPTY_BLOCK_TXS_EFFECTS_HASH
    assert Body().out_hash() == EMPTY_BLOCK_OUT_HASH
    # the Inbox's empty height-4 tree
    assert sha256_merkle_root([0] * 16).to_bytes(32, "big") == EMPTY_INBOX_ROOT


def test_unbalanced_tree_shape() -> None:
    leaves = [int.from_bytes(bytes([i]) * 32, "big") for i in range(1, 8)]
    # 7 = 4 + 2 + 1, combined from the right
    expected = accumulate(sha256_merkle_root(leaves[:4]), accumulate(sha256_merkle_root(leaves[4:6]), leaves[6]))
    assert unbalanced_sha256_root(leaves) == expected
    assert unbalanced_sha256_root(leaves[:4]) == sha256_merkle_root(leaves[:4])
    assert unbalanced_sha256_root(leaves[:1]) == leaves[0]


@given(st.lists(effects, max_size=5))
def test_body_encoding_lengths(txs: list[TxEffect]) -> None:
    body = Body(tuple(txs))
    raw = body.to_bytes()
    assert int.from_bytes(raw[:4], "big") == len(txs)
    expected = 4 + sum(
        181 + 32 * (len(t.note_hashes) + len(t.nullifiers) + len(t.l2_to_l1_msgs)) + 64 * len(t.public_data_writes)
        for t in txs
    )
    assert len(raw) == expected
    assert len(body.txs_effects_hash()) == 32 and body.txs_effects_hash()[0] == 0


def test_header_layout() -> None:
    args = build_block(
        chain_id=31337, block_number=1, slot_number=5, timestamp=1000 + 60,
        last_archive=GENESIS_ARCHIVE_ROOT, in_hash=EMPTY_INBOX_ROOT, archive=b"\1" * 32, block_hash=b"\2" * 32,
        coinbase=b"\x33" * 20,
    )
    raw = args.header.to_bytes()
    assert len(raw) == HEADER_LENGTH
    assert raw[0:32] == GENESIS_ARCHIVE_ROOT and raw[32:36] == (1).to_bytes(4, "big")
    assert int.from_bytes(raw[36:68], "big") == 2  # numTxs = max(2, n)
    assert raw[68:100] == EMPTY_BLOCK_TXS_EFFECTS_HASH
    assert raw[100:132] == EMPTY_INBOX_ROOT and raw[132:164] == EMPTY_BLOCK_OUT_HASH
    assert int.from_bytes(raw[308:340], "big") == 31337
    assert int.from_bytes(raw[340:372], "big") == 1  # version
    assert int.from_bytes(raw[372:404], "big") == 1
    assert int.from_bytes(raw[404:436], "big") == 5
    assert int.from_bytes(raw[436:468], "big") == 1060
    assert raw[468:488] == b"\x33" * 20
    assert raw[488:] == b"\0" * 128
    assert args.abi_args()[5] == b"\0\0\0\0"
    with pytest.raises(BlockBuildError):
        build_block(chain_id=1, block_number=1, slot_number=1, timestamp=1, last_archive=GENESIS_ARCHIVE_ROOT,
                    in_hash=EMPTY_INBOX_ROOT, archive=b"\xff" * 32, block_hash=b"\0" * 32)


def test_epoch_proof_args() -> None:
    p = EpochProofArgs(3, b"\1" * 32, b"\2" * 32, b"\3" * 32, b"\4" * 32, 99, b"\5" * 32, b"\6" * 20,
                       fees=((b"\7" * 20, 300),))
    size, args, fees, agg, proof = p.abi_args()
    assert size == 3 and len(args) == 7 and args[4] == (99).to_bytes(32, "big")
    assert args[6] == b"\0" * 12 + b"\6" * 20
    assert len(fees) == 64 and fees[0] == b"\0" * 12 + b"\7" * 20 and int.from_bytes(fees[1], "big") == 300
    assert all(f == b"\0" * 32 for f in fees[2:]) and agg == b"" and proof == b""
    with pytest.raises(BlockBuildError):
        EpochProofArgs(1, b"\0" * 32, b"\0" * 32, b"\0" * 32, b"\0" * 32, 0, b"\0" * 32, b"",
                       fees=((b"\0" * 20, 0),) * 33).abi_args()
