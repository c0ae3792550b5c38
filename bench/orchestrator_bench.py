"""Orchestrator benchmark (targets.md section 2): epoch makespan on a virtual clock.

32 blocks x 36 txs (half with public calls by default), simulated proofs whose duration is
proportional to the gate table (proving/circuits/timing.py: tube 4M, private base 2.3M, public
base 3.7M, merge 1.8M, block root 4.4M, root 10M gates; assumed: AVM 8M, base parity 0.2M, root
parity 2.5M, block merge 1.8M), 100 agents, all blocks available at t = 0 (the epoch is complete
when its proof is claimed). The real orchestrator, in-process broker and agent pool run under
trio's MockClock, so the makespan is exact virtual time.

LB = max(critical path, total work / agents). Compared with Aztec's ordering: fixed proof-type
priority, then oldest (block-level jobs carry their block number), which we reproduce with the
broker's "aztec" policy.

Then: agents needed to prove a 1 TPS epoch (1,152 txs) within the worst-case 11.4 minutes from
the claim, at an assumed proving speed (--seconds-per-mgate, default 10 s per million gates).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import trio
import trio.testing
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proving.agent import AgentPool
from proving.broker.core import ProvingBroker
from proving.circuits.timing import GATES_MILLIONS, TimingModel
from proving.orchestrator import EpochProver
from proving.orchestrator.plan import PriorityMode
from proving.proof_store import InlineProofStore
from proving.synthetic import SyntheticEpoch, make_epoch
from proving.types import ProvingRequestType, make_job_id

WINDOW_S = 11.4 * 60


def simulate(ep: SyntheticEpoch, agents: int, spm: float, mode: PriorityMode) -> tuple[float, float, float]:
    """-> (makespan, critical path, total work), virtual seconds."""
    out: dict[str, float] = {}

    async def main() -> None:
        broker = ProvingBroker(
            None, registry=CollectorRegistry(), policy="aztec" if mode == "aztec" else "priority", job_timeout=1e9
        )
        pool = AgentPool(broker, agents, timing=TimingModel(spm), heartbeat_interval=1e8, long_poll=1e8)
        prover = EpochProver(broker, InlineProofStore(), prover_id=1, vk_tree_root=2, priority_mode=mode)
        async with trio.open_nursery() as n:
            await n.start(broker.run)
            await n.start(pool.run)
            await n.start(prover.run)
            t0 = trio.current_time()
            await prover.start_epoch(
                ep.epoch_number,
                len(ep.blocks),
                previous_archive=ep.previous_archive,
                archive_sibling_path=ep.archive_sibling_path,
                previous_block_hash=ep.previous_block_hash,
            )
            for block in ep.blocks:
                await prover.add_block(block)
            await prover.finalise()
            out["makespan"] = trio.current_time() - t0
            assert prover.plan is not None
            jobs = prover.plan.emitted().values()
            unique = {make_job_id(j.type, j.inputs): j for j in jobs}
            out["work"] = sum(GATES_MILLIONS[j.type] * spm for j in unique.values())
            out["cp"] = max(-j.priority for j in jobs) / 1000 * spm if mode == "critical-path" else 0.0
            n.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return out["makespan"], out["cp"], out["work"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=32)
    ap.add_argument("--txs", type=int, default=36)
    ap.add_argument("--public-fraction", type=float, default=0.5)
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--seconds-per-mgate", type=float, default=10.0)
    args = ap.parse_args()
    ep = make_epoch(args.blocks, args.txs, public_fraction=args.public_fraction, seed=7)
    spm = 1.0  # time unit = 1 s per million gates for the makespan comparison
    t = time.perf_counter()
    ours, cp, work = simulate(ep, args.agents, spm, "critical-path")
    aztec, _, _ = simulate(ep, args.agents, spm, "aztec")
    lb = max(cp, work / args.agents)
    print(
        f"Epoch {args.blocks} blocks x {args.txs} txs ({args.public_fraction:.0%} with public calls), "
        f"{args.agents} agents, durations in units of 1 M gates (virtual clock)"
    )
    print(f"  total work {work:,.1f}, work / agents {work / args.agents:,.1f}, critical path {cp:,.1f}, LB {lb:,.1f}")
    # Every job precedes the root, so the root runs alone at the end: a tighter bound.
    root = GATES_MILLIONS[ProvingRequestType.ROOT_ROLLUP] * spm
    lb_root = max(lb, (work - root) / args.agents + root)
    print(f"  LB' = (work - root) / agents + root = {lb_root:,.1f} (the root rollup can only run alone, last)")
    print(f"  {'ordering':<44} {'makespan':>9} {'/ LB':>6} {'/ LB_':>6}")
    print(f"  {'ours: critical-path rank, streaming':<44} {ours:>9.1f} {ours / lb:>6.3f} {ours / lb_root:>6.3f}")
    print(
        f"  {'Aztec: fixed type priority, then oldest':<44} {aztec:>9.1f} {aztec / lb:>6.3f} {aztec / lb_root:>6.3f}"
    )
    print(f"  (simulation wall time {time.perf_counter() - t:.1f} s)")

    # agents needed for the 11.4-minute window at the seed's 1 TPS (32 x 36 = 1,152 txs)
    spm = args.seconds_per_mgate
    ep36 = make_epoch(32, 36, public_fraction=args.public_fraction, seed=7)
    lo, hi = 1, 2048
    cache: dict[int, float] = {}

    def makespan(k: int) -> float:
        if k not in cache:
            cache[k] = simulate(ep36, k, spm, "critical-path")[0]
        return cache[k]

    if makespan(hi) > WINDOW_S:
        print(f"\n1 TPS epoch cannot finish in 11.4 min at {spm} s/Mgate even with {hi} agents "
              f"(makespan {makespan(hi):.0f} s)")
        return
    while lo < hi:
        mid = (lo + hi) // 2
        if makespan(mid) <= WINDOW_S:
            hi = mid
        else:
            lo = mid + 1
    print(
        f"\nAgents needed for a 1 TPS epoch (1,152 txs) within 11.4 min ({WINDOW_S:.0f} s) at {spm:g} s per "
        f"million gates: {lo} (makespan {makespan(lo):.0f} s; with {lo - 1}: {makespan(lo - 1):.0f} s). "
        f"Critical path at that speed: {cp * spm:.0f} s."
    )


if __name__ == "__main__":
    main()
