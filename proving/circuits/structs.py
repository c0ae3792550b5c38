"""Public-input structs of the v0.63.1 rollup circuits (section 3 of the proving doc), as frozen
dataclasses with a canonical JSON codec (field elements as ``0x`` hex, u32 as hex too).

Only what the simulation computes or checks is modelled; the field orders of ``Header.to_fields``
and ``RootRollupPublicInputs.to_fields`` are the ones Aztec hashes / L1 reads.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar, Union

from proving.circuits.hashing import (
    BN254_FR_MODULUS,
    GENERATOR_INDEX__BLOCK_HASH,
    poseidon2_hash_with_separator,
    sha256_merkle_root,
    sha256_trunc_fields,
)

MAX_NOTE_HASHES_PER_TX: Final = 64
MAX_NULLIFIERS_PER_TX: Final = 64
MAX_TOTAL_PUBLIC_DATA_UPDATE_REQUESTS_PER_TX: Final = 64
MAX_L2_TO_L1_MSGS_PER_TX: Final = 8
AZTEC_MAX_EPOCH_DURATION: Final = 32
NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP: Final = 16
ARCHIVE_HEIGHT: Final = 29
ROOT_ROLLUP_PUBLIC_INPUTS_LENGTH: Final = 76


class CircuitInputError(ValueError):
    """Circuit inputs do not decode, or fail a check the real circuit makes."""


T = TypeVar("T")


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot encode {type(value).__name__}")


def decode(cls: type[T], raw: Any) -> T:
    return typing.cast(T, _decode(cls, raw, cls.__name__))


@functools.cache
def _fields_of(tp: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    return typing.get_type_hints(tp), tuple(f.name for f in dataclasses.fields(tp))


def _decode(tp: Any, raw: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if raw is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(inner, raw, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(raw, list):
            raise CircuitInputError(f"{where}: expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            if len(raw) > 4096:
                raise CircuitInputError(f"{where}: list too long")
            return tuple(_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(raw))
        if len(raw) != len(args):
            raise CircuitInputError(f"{where}: expected {len(args)} items")
        return tuple(_decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, raw, strict=True)))
    if tp is bool:
        if not isinstance(raw, bool):
            raise CircuitInputError(f"{where}: expected a boolean")
        return raw
    if tp is int:
        if not isinstance(raw, str) or not raw.startswith("0x") or len(raw) > 66:
            raise CircuitInputError(f"{where}: expected a 0x hex field")
        try:
            v = int(raw, 16)
        except ValueError:
            raise CircuitInputError(f"{where}: bad hex {raw[:20]!r}") from None
        if v >= BN254_FR_MODULUS:
            raise CircuitInputError(f"{where}: value outside the field")
        return v
    if tp is str:
        if not isinstance(raw, str):
            raise CircuitInputError(f"{where}: expected a string")
        return raw
    if dataclasses.is_dataclass(tp):
        if not isinstance(raw, dict):
            raise CircuitInputError(f"{where}: expected an object")
        hints, names = _fields_of(typing.cast(Any, tp))
        kwargs = {}
        for name in names:
            if name not in raw:
                raise CircuitInputError(f"{where}: missing {name}")
            kwargs[name] = _decode(hints[name], raw[name], f"{where}.{name}")
        ctor: Any = tp
        return ctor(**kwargs)
    if tp is typing.Any:
        return raw
    raise TypeError(f"cannot decode {tp}")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """AppendOnlyTreeSnapshot."""

    root: int
    next_index: int

    def to_fields(self) -> list[int]:
        return [self.root, self.next_index]


@dataclass(frozen=True, slots=True)
class PartialStateReference:
    note_hash_tree: Snapshot
    nullifier_tree: Snapshot
    public_data_tree: Snapshot

    def to_fields(self) -> list[int]:
        return [*self.note_hash_tree.to_fields(), *self.nullifier_tree.to_fields(), *self.public_data_tree.to_fields()]


@dataclass(frozen=True, slots=True)
class StateReference:
    l1_to_l2_message_tree: Snapshot
    partial: PartialStateReference

    def to_fields(self) -> list[int]:
        return [*self.l1_to_l2_message_tree.to_fields(), *self.partial.to_fields()]


@dataclass(frozen=True, slots=True)
class GlobalVariables:
    chain_id: int
    version: int
    block_number: int
    slot_number: int
    timestamp: int
    coinbase: int
    fee_recipient: int
    fee_per_da_gas: int
    fee_per_l2_gas: int

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


@dataclass(frozen=True, slots=True)
class ContentCommitment:
    num_txs: int
    txs_effects_hash: int
    in_hash: int
    out_hash: int

    def to_fields(self) -> list[int]:
        return [self.num_txs, self.txs_effects_hash, self.in_hash, self.out_hash]


@dataclass(frozen=True, slots=True)
class Header:
    last_archive: Snapshot
    content_commitment: ContentCommitment
    state: StateReference
    global_variables: GlobalVariables
    total_fees: int

    def to_fields(self) -> list[int]:
        out = [
            *self.last_archive.to_fields(),
            *self.content_commitment.to_fields(),
            *self.state.to_fields(),
            *self.global_variables.to_fields(),
            self.total_fees,
        ]
        assert len(out) == 24
        return out

    def hash(self) -> int:
        return poseidon2_hash_with_separator(self.to_fields(), GENERATOR_INDEX__BLOCK_HASH)


@dataclass(frozen=True, slots=True)
class PublicDataWrite:
    leaf_slot: int
    value: int


@dataclass(frozen=True, slots=True)
class TxEffect:
    """What a processed tx changed; only non-empty entries are listed (padding is implicit)."""

    revert_code: int
    transaction_fee: int
    note_hashes: tuple[int, ...]
    nullifiers: tuple[int, ...]
    l2_to_l1_msgs: tuple[int, ...]
    public_data_writes: tuple[PublicDataWrite, ...]
    log_lengths: tuple[int, int, int, int]  # note-encrypted, encrypted, unencrypted, contract class
    log_hashes: tuple[int, int, int, int]

    EMPTY: ClassVar[TxEffect]

    def check(self) -> None:
        if len(self.note_hashes) > MAX_NOTE_HASHES_PER_TX:
            raise CircuitInputError("too many note hashes")
        if len(self.nullifiers) > MAX_NULLIFIERS_PER_TX:
            raise CircuitInputError("too many nullifiers")
        if len(self.public_data_writes) > MAX_TOTAL_PUBLIC_DATA_UPDATE_REQUESTS_PER_TX:
            raise CircuitInputError("too many public data writes")
        if len(self.l2_to_l1_msgs) > MAX_L2_TO_L1_MSGS_PER_TX:
            raise CircuitInputError("too many L2->L1 messages")

    def out_hash(self) -> int:
        """TS TxEffect.txOutHash: 0 without messages, else a balanced sha256Trunc tree over the
        messages zero-padded to 2^max(1, ceil(log2 n)) leaves (one message m: accumulate(m, 0))."""
        msgs = list(self.l2_to_l1_msgs)
        if not msgs:
            return 0
        size = 2
        while size < len(msgs):
            size *= 2
        return sha256_merkle_root(msgs + [0] * (size - len(msgs)))

    def hash(self) -> int:
        """TxEffect.hash(): sha256Trunc of the 267-field padded preimage (section 3.2)."""
        self.check()
        fields: list[int] = [self.revert_code, self.transaction_fee]
        fields += _pad(self.note_hashes, MAX_NOTE_HASHES_PER_TX)
        fields += _pad(self.nullifiers, MAX_NULLIFIERS_PER_TX)
        fields.append(self.out_hash())
        for i in range(MAX_TOTAL_PUBLIC_DATA_UPDATE_REQUESTS_PER_TX):
            w = self.public_data_writes[i] if i < len(self.public_data_writes) else PublicDataWrite(0, 0)
            fields += [w.leaf_slot, w.value]
        fields += list(self.log_lengths) + list(self.log_hashes)
        assert len(fields) == 267
        return sha256_trunc_fields(fields)


TxEffect.EMPTY = TxEffect(0, 0, (), (), (), (), (0, 0, 0, 0), (0, 0, 0, 0))


def _pad(values: tuple[int, ...], n: int) -> list[int]:
    return list(values) + [0] * (n - len(values))


@dataclass(frozen=True, slots=True)
class ConstantRollupData:
    last_archive: Snapshot
    vk_tree_root: int
    protocol_contract_tree_root: int
    global_variables: GlobalVariables


@dataclass(frozen=True, slots=True)
class ParityPublicInputs:
    sha_root: int
    converted_root: int
    vk_tree_root: int


@dataclass(frozen=True, slots=True)
class BaseOrMergeRollupPublicInputs:
    rollup_type: int  # 0 base, 1 merge
    num_txs: int
    constants: ConstantRollupData
    start: PartialStateReference
    end: PartialStateReference
    txs_effects_hash: int
    out_hash: int
    accumulated_fees: int


@dataclass(frozen=True, slots=True)
class FeeRecipient:
    recipient: int
    value: int


@dataclass(frozen=True, slots=True)
class BlockRootOrBlockMergePublicInputs:
    previous_archive: Snapshot
    new_archive: Snapshot
    previous_block_hash: int
    end_block_hash: int
    start_global_variables: GlobalVariables
    end_global_variables: GlobalVariables
    out_hash: int
    fees: tuple[FeeRecipient, ...]  # non-empty entries; padded to 32 on the wire
    vk_tree_root: int
    protocol_contract_tree_root: int
    prover_id: int

    def is_padding(self) -> bool:
        return self.previous_archive == self.new_archive


@dataclass(frozen=True, slots=True)
class RootRollupPublicInputs:
    previous_archive: Snapshot
    end_archive: Snapshot
    previous_block_hash: int
    end_block_hash: int
    end_timestamp: int
    end_block_number: int
    out_hash: int
    fees: tuple[FeeRecipient, ...]
    vk_tree_root: int
    protocol_contract_tree_root: int
    prover_id: int

    def padded_fees(self) -> list[FeeRecipient]:
        return list(self.fees) + [FeeRecipient(0, 0)] * (AZTEC_MAX_EPOCH_DURATION - len(self.fees))

    def to_fields(self) -> list[int]:
        """RootRollupPublicInputs.toFields() (76 fields), the order L1 rebuilds in
        ``getEpochProofPublicInputs`` (section 3.6)."""
        out = [
            *self.previous_archive.to_fields(),
            *self.end_archive.to_fields(),
            self.previous_block_hash,
            self.end_block_hash,
            self.end_timestamp,
            self.end_block_number,
            self.out_hash,
        ]
        for fee in self.padded_fees():
            out += [fee.recipient, fee.value]
        out += [self.vk_tree_root, self.protocol_contract_tree_root, self.prover_id]
        assert len(out) == ROOT_ROLLUP_PUBLIC_INPUTS_LENGTH
        return out

    def submit_epoch_root_proof_args(self) -> tuple[list[bytes], list[bytes]]:
        """``args`` (bytes32[7]) and ``fees`` (bytes32[64]) of Rollup.submitEpochRootProof."""
        args = [
            self.previous_archive.root,
            self.end_archive.root,
            self.previous_block_hash,
            self.end_block_hash,
            self.end_timestamp,
            self.out_hash,
            self.prover_id,
        ]
        fees: list[int] = []
        for fee in self.padded_fees():
            fees += [fee.recipient, fee.value]
        return [a.to_bytes(32, "big") for a in args], [f.to_bytes(32, "big") for f in fees]
