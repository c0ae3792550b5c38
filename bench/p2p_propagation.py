"""Gossip propagation across real node processes: N x `python -m node --p2p` plus one js-libp2p peer.

    python bench/p2p_propagation.py [--nodes 20] [--seconds 60] [--tx-rate 1] [--quote-rate 0.5]
                                    [--sweep 1,2,3,4,5,6,8,10,20,40] [--sweep-seconds 20] [--profile out.svg]

Set-up, as in production: a discv5 boot node (`python -m node --p2p-bootstrap`), N node processes
(`python -m node --p2p`, each its own DATA_DIRECTORY under a temp dir, 127.0.0.1, free ports) that find
each other through it (BOOT_NODE_URL), and one js-libp2p 1.5.0 + gossipsub 13.0.0 peer configured like
an Aztec v0.63.1 node (interop/js/gossip_peer.mjs -> aztec_libp2p.mjs) dialling 3 of them (it has no
discv5 of its own). No L1: the nodes validate quotes for signature, shape, fee, minimum bond and epoch
window (bond in escrow unchecked, as every node without ROLLUP_CONTRACT_ADDRESS) and txs as v0.63.1 does
without a world state (chain id, shape, enqueued calls, size).

Traffic: valid txs (node/txbot.py's make_tx, 16 KB each) and valid quotes (a fresh prover key each,
falling fees so every quote is admitted), published at a steady rate from varying origins: each py
node (JSON-RPC node_sendTx / node_addEpochProofQuote) and the js peer (gossipsub publish) once per
round, in a random order.
Seed traffic = 1 TPS of txs (the seed's target) plus quotes at --quote-rate (the seed's provers send
one quote per epoch each: far below 0.5/s). Arrival: each node logs `gossip arrival` (P2P_GOSSIP_TRACE:
sha256 prefix + time.time() when its gossip validator accepts the message), the js peer prints one
event per message (MESSAGE_EVENTS=brief); all on one machine, so wall clocks are comparable.
Propagation = arrival - the moment the bench handed the message to its origin (RPC or stdin write).

Prints the seed-traffic table (p50/p99/max, missing deliveries, per-node CPU% and RSS, CPU per
message), then the saturation sweep (msgs/s at the same tx:quote mix) with the rate where p99 passes 1 s.
--profile: py-spy records node 0 during the seed phase (flame graph SVG, or `--format raw` text with .txt).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.procs import stop_process  # noqa: E402
from node.txbot import make_tx  # noqa: E402
from p2p.keys import encode_peer_id_private_key, generate_private_key, peer_id_from_private_key  # noqa: E402
from p2p.topics import EPOCH_PROOF_QUOTE, TX  # noqa: E402
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of  # noqa: E402

JS_DIR = REPO / "interop" / "js"
TX_TOPIC = TX.topic
QUOTE_TOPIC = EPOCH_PROOF_QUOTE.topic
CHAIN_ID = 31337
ROLLUP = bytes(20)  # what a node without L1 signs/validates quotes against
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rpc(port: int, method: str, *params: Any, timeout: float = 10.0) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode(),
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = json.loads(r.read())
    if "error" in body:
        raise RuntimeError(f"{method}: {body['error']}")
    return body.get("result")


# ---- arrivals ---------------------------------------------------------------------------------------
class Arrivals:
    """First arrival time per (receiver index, sha), filled by the reader threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first: dict[tuple[int, str], float] = {}
        self.counts: dict[str, int] = {}
        self.changed = threading.Condition(self.lock)

    def add(self, idx: int, sha: str, t: float) -> None:
        with self.lock:
            key = (idx, sha)
            if key not in self.first or t < self.first[key]:
                if key not in self.first:
                    self.counts[sha] = self.counts.get(sha, 0) + 1
                self.first[key] = t
                self.changed.notify_all()

    def count(self, sha: str) -> int:
        with self.lock:
            return self.counts.get(sha, 0)

    def wait_all(self, shas: list[str], want: int, timeout: float) -> bool:
        """Wait (on the condition, not polling) until each sha has `want` receivers."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                if all(self.counts.get(s, 0) >= want for s in shas):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)


# ---- processes --------------------------------------------------------------------------------------
class NodeProc:
    """`python -m node --p2p` (or --p2p-bootstrap) with its own ports and DATA_DIRECTORY."""

    def __init__(self, idx: int, args: list[str], env: dict[str, str], data_dir: Path, arrivals: Arrivals | None,
                 log_path: Path) -> None:
        self.idx = idx
        self.key = generate_private_key()
        self.peer_id = peer_id_from_private_key(self.key)
        self.tcp, self.http, self.udp = free_port(), free_port(), free_port(socket.SOCK_DGRAM)
        data_dir.mkdir(parents=True, exist_ok=True)
        full = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "AZTEC_HOST": "127.0.0.1",
            "AZTEC_PORT": str(self.http),
            "P2P_TCP_LISTEN_ADDR": f"127.0.0.1:{self.tcp}",
            "P2P_UDP_LISTEN_ADDR": f"127.0.0.1:{self.udp}",
            "PEER_ID_PRIVATE_KEY": encode_peer_id_private_key(self.key),
            "DATA_DIRECTORY": str(data_dir),
            "LOG_JSON": "true",
            "LOG_LEVEL": "info",
            **env,
        }
        self.running = threading.Event()
        self.arrivals = arrivals
        self.traced = 0
        # stderr goes to a file, read by Network's poller: a node never blocks on a pipe the bench
        # has not drained yet (arrival times are in the lines, so reading late changes nothing)
        self.log_path = log_path
        with log_path.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "node", *args], env=full, cwd=REPO,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        self._log = log_path.open("rb")
        self._partial = b""
        self.addr = f"/ip4/127.0.0.1/tcp/{self.tcp}/p2p/{self.peer_id}"

    def poll(self) -> None:
        """Read the log lines written since the last call."""
        chunk = self._log.read()
        if not chunk:
            return
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            if b'"gossip arrival"' in raw and self.arrivals is not None:
                try:
                    ev = json.loads(raw)
                    self.arrivals.add(self.idx, ev["sha"], float(ev["arrival"]))
                    self.traced += 1
                except (ValueError, KeyError):
                    pass
            elif b"node running" in raw:
                self.running.set()

    def wait_running(self, timeout: float) -> None:
        if not self.running.wait(timeout):
            raise RuntimeError(f"node {self.idx} not running after {timeout:.0f} s (log: {self.log_path})")

    def close(self) -> None:
        stop_process(self.proc, 15)
        self._log.close()


class JsProc:
    """interop/js/gossip_peer.mjs with MESSAGE_EVENTS=brief; arrivals recorded under index `idx`."""

    def __init__(self, idx: int, arrivals: Arrivals) -> None:
        self.idx = idx
        self.arrivals = arrivals
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        node = shutil.which("node") or "node"
        env = {**os.environ, "MESSAGE_EVENTS": "brief"}
        self.proc = subprocess.Popen([node, "gossip_peer.mjs"], cwd=JS_DIR, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1)
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        ready = self.wait_reply("ready", 60)
        self.peer_id: str = ready["peerId"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "message":
                self.arrivals.add(self.idx, ev["sha"], float(ev["arrival"]))
            elif ev.get("event") in ("ready", "fatal") or (ev.get("event") == "reply" and ev.get("cmd") != "publish"):
                self.replies.put(ev)

    def wait_reply(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            ev = self.replies.get(timeout=max(0.01, deadline - time.monotonic()))
            if ev.get("event") == "fatal":
                raise RuntimeError(f"js peer: {ev.get('error')}")
            if ev.get("event") == event:
                return ev

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        with self.lock:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send(cmd="stop")
            self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---- messages ---------------------------------------------------------------------------------------
class Messages:
    """Valid, distinct txs and quotes (see the module doc)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.prefix = self.rng.getrandbits(64) << 128
        self.n_tx = 0
        self.n_quote = 0

    def tx(self) -> bytes:
        self.n_tx += 1
        return make_tx(self.prefix + self.n_tx, chain_id=CHAIN_ID).to_bytes()

    def quote(self) -> EpochProofQuote:
        self.n_quote += 1
        key = self.rng.randbytes(31) + b"\x01"
        fee = max(0, 10_000 - self.n_quote)  # falling: each new quote is the best, never refused
        p = EpochProofQuotePayload(0, 1_000_000, 10_000, address_of(key), fee)
        return EpochProofQuote.new(p, key, CHAIN_ID, ROLLUP)


