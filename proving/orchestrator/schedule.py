"""Deadline-aware scheduling: priority keys, lower bounds and a fast makespan estimator (sans-IO).

Priority key (what the producer hands the broker at enqueue; the broker's ``"deadline"`` policy
orders every queued job of every epoch by it, smaller first)::

    key = round(1000 * (deadline - remaining_critical_path))          # latest start time, ms
        + SPECULATIVE_OFFSET_MS  when the epoch is not claimed by us yet

``remaining_critical_path`` is the job's rank from :class:`~proving.orchestrator.plan.
EpochProvingPlan` (its own weight plus the heaviest chain above it up to the root, in gate-table
units, ``rank = -priority / 1000`` in critical-path mode) times the seconds one unit takes. So a job
runs first when the latest moment it can start without making its epoch late is the earliest:
deadline slack and remaining critical path in one number, comparable across epochs. Speculative
work (an epoch we intend to quote but nobody has claimed) sorts after every claimed job.

Bounds for one epoch, ``m`` agents (:func:`lower_bounds`):

- ``LB = max(critical path, work / m)``;
- the tail-aware ``LB'``: the job DAG is an in-tree (every job has one consumer). For every depth
  ``k``, let ``F_k`` be the jobs at depth ``k`` (the root has depth 0) and ``top_k`` the jobs at
  depth ``<= k``. Every job deeper than ``k`` lies below some job of ``F_k``, and a job starts only
  after its subtree is done, so when the last job of ``F_k`` starts all work outside ``top_k`` is
  done: ``makespan >= (work - work(top_k)) / m + min over u in F_k of path(u -> root)``.
  ``LB' = max(LB, max_k of that)``; ``k = 0`` is the usual ``(work - root) / m + root``.

:func:`list_schedule` is the same greedy list scheduling the broker does (idle agent takes the
smallest key among released, ready jobs), over a DAG with nominal durations: the quote provider
and the capacity planner use it to estimate makespans in milliseconds.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from proving.circuits.timing import GATES_MILLIONS
from proving.orchestrator.plan import EnqueueJob, tree_nodes
from proving.types import AZTEC_TYPE_PRIORITY, ProvingRequestType

T = ProvingRequestType
SPECULATIVE_OFFSET_MS: Final = 10**13  # > any deadline in ms of the next 300 years
SchedulePolicy = Literal["deadline", "aztec"]
_AZTEC_RANK: Final = {t: i for i, t in enumerate(AZTEC_TYPE_PRIORITY)}


def rank_of(job: EnqueueJob) -> float:
    """Remaining critical path of a plan job, gate-table units (critical-path mode only)."""
    return -job.priority / 1000.0


def deadline_key(rank: float, deadline: float, seconds_per_unit: float, *, speculative: bool = False) -> int:
    """The broker priority key of a job with remaining critical path ``rank`` (gate units)."""
    key = round(1000.0 * (deadline - rank * seconds_per_unit))
    return key + SPECULATIVE_OFFSET_MS if speculative else key


def is_epoch_level(job: EnqueueJob) -> bool:
    """Block merges, the root, the empty block root and the padding kernel: they wait for the
    claim when proving speculatively (everything per block does not)."""
    return job.key.startswith("epoch:")


# ---------------------------------------------------------------------------------------------- DAG


@dataclass(frozen=True, slots=True)
class BlockShape:
    txs: int  # real txs
    public: int  # of which with public calls


@dataclass
class JobTree:
    """An epoch's job DAG as an in-tree: parallel arrays, node 0 is the root rollup."""

    types: list[ProvingRequestType] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)  # -1 for the root
    block: list[int] = field(default_factory=list)  # block index, -1 for epoch-level jobs
    keys: list[str] = field(default_factory=list)  # the plan's job key of each node

    def add(self, ptype: ProvingRequestType, parent: int, block: int, key: str = "") -> int:
        self.types.append(ptype)
        self.parent.append(parent)
        self.block.append(block)
        self.keys.append(key)
        return len(self.types) - 1

    def __len__(self) -> int:
        return len(self.types)


def epoch_tree(blocks: Sequence[BlockShape]) -> JobTree:
    """The job DAG v0.63.1 builds for these blocks (proving doc 2.1-2.4; same wonky trees as the
    plan, via :func:`~proving.orchestrator.plan.tree_nodes`). Public txs come first in a block."""
    if not blocks:
        raise ValueError("an epoch has at least one block")
    tree = JobTree()
    tree.add(T.ROOT_ROLLUP, -1, -1, "epoch:root")
    n_leaves = max(2, len(blocks))
    block_tree = tree_nodes(n_leaves)
    index: dict[tuple[int, int], int] = {(0, n_leaves): 0}
    for node in sorted(block_tree, key=lambda r: r[1] - r[0], reverse=True):
        par = block_tree[node]
        if par is None:
            continue
        lo, hi = node
        if hi - lo > 1:
            index[node] = tree.add(T.BLOCK_MERGE_ROLLUP, index[par], -1, f"epoch:block-merge:{lo}-{hi}")
        elif lo >= len(blocks):
            index[node] = tree.add(T.EMPTY_BLOCK_ROOT_ROLLUP, index[par], -1, "epoch:empty-block-root")
        else:
            index[node] = _add_block(tree, blocks[lo], lo, index[par])
    return tree


