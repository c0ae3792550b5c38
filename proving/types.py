"""Proving request types, content-addressed job ids, and the job / result records that travel
between the orchestrator (producer), the broker and the agents (consumers).

Wire shapes follow Aztec's ProvingBroker ("V2" schemas in ``proving-job.ts``): a job is
``{id, type, epochNumber, inputsUri}`` with ``type`` the numeric ProvingRequestType, a result is
``{status: "fulfilled", value: <proof output uri>}`` or ``{status: "rejected", reason}``.
We add two optional fields: ``priority`` (lower runs first within an epoch; the orchestrator sets
it from the critical path) and ``deadline`` (seconds, lower runs first after priority).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Final, Literal


class ProvingRequestType(enum.IntEnum):
    """ProvingRequestType of circuit-types 0.63.1 (numeric values are on the wire)."""

    PRIVATE_KERNEL_EMPTY = 0
    PUBLIC_VM = 1
    PRIVATE_BASE_ROLLUP = 2
    PUBLIC_BASE_ROLLUP = 3
    MERGE_ROLLUP = 4
    EMPTY_BLOCK_ROOT_ROLLUP = 5
    BLOCK_ROOT_ROLLUP = 6
    BLOCK_MERGE_ROLLUP = 7
    ROOT_ROLLUP = 8
    BASE_PARITY = 9
    ROOT_PARITY = 10
    TUBE_PROOF = 11


ALL_PROOF_TYPES: Final[frozenset[ProvingRequestType]] = frozenset(ProvingRequestType)

# Aztec's fixed type order (the broker hands out the first non-empty type of this list, then the
# oldest epoch). Used only by the "aztec" dispatch policy, kept for comparisons.
AZTEC_TYPE_PRIORITY: Final[tuple[ProvingRequestType, ...]] = (
    ProvingRequestType.BLOCK_ROOT_ROLLUP,
    ProvingRequestType.BLOCK_MERGE_ROLLUP,
    ProvingRequestType.ROOT_ROLLUP,
    ProvingRequestType.MERGE_ROLLUP,
    ProvingRequestType.PUBLIC_BASE_ROLLUP,
    ProvingRequestType.PRIVATE_BASE_ROLLUP,
    ProvingRequestType.PUBLIC_VM,
    ProvingRequestType.TUBE_PROOF,
    ProvingRequestType.ROOT_PARITY,
    ProvingRequestType.BASE_PARITY,
    ProvingRequestType.EMPTY_BLOCK_ROOT_ROLLUP,
    ProvingRequestType.PRIVATE_KERNEL_EMPTY,
)

MAX_URI_LENGTH: Final = 1 << 20  # inline (data:) URIs may carry a whole proof
MAX_JOB_ID_LENGTH: Final = 256
MAX_DEADLINE: Final = 1e15  # seconds (a unix time in 31.7 million years)
MAX_REASON_LENGTH: Final = 4096


class InvalidJobError(ValueError):
    """A job or result record is malformed (typed error, becomes a JSON-RPC invalid-params error)."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def make_job_id(proof_type: ProvingRequestType, inputs: bytes) -> str:
    """Content-addressed id: ``<TYPE_NAME>:<sha256(type byte || inputs) hex>``.

    Identical inputs of the same type always map to the same id, which is what makes re-enqueue
    idempotent and lets a restarted orchestrator find the broker's stored results."""
    digest = hashlib.sha256(bytes([int(proof_type)]) + inputs).hexdigest()
    return f"{proof_type.name}:{digest}"