@dataclass
class Sent:
    sha: str
    topic: str
    origin: int
    t0: float


@dataclass
class PhaseResult:
    name: str
    target_rate: float
    rate: float
    sent: list[Sent]
    lat: list[float]
    missing: int
    cpu: dict[int, float] = field(default_factory=dict)  # node idx -> CPU seconds over the phase
    wall: float = 0.0
    rpc_errors: int = 0

    def pct(self, q: float) -> float:
        if not self.lat:
            return float("nan")
        return self.lat[min(len(self.lat) - 1, int(len(self.lat) * q))]


class Network:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = contextlib.ExitStack()
        self.tmp = Path(self.stack.enter_context(tempfile.TemporaryDirectory(prefix="p2p-prop-")))
        self.arrivals = Arrivals()
        self.nodes: list[NodeProc] = []
        self.js: JsProc | None = None
        self.msgs = Messages(args.seed)
        self.rng = random.Random(args.seed + 1)
        self._polled: list[NodeProc] = []
        self._stop = threading.Event()
        threading.Thread(target=self._poll_logs, daemon=True).start()
        self.stack.callback(self._stop.set)

    def _poll_logs(self) -> None:
        while not self._stop.wait(0.05):
            for n in list(self._polled):
                with contextlib.suppress(OSError, ValueError):
                    n.poll()

    def _node(self, idx: int, args: list[str], env: dict[str, str], name: str) -> NodeProc:
        n = NodeProc(idx, args, env, self.tmp / name, self.arrivals if idx >= 0 else None, self.tmp / f"{name}.log")
        self.stack.callback(n.close)
        self._polled.append(n)
        return n

    # set-up
    def start(self) -> None:
        t0 = time.monotonic()
        a = self.args
        boot = self._node(-1, ["--p2p-bootstrap"], {}, "boot")
        boot.wait_running(60)
        env = {"BOOT_NODE_URL": f"http://127.0.0.1:{boot.http}", "P2P_GOSSIP_TRACE": "true"}
        for i in range(a.nodes):
            self.nodes.append(self._node(i, ["--p2p"], env, f"node{i}"))
        for n in self.nodes:
            n.wait_running(120)
        if a.js:
            self.js = JsProc(a.nodes, self.arrivals)
            self.stack.callback(self.js.close)
            for n in self.rng.sample(self.nodes, min(3, len(self.nodes))):
                self.js.send(cmd="dial", addr=n.addr)
                self.js.wait_reply("reply", 30)
        print(f"setup: boot node + {a.nodes} node processes + {int(a.js)} js peer up in "
              f"{time.monotonic() - t0:.1f} s (logs in {self.tmp})", file=sys.stderr, flush=True)
        self.warm_up()
        print(f"meshes formed after {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)

    @property
    def receivers(self) -> int:
        return len(self.nodes) + (1 if self.js else 0)

    def warm_up(self, timeout: float = 120.0) -> None:
        """Publish txs until one reaches every receiver within 2 s, and a quote does too (meshes formed)."""
        deadline = time.monotonic() + timeout
        ok = 0
        while ok < 3:
            if time.monotonic() > deadline:
                raise RuntimeError(f"meshes not formed in {timeout:.0f} s")
            s = self.publish(self.rng.randrange(self.receivers), ok % 2 == 0)
            if s is not None and self.arrivals.wait_all([s.sha], self.receivers, 2.0):
                ok += 1
            else:
                time.sleep(1.0)
        time.sleep(2.0)

    # traffic
    def publish(self, origin: int, is_tx: bool) -> Sent | None:
        if is_tx:
            data = self.msgs.tx()
            topic = TX_TOPIC
        else:
            q = self.msgs.quote()
            data = q.to_bytes()
            topic = QUOTE_TOPIC
        sha = sha16(data)
        t0 = time.time()
        try:
            if self.js is not None and origin == self.js.idx:
                self.js.send(cmd="publish", topic=topic, hex=data.hex())
            elif is_tx:
                rpc(self.nodes[origin].http, "node_sendTx", "0x" + data.hex())
            else:
                rpc(self.nodes[origin].http, "node_addEpochProofQuote", q.to_json())
        except Exception as e:  # a saturated node may time out: counted, the run goes on
            print(f"publish via {origin} failed: {e}", file=sys.stderr)
            return None
        self.arrivals.add(origin, sha, t0)
        return Sent(sha, topic, origin, t0)

    def phase(self, name: str, rate: float, seconds: float, tx_share: float, settle: float) -> PhaseResult:
        pids = {n.idx: n.proc.pid for n in self.nodes}
        cpu0 = {i: cpu_seconds(p) for i, p in pids.items()}
        w0 = time.monotonic()
        sent: list[Sent] = []
        errors = 0
        n_total = max(1, round(rate * seconds))
        origins: list[int] = []
        start = time.monotonic()
        for k in range(n_total):
            due = start + k / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if not origins:  # every receiver publishes once per round, in a random order
                origins = self.rng.sample(range(self.receivers), self.receivers)
            s = self.publish(origins.pop(), self.rng.random() < tx_share)
            if s is None:
                errors += 1
            else:
                sent.append(s)
        actual = len(sent) / max(1e-9, time.monotonic() - start)
        self.arrivals.wait_all([s.sha for s in sent], self.receivers, settle)
        wall = time.monotonic() - w0
        cpu = {i: cpu_seconds(p) - cpu0[i] for i, p in pids.items()}
        lat: list[float] = []
        missing = 0
        with self.arrivals.lock:
            for s in sent:
                for r in range(self.receivers):
                    if r == s.origin:
                        continue
                    t = self.arrivals.first.get((r, s.sha))
                    if t is None:
                        missing += 1
                    else:
                        lat.append(max(0.0, t - s.t0))
        lat.sort()
        return PhaseResult(name, rate, actual, sent, lat, missing, cpu, wall, errors)

    def idle_cpu(self, seconds: float) -> dict[int, float]:
        """CPU seconds per second of each node with no traffic (heartbeats, discovery, status)."""
        pids = {n.idx: n.proc.pid for n in self.nodes}
        c0 = {i: cpu_seconds(p) for i, p in pids.items()}
        time.sleep(seconds)
        return {i: (cpu_seconds(p) - c0[i]) / seconds for i, p in pids.items()}

    def close(self) -> None:
        self.stack.close()


def ms(x: float) -> str:
    return "-" if x != x else f"{x * 1000:,.0f} ms"


def print_seed_table(net: Network, r: PhaseResult, idle: dict[int, float], tx_rate: float, q_rate: float) -> None:
    cpu_pct = [100 * c / r.wall for c in r.cpu.values()]
    rss = [rss_mib(n.proc.pid) for n in net.nodes]
    busy = sum(r.cpu.values()) - sum(idle.values()) * r.wall
    per_msg = 1000 * busy / max(1, len(r.sent)) / max(1, len(net.nodes))
    js_rss = rss_mib(net.js.proc.pid) if net.js else 0.0
    rows = [
        ("nodes", f"{len(net.nodes)} py processes + {1 if net.js else 0} js-libp2p peer", ""),
        ("rate", f"{tx_rate:g} tx/s + {q_rate:g} quote/s (sent {r.rate:.2f} msg/s)", "seed: 1 TPS + quotes"),
        ("messages", f"{len(r.sent)} ({sum(s.topic == TX_TOPIC for s in r.sent)} tx, "
                     f"{sum(s.topic == QUOTE_TOPIC for s in r.sent)} quotes), {r.rpc_errors} publish errors", ""),
        ("deliveries", f"{len(r.lat)} of {len(r.sent) * (net.receivers - 1)}", ""),
        ("propagation p50", ms(r.pct(0.5)), ""),
        ("propagation p99", ms(r.pct(0.99)), "<= 1000 ms " + ("yes" if r.pct(0.99) <= 1.0 else "NO")),
        ("propagation max", ms(r.lat[-1] if r.lat else float("nan")), ""),
        ("missing deliveries", str(r.missing), "0 " + ("yes" if r.missing == 0 else "NO")),
        ("node CPU % (min/median/max)", f"{min(cpu_pct):.1f} / {statistics.median(cpu_pct):.1f} / {max(cpu_pct):.1f}",
         f"idle {100 * statistics.median(idle.values()):.1f}"),
        ("node RSS MiB (min/median/max)", f"{min(rss):.0f} / {statistics.median(rss):.0f} / {max(rss):.0f}",
         f"js peer {js_rss:.0f}"),
        ("CPU per message per node", f"{per_msg:.2f} ms", "above idle"),
        ("machine load (1 min)", f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", ""),
    ]
    w = max(len(x[0]) for x in rows)
    print(f"\n== seed traffic, {r.wall:.0f} s phase ==")
    for name, val, note in rows:
        print(f"{name:<{w}}  {val:<52} {note}")


def print_sweep(net: Network, results: list[PhaseResult], idle: dict[int, float]) -> None:
    print("\n== saturation sweep (same tx:quote mix) ==")
    print(f"{'target msg/s':>12} {'sent msg/s':>10} {'msgs':>6} {'p50':>9} {'p99':>9} {'max':>9} {'missing':>8} "
          f"{'node CPU% med/max':>18} {'CPU/msg/node':>13}")
    sat = None
    for r in results:
        cpu_pct = [100 * c / r.wall for c in r.cpu.values()]
        busy = sum(r.cpu.values()) - sum(idle.values()) * r.wall
        per_msg = 1000 * busy / max(1, len(r.sent)) / max(1, len(net.nodes))
        print(f"{r.target_rate:>12g} {r.rate:>10.2f} {len(r.sent):>6} {ms(r.pct(0.5)):>9} {ms(r.pct(0.99)):>9} "
              f"{ms(r.lat[-1] if r.lat else float('nan')):>9} {r.missing:>8} "
              f"{statistics.median(cpu_pct):>8.0f} / {max(cpu_pct):>6.0f} {per_msg:>10.2f} ms")
        if sat is None and (r.pct(0.99) > 1.0 or r.missing > 0):
            sat = r.target_rate
    ok = [r.target_rate for r in results if r.pct(0.99) <= 1.0 and r.missing == 0]
    if sat is None:
        print(f"p99 stayed <= 1 s with no missing delivery up to {max(ok):g} msg/s (the highest rate tried)")
    else:
        below = max((x for x in ok if x < sat), default=None)
        print(f"saturation: p99 passes 1 s (or deliveries go missing) at {sat:g} msg/s; "
              f"last rate within target: {below if below is not None else 'none'} msg/s")


def start_profile(net: Network, path: Path) -> subprocess.Popen[bytes]:
    """py-spy on node 0 (raw collapsed stacks for a .txt path, else a flame graph SVG)."""
    fmt = "raw" if path.suffix == ".txt" else "flamegraph"
    return subprocess.Popen(["py-spy", "record", "-p", str(net.nodes[0].proc.pid), "-o", str(path), "-f", fmt,
                             "-r", "100", "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profile(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--no-js", dest="js", action="store_false", help="leave out the js-libp2p peer")
    ap.add_argument("--seconds", type=float, default=60.0, help="seed-traffic phase length")
    ap.add_argument("--messages", type=int, default=0, help="seed phase: this many messages instead of --seconds")
    ap.add_argument("--tx-rate", type=float, default=1.0)
    ap.add_argument("--quote-rate", type=float, default=0.5)
    ap.add_argument("--sweep", default="1,2,3,4,5,6,8,10,20,40",
                    help="msgs/s (stops once p99 passes 2 s); empty: no sweep")
    ap.add_argument("--sweep-seconds", type=float, default=20.0)
    ap.add_argument("--settle", type=float, default=10.0, help="max wait for the last deliveries of a phase")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", type=Path, help="py-spy record node 0 during the seed phase into this file")
    ap.add_argument("--profile-rate", type=float, help="with --profile: record the sweep phase at this rate instead")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--dump", type=Path, help="write every seed-phase message with its per-receiver latencies")
    a = ap.parse_args(argv)
    js_ok = shutil.which("node") is not None and (JS_DIR / "node_modules" / "@chainsafe" / "libp2p-gossipsub").is_dir()
    if a.js and not js_ok:
        print("error: the js peer needs node and interop/js/node_modules (scripts/bootstrap.sh); or --no-js",
              file=sys.stderr)
        return 2
    seed_rate = a.tx_rate + a.quote_rate
    tx_share = a.tx_rate / seed_rate
    net = Network(a)
    out: dict[str, Any] = {}
    try:
        net.start()
        idle = net.idle_cpu(10.0)
        spy = None
        if a.profile is not None and a.profile_rate is None:
            spy = start_profile(net, a.profile)
        seconds = a.messages / seed_rate if a.messages else a.seconds
        seed = net.phase("seed", seed_rate, seconds, tx_share, a.settle)
        stop_profile(spy)
        print_seed_table(net, seed, idle, a.tx_rate, a.quote_rate)
        if a.dump is not None:
            with net.arrivals.lock:
                a.dump.write_text(json.dumps([
                    {"sha": s.sha, "topic": s.topic, "origin": s.origin, "t0": s.t0,
                     "lat": {r: net.arrivals.first[(r, s.sha)] - s.t0 for r in range(net.receivers)
                             if (r, s.sha) in net.arrivals.first}} for s in seed.sent]))
        out["seed"] = {"p50": seed.pct(0.5), "p99": seed.pct(0.99), "max": seed.lat[-1] if seed.lat else None,
                       "missing": seed.missing, "messages": len(seed.sent), "deliveries": len(seed.lat)}
        results: list[PhaseResult] = []
        for rate in [float(x) for x in a.sweep.split(",") if x.strip()]:
            spy = start_profile(net, a.profile) if a.profile is not None and a.profile_rate == rate else None
            r = net.phase(f"sweep {rate:g}", rate, a.sweep_seconds, tx_share, a.settle)
            stop_profile(spy)
            results.append(r)
            print(f"  sweep {rate:g} msg/s: p99 {ms(r.pct(0.99))}, missing {r.missing}", file=sys.stderr, flush=True)
            if r.pct(0.99) > 2.0 or r.missing > len(r.sent):  # well past saturation: stop
                break
        if results:
            print_sweep(net, results, idle)
            out["sweep"] = [{"rate": r.target_rate, "sent_rate": r.rate, "p50": r.pct(0.5), "p99": r.pct(0.99),
                             "missing": r.missing, "messages": len(r.sent)} for r in results]
        dead = [n.idx for n in net.nodes if n.proc.poll() is not None]
        if dead:
            print(f"node processes that exited during the run: {dead}")
        out["dead"] = dead
    finally:
        net.close()
    if a.json is not None:
        a.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