def _add_block(tree: JobTree, shape: BlockShape, b: int, parent: int) -> int:
    root = tree.add(T.BLOCK_ROOT_ROLLUP, parent, b, f"b{b}:block-root")
    parity = tree.add(T.ROOT_PARITY, root, b, f"b{b}:root-parity")
    for j in range(4):
        tree.add(T.BASE_PARITY, parity, b, f"b{b}:base-parity:{j}")
    leaves = max(2, shape.txs)
    nodes = tree_nodes(leaves)
    index: dict[tuple[int, int], int] = {(0, leaves): root}
    kernel_empty = -1
    for node in sorted(nodes, key=lambda r: r[1] - r[0], reverse=True):
        par = nodes[node]
        if par is None:
            continue
        lo, hi = node
        if hi - lo > 1:
            index[node] = tree.add(T.MERGE_ROLLUP, index[par], b, f"b{b}:merge:{lo}-{hi}")
            continue
        if lo >= shape.txs:  # padding: a private base over the (shared) empty kernel proof
            base = tree.add(T.PRIVATE_BASE_ROLLUP, index[par], b, f"b{b}:base:{lo}-{hi}")
            if kernel_empty < 0:
                kernel_empty = tree.add(T.PRIVATE_KERNEL_EMPTY, base, b, "epoch:private-kernel-empty")
            continue
        public = lo < shape.public
        base_type = T.PUBLIC_BASE_ROLLUP if public else T.PRIVATE_BASE_ROLLUP
        base = tree.add(base_type, index[par], b, f"b{b}:base:{lo}-{hi}")
        tree.add(T.TUBE_PROOF, base, b, f"b{b}:tube:{lo}")
        if public:
            tree.add(T.PUBLIC_VM, base, b, f"b{b}:avm:{lo}")
    return root


# ---------------------------------------------------------------------------------------------- bounds


@dataclass(frozen=True, slots=True)
class Bounds:
    work: float
    critical_path: float
    lb: float
    lb_tail: float
    tail_depth: int  # the k that gave LB'


def path_to_root(tree: JobTree, durations: Sequence[float]) -> list[float]:
    """For every node: its duration plus its ancestors' (the chain that must follow its start)."""
    out = [0.0] * len(tree)
    for i in range(len(tree)):  # parents are always added before their children
        p = tree.parent[i]
        out[i] = durations[i] + (out[p] if p >= 0 else 0.0)
    return out


def lower_bounds(tree: JobTree, durations: Sequence[float], agents: int) -> Bounds:
    if agents < 1:
        raise ValueError("agents must be >= 1")
    work = math.fsum(durations)
    up = path_to_root(tree, durations)
    # critical path: longest root-to-leaf chain = max over nodes of path_to_root
    cp = max(up)
    depth = [0] * len(tree)
    for i in range(1, len(tree)):
        depth[i] = depth[tree.parent[i]] + 1
    by_depth: dict[int, list[int]] = {}
    for i, d in enumerate(depth):
        by_depth.setdefault(d, []).append(i)
    lb = max(cp, work / agents)
    best, best_k = lb, -1
    top_work = 0.0
    for k in sorted(by_depth):
        frontier = by_depth[k]
        top_work += math.fsum(durations[i] for i in frontier)
        bound = (work - top_work) / agents + min(up[i] for i in frontier)
        if bound > best:
            best, best_k = bound, k
    return Bounds(work, cp, lb, best, best_k)


def nominal_durations(tree: JobTree, seconds_per_unit: float, weights: dict[ProvingRequestType, float] | None = None
                      ) -> list[float]:
    w = GATES_MILLIONS if weights is None else weights
    return [w[t] * seconds_per_unit for t in tree.types]


# ---------------------------------------------------------------------------------------------- estimator


@dataclass(frozen=True, slots=True)
class EpochLoad:
    """One epoch for :func:`list_schedule`: its tree, per-node durations, when each block's jobs
    are released (block landed / speculation), when epoch-level jobs are released (the claim),
    its deadline, and whether its keys are speculative until ``claim_time``."""

    tree: JobTree
    durations: Sequence[float]
    block_release: Sequence[float]
    claim_time: float
    deadline: float
    speculative: bool = False
    done: frozenset[int] = frozenset()  # nodes already proven (speculation credit)


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    finish: list[float]  # per epoch, time its root finished
    busy: float  # agent-seconds worked


