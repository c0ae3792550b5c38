"""The epoch proof DAG as data for people (sans-IO, pure): the live epoch view, `status` and logs.

`plan_nodes(plan)` lists every node of the epoch's proof tree, the planned ones included (blocks
not started yet appear as their block root, waiting): key, proof type, parent key, block index.
`project_finish(nodes, now, agents)` estimates when the remaining jobs will be done from the job
times measured so far (per proof type; unmeasured types scaled by their gate count): the longer of
the remaining critical path and the remaining work spread over the agents.

Both are bounded: at most `limit` nodes are listed (the tree's top first; `truncated` says how many
were left out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from proving.circuits.timing import GATES_MILLIONS
from proving.orchestrator.blocks import tree_nodes
from proving.types import ProvingRequestType

T = ProvingRequestType
DEFAULT_NODE_LIMIT: Final = 2000
JobState = Literal["waiting", "queued", "proving", "done", "cached", "failed"]
FINISHED: Final = ("done", "cached")


@dataclass(frozen=True, slots=True)
class DagNode:
    key: str
    type: str  # ProvingRequestType name
    parent: str | None
    block: int | None  # block index in the epoch, None for epoch-level jobs


def _block_leaf_key(lo: int, total_blocks: int) -> str:
    return f"b{lo}:block-root" if lo < total_blocks else "epoch:empty-block-root"


def plan_nodes(plan: Any, limit: int = DEFAULT_NODE_LIMIT) -> tuple[list[DagNode], int]:
    """(nodes, truncated) of an EpochProvingPlan: epoch tree first, then each block's jobs."""
    total = plan.start.total_blocks
    leaves = plan.block_leaves
    out: list[DagNode] = []
    dropped = 0

    def add(node: DagNode) -> None:
        nonlocal dropped
        if len(out) < limit:
            out.append(node)
        else:
            dropped += 1

    tree = tree_nodes(leaves)
    for (lo, hi), parent in sorted(tree.items(), key=lambda kv: (kv[0][1] - kv[0][0] == 1, kv[0][0], kv[0][1])):
        if hi - lo == 1:
            key = _block_leaf_key(lo, total)
            ptype = T.BLOCK_ROOT_ROLLUP.name if lo < total else T.EMPTY_BLOCK_ROOT_ROLLUP.name
            block: int | None = lo if lo < total else None
        else:
            key = "epoch:root" if (lo, hi) == (0, leaves) else f"epoch:block-merge:{lo}-{hi}"
            ptype = T.ROOT_ROLLUP.name if (lo, hi) == (0, leaves) else T.BLOCK_MERGE_ROLLUP.name
            block = None
        pkey = None
        if parent is not None:
            pkey = "epoch:root" if parent == (0, leaves) else f"epoch:block-merge:{parent[0]}-{parent[1]}"
        add(DagNode(key, ptype, pkey, block))
    emitted = plan.emitted()
    for b in plan._blocks:  # read-only: the view never changes the plan
        i = b.index
        root = f"b{i}:block-root"
        add(DagNode(f"b{i}:root-parity", T.ROOT_PARITY.name, root, i))
        for j in range(4):
            add(DagNode(f"b{i}:base-parity:{j}", T.BASE_PARITY.name, f"b{i}:root-parity", i))
        top = (0, b.num_leaves)
        for (lo, hi), parent in sorted(b.parent.items(), key=lambda kv: (kv[0][1] - kv[0][0], kv[0][0])):
            if (lo, hi) == top:
                continue
            pkey = root if parent == top or parent is None else f"b{i}:merge:{parent[0]}-{parent[1]}"
            if hi - lo == 1:
                key = f"b{i}:base:{lo}-{hi}"
                job = emitted.get(key)
                add(DagNode(key, job.type.name if job else T.PRIVATE_BASE_ROLLUP.name, pkey, i))
                if f"b{i}:tube:{lo}" in emitted:
                    add(DagNode(f"b{i}:tube:{lo}", T.TUBE_PROOF.name, key, i))
                if f"b{i}:avm:{lo}" in emitted:
                    add(DagNode(f"b{i}:avm:{lo}", T.PUBLIC_VM.name, key, i))
            else:
                add(DagNode(f"b{i}:merge:{lo}-{hi}", T.MERGE_ROLLUP.name, pkey, i))
    if "epoch:private-kernel-empty" in emitted:
        add(DagNode("epoch:private-kernel-empty", T.PRIVATE_KERNEL_EMPTY.name, None, None))
    return out, dropped


def _estimates(done: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Seconds per proof type: measured means, others scaled from the gate table (None measured: {})."""
    sums: dict[str, list[float]] = {}
    for ptype, seconds in done:
        sums.setdefault(ptype, []).append(seconds)
    if not sums:
        return {}
    means = {t: sum(v) / len(v) for t, v in sums.items()}
    gates = {t.name: g for t, g in GATES_MILLIONS.items()}
    per_gate = [means[t] / gates[t] for t in means if gates.get(t)]
    scale = sum(per_gate) / len(per_gate) if per_gate else sum(means.values()) / len(means)
    for t, g in gates.items():
        means.setdefault(t, g * scale if per_gate else scale)
    return means


@dataclass(frozen=True, slots=True)
class Projection:
    eta: float | None  # clock time at which the root proof is expected, None before any job finished
    remaining_work: float  # seconds of proving left (sum over unfinished jobs)
    critical_path: float  # seconds along the longest unfinished path to the root
    estimates: dict[str, float]


def project_finish(nodes: Sequence[Mapping[str, Any]], now: float, agents: int) -> Projection:
    """`nodes`: dicts with key, type, parent, state, duration (finished jobs), started (proving jobs)."""
    est = _estimates((n["type"], float(n["duration"])) for n in nodes
                     if n.get("state") in FINISHED and n.get("duration") is not None and n["state"] != "cached")
    if not est:
        return Projection(None, 0.0, 0.0, {})
    children: dict[str, list[str]] = {}
    by_key = {n["key"]: n for n in nodes}
    for n in nodes:
        if n.get("parent") is not None:
            children.setdefault(n["parent"], []).append(n["key"])

    def left(n: Mapping[str, Any]) -> float:
        if n.get("state") in FINISHED:
            return 0.0
        e = est.get(n["type"], 0.0)
        if n.get("state") == "proving" and n.get("started") is not None:
            return max(0.0, e - (now - float(n["started"])))
        return e

    work = sum(left(n) for n in nodes)
    finish: dict[str, float] = {}
    # iterative post-order (the trees are shallow, but never recurse on outside-sized input)
    for root in [n["key"] for n in nodes if n.get("parent") is None]:
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            key, expanded = stack.pop()
            if key in finish:
                continue
            if not expanded:
                stack.append((key, True))
                stack.extend((c, False) for c in children.get(key, ()) if c not in finish)
                continue
            below = max((finish[c] for c in children.get(key, ()) if c in finish), default=0.0)
            finish[key] = below + left(by_key[key])
    critical = max(finish.values(), default=0.0)
    span = max(critical, work / max(1, agents))
    return Projection(now + span, work, critical, est)
