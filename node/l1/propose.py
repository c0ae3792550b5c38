"""Aztec v0.63.1 block submission to L1 (sans-IO builders): the 616-byte header HeaderLib decodes, a
block body TxsDecoder parses with its txsEffectsHash, the propose() arguments, and the
submitEpochRootProof() arguments. Layouts: ../shared/notes/aztec-v0.63.1-propose-and-prove.md §1-2.

Scope: tx effects without logs (the four log sections are empty; their lengths and hashes are 0).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from node.constants import (
    AGGREGATION_OBJECT_LENGTH,
    EMPTY_BLOCK_OUT_HASH,
    EPOCH_PROOF_FEES_LENGTH,
    GENESIS_ARCHIVE_ROOT,
    HEADER_LENGTH,
    MAX_L2_TO_L1_MSGS_PER_TX,
    MAX_NOTE_HASHES_PER_TX,
    MAX_NULLIFIERS_PER_TX,
    MAX_TOTAL_PUBLIC_DATA_UPDATE_REQUESTS_PER_TX,
    ROLLUP_VERSION,
)

BN254_FR_MODULUS: Final = 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001
BLOCK_ATTESTATION: Final = 1  # SignatureDomainSeparator.blockAttestation


class BlockBuildError(ValueError):
    """Inputs that cannot form a valid v0.63.1 header/body."""


def sha256_to_field(data: bytes) -> bytes:
    """0x00 followed by the first 31 bytes of sha256(data) (Aztec's sha256ToField)."""
    return b"\0" + hashlib.sha256(data).digest()[:31]


def _b32(v: bytes | int) -> bytes:
    if isinstance(v, int):
        if not 0 <= v < 2**256:
            raise BlockBuildError(f"value out of uint256 range: {v}")
        return v.to_bytes(32, "big")
    if len(v) != 32:
        raise BlockBuildError(f"expected 32 bytes, got {len(v)}")
    return v


def balanced_root(leaves: Sequence[bytes]) -> bytes:
    """sha256ToField Merkle root over leaves zero-padded to the next power of two (>= 1 leaf)."""
    if not leaves:
        raise BlockBuildError("balanced tree needs at least one leaf")
    size = 1
    while size < len(leaves):
        size *= 2
    level = list(leaves) + [b"\0" * 32] * (size - len(leaves))
    while len(level) > 1:
        level = [sha256_to_field(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def unbalanced_root(leaves: Sequence[bytes]) -> bytes:
    """Aztec's unbalanced tree: split into power-of-two subtrees, largest on the left, and combine
    from the right (acc = H(subtreeRoot || acc))."""
    if len(leaves) < 2:
        raise BlockBuildError("unbalanced tree needs at least two leaves")
    roots: list[bytes] = []
    i, n = 0, len(leaves)
    while i < n:
        size = 1 << ((n - i).bit_length() - 1)
        chunk = leaves[i : i + size]
        roots.append(chunk[0] if size == 1 else balanced_root(chunk))
        i += size
    acc = roots[-1]
    for r in reversed(roots[:-1]):
        acc = sha256_to_field(r + acc)
    return acc


@dataclass(frozen=True, slots=True)
class TxEffect:
    """One tx effect as TxsDecoder reads it (logs not supported here: all four sections empty)."""

    revert_code: int = 0
    transaction_fee: int = 0
    note_hashes: tuple[bytes, ...] = ()
    nullifiers: tuple[bytes, ...] = ()
    l2_to_l1_msgs: tuple[bytes, ...] = ()
    public_data_writes: tuple[tuple[bytes, bytes], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.revert_code < 256:
            raise BlockBuildError(f"revert code must fit a byte: {self.revert_code}")
        for name, items, cap in (
            ("note hashes", self.note_hashes, MAX_NOTE_HASHES_PER_TX),
            ("nullifiers", self.nullifiers, MAX_NULLIFIERS_PER_TX),
            ("l2->l1 messages", self.l2_to_l1_msgs, MAX_L2_TO_L1_MSGS_PER_TX),
            ("public data writes", self.public_data_writes, MAX_TOTAL_PUBLIC_DATA_UPDATE_REQUESTS_PER_TX),
        ):
            if len(items) > cap:
                raise BlockBuildError(f"too many {name}: {len(items)} > {cap}")

    def to_bytes(self) -> bytes:
        out = bytes([self.revert_code]) + _b32(self.transaction_fee)
        for items in (self.note_hashes, self.nullifiers, self.l2_to_l1_msgs):
            out += bytes([len(items)]) + b"".join(_b32(x) for x in items)
        out += bytes([len(self.public_data_writes)])
        out += b"".join(_b32(k) + _b32(v) for k, v in self.public_data_writes)
        out += b"\0" * 32 * 4  # four DA log lengths
        out += b"\0\0\0\0" * 4  # four empty log sections
        return out

    def out_hash(self) -> bytes:
        msgs = self.l2_to_l1_msgs
        if not msgs:
            return b"\0" * 32
        if len(msgs) == 1:
            return sha256_to_field(_b32(msgs[0]) + b"\0" * 32)
        return balanced_root([_b32(m) for m in msgs])

    def hash(self) -> bytes:
        """sha256ToField of the 8544-byte preimage TxsDecoder builds."""
        pre = _b32(self.revert_code) + _b32(self.transaction_fee)
        pre += b"".join(_b32(x) for x in self.note_hashes).ljust(32 * MAX_NOTE_HASHES_PER_TX, b"\0")
        pre += b"".join(_b32(x) for x in self.nullifiers).ljust(32 * MAX_NULLIFIERS_PER_TX, b"\0")
        pre += self.out_hash()
        writes = b"".join(_b32(k) + _b32(v) for k, v in self.public_data_writes)
        pre += writes.ljust(64 * MAX_TOTAL_PUBLIC_DATA_UPDATE_REQUESTS_PER_TX, b"\0")
        pre += b"\0" * 128 + b"\0" * 128  # log lengths, log hashes (no logs)
        return sha256_to_field(pre)


EMPTY_TX_EFFECT: Final = TxEffect()


@dataclass(frozen=True, slots=True)
class BlockBody:
    tx_effects: tuple[TxEffect, ...] = ()

    def to_bytes(self) -> bytes:
        return len(self.tx_effects).to_bytes(4, "big") + b"".join(t.to_bytes() for t in self.tx_effects)

    def txs_effects_hash(self) -> bytes:
        leaves = [t.hash() for t in self.tx_effects]
        while len(leaves) < 2:
            leaves.append(EMPTY_TX_EFFECT.hash())
        return unbalanced_root(leaves)

    def out_hash(self) -> bytes:
        """TS builder's block outHash: unbalanced root of the tx out hashes, zero-padded to >= 2."""
        leaves = [t.out_hash() for t in self.tx_effects]
        while len(leaves) < 2:
            leaves.append(b"\0" * 32)
        return unbalanced_root(leaves)

    @property
    def num_txs(self) -> int:
        return len(self.tx_effects)


@dataclass(frozen=True, slots=True)
class AppendOnlyTreeSnapshot:
    root: bytes = b"\0" * 32
    next_available_leaf_index: int = 0

    def to_bytes(self) -> bytes:
        return _b32(self.root) + self.next_available_leaf_index.to_bytes(4, "big")


@dataclass(frozen=True, slots=True)
class Header:
    """The header as HeaderLib.decode reads it (616 bytes; same layout as the TS Header.toBuffer())."""

    last_archive: AppendOnlyTreeSnapshot
    num_txs: int
    txs_effects_hash: bytes
    in_hash: bytes
    out_hash: bytes
    chain_id: int
    block_number: int
    slot_number: int
    timestamp: int
    version: int = ROLLUP_VERSION
    coinbase: bytes = b"\0" * 20
    fee_recipient: bytes = b"\0" * 32
    fee_per_da_gas: int = 0
    fee_per_l2_gas: int = 0
    total_fees: int = 0
    l1_to_l2_message_tree: AppendOnlyTreeSnapshot = field(default_factory=AppendOnlyTreeSnapshot)
    note_hash_tree: AppendOnlyTreeSnapshot = field(default_factory=AppendOnlyTreeSnapshot)
    nullifier_tree: AppendOnlyTreeSnapshot = field(default_factory=AppendOnlyTreeSnapshot)
    public_data_tree: AppendOnlyTreeSnapshot = field(default_factory=AppendOnlyTreeSnapshot)

    def to_bytes(self) -> bytes:
        if len(self.coinbase) != 20:
            raise BlockBuildError("coinbase must be 20 bytes")
        out = (
            self.last_archive.to_bytes()
            + _b32(self.num_txs)
            + _b32(self.txs_effects_hash)
            + _b32(self.in_hash)
            + _b32(self.out_hash)
            + self.l1_to_l2_message_tree.to_bytes()
            + self.note_hash_tree.to_bytes()
            + self.nullifier_tree.to_bytes()
            + self.public_data_tree.to_bytes()
            + _b32(self.chain_id)
            + _b32(self.version)
            + _b32(self.block_number)
            + _b32(self.slot_number)
            + _b32(self.timestamp)
            + self.coinbase
            + _b32(self.fee_recipient)
            + _b32(self.fee_per_da_gas)
            + _b32(self.fee_per_l2_gas)
            + _b32(self.total_fees)
        )
        assert len(out) == HEADER_LENGTH
        return out


def attestation_digest(archive: bytes, tx_hashes: Sequence[bytes]) -> bytes:
    """What committee members sign (with the EIP-191 prefix): keccak256(abi.encode(uint8 1, archive,
    bytes32[] txHashes))."""
    return keccak(abi_encode(["uint8", "bytes32", "bytes32[]"], [BLOCK_ATTESTATION, archive, list(tx_hashes)]))


@dataclass(frozen=True, slots=True)
class ProposeArgs:
    header: Header
    archive: bytes
    block_hash: bytes
    body: BlockBody
    tx_hashes: tuple[bytes, ...] = ()
    signatures: tuple[tuple[bool, int, bytes, bytes], ...] = ()  # (isEmpty, v, r, s) in committee order

    def abi_args(self) -> list[Any]:
        return [
            self.header.to_bytes(),
            _b32(self.archive),
            _b32(self.block_hash),
            [_b32(h) for h in self.tx_hashes],
            list(self.signatures),
            self.body.to_bytes(),
        ]


def build_block(
    *,
    chain_id: int,
    block_number: int,
    slot_number: int,
    timestamp: int,
    last_archive: bytes,
    in_hash: bytes,
    archive: bytes,
    block_hash: bytes,
    body: BlockBody | None = None,
    coinbase: bytes = b"\0" * 20,
) -> ProposeArgs:
    """propose() arguments for a block on top of `last_archive` (the parent's stored archive; block 0
    is GENESIS_ARCHIVE_ROOT). `in_hash` is Inbox.getRoot(block_number) (block 1: EMPTY_INBOX_ROOT).
    `archive`/`block_hash` are stored as given; keep them below the BN254 modulus for TS nodes."""
    body = body or BlockBody()
    for name, v in (("archive", archive), ("block_hash", block_hash)):
        if int.from_bytes(_b32(v), "big") >= BN254_FR_MODULUS:
            raise BlockBuildError(f"{name} is not a BN254 field element")
    out_hash = body.out_hash() if body.num_txs else EMPTY_BLOCK_OUT_HASH
    header = Header(
        last_archive=AppendOnlyTreeSnapshot(_b32(last_archive), block_number),
        num_txs=max(2, body.num_txs),
        txs_effects_hash=body.txs_effects_hash(),
        in_hash=_b32(in_hash),
        out_hash=out_hash,
        chain_id=chain_id,
        block_number=block_number,
        slot_number=slot_number,
        timestamp=timestamp,
        coinbase=coinbase,
    )
    return ProposeArgs(header=header, archive=archive, block_hash=block_hash, body=body)


GENESIS_ARCHIVE: Final = GENESIS_ARCHIVE_ROOT


@dataclass(frozen=True, slots=True)
class EpochProofArgs:
    """submitEpochRootProof(epochSize, bytes32[7] args, bytes32[] fees, aggregationObject, proof)."""

    epoch_size: int
    previous_archive: bytes
    end_archive: bytes
    previous_block_hash: bytes
    end_block_hash: bytes
    end_timestamp: int
    out_hash: bytes
    prover_id: bytes
    fees: tuple[tuple[bytes, int], ...] = ()  # (coinbase 20 bytes, fee) per block
    aggregation_object: bytes = b""
    proof: bytes = b""

    def abi_args(self) -> list[Any]:
        if self.epoch_size <= 0:
            raise BlockBuildError("epoch size must be positive")
        if len(self.fees) > EPOCH_PROOF_FEES_LENGTH // 2:
            raise BlockBuildError(f"at most {EPOCH_PROOF_FEES_LENGTH // 2} fee entries")
        words: list[bytes] = []
        for coinbase, fee in self.fees:
            words += [coinbase.rjust(32, b"\0"), _b32(fee)]
        words += [b"\0" * 32] * (EPOCH_PROOF_FEES_LENGTH - len(words))
        if len(self.aggregation_object) > 32 * AGGREGATION_OBJECT_LENGTH:
            raise BlockBuildError("aggregation object longer than 16 words")
        args = [
            _b32(self.previous_archive),
            _b32(self.end_archive),
            _b32(self.previous_block_hash),
            _b32(self.end_block_hash),
            _b32(self.end_timestamp),
            _b32(self.out_hash),
            _b32(self.prover_id.rjust(32, b"\0")),
        ]
        return [self.epoch_size, args, words, self.aggregation_object, self.proof]
