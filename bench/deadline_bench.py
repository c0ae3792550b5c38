"""Deadline bench (issue 14): the whole proving loop simulated on a virtual clock (node/deadline/sim.py).

Seed rates: 1 TPS = 32 blocks x 36 txs per epoch (one block per 36 s slot, epoch 19.2 min), half the
txs with public calls; the claim lands at the end of slot 13 of epoch N+1, leaving 19 slots
(11.4 min) to the deadline. Job times: gate table (proving/circuits/timing.py) x --seconds-per-mgate
x (1 +- 10 % jitter); agents crash on 0.1 % of jobs (restart 30 s, broker timeout 60 s).

Rows:
1. fewest agents with which a prover that wins every epoch proves each of --epochs consecutive epochs
   before its deadline: Aztec's behaviour (start at the claim, fixed proof-type order) vs ours
   (streaming speculation + deadline/critical-path keys), next to the throughput bound
   (an epoch's work / the epoch's duration);
2. makespan of one claimed epoch (all blocks in at the claim, no speculation, no jitter or failures)
   with 100 agents against LB = max(critical path, work / agents) and the tail-aware LB' of
   proving/orchestrator/schedule.py (the root and the last block merges/roots run with little
   parallelism at the end);
3. compute wasted on speculation when we win 1 epoch in 3;
4. the plan-based quote provider on epochs of varying load (24-60 txs per block) with a fixed fleet:
   quotes refused and quoted epochs that missed their deadline.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.deadline.sim import SimConfig, Simulation, fewest_agents, simulate, throughput_bound
from proving.orchestrator.schedule import (
    EpochLoad,
    agents_needed,
    epoch_tree,
    list_schedule,
    lower_bounds,
    nominal_durations,
)
from proving.types import ProvingRequestType as T


def estimate_aztec(cfg: SimConfig) -> int:
    """Starting point for the search: the list-schedule estimate of Aztec's order at the claim."""
    sim = Simulation(cfg)
    tree = epoch_tree(sim.epoch_shapes(1))
    dur = nominal_durations(tree, cfg.seconds_per_mgate)
    window = (cfg.blocks_per_epoch - cfg.claim_position - 1) * cfg.slot_duration
    load = EpochLoad(tree, dur, [0.0] * len(sim.epoch_shapes(1)), 0.0, float(window))
    n = agents_needed(lambda k: list_schedule([load], k, policy="aztec").finish[0] <= window, 1, 4096)
    return n or 4096


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seconds-per-mgate", type=float, default=10.0)
    ap.add_argument("--failure-rate", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", default="1234", help="which rows to run (default all: 1234)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    base = SimConfig(epochs=args.epochs, seconds_per_mgate=args.seconds_per_mgate, failure_rate=args.failure_rate,
                     seed=args.seed, competitors=2)
    window = (base.blocks_per_epoch - base.claim_position - 1) * base.slot_duration
    bound = throughput_bound(base)
    print(f"1 TPS: {base.blocks_per_epoch} blocks x {base.txs_per_block} txs ({base.public_fraction:.0%} public), "
          f"slot {base.slot_duration} s, claim at the end of slot {base.claim_position + 1} of epoch N+1 -> "
          f"{window} s ({window / 60:.1f} min) to the deadline; {args.seconds_per_mgate:g} s per million gates, "
          f"jitter +-{base.jitter:.0%}, agent crash rate {args.failure_rate:.1%} per job, seed {args.seed}")

    az = ours = None
    ours_cfg = replace(base, behaviour="ours", speculation=True)
    if "1" in args.rows:
        # 1. fewest agents, 20 consecutive epochs, we win every epoch
        az_cfg = replace(base, behaviour="aztec", speculation=False)
        guess = estimate_aztec(az_cfg)
        az, az_runs = fewest_agents(az_cfg, max(1, int(guess * 0.8)), int(guess * 1.3) + 8)
        ours, ours_runs = fewest_agents(ours_cfg, math.floor(bound), math.ceil(bound * 1.4))
        print(f"\n1. Fewest agents proving each of {args.epochs} consecutive epochs before the deadline "
              "(wins every epoch)")
        print(f"   {'behaviour':<52} {'agents':>7} {'/ bound':>8} {'probes':>7}")
        print(f"   {'throughput bound: epoch work / epoch duration':<52} {bound:>7.1f} {1.0:>8.3f}")
        for name, n, runs in (("Aztec v0.63.1: start at claim, proof-type order", az, az_runs),
                              ("ours: streaming speculation + deadline keys", ours, ours_runs)):
            shown = "none" if n is None else str(n)
            ratio = "" if n is None else f"{n / bound:.3f}"
            print(f"   {name:<52} {shown:>7} {ratio:>8} {len(runs):>7}")
        if az and ours:
            worst = max(r.makespan or 0.0 for r in ours_runs[ours].ours())
            print(f"   ours / Aztec = {ours / az:.3f} (target <= 0.5); ours / bound = {ours / bound:.3f} "
                  f"(target <= 1.15); ours' slowest epoch: {worst:.0f} s from claim to proof")

    if "2" in args.rows:
        # 2. one claimed epoch, 100 agents
        one = replace(base, epochs=1, agents=100, jitter=0.0, failure_rate=0.0, speculation=False, competitors=1,
                      abandon_on_miss=False)  # 100 agents cannot make the 11.4 min: measure the makespan anyway
        sim = Simulation(one)
        tree = epoch_tree(sim.epoch_shapes(1))
        dur = nominal_durations(tree, one.seconds_per_mgate)
        # base parity over zero messages has identical inputs in every block: the broker proves it once
        seen_zero = False
        for i, t in enumerate(tree.types):
            if t == T.BASE_PARITY:
                first_of_block = tree.types[i - 1] == T.ROOT_PARITY
                if not first_of_block:
                    if seen_zero:
                        dur[i] = 0.0
                    seen_zero = True
        b = lower_bounds(tree, dur, 100)
        ms = {}
        for beh in ("ours", "aztec"):
            r = simulate(replace(one, behaviour=beh))  # type: ignore[arg-type]
            ms[beh] = r.epochs[1].makespan or math.nan
        print("\n2. One claimed epoch (all blocks in at the claim), 100 agents, no jitter/failures")
        print(f"   work {b.work:,.0f} agent-s, critical path {b.critical_path:.0f} s, LB {b.lb:.1f} s, "
              f"LB' {b.lb_tail:.1f} s (tail depth {b.tail_depth})")
        print(f"   {'ordering':<52} {'makespan':>9} {'/ LB':>7} {'/ LB_':>7}")
        for name, key in (("ours: deadline / critical-path keys", "ours"), ("Aztec: proof-type order", "aztec")):
            print(f"   {name:<52} {ms[key]:>9.1f} {ms[key] / b.lb:>7.3f} {ms[key] / b.lb_tail:>7.3f}")

    n3 = ours or math.ceil(bound * 1.2)
    if "3" in args.rows:
        # 3. waste when we win 1 in 3
        w = simulate(replace(ours_cfg, agents=n3, win_every=3, competitors=2))
        won = len(w.ours())
        print(f"\n3. Speculation when we win 1 epoch in 3 ({n3} agents, {args.epochs} epochs, won {won})")
        print(f"   speculative compute {w.speculative_spent / 3600:,.1f} agent-h, wasted (epochs others won) "
              f"{w.speculative_wasted / 3600:,.1f} agent-h = {w.speculative_wasted / max(w.busy, 1e-9):.1%} of all "
              f"{w.busy / 3600:,.1f} agent-h worked; our epochs missed: {w.missed}")

    if "4" in args.rows:
        # 4. plan-based quotes, varying load, fixed fleet
        q_agents = n3
        q = simulate(replace(ours_cfg, agents=q_agents, quote_provider="plan", txs_per_block_choices=(24, 36, 48, 60),
                             competitors=1, win_every=1))
        quoted = [r for r in q.epochs.values() if r.quoted]
        print(f"\n4. Plan-based quotes: {args.epochs} epochs of 24/36/48/60 txs per block, {q_agents} agents, "
              f"deadline margin {base.deadline_margin:.0%}")
        print(f"   quoted {len(quoted)}, refused {q.refused}, ours proven {sum(1 for r in q.ours() if r.proven_at)}, "
              f"quoted epochs that missed the deadline: {q.missed} (target 0)")
        for r in q.epochs.values():
            tag = "refused" if r.refused else ("missed" if r.missed or r.failed else "ok")
            ms_r = "" if r.makespan is None else f"{r.makespan:.0f} s"
            print(f"     epoch {r.epoch:>2}: {r.txs:>5} txs  {tag:<8} {ms_r}")
    print(f"\n(wall time {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
