"""EpochProofQuote as Aztec v0.63.1 encodes, hashes and signs it (sans-IO).

Wire (`EpochProofQuote.toBuffer()`, 188 bytes, big-endian):
    payload (120): epochToProve u256 | validUntilSlot u256 | bondAmount u256 | prover address(20)
                   | basisPointFee u32
    signature (68): r (32) | s (32) | v u32 (27 or 28)
There is no rollup address or chain id in the payload: they enter through the EIP-712 domain
(name "Aztec Rollup", version "1", chainId, verifyingContract = the Rollup). The raw EIP-712 digest
is signed (no "Ethereum Signed Message" prefix), as `Rollup.quoteToDigest` computes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import coincurve

from core.aztec.constants import MAX_BASIS_POINT_FEE as MAX_BASIS_POINT_FEE
from core.aztec.serialization import DecodeError, Reader, keccak256, u32, u256

EPOCH_PROOF_QUOTE_TOPIC: Final = "/aztec/epoch_proof_quote/0.1.0"
PAYLOAD_SIZE: Final = 120
SIGNATURE_SIZE: Final = 68
QUOTE_SIZE: Final = PAYLOAD_SIZE + SIGNATURE_SIZE

EIP712_DOMAIN_NAME: Final = "Aztec Rollup"
EIP712_DOMAIN_VERSION: Final = "1"
EIP712_DOMAIN_TYPEHASH: Final = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
EPOCH_PROOF_QUOTE_TYPEHASH: Final = keccak256(
    b"EpochProofQuote(uint256 epochToProve,uint256 validUntilSlot,uint256 bondAmount,"
    b"address prover,uint32 basisPointFee)"
)
# secp256k1 group order, for low-s normalisation.
SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class QuoteError(DecodeError):
    """A quote that cannot be decoded, signed or recovered."""


def _address(value: bytes | str) -> bytes:
    if isinstance(value, str):
        h = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            value = bytes.fromhex(h)
        except ValueError as e:
            raise QuoteError(f"invalid address {value!r}") from e
    if len(value) != 20:
        raise QuoteError(f"address must be 20 bytes, got {len(value)}")
    return value


def checksum_address(addr: bytes) -> str:
    """EIP-55 mixed-case hex of a 20-byte address."""
    h = addr.hex()
    digest = keccak256(h.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(h))


@lru_cache(maxsize=64)
def domain_separator(chain_id: int, rollup_address: bytes) -> bytes:
    return keccak256(
        EIP712_DOMAIN_TYPEHASH
        + keccak256(EIP712_DOMAIN_NAME.encode())
        + keccak256(EIP712_DOMAIN_VERSION.encode())
        + u256(chain_id)
        + rollup_address.rjust(32, b"\0")
    )


@dataclass(frozen=True, slots=True)
class EpochProofQuotePayload:
    epoch_to_prove: int
    valid_until_slot: int
    bond_amount: int
    prover: bytes  # 20-byte Ethereum address
    basis_point_fee: int

    def __post_init__(self) -> None:
        for name in ("epoch_to_prove", "valid_until_slot", "bond_amount"):
            v = getattr(self, name)
            if not 0 <= v < 2**256:
                raise QuoteError(f"{name} out of uint256 range: {v}")
        if len(self.prover) != 20:
            raise QuoteError(f"prover must be a 20-byte address, got {len(self.prover)} bytes")
        # Same rule and message as the TypeScript constructor.
        if not 0 <= self.basis_point_fee <= MAX_BASIS_POINT_FEE:
            raise QuoteError(f"Invalid basisPointFee {self.basis_point_fee}")

    def to_bytes(self) -> bytes:
        return (
            u256(self.epoch_to_prove)
            + u256(self.valid_until_slot)
            + u256(self.bond_amount)
            + self.prover
            + u32(self.basis_point_fee)
        )

    @classmethod
    def read(cls, r: Reader) -> EpochProofQuotePayload:
        return cls(
            epoch_to_prove=r.u256(),
            valid_until_slot=r.u256(),
            bond_amount=r.u256(),
            prover=r.bytes(20),
            basis_point_fee=r.u32(),
        )

    def struct_hash(self) -> bytes:
        return keccak256(
            EPOCH_PROOF_QUOTE_TYPEHASH
            + u256(self.epoch_to_prove)
            + u256(self.valid_until_slot)
            + u256(self.bond_amount)
            + self.prover.rjust(32, b"\0")
            + u256(self.basis_point_fee)
        )

    def digest(self, chain_id: int, rollup_address: bytes | str) -> bytes:
        """EIP-712 digest, equal to `Rollup.quoteToDigest(quote)` on L1."""
        return keccak256(b"\x19\x01" + domain_separator(chain_id, _address(rollup_address)) + self.struct_hash())

    def to_json(self) -> dict[str, Any]:
        return {
            "epochToProve": str(self.epoch_to_prove),
            "validUntilSlot": str(self.valid_until_slot),
            "bondAmount": str(self.bond_amount),
            "prover": "0x" + self.prover.hex(),
            "basisPointFee": self.basis_point_fee,
        }


@dataclass(frozen=True, slots=True)
class Signature:
    r: int
    s: int
    v: int

    @property
    def is_empty(self) -> bool:
        return self.r == 0 and self.s == 0

    def to_bytes(self) -> bytes:
        return u256(self.r) + u256(self.s) + u32(self.v)

    @classmethod
    def read(cls, r: Reader) -> Signature:
        return cls(r=r.u256(), s=r.u256(), v=r.u32())

    def to_hex65(self) -> str:
        """Aztec's JSON form: 0x r(64 hex) s(64 hex) v (unpadded hex, 27 -> 1b)."""
        return f"0x{self.r:064x}{self.s:064x}{self.v:x}"

    @classmethod
    def from_hex65(cls, text: str) -> Signature:
        h = text[2:] if text.startswith("0x") else text
        if len(h) < 130 or len(h) > 138:
            raise QuoteError(f"signature hex has wrong length {len(h)}")
        try:
            return cls(r=int(h[:64], 16), s=int(h[64:128], 16), v=int(h[128:], 16))
        except ValueError as e:
            raise QuoteError("signature is not hex") from e


