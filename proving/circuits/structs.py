"""Public-input structs of the v0.63.1 rollup circuits (section 3 of the proving doc), as frozen
dataclasses, and the canonical JSON codec of circuit inputs and outputs (field elements and u32 as
``0x`` hex, byte strings as ``0x`` hex too).

The block header, its parts and the tx effect are the data model's (`core.aztec`); only what the
simulation computes or checks beyond them is modelled here; ``RootRollupPublicInputs.to_fields``
is the order L1 reads.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, Final, TypeVar, Union

from core.aztec.constants import AZTEC_MAX_EPOCH_DURATION, ROOT_ROLLUP_PUBLIC_INPUTS_LENGTH
from core.aztec.header import AppendOnlyTreeSnapshot, GlobalVariables, PartialStateReference
from core.aztec.serialization import FR_MODULUS

MAX_JSON_BYTES_HEX: Final = 2 + 2 * 2**20  # a byte string in a circuit's JSON input (1 MiB)


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
    if isinstance(value, bytes):
        return "0x" + value.hex()
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
        if v >= FR_MODULUS:
            raise CircuitInputError(f"{where}: value outside the field")
        return v
    if tp is bytes:
        if not isinstance(raw, str) or not raw.startswith("0x") or len(raw) > MAX_JSON_BYTES_HEX:
            raise CircuitInputError(f"{where}: expected 0x hex bytes")
        try:
            return bytes.fromhex(raw[2:])
        except ValueError:
            raise CircuitInputError(f"{where}: bad hex {raw[:20]!r}") from None
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
        try:
            return ctor(**kwargs)
        except ValueError as e:  # the model's own checks (e.g. too many note hashes in a TxEffect)
            raise CircuitInputError(f"{where}: {e}") from None
    if tp is typing.Any:
        return raw
    raise TypeError(f"cannot decode {tp}")


@dataclass(frozen=True, slots=True)
class ConstantRollupData:
    last_archive: AppendOnlyTreeSnapshot
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
    previous_archive: AppendOnlyTreeSnapshot
    new_archive: AppendOnlyTreeSnapshot
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
    previous_archive: AppendOnlyTreeSnapshot
    end_archive: AppendOnlyTreeSnapshot
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
