"""Broker benchmark: Workload W of ../shared/notes/targets.md, ours and Aztec's ProvingBroker 4.1.2
measured in the same run, interleaved A/B/A/B/A/B.

- ours: the real broker process (``python -m node --prover-broker``, bench/node_broker.py),
  PROVER_BROKER_DB_SYNC=full (every group commit
  fsyncs the sqlite WAL: an acknowledged enqueue or result survives power loss);
- Aztec: ``@aztec/prover-client`` 4.1.2's ProvingBroker with its LMDB store (one fdatasync per 50 ms
  write batch), driven by ``../shared/anchor-broker/bench.mjs`` (set up by
  ``scripts/setup_anchor_broker.sh``; its own node JSON-RPC clients, one per agent);
- W: N jobs (20,000), proof types cycling, content-addressed ids (sha256, ``make_job_id``), ~90-char
  input/result URIs; 100 concurrent producers each awaiting its ack; then K agents, each with its own
  connection, take a job and report success at once (the report returns the next job).
- Aztec at K = 1 and 10 is too slow to drain 20,000 jobs in a bench: its drain is capped
  (``--aztec-max-drain-s``) and end-to-end is extrapolated as N / (enqueue time + N / drain rate).
- per K: one table of min / median / max over the runs, and the ratio ours / Aztec per A/B pair.
- broker CPU per job: utime + stime of the broker process / jobs completed (enqueue included).
- extras: dispatch latency to idle agents (both), memory per queued job and restart (spawn ->
  listening) of the real process over stored jobs (ours: 500,000 stored; Aztec: ``mem``).

Usage: python bench/broker_bench.py [--quick] [--jobs 20000] [--agents 1,10,100,1000] [--runs 3]
       [--no-aztec] [--no-extras] [--stored 500000] [--profile DIR]  (py-spy record the broker)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.node_broker import broker_env, free_port, journal_path, proof_dir, ready
from proving.broker.client import BrokerClient
from proving.broker.state import JobRecord, JobState
from proving.broker.store import SqliteJobStore, record_row
from proving.types import JobFilter, ProvingJob, ProvingRequestType, make_job_id

TARGET_RATIO = {1: 20, 10: 15, 100: 4, 1000: 4}
PRODUCERS = 100
REPO = Path(__file__).resolve().parent.parent
PROOF_DIR = "/var/lib/aztec/proofs"  # the broker accepts file:// URIs only inside its proof store
TYPES = list(ProvingRequestType)
AGENT_PROCS = [1]  # --agent-procs


@dataclass
class Run:
    e2e: float
    enqueue: float
    p50: float
    p99: float
    rss_mb: float
    cpu_ms_per_job: float
    completed: int
    capped: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def job_id(i: int, salt: str = "") -> tuple[ProvingRequestType, str]:
    t = TYPES[i % len(TYPES)]
    return t, make_job_id(t, f"{salt}job-{i}".encode())


def uri(key: str) -> str:
    # ~90 characters, like a content-addressed proof store URI
    return f"file://{PROOF_DIR}/{key[-64:]}"[:90]


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_mb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


# ---------------------------------------------------------------------------- our broker


async def start_broker(data: Path, profile: Path | None = None) -> tuple[trio.Process, str, float]:
    """Spawn the real broker (the one entry point: ``python -m node --prover-broker``) over DATA_DIRECTORY
    `data`; returns (process, url, seconds from spawn to ready: HTTP listening, journal restored)."""
    global PROOF_DIR
    PROOF_DIR = str(proof_dir(data))  # file:// URIs are accepted only inside DATA_DIRECTORY/proofs
    port = free_port()
    cmd = [sys.executable, "-m", "node", "--prover-broker"]
    if profile is not None:
        spy = shutil.which("py-spy") or "/tmp/pyspy/py_spy-0.4.3.data/scripts/py-spy"
        cmd = [spy, "record", "--gil", "-r", "250", "-f", "raw", "-o", str(profile), "--", *cmd]
    t0 = time.perf_counter()
    proc = await trio.lowlevel.open_process(cmd, cwd=str(REPO), env=broker_env(data, port, sync="full"),
                                            stdout=subprocess.DEVNULL)
    while not await ready(port):
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        await trio.sleep(0.005)
    return proc, f"http://127.0.0.1:{port}", time.perf_counter() - t0


def broker_pid(proc: trio.Process, profiled: bool) -> int:
    if not profiled:
        return proc.pid
    for _ in range(200):  # py-spy starts the broker as its child
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            kids = f.read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.01)
    return proc.pid


async def ours_w(jobs: int, agents: int, profile: Path | None = None) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, _ = await start_broker(Path(tmp), profile)
        pid = broker_pid(proc, profile is not None)
        try:
            work = [job_id(i) for i in range(jobs)]
            counter = itertools.count()
            # one producer client shared by 100 concurrent callers (as the orchestrator, and as
            # Aztec's harness: its client coalesces concurrent calls into JSON-RPC batches, so does ours)
            producer = BrokerClient(url)
            producers = [producer] * PRODUCERS
            cpu0 = proc_cpu_s(pid)
            t0 = time.perf_counter()

            async def produce(client: BrokerClient) -> None:
                while (i := next(counter)) < jobs:
                    t, jid = work[i]
                    st = await client.enqueue_proving_job(ProvingJob(jid, t, 1, uri(jid)))
                    assert st.status == "in-queue", st

            async with trio.open_nursery() as n:
                for c in producers:
                    n.start_soon(produce, c)
            t_enq = time.perf_counter() - t0
            await producer.aclose()

            latencies: list[float] = []
            done = 0
            workers = await spawn_agents(url, agents, AGENT_PROCS[0]) if AGENT_PROCS[0] > 1 else []
            t1 = time.perf_counter()
            if not workers:
                done = await run_agents(url, agents, 0, latencies)
            else:
                done = await agents_go(workers, latencies)
            t_agents = time.perf_counter() - t1
            cpu = proc_cpu_s(pid) - cpu0
            return Run(
                e2e=done / (t_enq + t_agents),
                enqueue=jobs / t_enq,
                p50=pct(latencies, 0.5) * 1000,
                p99=pct(latencies, 0.99) * 1000,
                rss_mb=proc_status_mb(pid, "VmHWM"),
                cpu_ms_per_job=cpu * 1000 / max(done, 1),
                completed=done,
            )
        finally:
            if profile is not None:
                os.kill(pid, 2)  # SIGINT the broker so py-spy writes its profile
                with trio.move_on_after(20):
                    await proc.wait()
            proc.kill()
            await proc.wait()


async def run_agents(url: str, agents: int, first: int, latencies: list[float]) -> int:
    """`agents` agents, each with its own connection: take a job, report success at once (the
    report returns the next job). Returns the jobs completed."""
    done = 0
    clients = [BrokerClient(url) for _ in range(agents)]
    flt = JobFilter()

    async def agent(client: BrokerClient, idx: int) -> None:
        nonlocal done
        s = time.perf_counter()
        job = await client.get_proving_job(flt, agent_id=f"a{idx}")
        latencies.append(time.perf_counter() - s)
        while job is not None:
            s = time.perf_counter()
            res = await client.report_proving_job_success(
                job.id, uri("r" + job.id), agent_id=f"a{idx}", next_filter=flt
            )
            latencies.append(time.perf_counter() - s)
            done += 1
            job = res.next_job

    async with trio.open_nursery() as n:
        for idx, c in enumerate(clients):
            n.start_soon(agent, c, first + idx)
    for c in clients:
        await c.aclose()
    return done


async def spawn_agents(url: str, agents: int, procs: int) -> list[subprocess.Popen[str]]:
    """The agents split over `procs` processes (as separate agent processes would be), so the
    Python client side is not one process's single core. Each imports, then waits for "go"."""
    procs = max(1, min(procs, agents))
    shares = [agents // procs + (1 if i < agents % procs else 0) for i in range(procs)]
    workers = []
    first = 0
    for share in shares:
        workers.append(subprocess.Popen(  # noqa: ASYNC220 - spawned before the timed phase
            [sys.executable, __file__, "agent-worker", url, str(share), str(first), PROOF_DIR],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(REPO)))
        first += share
    for w in workers:
        assert w.stdout is not None
        await trio.to_thread.run_sync(w.stdout.readline)
    return workers


async def agents_go(workers: list[subprocess.Popen[str]], latencies: list[float]) -> int:
    for w in workers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    done = 0
    for w in workers:
        assert w.stdout is not None
        out = json.loads(await trio.to_thread.run_sync(w.stdout.readline))
        done += int(out["done"])
        latencies.extend(out["lat"])
        await trio.to_thread.run_sync(w.wait)
    return done


def agent_worker(url: str, agents: int, first: int) -> None:
    async def amain() -> None:
        print("ready", flush=True)
        await trio.to_thread.run_sync(sys.stdin.readline)
        lat: list[float] = []
        done = await run_agents(url, agents, first, lat)
        print(json.dumps({"done": done, "lat": lat}), flush=True)

    trio.run(amain)


async def ours_dispatch(samples: int = 300, idle_agents: int = 10) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, _ = await start_broker(Path(tmp))
        try:
            sent: dict[str, float] = {}
            lat: list[float] = []
            producer = BrokerClient(url)
            got = trio.Semaphore(0)

            async def agent(idx: int) -> None:
                client = BrokerClient(url)
                while True:
                    job = await client.get_proving_job(JobFilter(), agent_id=f"d{idx}", max_wait=20)
                    if job is not None:
                        lat.append(time.perf_counter() - sent[job.id])
                        got.release()

            async with trio.open_nursery() as n:
                for i in range(idle_agents):
                    n.start_soon(agent, i)
                await trio.sleep(0.5)  # every agent is now long-polling
                for i in range(samples):
                    t = ProvingRequestType.TUBE_PROOF
                    jid = make_job_id(t, f"dispatch-{i}".encode())
                    sent[jid] = time.perf_counter()
                    await producer.enqueue_proving_job(ProvingJob(jid, t, 1, uri(jid)))
                    await got.acquire()
                    await trio.sleep(0.002)
                n.cancel_scope.cancel()
            return pct(lat, 0.5) * 1000, pct(lat, 0.99) * 1000
        finally:
            proc.kill()
            await proc.wait()


def populate(db: Path, queued: int, settled: int) -> None:
    """Write a journal as the broker would: `settled` fulfilled jobs over past epochs, then `queued`
    unsettled jobs of the newest epoch (content-addressed ids, ~90-char URIs)."""
    store = SqliteJobStore(db, sync="off")
    batch: list[tuple[object, ...]] = []
    total = settled + queued
    per_epoch = 20_000
    for i in range(total):
        t, jid = job_id(i, "stored-")
        done = i < settled
        rec = JobRecord(id=jid, type=t, epoch=1 + i // per_epoch, inputs_uri=uri(jid), priority=0,
                        deadline=None, seq=i, state=JobState.FULFILLED if done else JobState.QUEUED,
                        result=uri("r" + jid) if done else None)
        batch.append(record_row(rec))
        if len(batch) >= 50_000:
            store.commit(batch, ())  # type: ignore[arg-type]
            batch = []
    if batch:
        store.commit(batch, ())  # type: ignore[arg-type]
    store.close()


async def ours_memory_restart(queued: int, stored: int) -> dict[str, float]:
    """RSS per queued job and restart (spawn -> listening) of the real broker process."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty"
        proc, _, out["start_empty_s"] = await start_broker(empty)
        await trio.sleep(0.3)
        rss0 = proc_status_mb(proc.pid, "VmRSS")
        proc.kill()
        await proc.wait()
        mem = Path(tmp) / "mem"
        populate(journal_path(mem), queued, 0)
        proc, url, _ = await start_broker(mem)
        await trio.sleep(0.3)
        rss1 = proc_status_mb(proc.pid, "VmRSS")
        probe = BrokerClient(url)
        st = await probe.statistics()
        await probe.aclose()
        proc.kill()
        await proc.wait()
        out["queued"] = float(sum(st["machine"]["queued"].values()))
        out["rss_idle_mb"], out["rss_queued_mb"] = rss0, rss1
        out["bytes_per_job"] = (rss1 - rss0) * 2**20 / queued
        big = Path(tmp) / "big"
        unsettled = min(20_000, stored)
        populate(journal_path(big), unsettled, stored - unsettled)
        times = []
        for _ in range(3):
            proc, url, dt = await start_broker(big)
            times.append(dt)
            probe = BrokerClient(url)
            _t, old = job_id(5, "stored-")  # a settled job from the oldest epoch is still answered
            st_old = await probe.get_proving_job_status(old)
            st = await probe.statistics()
            await probe.aclose()
            out["restart_rss_mb"] = proc_status_mb(proc.pid, "VmRSS")
            proc.kill()
            await proc.wait()
        out["restart_s_min"], out["restart_s_max"] = min(times), max(times)
        out["restart_s_med"] = statistics.median(times)
        out["restart_queued"] = float(sum(st["machine"]["queued"].values()))
        out["old_status_ok"] = float(st_old.status == "fulfilled")
    return out


# ---------------------------------------------------------------------------- Aztec's broker


def aztec_dir() -> Path:
    out = subprocess.run([str(REPO / "scripts" / "setup_anchor_broker.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()
    return Path(out[-1])


def aztec_cmd(adir: Path, *args: str, timeout: float = 900) -> dict[str, object]:
    env = {**os.environ, "LOG_LEVEL": "warn"}
    env.pop("BENCH_PORT", None)
    res = subprocess.run([str(adir / "node-glibc"), str(adir / "bench.mjs"), *args], cwd=str(adir), env=env,
                         stdout=subprocess.PIPE, text=True, timeout=timeout, check=True)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    assert isinstance(out, dict)
    return out


def aztec_w(adir: Path, jobs: int, agents: int, max_drain_s: float) -> Run:
    r = aztec_cmd(adir, "run", "--mode", "http", "--store", "lmdb", "--k", str(agents), "--n", str(jobs),
                  "--agent-clients", "per-agent", "--max-drain-s", str(max_drain_s))
    completed = int(r["completed"])  # type: ignore[call-overload]
    enq_s, drain_rate = float(r["enqueueS"]), float(r["drainPerS"])  # type: ignore[arg-type]
    capped = bool(r["capped"])
    e2e = jobs / (enq_s + jobs / drain_rate) if capped else float(r["e2ePerS"])  # type: ignore[arg-type]
    return Run(
        e2e=e2e,
        enqueue=float(r["enqueuePerS"]),  # type: ignore[arg-type]
        p50=float(r["agentCallP50ms"]),  # type: ignore[arg-type]
        p99=float(r["agentCallP99ms"]),  # type: ignore[arg-type]
        rss_mb=float(r["serverPeakRssMB"]),  # type: ignore[arg-type]
        # a capped run enqueued all N but completed fewer: its CPU per job is not comparable
        cpu_ms_per_job=float("nan") if capped else float(r["serverCpuS"]) * 1000 / max(completed, 1),  # type: ignore[arg-type]
        completed=completed,
        capped=capped,
    )


# ---------------------------------------------------------------------------- report


def mmm(values: Sequence[float], digits: int = 0) -> str:
    values = [v for v in values if v == v]  # NaN: not measured
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:,.{digits}f}"
    return f"{min(values):,.{digits}f} / {statistics.median(values):,.{digits}f} / {max(values):,.{digits}f}"


def table(k: int, jobs: int, ours: list[Run], az: list[Run]) -> str:
    rows = [
        ("end-to-end jobs/s", "e2e", 0, True),
        ("enqueue jobs/s", "enqueue", 0, True),
        ("agent call p50 ms", "p50", 2, False),
        ("agent call p99 ms", "p99", 2, False),
        ("broker peak RSS MB", "rss_mb", 0, False),
        ("broker CPU ms/job", "cpu_ms_per_job", 3, False),
    ]
    capped = " (Aztec drain capped, e2e extrapolated)" if any(r.capped for r in az) else ""
    out = [f"\nK = {k}: {jobs:,} jobs, {len(ours)} A/B pairs; min / median / max{capped}",
           "| metric | ours (sync=full) | Aztec 4.1.2 (LMDB) | ours / Aztec |", "|---|---|---|---|"]
    for name, attr, d, higher in rows:
        a = [float(getattr(r, attr)) for r in ours]
        b = [float(getattr(r, attr)) for r in az]
        ratios = [x / y if higher else y / x for x, y in zip(a, b, strict=False) if x and y and x == x and y == y]
        rtxt = mmm(ratios, 1) + ("x" if higher else "x less") if ratios else "-"
        out.append(f"| {name} | {mmm(a, d)} | {mmm(b, d)} | {rtxt} |")
    e2e_ratios = [x.e2e / y.e2e for x, y in zip(ours, az, strict=False)]
    if e2e_ratios:
        med = statistics.median(e2e_ratios)
        verdict = "met" if med >= TARGET_RATIO.get(k, 0) else "NOT met"
        out.append(f"target >= {TARGET_RATIO.get(k, 0)}x end-to-end: median {med:.1f}x, {verdict}")
    cpu = statistics.median([r.cpu_ms_per_job for r in ours])
    out.append(f"target broker CPU <= 0.25 ms/job: median {cpu:.3f} ms, {'met' if cpu <= 0.25 else 'NOT met'}")
    return "\n".join(out)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="2,000 jobs, 1 run, 50,000 stored (development)")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--agents", default="1,10,100,1000")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--stored", type=int, default=None)
    ap.add_argument("--aztec-max-drain-s", type=float, default=20.0)
    ap.add_argument("--no-aztec", action="store_true")
    ap.add_argument("--no-extras", action="store_true")
    ap.add_argument("--profile", type=Path, default=None, help="py-spy the broker into DIR/K.txt")
    ap.add_argument("--agent-procs", type=int, default=1,
                    help="processes the K agents are spread over (1: in the bench process, beside the producer,"
                         " as Aztec's harness runs its K agents and producer in one process)")
    args = ap.parse_args()
    AGENT_PROCS[0] = args.agent_procs
    jobs = args.jobs or (2_000 if args.quick else 20_000)
    runs = args.runs or (1 if args.quick else 3)
    stored = args.stored or (50_000 if args.quick else 500_000)
    ks = [int(k) for k in args.agents.split(",")]
    adir = None if args.no_aztec else aztec_dir()
    print(f"Workload W: {jobs:,} jobs, {PRODUCERS} producers, sha256 ids, HTTP JSON-RPC, one connection per agent;"
          f" {os.cpu_count()} CPUs; interleaved ours/Aztec x {runs}")
    sys.stdout.flush()
    for k in ks:
        ours: list[Run] = []
        az: list[Run] = []
        for r in range(runs):
            prof = None if args.profile is None else args.profile / f"K{k}-{r}.txt"
            ours.append(await ours_w(jobs, k, prof))
            if adir is not None:
                az.append(aztec_w(adir, jobs, k, args.aztec_max_drain_s))
        print(table(k, jobs, ours, az))
        sys.stdout.flush()
    if args.no_extras:
        return
    p50, p99 = await ours_dispatch()
    line = (f"\ndispatch to an idle agent (10 long-polling; enqueue sent -> agent holds job):"
            f" ours p50 {p50:.2f} / p99 {p99:.2f} ms")
    if adir is not None:
        d = aztec_cmd(adir, "dispatch", "--store", "lmdb", "--k", "10", "--n", "100")
        line += f"; Aztec p50 {float(d['p50']):.0f} / p99 {float(d['p99']):.0f} ms (1 s polling)"  # type: ignore[arg-type]
    print(line + f" (target p99 <= 5 ms: {'met' if p99 <= 5 else 'NOT met'})")
    sys.stdout.flush()
    queued = 20_000 if args.quick else 100_000
    m = await ours_memory_restart(queued, stored)
    print(f"memory (real process, {queued:,} queued, RSS minus an empty broker's): ours {m['bytes_per_job']:.0f} B/job,"
          f" RSS {m['rss_queued_mb']:.0f} MB (targets <= 1024 B, <= 150 MB)")
    print(f"restart (spawn -> listening, {stored:,} stored: {m['restart_queued']:,.0f} unsettled + settled history):"
          f" ours {m['restart_s_min']:.2f} / {m['restart_s_med']:.2f} / {m['restart_s_max']:.2f} s, RSS after"
          f" {m['restart_rss_mb']:.0f} MB, oldest settled job still answered: {bool(m['old_status_ok'])}"
          f" (target <= 2 s: {'met' if m['restart_s_max'] <= 2 else 'NOT met'})")
    sys.stdout.flush()
    if adir is not None:
        n = 20_000 if args.quick else 100_000
        a = aztec_cmd(adir, "mem", "--n", str(n), timeout=1800)
        per_job, restart = float(a["per_job_b"]), float(a["restart_s"])  # type: ignore[arg-type]
        print(f"Aztec mem ({n:,} queued, LMDB): {per_job:.0f} B/job, restart {restart:.2f} s over {n:,} stored")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "agent-worker":
        PROOF_DIR = sys.argv[5]  # the broker's proof store: result URIs must lie inside it
        agent_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        trio.run(main)
