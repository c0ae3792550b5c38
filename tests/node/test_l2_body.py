"""node.l2: body codec and hashes byte-exact against the v0.63.1 reference values, genesis archive,
header hash vectors, Tx -> TxEffect, and hypothesis round-trip / fuzz of the body decoder."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from core.aztec.hashing import unbalanced_sha256_root
from core.aztec.header import Header
from core.aztec.messages import in_hash
from core.aztec.tx_effect import EMPTY_TX_EFFECT_HASH, Body, BodyDecodeError, LogSection, TxEffect, tx_out_hash
from node.l2.block import BlockGlobals, build_block
from node.l2.from_tx import tx_to_effect
from node.l2.world_state import ChainState, Frontier, genesis_header
from p2p.wire.tx import Tx

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "shared" / "interop" / "tx-vectors.json").read_text())
HV = {v["name"]: v["value"] for v in VECTORS["hashVectors"]["values"]}

EMPTY_BLOCK = "002dcd61493c9a7f3ce4605573ee657e6ced4a3dd10bfb216f44a796b3d585c9"
EMPTY_EFFECT = "00c2dece9c9f14c67b8aafabdcb80793f1cffe95a801e15d648fd214a0522ee8"
EMPTY_OUT = "00f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb"
EMPTY_IN = "00089a9d421a82c4a25f7acbebe69e638d5b064fa8a60e018793dcb0be53752c"
GENESIS_ARCHIVE = 0x2A05CB8AEEFE9B9797F90650EAE072F5AB7437807E62F9724CE1900467779860


def _fr(i: int) -> bytes:
    return i.to_bytes(32, "big")


def test_reference_values() -> None:
    assert EMPTY_TX_EFFECT_HASH.hex() == EMPTY_EFFECT
    assert Body().txs_effects_hash().hex() == EMPTY_BLOCK
    assert Body((TxEffect(),)).txs_effects_hash().hex() == EMPTY_BLOCK
    assert Body().out_hash().hex() == EMPTY_OUT
    assert in_hash([]).hex() == EMPTY_IN
    assert len(TxEffect().to_bytes()) == 181
    assert Body().to_bytes() == bytes(4)


def test_hash_vectors() -> None:
    assert HV["TxEffect.empty().hash() (tx effects hash leaf of a padding tx)"] == "0x" + EMPTY_EFFECT
    assert "0x" + tx_out_hash(()).hex() == HV["TxEffect.empty().txOutHash()"]
    assert f"0x{Header.empty().hash():064x}" == HV["Header.empty().hash() (block hash of an all-zero header)"]
    assert "0x" + in_hash([_fr(i) for i in range(1, 17)]).hex() == HV[
        "inHash for messages Fr(1..16) (sha256Trunc tree, height 4)"]
    assert "0x" + in_hash([]).hex() == HV[
        "inHash for a block with no L1->L2 messages (sha256Trunc tree of 16 zero leaves, height 4)"]
    three = unbalanced_sha256_root([1, 2, 3])
    name = "computeUnbalancedMerkleRoot([Fr(1),Fr(2),Fr(3)]) with sha256Trunc (= sha(sha(1,2),3))"
    assert f"0x{three:064x}" == HV[name]


def test_consensus_header_hashes() -> None:
    for c in VECTORS["consensus"]:
        h = Header.from_bytes(bytes.fromhex(c["header"]["hex"]))
        assert f"0x{h.hash():064x}" == c["header"]["hash"]


def test_genesis_archive_root() -> None:
    assert ChainState.genesis().archive.root == GENESIS_ARCHIVE
    assert ChainState.genesis().archive.size == 1
    assert genesis_header().state.partial.nullifier_tree.next_available_leaf_index == 128


def test_frontier_subtree_matches_leaf_appends() -> None:
    a = Frontier.empty(10).append([3, 0, 0, 0]).append([5, 6, 7, 8])
    b = Frontier.empty(10).append_subtree([3, 0, 0, 0]).append_subtree([5, 6, 7, 8])
    assert a == b


def test_tx_vectors_to_effects() -> None:
    for t in VECTORS["txs"]:
        tx = Tx.from_bytes(bytes.fromhex(t["hex"]))
        eff = tx_to_effect(tx)
        assert eff.tx_hash().hex() == t["txHash"]
        assert Body.from_bytes(Body((eff,)).to_bytes()) == Body((eff,))


def test_out_hash_and_multi_tx_tree() -> None:
    msgs = (_fr(7), _fr(8), _fr(9))
    eff = TxEffect(nullifiers=(_fr(1),), l2_to_l1_msgs=msgs)
    assert eff.out_hash() == tx_out_hash(msgs) != bytes(32)
    body = Body(tuple(TxEffect(nullifiers=(_fr(i),)) for i in range(1, 4)))
    leaves = [int.from_bytes(t.hash(), "big") for t in body.tx_effects]
    assert body.txs_effects_hash() == unbalanced_sha256_root(leaves).to_bytes(32, "big")


def test_bad_log_length_is_rejected() -> None:
    eff = TxEffect(nullifiers=(_fr(1),), note_encrypted_logs=LogSection(((b"abc",),)))
    try:
        Body.from_bytes(Body((eff,)).to_bytes())
    except BodyDecodeError as e:
        assert "InvalidLogsLength(0, 7)" in str(e)
    else:
        raise AssertionError("length mismatch accepted")


def test_build_block_chain() -> None:
    state = ChainState.genesis()
    blocks = []
    for n in (1, 2):
        block, state = build_block(state, BlockGlobals(31337, n, n, 1000 + n), Body())
        blocks.append(block)
    assert blocks[0].header.last_archive.root == GENESIS_ARCHIVE
    assert blocks[1].header.last_archive.root == int.from_bytes(blocks[0].archive, "big")
    assert blocks[1].header.last_archive.next_available_leaf_index == 2
    assert len(blocks[0].header.to_bytes()) == 616


_word = st.binary(min_size=32, max_size=32).map(lambda b: b"\0" + b[1:])
_logs = st.lists(st.lists(st.binary(min_size=32, max_size=80), max_size=2), max_size=2).map(
    lambda its: LogSection(tuple(tuple(i) for i in its)))
_effects = st.builds(
    lambda rc, fee, notes, nulls, msgs, writes, n, e, u: TxEffect.with_computed_lengths(
        revert_code=rc, transaction_fee=fee, note_hashes=tuple(notes), nullifiers=tuple(nulls),
        l2_to_l1_msgs=tuple(msgs), public_data_writes=tuple(writes), note_encrypted_logs=n, encrypted_logs=e,
        unencrypted_logs=u),
    st.integers(0, 3), st.integers(0, 2**64), st.lists(_word, max_size=3), st.lists(_word, min_size=1, max_size=3),
    st.lists(_word, max_size=2), st.lists(st.tuples(_word, _word), max_size=2), _logs, _logs, _logs,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_effects, max_size=3))
def test_body_round_trip(effects: list[TxEffect]) -> None:
    body = Body(tuple(effects))
    raw = body.to_bytes()
    assert Body.from_bytes(raw) == body
    assert Body.from_bytes(raw + b"\x01\x02") == body  # trailing bytes are ignored, like TxsDecoder


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_body_fuzz_never_crashes(data: bytes) -> None:
    with contextlib.suppress(BodyDecodeError):
        Body.from_bytes(data)


@settings(max_examples=100, deadline=None)
@given(_effects, st.integers(0, 600), st.binary(min_size=1, max_size=4))
def test_body_mutation_clear_error(eff: TxEffect, pos: int, junk: bytes) -> None:
    raw = bytearray(Body((eff,)).to_bytes())
    p = pos % len(raw)
    raw[p : p + len(junk)] = junk
    try:
        Body.from_bytes(bytes(raw[: p + len(junk)]))
    except BodyDecodeError as e:
        assert str(e)
