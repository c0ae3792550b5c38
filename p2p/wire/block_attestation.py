"""BlockAttestation (topic `/aztec/block_attestation/0.1.0`, v0.63.1), sans-IO. Layout in `consensus.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from core.aztec.serialization import keccak256
from p2p.wire.consensus import DOMAIN_SEPARATOR_BLOCK_ATTESTATION, ConsensusPayload, SignedConsensusMessage

BLOCK_ATTESTATION_TOPIC: Final = "/aztec/block_attestation/0.1.0"


@dataclass(frozen=True, slots=True)
class BlockAttestation(SignedConsensusMessage):
    DOMAIN_SEPARATOR: ClassVar[int] = DOMAIN_SEPARATOR_BLOCK_ATTESTATION
    NAME: ClassVar[str] = "BlockAttestation"

    @classmethod
    def create(cls, payload: ConsensusPayload, private_key: bytes) -> BlockAttestation:
        return cls.sign(payload, private_key)

    def p2p_message_identifier(self) -> bytes:
        """Aztec's attestation id: keccak256 of the 68-byte signature buffer."""
        return keccak256(self.signature.to_bytes())