@dataclass(frozen=True, slots=True)
class ProvingJob:
    id: str
    type: ProvingRequestType
    epoch_number: int
    inputs_uri: str
    priority: int = 0
    deadline: float | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": int(self.type),
            "epochNumber": self.epoch_number,
            "inputsUri": self.inputs_uri,
        }
        if self.priority:
            out["priority"] = self.priority
        if self.deadline is not None:
            out["deadline"] = self.deadline
        return out

    @classmethod
    def from_wire(cls, raw: Any) -> ProvingJob:
        if not isinstance(raw, dict):
            raise InvalidJobError("job must be an object")
        job_id = raw.get("id")
        if not isinstance(job_id, str) or not 0 < len(job_id) <= MAX_JOB_ID_LENGTH:
            raise InvalidJobError("job.id must be a non-empty string of at most 256 characters")
        ptype = raw.get("type")
        if not isinstance(ptype, int) or isinstance(ptype, bool) or ptype not in ProvingRequestType._value2member_map_:
            raise InvalidJobError(f"job.type must be a ProvingRequestType number, got {ptype!r}")
        epoch = raw.get("epochNumber", 0)
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch < 2**63:
            raise InvalidJobError("job.epochNumber must be a non-negative integer")
        uri = raw.get("inputsUri")
        if not isinstance(uri, str) or not 0 < len(uri) <= MAX_URI_LENGTH:
            raise InvalidJobError("job.inputsUri must be a non-empty string")
        priority = raw.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool) or not -(2**62) < priority < 2**62:
            raise InvalidJobError("job.priority must be an integer")
        deadline = raw.get("deadline")
        if deadline is not None:
            if not isinstance(deadline, int | float) or isinstance(deadline, bool):
                raise InvalidJobError("job.deadline must be a number")
            try:
                deadline = float(deadline)
            except OverflowError:  # (an integer past float's range)
                raise InvalidJobError("job.deadline is out of range") from None
            # NaN would break the queue's order (and is stored as NULL); infinities mean nothing here
            if not math.isfinite(deadline) or abs(deadline) > MAX_DEADLINE:
                raise InvalidJobError(f"job.deadline must be a finite number of seconds within {MAX_DEADLINE:g}")
        return cls(
            id=job_id,
            type=ProvingRequestType(ptype),
            epoch_number=epoch,
            inputs_uri=uri,
            priority=priority,
            deadline=deadline,
        )


class ProgressVerdict(enum.StrEnum):
    """The broker's answer to an agent's heartbeat (`reportProvingJobProgress`); the value is the
    wire text (`{"status": "continue"}`)."""

    CONTINUE = "continue"
    ABORT = "abort"  # cancelled, settled elsewhere or handed to another agent: stop working on it


StatusName = Literal["not-found", "in-queue", "in-progress", "fulfilled", "rejected"]


@dataclass(frozen=True, slots=True)
class JobStatus:
    """``{status}`` plus ``value`` (proof output uri) when fulfilled or ``reason`` when rejected."""

    status: StatusName
    value: str | None = None
    reason: str | None = None

    @property
    def settled(self) -> bool:
        return self.status in ("fulfilled", "rejected")

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.value is not None:
            out["value"] = self.value
        if self.reason is not None:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_wire(cls, raw: Any) -> JobStatus:
        if not isinstance(raw, dict) or raw.get("status") not in (
            "not-found",
            "in-queue",
            "in-progress",
            "fulfilled",
            "rejected",
        ):
            raise InvalidJobError(f"not a proving job status: {raw!r}")
        value = raw.get("value")
        reason = raw.get("reason")
        if value is not None and not isinstance(value, str):
            raise InvalidJobError("status.value must be a string")
        if reason is not None and not isinstance(reason, str):
            raise InvalidJobError("status.reason must be a string")
        return cls(status=raw["status"], value=value, reason=reason)


NOT_FOUND: Final = JobStatus("not-found")
IN_QUEUE: Final = JobStatus("in-queue")
IN_PROGRESS: Final = JobStatus("in-progress")


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which proof types an agent accepts (None = every type)."""

    allow_list: frozenset[ProvingRequestType] | None = None

    def accepts(self, proof_type: ProvingRequestType) -> bool:
        return self.allow_list is None or proof_type in self.allow_list

    def to_wire(self) -> dict[str, Any]:
        if self.allow_list is None:
            return {}
        return {"allowList": sorted(int(t) for t in self.allow_list)}

    @classmethod
    def from_wire(cls, raw: Any) -> JobFilter:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise InvalidJobError("filter must be an object")
        allow = raw.get("allowList")
        if allow is None:
            return cls()
        if not isinstance(allow, list) or len(allow) > 64:
            raise InvalidJobError("filter.allowList must be a list of proof types")
        types: set[ProvingRequestType] = set()
        for t in allow:
            if not isinstance(t, int) or isinstance(t, bool) or t not in ProvingRequestType._value2member_map_:
                raise InvalidJobError(f"unknown proof type in allowList: {t!r}")
            types.add(ProvingRequestType(t))
        return cls(frozenset(types))
