"""Aztec v0.63.1 block submission to L1 (sans-IO builders): the propose() arguments for a header and
body of the data model (`core.aztec`), and the submitEpochRootProof() arguments. Layouts:
../shared/notes/aztec-v0.63.1-propose-and-prove.md §1-2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from core.aztec.constants import (
    AGGREGATION_OBJECT_LENGTH,
    EPOCH_PROOF_FEES_LENGTH,
    GENESIS_ARCHIVE_ROOT,
    ROLLUP_VERSION,
)
from core.aztec.header import (
    AppendOnlyTreeSnapshot,
    ContentCommitment,
    GlobalVariables,
    Header,
    StateReference,
)
from core.aztec.serialization import FR_MODULUS
from core.aztec.tx_effect import Body

BLOCK_ATTESTATION: Final = 1  # SignatureDomainSeparator.blockAttestation


class BlockBuildError(ValueError):
    """Inputs that cannot form a valid v0.63.1 header/body."""


def _b32(v: bytes | int) -> bytes:
    if isinstance(v, int):
        if not 0 <= v < 2**256:
            raise BlockBuildError(f"value out of uint256 range: {v}")
        return v.to_bytes(32, "big")
    if len(v) != 32:
        raise BlockBuildError(f"expected 32 bytes, got {len(v)}")
    return v


def attestation_digest(archive: bytes, tx_hashes: Sequence[bytes]) -> bytes:
    """What committee members sign (with the EIP-191 prefix): keccak256(abi.encode(uint8 1, archive,
    bytes32[] txHashes))."""
    return keccak(abi_encode(["uint8", "bytes32", "bytes32[]"], [BLOCK_ATTESTATION, archive, list(tx_hashes)]))


@dataclass(frozen=True, slots=True)
class ProposeArgs:
    header: Header
    archive: bytes
    block_hash: bytes
    body: Body
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
    body: Body | None = None,
    coinbase: bytes = b"\0" * 20,
) -> ProposeArgs:
    """propose() arguments for a block on top of `last_archive` (the parent's stored archive; block 0
    is GENESIS_ARCHIVE_ROOT), without world state (the tree snapshots are zero; L1 does not check
    them). `in_hash` is Inbox.getRoot(block_number) (block 1: EMPTY_INBOX_ROOT). `archive` and
    `block_hash` are stored as given; keep them below the BN254 modulus for TS nodes."""
    body = body or Body()
    for name, v in (("archive", archive), ("block_hash", block_hash), ("last_archive", last_archive)):
        if int.from_bytes(_b32(v), "big") >= FR_MODULUS:
            raise BlockBuildError(f"{name} is not a BN254 field element")
    if len(coinbase) != 20:
        raise BlockBuildError("coinbase must be 20 bytes")
    header = Header(
        last_archive=AppendOnlyTreeSnapshot(int.from_bytes(last_archive, "big"), block_number),
        content_commitment=ContentCommitment(
            body.num_txs_including_padded,
            int.from_bytes(body.txs_effects_hash(), "big"),
            int.from_bytes(_b32(in_hash), "big"),
            int.from_bytes(body.out_hash(), "big"),
        ),
        state=StateReference.empty(),
        global_variables=GlobalVariables(
            chain_id, ROLLUP_VERSION, block_number, slot_number, timestamp, int.from_bytes(coinbase, "big"), 0, 0, 0
        ),
        total_fees=0,
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
