"""ConsensusPayload and its signing, shared by BlockProposal and BlockAttestation (v0.63.1), sans-IO.

Wire: Header (616) | archive Fr (32) | u32 n | n x TxHash (32) | signature r (32) | s (32) | v u32 (4)
      = 720 + 32n bytes.
Signed data: keccak256(abi.encode(uint8 domainSeparator, bytes32 archive, bytes32[] txHashes)),
signed as an Ethereum personal message ("\\x19Ethereum Signed Message:\\n32" prefix), v = 27/28.
The header is not signed in 0.63. Domain separator: 0 proposal, 1 attestation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final, Self

from core.aztec.header import HEADER_SIZE, Header
from core.aztec.serialization import DecodeError, Reader, fr, keccak256, u32, u256
from p2p.wire.quote import Signature, recover_address, sign_digest

DOMAIN_SEPARATOR_BLOCK_PROPOSAL: Final = 0
DOMAIN_SEPARATOR_BLOCK_ATTESTATION: Final = 1
ETH_SIGNED_MESSAGE_PREFIX: Final = b"\x19Ethereum Signed Message:\n32"
MIN_CONSENSUS_MESSAGE_SIZE: Final = HEADER_SIZE + 32 + 4 + 68  # 720


class ConsensusError(DecodeError):
    """A block proposal/attestation that cannot be decoded or whose signer cannot be recovered."""


@dataclass(frozen=True, slots=True)
class ConsensusPayload:
    header: Header
    archive: int  # Fr
    tx_hashes: tuple[bytes, ...]  # 32 bytes each

    def to_bytes(self) -> bytes:
        return self.header.to_bytes() + fr(self.archive) + u32(len(self.tx_hashes)) + b"".join(self.tx_hashes)

    @classmethod
    def read(cls, r: Reader) -> ConsensusPayload:
        header = Header.read(r)
        archive = r.fr()
        n = r.u32()
        if n * 32 > r.remaining:
            raise ConsensusError(f"tx hash count {n} exceeds the {r.remaining} bytes left")
        return cls(header, archive, tuple(r.bytes(32) for _ in range(n)))

    def payload_to_sign(self, domain_separator: int) -> bytes:
        """abi.encode(uint8, bytes32, bytes32[]): dynamic array at offset 0x60."""
        return (
            u256(domain_separator)
            + u256(self.archive)
            + u256(0x60)
            + u256(len(self.tx_hashes))
            + b"".join(self.tx_hashes)
        )

    def payload_hash(self, domain_separator: int) -> bytes:
        return keccak256(self.payload_to_sign(domain_separator))

    def signed_digest(self, domain_separator: int) -> bytes:
        return keccak256(ETH_SIGNED_MESSAGE_PREFIX + self.payload_hash(domain_separator))


def decode_signed(data: bytes, what: str) -> tuple[ConsensusPayload, Signature]:
    if len(data) < MIN_CONSENSUS_MESSAGE_SIZE:
        raise ConsensusError(f"{what} must be at least {MIN_CONSENSUS_MESSAGE_SIZE} bytes, got {len(data)}")
    r = Reader(data)
    payload = ConsensusPayload.read(r)
    sig = Signature.read(r)
    r.expect_end(what)
    return payload, sig


def sign_payload(payload: ConsensusPayload, domain_separator: int, private_key: bytes) -> Signature:
    return sign_digest(private_key, payload.signed_digest(domain_separator))


def recover_sender(payload: ConsensusPayload, domain_separator: int, sig: Signature) -> bytes:
    try:
        return recover_address(payload.signed_digest(domain_separator), sig)
    except DecodeError as e:
        raise ConsensusError(str(e)) from e


@dataclass(frozen=True, slots=True)
class SignedConsensusMessage:
    """The one codec of a signed ConsensusPayload; BlockProposal and BlockAttestation differ only in
    their domain separator, name and message id."""

    payload: ConsensusPayload
    signature: Signature

    DOMAIN_SEPARATOR: ClassVar[int]
    NAME: ClassVar[str]

    @classmethod
    def sign(cls, payload: ConsensusPayload, private_key: bytes) -> Self:
        return cls(payload, sign_payload(payload, cls.DOMAIN_SEPARATOR, private_key))

    def to_bytes(self) -> bytes:
        return self.payload.to_bytes() + self.signature.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        payload, sig = decode_signed(data, cls.NAME)
        return cls(payload, sig)

    @property
    def archive(self) -> int:
        return self.payload.archive

    @property
    def slot_number(self) -> int:
        return self.payload.header.global_variables.slot_number

    def get_sender(self) -> bytes:
        """20-byte address recovered from the personal-sign signature (raises ConsensusError)."""
        return recover_sender(self.payload, self.DOMAIN_SEPARATOR, self.signature)
