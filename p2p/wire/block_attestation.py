"""BlockAttestation (topic `/aztec/block_attestation/0.1.0`, v0.63.1), sans-IO. Layout in `consensus.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from core.aztec.serialization import keccak256
from p2p.wire.consensus import (
    DOMAIN_SEPARATOR_BLOCK_ATTESTATION,
    ConsensusPayload,
    decode_signed,
    recover_sender,
    sign_payload,
)
from p2p.wire.quote import Signature

BLOCK_ATTESTATION_TOPIC: Final = "/aztec/block_attestation/0.1.0"


@dataclass(frozen=True, slots=True)
class BlockAttestation:
    payload: ConsensusPayload
    signature: Signature

    @classmethod
    def create(cls, payload: ConsensusPayload, private_key: bytes) -> BlockAttestation:
        return cls(payload, sign_payload(payload, DOMAIN_SEPARATOR_BLOCK_ATTESTATION, private_key))

    def to_bytes(self) -> bytes:
        return self.payload.to_bytes() + self.signature.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> BlockAttestation:
        payload, sig = decode_signed(data, "BlockAttestation")
        return cls(payload, sig)

    @property
    def archive(self) -> int:
        return self.payload.archive

    @property
    def slot_number(self) -> int:
        return self.payload.header.global_variables.slot_number

    def p2p_message_identifier(self) -> bytes:
        """Aztec's attestation id: keccak256 of the 68-byte signature buffer."""
        return keccak256(self.signature.to_bytes())

    def get_sender(self) -> bytes:
        return recover_sender(self.payload, DOMAIN_SEPARATOR_BLOCK_ATTESTATION, self.signature)
