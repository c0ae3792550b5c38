"""Block Header (circuits.js `Header`, v0.63.1) and its parts: the one model and codec, sans-IO.

Binary form (616 bytes, "HeaderLib" order, big-endian), what L1 decodes and p2p carries:
    lastArchive AppendOnlyTreeSnapshot (root Fr 32 | nextAvailableLeafIndex u32 4)      36
    contentCommitment: numTxs Fr | txsEffectsHash 32 | inHash 32 | outHash 32          128
    state: l1ToL2MessageTree, partial (noteHash, nullifier, publicData) snapshots     144
    globalVariables: chainId, version, blockNumber, slotNumber, timestamp (Fr each)   160
                     coinbase EthAddress 20 | feeRecipient AztecAddress 32              52
                     gasFees: feePerDaGas Fr | feePerL2Gas Fr                           64
    totalFees Fr                                                                        32
Field form (`to_fields`, 24 fields, what the circuits hash): the same order, the coinbase and the
three content hashes as field elements. `Header.hash()` is the block hash (the archive leaf).

Every value is a Python int (the coinbase an int below 2^160), so the circuits' arithmetic and the
codec share one model. Decoding is strict: field elements must be below the BN254 modulus, no
trailing bytes, and (like v0.63.1's ContentCommitment constructor) the three sha256 hashes must
start with a zero byte. What v0.63.1 itself accepts is `p2p.wire.compat`'s predicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from core.aztec.constants import GENERATOR_INDEX__BLOCK_HASH, HEADER_FIELDS_LENGTH, HEADER_LENGTH
from core.aztec.hashing import poseidon2_hash_with_separator
from core.aztec.serialization import DecodeError, Reader, fr, u32, u256

HEADER_SIZE: Final = HEADER_LENGTH
_TRUNCATED_HASH_LIMIT: Final = 1 << 248  # a sha256ToField value: its first byte is zero


@dataclass(frozen=True, slots=True)
class AppendOnlyTreeSnapshot:
    root: int
    next_available_leaf_index: int

    SIZE = 36

    def to_bytes(self) -> bytes:
        return fr(self.root) + u32(self.next_available_leaf_index)

    @classmethod
    def read(cls, r: Reader) -> AppendOnlyTreeSnapshot:
        return cls(r.fr(), r.u32())

    def to_fields(self) -> list[int]:
        return [self.root, self.next_available_leaf_index]


_EMPTY_SNAPSHOT: Final = AppendOnlyTreeSnapshot(0, 0)


@dataclass(frozen=True, slots=True)
class PartialStateReference:
    note_hash_tree: AppendOnlyTreeSnapshot
    nullifier_tree: AppendOnlyTreeSnapshot
    public_data_tree: AppendOnlyTreeSnapshot

    def to_bytes(self) -> bytes:
        return self.note_hash_tree.to_bytes() + self.nullifier_tree.to_bytes() + self.public_data_tree.to_bytes()

    @classmethod
    def read(cls, r: Reader) -> PartialStateReference:
        return cls(AppendOnlyTreeSnapshot.read(r), AppendOnlyTreeSnapshot.read(r), AppendOnlyTreeSnapshot.read(r))

    def to_fields(self) -> list[int]:
        return [*self.note_hash_tree.to_fields(), *self.nullifier_tree.to_fields(), *self.public_data_tree.to_fields()]


@dataclass(frozen=True, slots=True)
class StateReference:
    l1_to_l2_message_tree: AppendOnlyTreeSnapshot
    partial: PartialStateReference

    def to_bytes(self) -> bytes:
        return self.l1_to_l2_message_tree.to_bytes() + self.partial.to_bytes()

    @classmethod
    def read(cls, r: Reader) -> StateReference:
        return cls(AppendOnlyTreeSnapshot.read(r), PartialStateReference.read(r))

    def to_fields(self) -> list[int]:
        return [*self.l1_to_l2_message_tree.to_fields(), *self.partial.to_fields()]

    @classmethod
    def empty(cls) -> StateReference:
        return cls(_EMPTY_SNAPSHOT, PartialStateReference(_EMPTY_SNAPSHOT, _EMPTY_SNAPSHOT, _EMPTY_SNAPSHOT))


@dataclass(frozen=True, slots=True)
class ContentCommitment:
    num_txs: int
    txs_effects_hash: int
    in_hash: int
    out_hash: int

    def to_bytes(self) -> bytes:
        return fr(self.num_txs) + u256(self.txs_effects_hash) + u256(self.in_hash) + u256(self.out_hash)

    @classmethod
    def read(cls, r: Reader) -> ContentCommitment:
        cc = cls(r.fr(), r.u256(), r.u256(), r.u256())
        # v0.63.1's ContentCommitment constructor: the three sha256 hashes are truncated to 31 bytes
        if max(cc.txs_effects_hash, cc.in_hash, cc.out_hash) >= _TRUNCATED_HASH_LIMIT:
            raise DecodeError("ContentCommitment hash buffer should be truncated and left padded")
        return cc

    def to_fields(self) -> list[int]:
        return [self.num_txs, self.txs_effects_hash, self.in_hash, self.out_hash]


@dataclass(frozen=True, slots=True)
class GlobalVariables:
    chain_id: int
    version: int
    block_number: int
    slot_number: int
    timestamp: int
    coinbase: int  # Ethereum address, below 2^160
    fee_recipient: int  # Aztec address (a field element)
    fee_per_da_gas: int
    fee_per_l2_gas: int

    def to_bytes(self) -> bytes:
        if not 0 <= self.coinbase < 1 << 160:
            raise ValueError(f"coinbase is not a 20-byte address: {self.coinbase:#x}")
        return (
            fr(self.chain_id)
            + fr(self.version)
            + fr(self.block_number)
            + fr(self.slot_number)
            + fr(self.timestamp)
            + self.coinbase.to_bytes(20, "big")
            + fr(self.fee_recipient)
            + fr(self.fee_per_da_gas)
            + fr(self.fee_per_l2_gas)
        )

    @classmethod
    def read(cls, r: Reader) -> GlobalVariables:
        return cls(
            r.fr(), r.fr(), r.fr(), r.fr(), r.fr(), int.from_bytes(r.bytes(20), "big"), r.fr(), r.fr(), r.fr()
        )

    def to_fields(self) -> list[int]:
        return [
            self.chain_id,
            self.version,
            self.block_number,
            self.slot_number,
            self.timestamp,
            self.coinbase,
            self.fee_recipient,
            self.fee_per_da_gas,
            self.fee_per_l2_gas,
        ]

    @classmethod
    def empty(cls) -> GlobalVariables:
        return cls(0, 0, 0, 0, 0, 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Header:
    last_archive: AppendOnlyTreeSnapshot
    content_commitment: ContentCommitment
    state: StateReference
    global_variables: GlobalVariables
    total_fees: int

    def to_bytes(self) -> bytes:
        return (
            self.last_archive.to_bytes()
            + self.content_commitment.to_bytes()
            + self.state.to_bytes()
            + self.global_variables.to_bytes()
            + fr(self.total_fees)
        )

    @classmethod
    def read(cls, r: Reader) -> Header:
        return cls(
            last_archive=AppendOnlyTreeSnapshot.read(r),
            content_commitment=ContentCommitment.read(r),
            state=StateReference.read(r),
            global_variables=GlobalVariables.read(r),
            total_fees=r.fr(),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Header:
        r = Reader(data)
        h = cls.read(r)
        r.expect_end("Header")
        return h

    @classmethod
    def empty(cls) -> Header:
        return cls(_EMPTY_SNAPSHOT, ContentCommitment(0, 0, 0, 0), StateReference.empty(), GlobalVariables.empty(), 0)

    def to_fields(self) -> list[int]:
        out = [
            *self.last_archive.to_fields(),
            *self.content_commitment.to_fields(),
            *self.state.to_fields(),
            *self.global_variables.to_fields(),
            self.total_fees,
        ]
        assert len(out) == HEADER_FIELDS_LENGTH
        return out

    def hash(self) -> int:
        """The block hash: Poseidon2 with separator GENERATOR_INDEX__BLOCK_HASH over `to_fields()`."""
        return poseidon2_hash_with_separator(self.to_fields(), GENERATOR_INDEX__BLOCK_HASH)
