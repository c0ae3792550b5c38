"""TxEffect and block Body exactly as the v0.63.1 TxsDecoder parses them, and their hashes (sans-IO).

Body = u32 numTxs | numTxs x TxEffect. TxEffect:
    revertCode u8 | transactionFee 32 | u8 b | b x noteHash 32 | u8 c | c x nullifier 32
    | u8 d | d x l2ToL1Msg 32 | u8 e | e x (leafSlot 32 | value 32)
    | 4 x uint256 log lengths (noteEncrypted, encrypted, unencrypted, contractClass)
    | 4 x log section: u32 K | K bytes of (u32 I | I bytes of (u32 len | log))*
Hashes (../shared/notes/aztec-v0.63.1-propose-and-prove.md §1.4, TS TxEffect.hash / Body): every
hash is sha256ToField (`core.aztec.hashing.sha256_to_field`), the txs-effects tree is the
unbalanced ("wonky") tree over leaves padded to >= 2 with the empty tx-effect hash. One model for
the whole node: the archiver and sequencer (bytes on L1) and the simulated circuits (as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from core.aztec.constants import (
    MAX_CONTRACT_CLASS_LOGS_PER_TX,
    MAX_ENCRYPTED_LOGS_PER_TX,
    MAX_L2_TO_L1_MSGS_PER_TX,
    MAX_NOTE_ENCRYPTED_LOGS_PER_TX,
    MAX_NOTE_HASHES_PER_TX,
    MAX_NULLIFIERS_PER_TX,
    MAX_TOTAL_PUBLIC_DATA_UPDATE_REQUESTS_PER_TX,
    MAX_UNENCRYPTED_LOGS_PER_TX,
)
from core.aztec.hashing import sha256_to_field, unbalanced_sha256_root
from core.aztec.serialization import DecodeError, Reader, u32, u256

MAX_TXS_PER_BODY: Final = 2**16  # sanity bound for decoding untrusted calldata


class BodyDecodeError(DecodeError):
    """A block body / tx effect that TxsDecoder would reject or that does not decode."""


_h: Final = sha256_to_field


def _read_logs(raw: bytes, what: str) -> tuple[bytes, ...]:
    """One FunctionL2Logs: `(u32 len | log)*` to the end of `raw`."""
    r = Reader(raw)
    logs: list[bytes] = []
    while r.remaining:
        ln = r.u32()
        if ln > r.remaining:
            raise BodyDecodeError(f"{what}: log length {ln} exceeds the {r.remaining} bytes left")
        logs.append(r.bytes(ln))
    return tuple(logs)


@dataclass(frozen=True, slots=True)
class LogSection:
    """One TxL2Logs: kernel iterations (FunctionL2Logs), each a tuple of raw logs.

    `digest` set (and no iterations): the section as the rollup circuits see it, only its hash
    (`TxEffect.with_hashed_logs`); it hashes the same but has no wire form."""

    iterations: tuple[tuple[bytes, ...], ...] = ()
    digest: bytes | None = None

    def __post_init__(self) -> None:
        if self.digest is not None and (len(self.digest) != 32 or self.iterations):
            raise BodyDecodeError("a hashed log section is a 32-byte digest without logs")

    def to_bytes(self) -> bytes:
        if self.digest is not None:
            raise ValueError("a hashed log section (digest only) has no wire form")
        inner = b""
        for it in self.iterations:
            logs = b"".join(u32(len(log)) + log for log in it)
            inner += u32(len(logs)) + logs
        return u32(len(inner)) + inner

    @classmethod
    def read(cls, r: Reader, what: str) -> LogSection:
        total = r.u32()
        if total > r.remaining:
            raise BodyDecodeError(f"{what}: section length {total} exceeds the {r.remaining} bytes left")
        sec = Reader(r.bytes(total))
        its: list[tuple[bytes, ...]] = []
        while sec.remaining:
            n = sec.u32()
            if n > sec.remaining:
                raise BodyDecodeError(f"{what}: iteration length {n} exceeds the {sec.remaining} bytes left")
            its.append(_read_logs(sec.bytes(n), what))
        return cls(tuple(its))

    @classmethod
    def from_function_logs(cls, function_logs: tuple[bytes, ...]) -> LogSection:
        """From the p2p Tx form (each FunctionL2Logs as raw `(u32 len | log)*` bytes)."""
        return cls(tuple(_read_logs(raw, "function logs") for raw in function_logs))

    @property
    def logs(self) -> list[bytes]:
        return [log for it in self.iterations for log in it]

    def kernel_length(self, *, encrypted: bool = False) -> int:
        """DA length TxsDecoder recomputes: sum(4 + len), minus the 32-byte masked address for encrypted logs."""
        return sum(4 + len(log) - (32 if encrypted else 0) for log in self.logs)


def _log_hash(kind: str, log: bytes) -> bytes:
    if kind == "note":
        return _h(log)
    if kind == "encrypted":
        return _h(log[:32] + _h(log[32:]))
    return _h(log[:32] + _h(log))  # unencrypted / contract class: address (first 32 bytes) || hash


_LOG_KINDS: Final = (
    ("note", MAX_NOTE_ENCRYPTED_LOGS_PER_TX),
    ("encrypted", MAX_ENCRYPTED_LOGS_PER_TX),
    ("unencrypted", MAX_UNENCRYPTED_LOGS_PER_TX),
    ("contract_class", MAX_CONTRACT_CLASS_LOGS_PER_TX),
)


def section_hash(kind: str, section: LogSection) -> bytes:
    if section.digest is not None:
        return section.digest
    logs = section.logs
    if not logs:
        return bytes(32)
    maximum = dict(_LOG_KINDS)[kind]
    if len(logs) > maximum:
        raise BodyDecodeError(f"{kind} logs: {len(logs)} logs exceed the maximum {maximum}")
    hashes = b"".join(_log_hash(kind, log) for log in logs)
    return _h(hashes.ljust(maximum * 32, b"\0"))


def tx_out_hash(l2_to_l1_msgs: tuple[bytes, ...]) -> bytes:
    """TS TxEffect.txOutHash: 0 for none; else a balanced sha256ToField tree padded to 2^max(1, ceil log2 n)."""
    if not l2_to_l1_msgs:
        return bytes(32)
    size = 2
    while size < len(l2_to_l1_msgs):
        size *= 2
    layer = list(l2_to_l1_msgs) + [bytes(32)] * (size - len(l2_to_l1_msgs))
    while len(layer) > 1:
        layer = [_h(layer[i] + layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


def _flat(pairs: tuple[tuple[bytes, bytes], ...]) -> tuple[bytes, ...]:
    return tuple(w for pair in pairs for w in pair)


@dataclass(frozen=True, slots=True)
class TxEffect:
    revert_code: int = 0
    transaction_fee: int = 0
    note_hashes: tuple[bytes, ...] = ()
    nullifiers: tuple[bytes, ...] = ()
    l2_to_l1_msgs: tuple[bytes, ...] = ()
    public_data_writes: tuple[tuple[bytes, bytes], ...] = ()
    note_encrypted_logs_length: int = 0
    encrypted_logs_length: int = 0
    unencrypted_logs_length: int = 0
    contract_class_logs_length: int = 0
    note_encrypted_logs: LogSection = field(default_factory=LogSection)
    encrypted_logs: LogSection = field(default_factory=LogSection)
    unencrypted_logs: LogSection = field(default_factory=LogSection)
    contract_class_logs: LogSection = field(default_factory=LogSection)

    def __post_init__(self) -> None:
        for name, items, maximum in (
            ("noteHashes", self.note_hashes, MAX_NOTE_HASHES_PER_TX),
            ("nullifiers", self.nullifiers, MAX_NULLIFIERS_PER_TX),
            ("l2ToL1Msgs", self.l2_to_l1_msgs, MAX_L2_TO_L1_MSGS_PER_TX),
            ("publicDataWrites", self.public_data_writes, MAX_TOTAL_PUBLIC_DATA_UPDATE_REQUESTS_PER_TX),
        ):
            if len(items) > maximum:
                raise BodyDecodeError(f"TxEffect {name}: {len(items)} entries exceed the maximum {maximum}")
        for name, words in (("noteHashes", self.note_hashes), ("nullifiers", self.nullifiers),
                            ("l2ToL1Msgs", self.l2_to_l1_msgs), ("publicDataWrites", _flat(self.public_data_writes))):
            if any(len(w) != 32 for w in words):
                raise BodyDecodeError(f"TxEffect {name}: every entry is 32 bytes")
        if not 0 <= self.revert_code <= 255:
            raise BodyDecodeError(f"revert code {self.revert_code} does not fit a byte")

    @classmethod
    def with_computed_lengths(cls, **kw: object) -> TxEffect:
        """Build an effect whose four DA length words are the ones TxsDecoder recomputes."""
        eff = cls(**kw)  # type: ignore[arg-type]
        return cls(
            **{
                **{f: getattr(eff, f) for f in cls.__dataclass_fields__},
                "note_encrypted_logs_length": eff.note_encrypted_logs.kernel_length(),
                "encrypted_logs_length": eff.encrypted_logs.kernel_length(encrypted=True),
                "unencrypted_logs_length": eff.unencrypted_logs.kernel_length(),
                "contract_class_logs_length": eff.contract_class_logs.kernel_length(),
            }
        )

    def _sections(self) -> tuple[LogSection, LogSection, LogSection, LogSection]:
        return (self.note_encrypted_logs, self.encrypted_logs, self.unencrypted_logs, self.contract_class_logs)

    def _lengths(self) -> tuple[int, int, int, int]:
        return (
            self.note_encrypted_logs_length,
            self.encrypted_logs_length,
            self.unencrypted_logs_length,
            self.contract_class_logs_length,
        )

    def to_bytes(self) -> bytes:
        out = bytes([self.revert_code]) + u256(self.transaction_fee)
        for items in (self.note_hashes, self.nullifiers, self.l2_to_l1_msgs):
            out += bytes([len(items)]) + b"".join(items)
        out += bytes([len(self.public_data_writes)]) + b"".join(a + b for a, b in self.public_data_writes)
        out += b"".join(u256(n) for n in self._lengths())
        return out + b"".join(s.to_bytes() for s in self._sections())

    @classmethod
    def read(cls, r: Reader) -> TxEffect:
        revert = r.u8()
        fee = r.u256()

        def vec(width: int) -> tuple[bytes, ...]:
            n = r.u8()
            return tuple(r.bytes(width) for _ in range(n))

        notes, nulls, msgs = vec(32), vec(32), vec(32)
        writes = tuple((w[:32], w[32:]) for w in vec(64))
        l0, l1, l2, l3 = (r.u256() for _ in range(4))
        s0, s1, s2, s3 = (
            LogSection.read(r, name)
            for name in ("noteEncryptedLogs", "encryptedLogs", "unencryptedLogs", "contractClassLogs")
        )
        eff = cls(revert, fee, notes, nulls, msgs, writes, l0, l1, l2, l3, s0, s1, s2, s3)
        eff.check_lengths()
        return eff

    def check_lengths(self) -> None:
        """TxsDecoder__InvalidLogsLength(declared, computed) when a length word is off."""
        computed = (
            self.note_encrypted_logs.kernel_length(),
            self.encrypted_logs.kernel_length(encrypted=True),
            self.unencrypted_logs.kernel_length(),
            self.contract_class_logs.kernel_length(),
        )
        for declared, got in zip(self._lengths(), computed, strict=True):
            if declared != got:
                raise BodyDecodeError(f"TxsDecoder__InvalidLogsLength({declared}, {got})")

    def out_hash(self) -> bytes:
        return tx_out_hash(self.l2_to_l1_msgs)

    def hash(self) -> bytes:
        """sha256ToField of the 8544-byte preimage (TS TxEffect.hash, TxsDecoder)."""
        pre = (
            u256(self.revert_code)
            + u256(self.transaction_fee)
            + b"".join(self.note_hashes).ljust(32 * MAX_NOTE_HASHES_PER_TX, b"\0")
            + b"".join(self.nullifiers).ljust(32 * MAX_NULLIFIERS_PER_TX, b"\0")
            + self.out_hash()
            + b"".join(a + b for a, b in self.public_data_writes).ljust(
                64 * MAX_TOTAL_PUBLIC_DATA_UPDATE_REQUESTS_PER_TX, b"\0"
            )
            + b"".join(u256(n) for n in self._lengths())
            + b"".join(section_hash(k, s) for (k, _), s in zip(_LOG_KINDS, self._sections(), strict=True))
        )
        return _h(pre)

    def with_hashed_logs(self) -> TxEffect:
        """The same effect with each log section replaced by its hash: what the rollup circuits need
        (same `hash()`, no wire form), so that circuit inputs stay small whatever the logs weigh."""
        hashed = [LogSection(digest=section_hash(k, s)) for (k, _), s in zip(_LOG_KINDS, self._sections(), strict=True)]
        return replace(
            self,
            note_encrypted_logs=hashed[0],
            encrypted_logs=hashed[1],
            unencrypted_logs=hashed[2],
            contract_class_logs=hashed[3],
        )

    def tx_hash(self) -> bytes:
        """Aztec's TxHash: the first nullifier."""
        if not self.nullifiers:
            raise BodyDecodeError("tx effect has no nullifier, so no tx hash")
        return self.nullifiers[0]

    def is_empty(self) -> bool:
        return not self.nullifiers


