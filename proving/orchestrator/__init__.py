"""Epoch proving orchestrator: the sans-IO proof DAG (:mod:`.plan`) and its trio driver
(:mod:`.prover`)."""

from proving.orchestrator.plan import (
    BlockInput,
    EnqueueJob,
    EpochProvingError,
    EpochProvingPlan,
    EpochStart,
    TxInput,
)
from proving.orchestrator.prover import EpochProofResult, EpochProver, EpochProvingFailedError

__all__ = [
    "BlockInput",
    "EnqueueJob",
    "EpochProofResult",
    "EpochProver",
    "EpochProvingError",
    "EpochProvingFailedError",
    "EpochProvingPlan",
    "EpochStart",
    "TxInput",
]
