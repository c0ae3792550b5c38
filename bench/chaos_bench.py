"""Chaos bench (issue 11, targets.md section 4): ``kill -9`` of the broker, the agents and the prover
(driver) process at random points while epochs are being proven, each restarted at once.

Real processes, real sockets, real disk:

- broker: ``python -m node --prover-broker`` (bench/node_broker.py; DATA_DIRECTORY = the run's
  folder: sqlite journal in broker/, sync=full, leases of ``--lease`` seconds checked every
  ``--poll`` seconds, file:// URIs only inside the shared proof store proofs/);
- ``--agents`` agent processes (``chaos_bench.py agent``): an :class:`AgentPool` of ``--concurrency``
  workers heartbeating every ``--heartbeat`` seconds; each logs ``took`` / ``applied`` lines;
- one driver process (``chaos_bench.py driver``): the real :class:`EpochProver` over a
  :class:`BrokerClient`, proving simulated epochs one after the other (a restarted driver resumes
  the epoch it was on: same job ids, the broker answers with what is already proven); it logs every
  acknowledged enqueue and every completed epoch with its first start time.

Checked: after every broker kill (process dead, before the restart) the journal on disk holds every
job whose enqueue was acknowledged and every result whose report was acknowledged (``applied``);
no result was applied twice (two ``applied`` acknowledgements for one job id, over all agents);
every epoch's root output matches and it completed before its deadline (``--deadline`` seconds from
its first start); the slowest re-dispatch after an agent death = time from the kill until another
agent took each job the dead agent held (jobs it finished without logging are skipped).

Usage: python bench/chaos_bench.py [--seed 1] [--kills 20] [--agents 3] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import trio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.node_broker import start_node_broker  # noqa: E402
from proving.agent import AgentPool  # noqa: E402
from proving.broker.client import BrokerClient  # noqa: E402
from proving.circuits.timing import TimingModel  # noqa: E402
from proving.orchestrator import EpochProver  # noqa: E402
from proving.proof_store import FileProofStore  # noqa: E402
from proving.synthetic import make_epoch  # noqa: E402
from proving.types import JobStatus, ProvingJob  # noqa: E402

FULFILLED = 2


def _line(f: TextIO, *parts: object) -> None:
    f.write(" ".join(str(p) for p in parts) + "\n")
    f.flush()  # to the OS: survives kill -9 of this process


# ---------------------------------------------------------------------- agent process


async def agent_main(args: argparse.Namespace, log: TextIO) -> None:
    def finished(job: ProvingJob, how: str) -> None:
        if how != "applied":  # aborted (settled elsewhere), not applied (late), failed
            _line(log, "end", f"{time.time():.4f}", job.id)

    pool = AgentPool(
        args.url,
        args.concurrency,
        proof_store=FileProofStore(Path(args.proofs)),
        timing=TimingModel(seconds_per_million_gates=args.speed),
        heartbeat_interval=args.heartbeat,
        long_poll=5,
        name=args.name,
        on_taken=lambda job: _line(log, "took", f"{time.time():.4f}", job.id),
        on_proven=lambda job: _line(log, "applied", f"{time.time():.4f}", job.id),
        on_finished=finished,
    )
    await pool.run()


# ---------------------------------------------------------------------- driver process


class LoggingClient(BrokerClient):
    """Logs every acknowledged enqueue (after the broker answered)."""

    log: TextIO

    async def enqueue_proving_job(self, job: ProvingJob) -> JobStatus:
        st = await super().enqueue_proving_job(job)
        _line(self.log, "ack", job.id)
        return st


def _epoch_to_prove(state: Path) -> int | None:
    """The epoch to prove now (the unfinished one after a restart); None once told to stop."""
    epoch = int((state / "epoch").read_text()) if (state / "epoch").exists() else 1
    start_file = state / f"start-{epoch}"
    if (state / "stop").exists() and not start_file.exists():
        return None
    if not start_file.exists():
        tmp = start_file.with_suffix(".tmp")
        tmp.write_text(f"{time.time():.4f}")
        tmp.replace(start_file)
    return epoch


def _epoch_proven(state: Path, log: TextIO, epoch: int, ok: bool) -> None:
    start_file = state / f"start-{epoch}"
    _line(log, "done", epoch, start_file.read_text(), f"{time.time():.4f}", "ok" if ok else "WRONG")
    tmp = state / "epoch.tmp"
    tmp.write_text(str(epoch + 1))
    tmp.replace(state / "epoch")
    start_file.unlink()


async def driver_main(args: argparse.Namespace, log: TextIO) -> None:
    state = Path(args.state)
    store = FileProofStore(Path(args.proofs))
    client = LoggingClient(args.url, connections=8, retry_for=None)
    client.log = log
    async with trio.open_nursery() as n:
        await n.start(client.run)
        while (epoch := _epoch_to_prove(state)) is not None:
            ep = make_epoch(args.blocks, args.txs, epoch_number=epoch, seed=args.seed * 1000 + epoch)
            prover = EpochProver(client, store, prover_id=7, vk_tree_root=8)
            async with trio.open_nursery() as pn:
                await pn.start(prover.run)
                await prover.start_epoch(
                    ep.epoch_number,
                    len(ep.blocks),
                    previous_archive=ep.previous_archive,
                    archive_sibling_path=ep.archive_sibling_path,
                    previous_block_hash=ep.previous_block_hash,
                )
                for block in ep.blocks:
                    await prover.add_block(block)
                result = await prover.finalise()
                pn.cancel_scope.cancel()
            _epoch_proven(state, log, epoch, result.public_inputs.end_archive == ep.end_archive)
        n.cancel_scope.cancel()
    await client.aclose()


# ---------------------------------------------------------------------- orchestration


@dataclass
class Chaos:
    root: Path
    args: argparse.Namespace
    port: int = 0
    url: str = ""
    broker: trio.Process | None = None
    driver: trio.Process | None = None
    agents: dict[int, trio.Process] = field(default_factory=dict)
    agent_logs: dict[int, Path] = field(default_factory=dict)
    generation: Counter[str] = field(default_factory=Counter)
    lost_jobs: int = 0
    lost_results: int = 0
    checked_jobs: int = 0
    checked_results: int = 0
    redispatch: list[float] = field(default_factory=list)
    redispatch_clean: list[float] = field(default_factory=list)  # no broker kill meanwhile
    broker_kills: list[float] = field(default_factory=list)
    pending_redispatch: list[tuple[float, str, Path]] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)

    def _log(self, name: str) -> Any:
        return open(self.root / f"{name}.out", "ab")

    async def _spawn(self, argv: list[str], name: str) -> trio.Process:
        out = self._log(name)
        try:
            return await trio.lowlevel.open_process(
                [sys.executable, *argv], cwd=str(REPO), stdout=out, stderr=out,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
        finally:
            out.close()

    async def start_broker(self) -> None:
        a = self.args
        out = self._log("broker")
        try:
            self.broker, self.url = await start_node_broker(
                self.root, self.port, output=out, ready_within=30, sync="full", job_timeout=a.lease,
                poll_interval=a.poll,
            )
        finally:
            out.close()
        self.port = int(self.url.rsplit(":", 1)[1])

    async def start_agent(self, i: int) -> None:
        a = self.args
        self.generation[f"agent{i}"] += 1
        log = self.root / f"agent{i}-{self.generation[f'agent{i}']}.log"
        self.agent_logs[i] = log
        self.agents[i] = await self._spawn(
            [__file__, "agent", "--url", self.url, "--log", str(log), "--proofs", str(self.root / "proofs"),
             "--concurrency", str(a.concurrency), "--heartbeat", str(a.heartbeat), "--speed", str(a.speed),
             "--name", f"a{i}g{self.generation[f'agent{i}']}"],
            f"agent{i}",
        )

    async def start_driver(self) -> None:
        a = self.args
        self.driver = await self._spawn(
            [__file__, "driver", "--url", self.url, "--state", str(self.root / "driver"),
             "--proofs", str(self.root / "proofs"), "--blocks", str(a.blocks), "--txs", str(a.txs),
             "--seed", str(a.seed)],
            "driver",
        )

    def _acked(self) -> tuple[set[str], set[str]]:
        jobs: set[str] = set()
        p = self.root / "driver" / "driver.log"
        if p.exists():
            jobs = {ln.split()[1] for ln in p.read_text().splitlines() if ln.startswith("ack ")}
        results: set[str] = set()
        for log in self.root.glob("agent*.log"):
            results |= {ln.split()[2] for ln in log.read_text().splitlines() if ln.startswith("applied ")}
        return jobs, results

    def check_journal(self) -> None:
        """The broker is dead: its journal must hold everything it acknowledged."""
        jobs, results = self._acked()
        db = sqlite3.connect(self.root / "broker" / "broker.sqlite")
        rows = dict(db.execute("SELECT id, state FROM jobs").fetchall())
        db.close()
        self.lost_jobs += sum(1 for j in jobs if j not in rows)
        self.lost_results += sum(1 for j in results if rows.get(j) != FULFILLED)
        self.checked_jobs, self.checked_results = len(jobs), len(results)

    def note_agent_death(self, i: int, t: float) -> None:
        took: set[str] = set()
        done: set[str] = set()
        if not self.agent_logs[i].exists():  # killed while starting up
            return
        for ln in self.agent_logs[i].read_text().splitlines():
            parts = ln.split()
            if len(parts) != 3:
                continue
            kind, _, job = parts
            (took if kind == "took" else done).add(job)
        for job in took - done:
            self.pending_redispatch.append((t, job, self.agent_logs[i]))

    def requeue_delays(self) -> list[float]:
        """Seconds from each agent death to the broker putting each job it held back in the queue
        (from the broker's "lease(s) expired ... re-queued: [ids]" log lines)."""
        requeued: dict[str, list[float]] = defaultdict(list)
        for ln in (self.root / "broker.out").read_text(errors="replace").splitlines():
            if "re-queued: [" not in ln:
                continue
            try:
                t = time.mktime(time.strptime(ln[:19], "%Y-%m-%d %H:%M:%S")) + int(ln[20:23]) / 1000
                ids = ast.literal_eval(ln[ln.index("re-queued: [") + 11 :])
            except (ValueError, SyntaxError):
                continue
            for job in ids:
                requeued[job].append(t)
        out = []
        for t_kill, job, _ in self.pending_redispatch:
            later = [t for t in requeued[job] if t > t_kill]
            if later:
                out.append(min(later) - t_kill)
        return out

    def measure_redispatch(self) -> int:
        """Seconds from each agent death to another agent taking each job it held."""
        taken: dict[str, list[tuple[float, Path]]] = defaultdict(list)
        for log in self.root.glob("agent*.log"):
            for ln in log.read_text().splitlines():
                parts = ln.split()
                if len(parts) != 3:
                    continue
                kind, t, job = parts
                if kind == "took":
                    taken[job].append((float(t), log))
        unseen = 0
        for t_kill, job, dead_log in self.pending_redispatch:
            later = [t for t, log in taken[job] if t > t_kill and log != dead_log]
            if later:
                t_took = min(later)
                self.redispatch.append(t_took - t_kill)
                if not any(t_kill <= t <= t_took for t in self.broker_kills):
                    self.redispatch_clean.append(t_took - t_kill)
            else:
                unseen += 1  # its result was acknowledged just before the kill (not logged yet)
        return unseen

    async def kill(self, target: str, rng: random.Random) -> None:
        now = time.time()
        if target == "broker":
            assert self.broker is not None
            self.broker_kills.append(now)
            self.broker.send_signal(signal.SIGKILL)
            await self.broker.wait()
            self.check_journal()
            await self.start_broker()
        elif target == "driver":
            assert self.driver is not None
            self.driver.send_signal(signal.SIGKILL)
            await self.driver.wait()
            await self.start_driver()
        else:
            i = rng.randrange(len(self.agents))
            self.agents[i].send_signal(signal.SIGKILL)
            await self.agents[i].wait()
            self.note_agent_death(i, now)
            await self.start_agent(i)
        self.kills[target] += 1

    def procs(self) -> list[trio.Process]:
        return [p for p in (self.broker, self.driver, *self.agents.values()) if p is not None]


def epochs_done(root: Path) -> list[tuple[int, float, float, str]]:
    p = root / "driver" / "driver.log"
    if not p.exists():
        return []
    out: dict[int, tuple[int, float, float, str]] = {}
    for ln in p.read_text().splitlines():
        parts = ln.split()
        if len(parts) == 5 and parts[0] == "done":
            _, e, t0, t1, ok = parts
            out.setdefault(int(e), (int(e), float(t0), float(t1), ok))  # killed before unlinking: proven again
    return list(out.values())


async def run_chaos(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    plan = ["broker"] * args.kills + ["agent"] * args.kills + ["driver"] * args.kills
    rng.shuffle(plan)
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        root = Path(tmp) if args.workdir is None else Path(args.workdir)
        (root / "proofs").mkdir(parents=True)
        chaos = Chaos(root, args)
        t_start = time.time()
        try:
            await chaos.start_broker()
            for i in range(args.agents):
                await chaos.start_agent(i)
            await chaos.start_driver()
            for target in plan:
                await trio.sleep(rng.uniform(args.min_gap, args.max_gap))
                for name, p in [("driver", chaos.driver), ("broker", chaos.broker)]:
                    if p is not None and p.poll() is not None:
                        raise RuntimeError(f"{name} exited by itself ({p.returncode}); see {root}/{name}.out")
                await chaos.kill(target, rng)
            (root / "driver" / "stop").write_text("")
            with trio.move_on_after(args.deadline * 2) as cs:
                assert chaos.driver is not None
                await chaos.driver.wait()
            stalled = cs.cancelled_caught
            assert chaos.driver is not None
            if not stalled and chaos.driver.returncode != 0:
                raise RuntimeError(f"driver failed ({chaos.driver.returncode}); see {root}/driver.out")
        finally:
            for p in chaos.procs():
                if p.poll() is None:
                    p.kill()
                    await p.wait()
        return summarise(chaos, args, stalled, t_start)


def summarise(chaos: Chaos, args: argparse.Namespace, stalled: bool, t_start: float) -> dict[str, Any]:
    root = chaos.root
    chaos.check_journal()
    unseen = chaos.measure_redispatch()
    applied = Counter[str]()
    for log in root.glob("agent*.log"):
        applied.update(ln.split()[2] for ln in log.read_text().splitlines() if ln.startswith("applied "))
    done = epochs_done(root)
    started = {int(p.name.split("-")[1].split(".")[0]) for p in (root / "driver").glob("start-*")}
    started -= {e for e, *_ in done}  # killed between logging "done" and removing its start file
    durations = [t1 - t0 for _, t0, t1, _ in done]
    redispatch = sorted(chaos.redispatch)
    requeue = sorted(chaos.requeue_delays())
    result = {
        "seed": args.seed,
        "kills": dict(chaos.kills),
        "acked_jobs": chaos.checked_jobs,
        "acked_results": chaos.checked_results,
        "lost_jobs": chaos.lost_jobs,
        "lost_results": chaos.lost_results,
        "applied_twice": sum(1 for n in applied.values() if n > 1),
        "epochs_done": len(done),
        "epochs_wrong": sum(1 for *_, ok in done if ok != "ok"),
        "epochs_unfinished": len(started) + (1 if stalled else 0),
        "epochs_late": sum(1 for d in durations if d > args.deadline),
        "slowest_epoch_s": max(durations, default=float("nan")),
        "deadline_s": args.deadline,
        "agent_deaths_with_jobs": len(chaos.pending_redispatch),
        "redispatch_measured": len(chaos.redispatch),
        "redispatch_unseen": unseen,
        "requeue_measured": len(requeue),
        "slowest_requeue_s": max(requeue, default=float("nan")),
        "median_requeue_s": requeue[len(requeue) // 2] if requeue else float("nan"),
        "slowest_redispatch_s": max(chaos.redispatch, default=float("nan")),
        "slowest_redispatch_no_broker_kill_s": max(chaos.redispatch_clean, default=float("nan")),
        "median_redispatch_s": redispatch[len(redispatch) // 2] if redispatch else float("nan"),
        "runtime_s": time.time() - t_start,
    }
    return result


def print_table(r: dict[str, Any], args: argparse.Namespace) -> None:
    k = r["kills"]
    print(f"chaos bench: seed {r['seed']}, kill -9 x{k.get('broker', 0)} broker, x{k.get('agent', 0)} agents "
          f"({args.agents} processes x {args.concurrency}), x{k.get('driver', 0)} prover/driver; "
          f"lease {args.lease}s, heartbeat {args.heartbeat}s, poll {args.poll}s; runtime {r['runtime_s']:.0f}s")
    rows = [
        ("acknowledged jobs lost", f"{r['lost_jobs']} of {r['acked_jobs']}", "0"),
        ("acknowledged results lost", f"{r['lost_results']} of {r['acked_results']}", "0"),
        ("results applied twice", str(r["applied_twice"]), "0"),
        ("epochs completed before deadline",
         f"{r['epochs_done'] - r['epochs_late']} of {r['epochs_done'] + r['epochs_unfinished']}"
         f" (slowest {r['slowest_epoch_s']:.1f}s, deadline {r['deadline_s']:.0f}s, wrong root {r['epochs_wrong']})",
         "all"),
        ("slowest re-dispatch after an agent death (kill -> back in the queue)",
         f"{r['slowest_requeue_s']:.2f}s (median {r['median_requeue_s']:.2f}s, {r['requeue_measured']} jobs)",
         f"<= lease + poll = {args.lease + args.poll:.2f}s"),
        ("  ... (kill -> another agent took it)",
         f"{r['slowest_redispatch_s']:.2f}s ({r['slowest_redispatch_no_broker_kill_s']:.2f}s without a broker "
         f"kill meanwhile; median {r['median_redispatch_s']:.2f}s, "
         f"{r['redispatch_measured']} jobs, {r['redispatch_unseen']} settled before the kill)",
         "+ wait for a free agent"),
    ]
    w = max(len(a) for a, _, _ in rows)
    print(f"{'':{w}} | {'measured':<100} | target")
    print("-" * (w + 115))
    for a, b, c in rows:
        print(f"{a:{w}} | {b:<100} | {c}")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    ag = sub.add_parser("agent")
    ag.add_argument("--url", required=True)
    ag.add_argument("--log", required=True)
    ag.add_argument("--proofs", required=True)
    ag.add_argument("--name", default="agent")
    ag.add_argument("--concurrency", type=int, default=4)
    ag.add_argument("--heartbeat", type=float, default=0.5)
    ag.add_argument("--speed", type=float, default=0.05)
    dr = sub.add_parser("driver")
    dr.add_argument("--url", required=True)
    dr.add_argument("--state", required=True)
    dr.add_argument("--proofs", required=True)
    dr.add_argument("--blocks", type=int, default=4)
    dr.add_argument("--txs", type=int, default=4)
    dr.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kills", type=int, default=20, help="kill -9 points for EACH of broker, agents, driver")
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--heartbeat", type=float, default=0.5, help="agents' heartbeat interval (s)")
    ap.add_argument("--lease", type=float, default=2.0, help="broker job lease (PROVER_JOB_TIMEOUT_MS, s)")
    ap.add_argument("--poll", type=float, default=0.25, help="broker lease check interval (s)")
    ap.add_argument("--speed", type=float, default=0.05, help="simulated seconds per million gates")
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--txs", type=int, default=4)
    ap.add_argument("--min-gap", type=float, default=1.5, help="seconds between kills (min)")
    ap.add_argument("--max-gap", type=float, default=4.5, help="seconds between kills (max)")
    ap.add_argument("--deadline", type=float, default=32.0,
                    help="an epoch must be proven within this (s; default: a devnet epoch, 4 slots of 8 s)")
    ap.add_argument("--json", action="store_true", help="also print the result as JSON")
    ap.add_argument("--workdir", default=None, help="keep the processes' files here (default: a temp dir)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.cmd == "agent":
        with open(args.log, "a") as log:
            trio.run(agent_main, args, log)
        return 0
    if args.cmd == "driver":
        Path(args.state).mkdir(parents=True, exist_ok=True)
        with open(Path(args.state) / "driver.log", "a") as log:
            trio.run(driver_main, args, log)
        return 0
    r = trio.run(run_chaos, args)
    print_table(r, args)
    if args.json:
        print(json.dumps(r))
    ok = (r["lost_jobs"], r["lost_results"], r["applied_twice"], r["epochs_late"], r["epochs_unfinished"],
          r["epochs_wrong"]) == (0, 0, 0, 0, 0, 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
