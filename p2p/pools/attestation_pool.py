"""AttestationPool: slot -> archive (proposal id) -> sender -> attestation, bounded (sans-IO).

As Aztec's MemoryAttestationPool, plus bounds: at most `max_slots` slots (the lowest slot is dropped
when a new one arrives and the pool is full) and `max_per_proposal` senders per (slot, archive)
(further senders are refused).
"""

from __future__ import annotations

from typing import Final

from p2p.wire.block_attestation import BlockAttestation

DEFAULT_MAX_SLOTS: Final = 64
DEFAULT_MAX_PER_PROPOSAL: Final = 256


class AttestationPool:
    def __init__(self, *, max_slots: int = DEFAULT_MAX_SLOTS, max_per_proposal: int = DEFAULT_MAX_PER_PROPOSAL) -> None:
        self.max_slots = max_slots
        self.max_per_proposal = max_per_proposal
        self._pool: dict[int, dict[int, dict[bytes, BlockAttestation]]] = {}
        self._stats = {"added": 0, "duplicates": 0, "refused_full": 0, "evicted_slots": 0}

    def add_attestation(self, attestation: BlockAttestation, sender: bytes) -> bool:
        slot, archive = attestation.slot_number, attestation.archive
        if slot not in self._pool and len(self._pool) >= self.max_slots:
            lowest = min(self._pool)
            if slot < lowest:
                self._stats["refused_full"] += 1
                return False
            del self._pool[lowest]
            self._stats["evicted_slots"] += 1
        senders = self._pool.setdefault(slot, {}).setdefault(archive, {})
        if sender in senders:
            self._stats["duplicates"] += 1
            return False
        if len(senders) >= self.max_per_proposal:
            self._stats["refused_full"] += 1
            return False
        senders[sender] = attestation
        self._stats["added"] += 1
        return True

    def get_attestations_for_slot(self, slot: int, proposal_id: int) -> list[BlockAttestation]:
        return list(self._pool.get(slot, {}).get(proposal_id, {}).values())

    def delete_attestations_older_than(self, slot: int) -> None:
        for s in [s for s in self._pool if s < slot]:
            del self._pool[s]

    def delete_attestations_for_slot(self, slot: int) -> None:
        self._pool.pop(slot, None)

    def statistics(self) -> dict[str, object]:
        return {
            "slots": len(self._pool),
            "attestations": sum(len(s) for a in self._pool.values() for s in a.values()),
            **self._stats,
        }
