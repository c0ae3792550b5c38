"""Live epoch view cost: what one `GET /api/epoch` (or `node_getProverStatus`) costs the node.

For synthetic epochs of growing size, the plan is driven to half its jobs proven (sans-IO, simulated
circuits), then EpochProver.snapshot (tree + states + projection) and the JSON encoding are timed.
The page polls once a second per open browser; the snapshot is bounded at --limit tree nodes.

    python bench/live_view_bench.py [--limit 2000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proving.circuits.simulate import decode_output, simulate
from proving.orchestrator import EpochProver, EpochProvingPlan, EpochStart
from proving.orchestrator.prover import _JobTiming
from proving.proof_store import InlineProofStore
from proving.synthetic import make_epoch


def half_proven(blocks: int, txs: int) -> EpochProver:
    ep = make_epoch(blocks, txs, public_fraction=0.5, seed=blocks * 100 + txs)
    plan = EpochProvingPlan(EpochStart(ep.epoch_number, len(ep.blocks), ep.previous_archive, ep.archive_sibling_path,
                                       ep.previous_block_hash, 11, 0, 33))
    prover = EpochProver(None, InlineProofStore(), prover_id=33, vk_tree_root=11)  # type: ignore[arg-type]
    prover.plan = plan
    pending = []
    t = 0.0
    for b in ep.blocks:
        plan.start_block(b.global_variables, b.l1_to_l2_messages, max(2, len(b.txs)), b.start_state, b.end_state,
                         b.expected_header)
        for tx in b.txs:
            plan.add_tx(tx)
        plan.complete_block()
        pending.extend(plan.take_actions())
    total = sum(len(v) for v in [pending])
    done = 0
    while pending and done < total // 2:
        job = pending.pop(0)
        t += 1.0
        prover._jobs[job.key] = _JobTiming(job.key, t - 1.0, t, "fulfilled")
        plan.on_result(job.key, decode_output(job.type, simulate(job.type, job.inputs)))
        done += 1
        pending.extend(plan.take_actions())
    for job in pending:
        prover._jobs[job.key] = _JobTiming(job.key, t)
    return prover


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    print(f"{'epoch':>10} {'jobs':>6} {'drawn':>6} {'snapshot ms':>12} {'json ms':>8} {'json KiB':>9}")
    for blocks, txs in ((4, 4), (8, 8), (16, 16), (32, 36)):
        prover = half_proven(blocks, txs)
        snaps, encs = [], []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            snap = prover.snapshot(1e6, agents=100, limit=a.limit)
            t1 = time.perf_counter()
            body = json.dumps(snap)
            t2 = time.perf_counter()
            snaps.append(t1 - t0)
            encs.append(t2 - t1)
        print(f"{blocks:>3}x{txs:<3} tx {snap['jobs_total']:>6} {len(snap['nodes']):>6} "
              f"{1000 * statistics.median(snaps):>12.2f} {1000 * statistics.median(encs):>8.2f} "
              f"{len(body) / 1024:>9.0f}")


if __name__ == "__main__":
    main()
