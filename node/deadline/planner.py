"""`python -m node plan`: capacity planner for proving at a given rate and claim slot.

Prints, for Aztec v0.63.1's behaviour (start at the claim, proof-type order) and ours (deadline /
critical-path keys, without and with streaming speculation), either the agents needed to prove
every epoch before its deadline (default) or, with --agents N, the makespan from the claim and the
slack left. Estimates come from :func:`proving.orchestrator.schedule.list_schedule` (the broker's
greedy rule over the epoch's job DAG with gate-table job times); the speculative case runs eight
consecutive epochs (and never fewer agents than the throughput bound) so the steady state
(previous epoch's tail, next epoch's blocks) is included.
The seeded whole-loop simulation (bench/deadline_bench.py) checks these numbers.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass

from proving.orchestrator.schedule import (
    BlockShape,
    EpochLoad,
    SchedulePolicy,
    agents_needed,
    epoch_tree,
    list_schedule,
    nominal_durations,
)


@dataclass(frozen=True, slots=True)
class PlanInputs:
    tps: float = 1.0
    public_share: float = 0.5
    claim_slot: int = 13  # 1-based slot of epoch N+1 at whose end the claim lands
    blocks: int = 32
    slot_duration: int = 36
    seconds_per_mgate: float = 10.0
    deadline: float | None = None  # seconds from the claim; default: to the end of epoch N+1

    @property
    def txs_per_block(self) -> int:
        return max(0, round(self.tps * self.slot_duration))

    @property
    def window(self) -> float:
        if self.deadline is not None:
            return self.deadline
        return float((self.blocks - self.claim_slot) * self.slot_duration)


@dataclass(frozen=True, slots=True)
class ModeEstimate:
    name: str
    agents_needed: int | None
    makespan: float | None  # with --agents
    slack: float | None


def _loads(p: PlanInputs, speculative: bool, epochs: int) -> list[EpochLoad]:
    txs = p.txs_per_block
    shape = BlockShape(txs, round(txs * p.public_share))
    tree = epoch_tree([shape] * p.blocks)
    dur = nominal_durations(tree, p.seconds_per_mgate)
    epoch_len = p.blocks * p.slot_duration
    out = []
    for k in range(epochs):
        start = k * epoch_len  # epoch k's first slot starts here
        claim = start + epoch_len + p.claim_slot * p.slot_duration
        deadline = claim + p.window
        release = [start + (i + 1) * p.slot_duration if speculative else claim for i in range(p.blocks)]
        out.append(EpochLoad(tree, dur, release, float(claim), float(deadline), speculative=speculative))
    return out


def _makespans(p: PlanInputs, agents: int, policy: SchedulePolicy, speculative: bool) -> list[float]:
    epochs = 8 if speculative else 1
    loads = _loads(p, speculative, epochs)
    res = list_schedule(loads, agents, policy=policy)
    return [f - ld.claim_time for f, ld in zip(res.finish, loads, strict=True)]


def estimate(p: PlanInputs, agents: int | None = None, max_agents: int = 8192) -> list[ModeEstimate]:
    modes: tuple[tuple[str, SchedulePolicy, bool], ...] = (
        ("Aztec v0.63.1: start at claim, proof-type order", "aztec", False),
        ("ours: deadline keys, start at claim", "deadline", False),
        ("ours: deadline keys + streaming speculation", "deadline", True),
    )
    out = []
    for name, policy, spec in modes:
        def ok(n: int, policy: SchedulePolicy = policy, spec: bool = spec) -> bool:
            return max(_makespans(p, n, policy, spec)) <= p.window

        # steady state can never need fewer than the throughput bound (finite runs can borrow time)
        needed = agents_needed(ok, math.ceil(throughput_bound(p)), max_agents)
        makespan = slack = None
        if agents is not None:
            makespan = max(_makespans(p, agents, policy, spec))
            slack = p.window - makespan
        out.append(ModeEstimate(name, needed, makespan, slack))
    return out


def throughput_bound(p: PlanInputs) -> float:
    loads = _loads(p, False, 1)
    return math.fsum(loads[0].durations) / (p.blocks * p.slot_duration)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m node plan", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tps", type=float, default=1.0, help="transactions per second (default 1)")
    ap.add_argument("--public-share", type=float, default=0.5, help="share of txs with public calls (default 0.5)")
    ap.add_argument("--claim-slot", type=int, default=13, help="1-based slot of epoch N+1 the claim lands in")
    ap.add_argument("--blocks", type=int, default=32, help="blocks (slots) per epoch (default 32)")
    ap.add_argument("--slot-duration", type=int, default=36, help="seconds per slot (default 36)")
    ap.add_argument("--seconds-per-mgate", type=float, default=10.0, help="agent speed (default 10 s per Mgate)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--agents", type=int, help="print makespan and slack with this many agents")
    g.add_argument("--deadline", type=float, help="seconds from the claim to the deadline (default: end of N+1)")
    args = ap.parse_args(argv)
    if not (0 < args.claim_slot <= args.blocks) or args.tps < 0 or not 0 <= args.public_share <= 1 or (
        args.agents is not None and args.agents < 1
    ):
        print("error: need 0 < --claim-slot <= --blocks, --tps >= 0, 0 <= --public-share <= 1, --agents >= 1")
        return 2
    p = PlanInputs(args.tps, args.public_share, args.claim_slot, args.blocks, args.slot_duration,
                   args.seconds_per_mgate, args.deadline)
    if p.txs_per_block == 0:
        print("nothing to prove at 0 TPS")
        return 0
    print(f"{p.tps:g} TPS -> {p.blocks} blocks x {p.txs_per_block} txs ({p.public_share:.0%} public) per epoch; "
          f"claim at the end of slot {p.claim_slot} of N+1 -> {p.window:.0f} s to the deadline; "
          f"{p.seconds_per_mgate:g} s per million gates")
    print(f"throughput bound: {throughput_bound(p):.1f} agents (an epoch's work / its duration)")
    head = f"{'behaviour':<50} {'agents needed':>13}"
    if args.agents is not None:
        head += f" {'makespan (' + str(args.agents) + ')':>16} {'slack':>8}"
    print(head)
    for m in estimate(p, args.agents):
        line = f"{m.name:<50} {('> 8192' if m.agents_needed is None else str(m.agents_needed)):>13}"
        if m.makespan is not None and m.slack is not None:
            line += f" {m.makespan:>14.0f} s {m.slack:>6.0f} s"
        print(line)
    return 0