EMPTY_TX_EFFECT: Final = TxEffect()
EMPTY_TX_EFFECT_HASH: Final = EMPTY_TX_EFFECT.hash()


@dataclass(frozen=True, slots=True)
class Body:
    tx_effects: tuple[TxEffect, ...] = ()

    def to_bytes(self) -> bytes:
        return u32(len(self.tx_effects)) + b"".join(t.to_bytes() for t in self.tx_effects)

    @classmethod
    def from_bytes(cls, data: bytes) -> Body:
        """Decode like TxsDecoder: truncation and bad log lengths fail, trailing bytes are ignored."""
        r = Reader(data)
        try:
            n = r.u32()
            if n > MAX_TXS_PER_BODY:
                raise BodyDecodeError(f"body declares {n} txs, more than {MAX_TXS_PER_BODY}")
            return cls(tuple(TxEffect.read(r) for _ in range(n)))
        except BodyDecodeError:
            raise
        except DecodeError as e:
            raise BodyDecodeError(f"block body: {e}") from e

    @property
    def num_txs_including_padded(self) -> int:
        return max(2, len(self.tx_effects))

    def txs_effects_hash(self) -> bytes:
        leaves = [int.from_bytes(t.hash(), "big") for t in self.tx_effects]
        empty = int.from_bytes(EMPTY_TX_EFFECT_HASH, "big")
        leaves += [empty] * (2 - len(leaves)) if len(leaves) < 2 else []
        return unbalanced_sha256_root(leaves).to_bytes(32, "big")

    def out_hash(self) -> bytes:
        """The TS block builder's outHash: unbalanced root of tx out hashes padded with zeros to >= 2."""
        leaves = [int.from_bytes(t.out_hash(), "big") for t in self.tx_effects]
        leaves += [0] * (2 - len(leaves)) if len(leaves) < 2 else []
        return unbalanced_sha256_root(leaves).to_bytes(32, "big")

    def tx_hashes(self) -> tuple[bytes, ...]:
        return tuple(t.tx_hash() for t in self.tx_effects if not t.is_empty())
