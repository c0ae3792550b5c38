"""Aztec "toBuffer" serialization rules (v0.63.1 foundation/serialize) and BN254 field elements, sans-IO.

Plain concatenation, no tags, everything big-endian: JS numbers are uint32 (4 bytes), bigints and
field elements 32 bytes, Ethereum addresses 20 bytes, Aztec addresses 32 bytes, booleans 1 byte.
"""

from __future__ import annotations

from typing import Final

from eth_hash.auto import keccak as _keccak

# BN254 scalar field modulus (Fr): decoding a value >= this throws on the TypeScript side.
FR_MODULUS: Final = 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001
UINT32_MAX: Final = 2**32 - 1
UINT256_MAX: Final = 2**256 - 1


class DecodeError(ValueError):
    """Raised for any malformed wire input. The message says what and where."""


class FieldRangeError(ValueError):
    """A value does not fit the BN254 scalar field."""


def to_field(value: int) -> int:
    if not 0 <= value < FR_MODULUS:
        raise FieldRangeError(f"value {value:#x} is outside the BN254 scalar field")
    return value


def field_bytes(value: int) -> bytes:
    """A field element as 32 big-endian bytes (FieldRangeError outside the field)."""
    return to_field(value).to_bytes(32, "big")


def keccak256(data: bytes) -> bytes:
    return bytes(_keccak(data))


def u32(value: int) -> bytes:
    if not 0 <= value <= UINT32_MAX:
        raise ValueError(f"uint32 out of range: {value}")
    return value.to_bytes(4, "big")


def u256(value: int) -> bytes:
    if not 0 <= value <= UINT256_MAX:
        raise ValueError(f"uint256 out of range: {value}")
    return value.to_bytes(32, "big")


def fr(value: int) -> bytes:
    if not 0 <= value < FR_MODULUS:
        raise ValueError(f"field element out of range: {value}")
    return value.to_bytes(32, "big")


class Reader:
    """Cursor over a byte string; every read checks bounds and raises DecodeError.

    Mirrors Aztec's BufferReader, whose error message is reproduced so that logs compare.
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self._buf = memoryview(buf)
        self._pos = pos

    @property
    def pos(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._buf) - self._pos

    def bytes(self, n: int) -> bytes:
        if n < 0 or self._pos + n > len(self._buf):
            raise DecodeError(
                "Attempted to read beyond buffer length. "
                f"Start index: {self._pos}, Num bytes to read: {n}, Buffer length: {len(self._buf)}"
            )
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n
        return out

    def u8(self) -> int:
        return self.bytes(1)[0]

    def bool(self) -> bool:
        b = self.u8()
        if b > 1:
            raise DecodeError(f"invalid boolean byte {b} at offset {self._pos - 1}")
        return b == 1

    def u32(self) -> int:
        return int.from_bytes(self.bytes(4), "big")

    def u256(self) -> int:
        return int.from_bytes(self.bytes(32), "big")

    def fr(self) -> int:
        start = self._pos
        v = int.from_bytes(self.bytes(32), "big")
        if v >= FR_MODULUS:
            raise DecodeError(f"field element at offset {start} is not below the BN254 modulus")
        return v

    def expect_end(self, what: str) -> None:
        if self.remaining:
            raise DecodeError(f"{what}: {self.remaining} trailing bytes after offset {self._pos}")