def list_schedule(
    epochs: Sequence[EpochLoad],
    agents: int,
    *,
    policy: SchedulePolicy = "deadline",
    seconds_per_unit: float = 1.0,
    speculative_share: float = 1.0,
) -> ScheduleResult:
    """Greedy list scheduling on ``agents`` identical agents: whenever an agent is idle it takes
    the released, ready job with the smallest key (``"deadline"``: :func:`deadline_key` with the
    remaining critical path from the durations; ``"aztec"``: proof type order, then block number,
    then age). Speculative jobs (released before their epoch's claim) may hold at most
    ``speculative_share`` of the agents. Returns the finish time of each epoch's root."""
    if agents < 1:
        raise ValueError("agents must be >= 1")
    spec_cap = max(1, int(agents * speculative_share))
    # flatten
    offs: list[int] = []
    total = 0
    for ep in epochs:
        offs.append(total)
        total += len(ep.tree)
    dur = [0.0] * total
    parent = [-1] * total
    pending = [0] * total
    release = [0.0] * total
    key_rank = [0.0] * total
    epoch_of = [0] * total
    base_key: list[tuple[float, int, int]] = [(0.0, 0, 0)] * total
    for e, ep in enumerate(epochs):
        o = offs[e]
        up = path_to_root(ep.tree, ep.durations)
        for i in range(len(ep.tree)):
            g = o + i
            dur[g] = 0.0 if i in ep.done else ep.durations[i]
            p = ep.tree.parent[i]
            parent[g] = o + p if p >= 0 else -1
            b = ep.tree.block[i]
            release[g] = ep.block_release[b] if b >= 0 else ep.claim_time
            key_rank[g] = up[i]
            epoch_of[g] = e
            if policy == "aztec":
                # Aztec: block-level jobs carry the block number, epoch-level ones the epoch
                base_key[g] = (float(_AZTEC_RANK[ep.tree.types[i]]), e * 100_000 + (b if b >= 0 else 99_999), g)
            if p >= 0:
                pending[o + p] += 1
    del seconds_per_unit  # durations already carry the time scale

    def key(g: int) -> tuple[float, int, int]:
        if policy == "aztec":
            return base_key[g]
        return (epochs[epoch_of[g]].deadline - key_rank[g], 0, g)

    # events: (time, kind, node or epoch); kinds: 0 finish, 1 release, 2 claim
    events: list[tuple[float, int, int]] = []
    for g in range(total):
        if pending[g] == 0:
            events.append((release[g], 1, g))
    for e, ep in enumerate(epochs):
        if ep.speculative:
            events.append((ep.claim_time, 2, e))
    heapq.heapify(events)
    ready: list[tuple[tuple[float, int, int], int]] = []
    spec_ready: list[tuple[tuple[float, int, int], int]] = []
    claimed = [not ep.speculative for ep in epochs]
    running_spec: set[int] = set()
    idle = agents
    finish = [math.nan] * len(epochs)
    busy = 0.0
    roots = {offs[e]: e for e in range(len(epochs))}
    while events:
        now = events[0][0]
        while events and events[0][0] <= now:
            _, kind, g = heapq.heappop(events)
            if kind == 0:
                idle += 1
                running_spec.discard(g)
                if g in roots:
                    finish[roots[g]] = now
                p = parent[g]
                if p >= 0:
                    pending[p] -= 1
                    if pending[p] == 0:
                        heapq.heappush(events, (max(now, release[p]), 1, p))
            elif kind == 1:
                heapq.heappush(ready if claimed[epoch_of[g]] else spec_ready, (key(g), g))
            else:
                claimed[g] = True
                moved = [item for item in spec_ready if epoch_of[item[1]] == g]
                if moved:
                    spec_ready = [item for item in spec_ready if epoch_of[item[1]] != g]
                    heapq.heapify(spec_ready)
                    for item in moved:
                        heapq.heappush(ready, item)
        while idle > 0:
            if ready:
                _, g = heapq.heappop(ready)
            elif spec_ready and len(running_spec) < spec_cap:
                _, g = heapq.heappop(spec_ready)
                running_spec.add(g)
            else:
                break
            idle -= 1
            busy += dur[g]
            heapq.heappush(events, (now + dur[g], 0, g))
    return ScheduleResult(finish, busy)


def agents_needed(ok: Callable[[int], bool], lo: int = 1, hi: int = 4096) -> int | None:
    """Smallest agent count in [lo, hi] for which ``ok`` holds (``ok`` monotone); None if none."""
    if not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def work_of(types: Iterable[ProvingRequestType], seconds_per_unit: float) -> float:
    return math.fsum(GATES_MILLIONS[t] * seconds_per_unit for t in types)