def sign_digest(private_key: bytes, digest: bytes) -> Signature:
    """secp256k1 RFC 6979 signature over a raw 32-byte digest, low-s, v = 27/28 (as noble does)."""
    sig = coincurve.PrivateKey(private_key).sign_recoverable(digest, hasher=None)
    return Signature(r=int.from_bytes(sig[:32], "big"), s=int.from_bytes(sig[32:64], "big"), v=27 + sig[64])


def recover_address(digest: bytes, sig: Signature) -> bytes:
    """Address that signed `digest`. Accepts high-s (like L1 ecrecover); v must be 27/28 as on L1."""
    if sig.is_empty:
        raise QuoteError("cannot recover from an empty signature")
    if sig.v not in (27, 28):
        raise QuoteError(f"signature v must be 27 or 28, got {sig.v}")
    if not (0 < sig.r < SECP256K1_N and 0 < sig.s < SECP256K1_N):
        raise QuoteError("signature r/s out of range")
    raw = sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v - 27])
    try:
        pub = coincurve.PublicKey.from_signature_and_message(raw, digest, hasher=None)
    except Exception as e:  # coincurve raises a bare Exception on an unrecoverable point
        raise QuoteError(f"signature does not recover a public key: {e}") from e
    return keccak256(pub.format(compressed=False)[1:])[12:]


def address_of(private_key: bytes) -> bytes:
    return keccak256(coincurve.PrivateKey(private_key).public_key.format(compressed=False)[1:])[12:]


@dataclass(frozen=True, slots=True)
class EpochProofQuote:
    payload: EpochProofQuotePayload
    signature: Signature

    @classmethod
    def new(
        cls, payload: EpochProofQuotePayload, private_key: bytes, chain_id: int, rollup_address: bytes | str
    ) -> EpochProofQuote:
        signer = address_of(private_key)
        if signer != payload.prover:
            raise QuoteError(
                f"Quote prover does not match signer. Prover [0x{payload.prover.hex()}], Signer [0x{signer.hex()}]"
            )
        return cls(payload, sign_digest(private_key, payload.digest(chain_id, rollup_address)))

    def to_bytes(self) -> bytes:
        return self.payload.to_bytes() + self.signature.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, *, strict_length: bool = True) -> EpochProofQuote:
        """Decode the 188-byte gossip payload.

        Aztec's decoder silently ignores trailing bytes; with `strict_length` (the default for
        gossip intake) they are rejected, since a well-formed peer never sends them.
        """
        if strict_length and len(data) != QUOTE_SIZE:
            raise QuoteError(f"EpochProofQuote must be {QUOTE_SIZE} bytes, got {len(data)}")
        r = Reader(data)
        return cls(EpochProofQuotePayload.read(r), Signature.read(r))

    def p2p_message_identifier(self) -> bytes:
        """keccak256 of the 68-byte signature encoding (Aztec's quote id; not the gossip msg id)."""
        return keccak256(self.signature.to_bytes())

    def digest(self, chain_id: int, rollup_address: bytes | str) -> bytes:
        return self.payload.digest(chain_id, rollup_address)

    def recover_signer(self, chain_id: int, rollup_address: bytes | str) -> bytes:
        return recover_address(self.digest(chain_id, rollup_address), self.signature)

    def to_json(self) -> dict[str, Any]:
        return {"payload": self.payload.to_json(), "signature": self.signature.to_hex65()}

    @classmethod
    def from_json(cls, obj: Any) -> EpochProofQuote:
        try:
            p = obj["payload"]
            payload = EpochProofQuotePayload(
                epoch_to_prove=int(p["epochToProve"]),
                valid_until_slot=int(p["validUntilSlot"]),
                bond_amount=int(p["bondAmount"]),
                prover=_address(p["prover"]),
                basis_point_fee=int(p["basisPointFee"]),
            )
            return cls(payload, Signature.from_hex65(obj["signature"]))
        except QuoteError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise QuoteError(f"malformed quote JSON: {e!r}") from e

    def to_l1_tuple(self) -> tuple[tuple[int, int, int, str, int], tuple[bool, int, bytes, bytes]]:
        """ABI form of SignedEpochProofQuote: (quote tuple, (isEmpty, v, r, s))."""
        p = self.payload
        return (
            (p.epoch_to_prove, p.valid_until_slot, p.bond_amount, checksum_address(p.prover), p.basis_point_fee),
            (
                self.signature.is_empty,
                self.signature.v,
                self.signature.r.to_bytes(32, "big"),
                self.signature.s.to_bytes(32, "big"),
            ),
        )
