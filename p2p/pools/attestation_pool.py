"""AttestationPool: slot -> archive (proposal id) -> sender -> attestation, bounded (sans-IO).

As Aztec's MemoryAttestationPool, plus bounds: at most `max_slots` slots, `max_archives_per_slot`
proposals per slot, `max_per_proposal` senders per (slot, archive) and `max_bytes` in all (further
ones are refused). When a new slot does not fit, the slot farthest from the current slot is dropped
(the lowest when the current slot is unknown), or the new one refused if it is the farthest: forged
attestations for far slots (10^9) filled the 64 slots and locked the current slot's attestations out
until a restart (found by review).
"""

from __future__ import annotations

from typing import Final

from p2p.wire.block_attestation import BlockAttestation

DEFAULT_MAX_SLOTS: Final = 64
DEFAULT_MAX_ARCHIVES_PER_SLOT: Final = 8  # an honest slot has one proposal (two at a re-proposal)
DEFAULT_MAX_PER_PROPOSAL: Final = 256
DEFAULT_MAX_BYTES: Final = 64 << 20


def attestation_size(attestation: BlockAttestation) -> int:
    """Bytes an attestation holds, about (its header and signature, 32 per tx hash)."""
    return 1024 + 32 * len(attestation.payload.tx_hashes)


class AttestationPool:
    def __init__(
        self,
        *,
        max_slots: int = DEFAULT_MAX_SLOTS,
        max_per_proposal: int = DEFAULT_MAX_PER_PROPOSAL,
        max_archives_per_slot: int = DEFAULT_MAX_ARCHIVES_PER_SLOT,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.max_slots = max_slots
        self.max_per_proposal = max_per_proposal
        self.max_archives_per_slot = max_archives_per_slot
        self.max_bytes = max_bytes
        self._pool: dict[int, dict[int, dict[bytes, BlockAttestation]]] = {}
        self._slot_bytes: dict[int, int] = {}
        self._bytes = 0
        self._stats = {"added": 0, "duplicates": 0, "refused_full": 0, "evicted_slots": 0}

    def add_attestation(self, attestation: BlockAttestation, sender: bytes, *, current_slot: int | None = None) -> bool:
        """`current_slot` (0 or None: unknown) decides which slot goes when the pool is full."""
        slot, archive = attestation.slot_number, attestation.archive
        size = attestation_size(attestation)
        if size > self.max_bytes:
            self._stats["refused_full"] += 1
            return False
        archives = self._pool.get(slot)
        senders = None if archives is None else archives.get(archive)
        if senders is not None and sender in senders:
            self._stats["duplicates"] += 1
            return False
        if senders is not None and len(senders) >= self.max_per_proposal:
            self._stats["refused_full"] += 1
            return False
        if senders is None and archives is not None and len(archives) >= self.max_archives_per_slot:
            self._stats["refused_full"] += 1
            return False
        while (archives is None and len(self._pool) >= self.max_slots) or self._bytes + size > self.max_bytes:
            far = max((s for s in self._pool if s != slot), key=lambda s: self._distance(s, current_slot), default=None)
            if far is None or self._distance(far, current_slot) <= self._distance(slot, current_slot):
                self._stats["refused_full"] += 1
                return False
            self.delete_attestations_for_slot(far)
            self._stats["evicted_slots"] += 1
        self._pool.setdefault(slot, {}).setdefault(archive, {})[sender] = attestation
        self._slot_bytes[slot] = self._slot_bytes.get(slot, 0) + size
        self._bytes += size
        self._stats["added"] += 1
        return True

    @staticmethod
    def _distance(slot: int, current_slot: int | None) -> float:
        return abs(slot - current_slot) if current_slot else -slot

    def get_attestations_for_slot(self, slot: int, proposal_id: int) -> list[BlockAttestation]:
        return list(self._pool.get(slot, {}).get(proposal_id, {}).values())

    def delete_attestations_older_than(self, slot: int) -> None:
        for s in [s for s in self._pool if s < slot]:
            self.delete_attestations_for_slot(s)

    def delete_attestations_for_slot(self, slot: int) -> None:
        if self._pool.pop(slot, None) is not None:
            self._bytes -= self._slot_bytes.pop(slot, 0)

    def statistics(self) -> dict[str, object]:
        return {
            "slots": len(self._pool),
            "attestations": sum(len(s) for a in self._pool.values() for s in a.values()),
            "bytes": self._bytes,
            **self._stats,
        }
