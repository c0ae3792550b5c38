"""BlockProposal (topic `/aztec/block_proposal/0.1.0`, v0.63.1), sans-IO. Layout in `consensus.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from core.aztec.header import Header
from p2p.wire.consensus import DOMAIN_SEPARATOR_BLOCK_PROPOSAL, ConsensusPayload, SignedConsensusMessage

BLOCK_PROPOSAL_TOPIC: Final = "/aztec/block_proposal/0.1.0"


@dataclass(frozen=True, slots=True)
class BlockProposal(SignedConsensusMessage):
    DOMAIN_SEPARATOR: ClassVar[int] = DOMAIN_SEPARATOR_BLOCK_PROPOSAL
    NAME: ClassVar[str] = "BlockProposal"

    @classmethod
    def create(cls, header: Header, archive: int, tx_hashes: tuple[bytes, ...], private_key: bytes) -> BlockProposal:
        return cls.sign(ConsensusPayload(header, archive, tx_hashes), private_key)

    def p2p_message_identifier(self) -> bytes:
        """Aztec's proposal id: the archive root."""
        return self.payload.archive.to_bytes(32, "big")
