"""Hashes of the simulated circuits, byte for byte against ../shared/interop/tx-vectors.json."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.aztec.hashing import (
    accumulate,
    append_with_sibling_path,
    poseidon2_hash,
    poseidon2_hash_with_separator,
    poseidon2_merkle_root,
    root_from_sibling_path,
    sha256_merkle_root,
    sibling_path_for_next_leaf,
    unbalanced_sha256_root,
)
from core.aztec.header import Header
from core.aztec.serialization import FR_MODULUS
from core.aztec.tx_effect import EMPTY_TX_EFFECT
from proving.circuits.structs import decode
from tests.conftest import load_shared_vectors


def _vectors() -> dict[str, int]:
    data: Any = load_shared_vectors("tx-vectors.json")
    return {v["name"]: int(v["value"], 16) for v in data["hashVectors"]["values"]}


def _find(vectors: dict[str, int], prefix: str) -> int:
    (value,) = [v for k, v in vectors.items() if k.startswith(prefix)]
    return value


def test_hash_vectors() -> None:
    v = _vectors()
    assert accumulate(1, 2) == _find(v, "sha256Trunc(Fr(1)||Fr(2))")
    assert poseidon2_hash([1, 2]) == _find(v, "poseidon2Hash([1,2])")
    assert poseidon2_hash_with_separator([1, 2], 28) == _find(v, "poseidon2HashWithSeparator")
    empty_header = decode(
        Header,
        {
            "last_archive": {"root": "0x0", "next_available_leaf_index": "0x0"},
            "content_commitment": {k: "0x0" for k in ("num_txs", "txs_effects_hash", "in_hash", "out_hash")},
            "state": {
                "l1_to_l2_message_tree": {"root": "0x0", "next_available_leaf_index": "0x0"},
                "partial": {
                    t: {"root": "0x0", "next_available_leaf_index": "0x0"}
                    for t in ("note_hash_tree", "nullifier_tree", "public_data_tree")
                },
            },
            "global_variables": {
                k: "0x0"
                for k in (
                    "chain_id",
                    "version",
                    "block_number",
                    "slot_number",
                    "timestamp",
                    "coinbase",
                    "fee_recipient",
                    "fee_per_da_gas",
                    "fee_per_l2_gas",
                )
            },
            "total_fees": "0x0",
        },
    )
    assert empty_header.hash() == _find(v, "Header.empty().hash()")
    assert int.from_bytes(EMPTY_TX_EFFECT.hash(), "big") == _find(v, "TxEffect.empty().hash()")
    assert int.from_bytes(EMPTY_TX_EFFECT.out_hash(), "big") == _find(v, "TxEffect.empty().txOutHash()")
    assert unbalanced_sha256_root([1, 2, 3]) == _find(v, "computeUnbalancedMerkleRoot")
    assert sha256_merkle_root([0] * 16) == _find(v, "inHash for a block with no")
    assert sha256_merkle_root(list(range(1, 17))) == _find(v, "inHash for messages Fr(1..16)")
    assert poseidon2_merkle_root(list(range(1, 17))) == _find(v, "converted root (Poseidon2 tree) of messages")
    assert poseidon2_merkle_root([0] * 16) == _find(v, "converted root (Poseidon2 tree) of 16 zero")


@given(st.lists(st.integers(0, FR_MODULUS - 1), min_size=0, max_size=9))
def test_append_only_sibling_paths_match_full_tree(leaves: list[int]) -> None:
    height = 4
    path = sibling_path_for_next_leaf(leaves, height)
    full = poseidon2_merkle_root(leaves + [0] * (16 - len(leaves)))
    assert root_from_sibling_path(0, len(leaves), path) == full
    new_root, _ = append_with_sibling_path(7, len(leaves), path)
    assert new_root == poseidon2_merkle_root([*leaves, 7] + [0] * (15 - len(leaves)))


def test_field_range_checked() -> None:
    with pytest.raises(ValueError):
        poseidon2_hash([FR_MODULUS])
