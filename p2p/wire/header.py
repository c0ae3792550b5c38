"""Block Header (circuits.js `Header`, v0.63.1), 616 bytes, sans-IO.

Layout ("HeaderLib" order, big-endian):
    lastArchive AppendOnlyTreeSnapshot (root Fr 32 | nextAvailableLeafIndex u32 4)      36
    contentCommitment: numTxs Fr | txsEffectsHash 32 | inHash 32 | outHash 32          128
    state: l1ToL2MessageTree, noteHashTree, nullifierTree, publicDataTree snapshots   144
    globalVariables: chainId, version, blockNumber, slotNumber, timestamp (Fr each)   160
                     coinbase EthAddress 20 | feeRecipient AztecAddress 32              52
                     gasFees: feePerDaGas Fr | feePerL2Gas Fr                           64
    totalFees Fr                                                                        32
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from p2p.wire.serialization import DecodeError, Reader, fr, u32

HEADER_SIZE: Final = 616


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


@dataclass(frozen=True, slots=True)
class ContentCommitment:
    num_txs: int
    txs_effects_hash: bytes
    in_hash: bytes
    out_hash: bytes

    def to_bytes(self) -> bytes:
        return fr(self.num_txs) + self.txs_effects_hash + self.in_hash + self.out_hash

    @classmethod
    def read(cls, r: Reader) -> ContentCommitment:
        cc = cls(r.fr(), r.bytes(32), r.bytes(32), r.bytes(32))
        # v0.63.1's ContentCommitment constructor: the three sha256 hashes are truncated to 31 bytes
        if cc.txs_effects_hash[0] or cc.in_hash[0] or cc.out_hash[0]:
            raise DecodeError("ContentCommitment hash buffer should be truncated and left padded")
        return cc


@dataclass(frozen=True, slots=True)
class GlobalVariables:
    chain_id: int
    version: int
    block_number: int
    slot_number: int
    timestamp: int
    coinbase: bytes  # 20-byte Ethereum address
    fee_recipient: int  # Aztec address (a field element)
    fee_per_da_gas: int
    fee_per_l2_gas: int

    def to_bytes(self) -> bytes:
        return (
            fr(self.chain_id)
            + fr(self.version)
            + fr(self.block_number)
            + fr(self.slot_number)
            + fr(self.timestamp)
            + self.coinbase
            + fr(self.fee_recipient)
            + fr(self.fee_per_da_gas)
            + fr(self.fee_per_l2_gas)
        )

    @classmethod
    def read(cls, r: Reader) -> GlobalVariables:
        return cls(r.fr(), r.fr(), r.fr(), r.fr(), r.fr(), r.bytes(20), r.fr(), r.fr(), r.fr())


@dataclass(frozen=True, slots=True)
class Header:
    last_archive: AppendOnlyTreeSnapshot
    content_commitment: ContentCommitment
    l1_to_l2_message_tree: AppendOnlyTreeSnapshot
    note_hash_tree: AppendOnlyTreeSnapshot
    nullifier_tree: AppendOnlyTreeSnapshot
    public_data_tree: AppendOnlyTreeSnapshot
    global_variables: GlobalVariables
    total_fees: int

    def to_bytes(self) -> bytes:
        return (
            self.last_archive.to_bytes()
            + self.content_commitment.to_bytes()
            + self.l1_to_l2_message_tree.to_bytes()
            + self.note_hash_tree.to_bytes()
            + self.nullifier_tree.to_bytes()
            + self.public_data_tree.to_bytes()
            + self.global_variables.to_bytes()
            + fr(self.total_fees)
        )

    @classmethod
    def read(cls, r: Reader) -> Header:
        return cls(
            last_archive=AppendOnlyTreeSnapshot.read(r),
            content_commitment=ContentCommitment.read(r),
            l1_to_l2_message_tree=AppendOnlyTreeSnapshot.read(r),
            note_hash_tree=AppendOnlyTreeSnapshot.read(r),
            nullifier_tree=AppendOnlyTreeSnapshot.read(r),
            public_data_tree=AppendOnlyTreeSnapshot.read(r),
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
        z = AppendOnlyTreeSnapshot(0, 0)
        return cls(
            z,
            ContentCommitment(0, bytes(32), bytes(32), bytes(32)),
            z,
            z,
            z,
            z,
            GlobalVariables(0, 0, 0, 0, 0, bytes(20), 0, 0, 0),
            0,
        )
