"""BlockProposal (topic `/aztec/block_proposal/0.1.0`, v0.63.1), sans-IO. Layout in `consensus.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from core.aztec.header import Header
from p2p.wire.consensus import (
    DOMAIN_SEPARATOR_BLOCK_PROPOSAL,
    ConsensusPayload,
    decode_signed,
    recover_sender,
    sign_payload,
)
from p2p.wire.quote import Signature

BLOCK_PROPOSAL_TOPIC: Final = "/aztec/block_proposal/0.1.0"


@dataclass(frozen=True, slots=True)
class BlockProposal:
    payload: ConsensusPayload
    signature: Signature

    @classmethod
    def create(cls, header: Header, archive: int, tx_hashes: tuple[bytes, ...], private_key: bytes) -> BlockProposal:
        payload = ConsensusPayload(header, archive, tx_hashes)
        return cls(payload, sign_payload(payload, DOMAIN_SEPARATOR_BLOCK_PROPOSAL, private_key))

    def to_bytes(self) -> bytes:
        return self.payload.to_bytes() + self.signature.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> BlockProposal:
        payload, sig = decode_signed(data, "BlockProposal")
        return cls(payload, sig)

    @property
    def archive(self) -> int:
        return self.payload.archive

    @property
    def slot_number(self) -> int:
        return self.payload.header.global_variables.slot_number

    def p2p_message_identifier(self) -> bytes:
        """Aztec's proposal id: the archive root."""
        return self.payload.archive.to_bytes(32, "big")

    def get_sender(self) -> bytes:
        """20-byte address recovered from the personal-sign signature (raises ConsensusError)."""
        return recover_sender(self.payload, DOMAIN_SEPARATOR_BLOCK_PROPOSAL, self.signature)
