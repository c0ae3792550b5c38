"""Timing model for simulated proving, proportional to the seed's gate table.

Seed figures (millions of gates): tube 4, private base 2.3, public base 3.7, merge 1.8,
block root 4.4, root 10. Our assumptions for the circuits the seed does not list: AVM 8 (the
biggest server circuit; one per public tx), base parity 0.2 (hashes 4 messages, no recursion),
root parity 2.5 (4 recursive verifications), block merge 1.8 (like merge: two recursive
verifications), empty block root 1.0, private kernel empty 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from proving.types import ProvingRequestType as T

GATES_MILLIONS: Final[dict[T, float]] = {
    T.TUBE_PROOF: 4.0,
    T.PRIVATE_BASE_ROLLUP: 2.3,
    T.PUBLIC_BASE_ROLLUP: 3.7,
    T.MERGE_ROLLUP: 1.8,
    T.BLOCK_ROOT_ROLLUP: 4.4,
    T.ROOT_ROLLUP: 10.0,
    T.PUBLIC_VM: 8.0,
    T.BASE_PARITY: 0.2,
    T.ROOT_PARITY: 2.5,
    T.BLOCK_MERGE_ROLLUP: 1.8,
    T.EMPTY_BLOCK_ROOT_ROLLUP: 1.0,
    T.PRIVATE_KERNEL_EMPTY: 0.5,
}


@dataclass(frozen=True)
class TimingModel:
    """``duration(type) = gates(type) * seconds_per_million_gates``."""

    seconds_per_million_gates: float = 0.0
    gates_millions: dict[T, float] = field(default_factory=lambda: dict(GATES_MILLIONS))

    def duration(self, proof_type: T) -> float:
        return self.gates_millions[proof_type] * self.seconds_per_million_gates

    def weight(self, proof_type: T) -> float:
        """Relative cost (millions of gates), independent of the time scale."""
        return self.gates_millions[proof_type]
