"""HTTP + JSON-RPC floor of core.http: a no-op JSON-RPC method, h11 path vs fast path.

The server runs in its own process (`--serve`), the load generator here: C keep-alive connections
(core.http.HttpConnection, what BrokerClient uses) each sending `{"method":"noop"}` back to back
for D seconds. Runs alternate h11 / fast / h11 / fast ... (R rounds each) and print requests/s and
the server's CPU time per request (psutil), min / median / max.

Usage: python bench/http_bench.py [--conns 16] [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.http import Dispatcher, HttpConnection, HttpLimits, HttpServer, JsonRpcApp
from core.http.jsonrpc import encode_request


def serve(fast: bool) -> None:
    d = Dispatcher()

    async def noop() -> None:
        return None

    d.register("noop", noop)
    limits = HttpLimits(max_connections=4096, max_per_client=4096, fast_path=fast)
    server = HttpServer(JsonRpcApp(d), "127.0.0.1", 0, limits)

    async def main() -> None:
        async with trio.open_nursery() as n:
            port = await n.start(server.run)
            print(port, flush=True)

    trio.run(main)


async def load(port: int, conns: int, seconds: float) -> int:
    done = 0
    body = encode_request(1, "noop", [])
    end = trio.current_time() + seconds

    async def one() -> None:
        nonlocal done
        c = HttpConnection("127.0.0.1", port)
        try:
            while trio.current_time() < end:
                status, _ = await c.post(body)
                assert status == 200
                done += 1
        finally:
            await c.aclose()

    async with trio.open_nursery() as n:
        for _ in range(conns):
            n.start_soon(one)
    return done


def run_once(fast: bool, conns: int, seconds: float) -> tuple[float, float]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--fast", str(int(fast))], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        ps = psutil.Process(proc.pid)
        trio.run(load, port, conns, 0.5)  # warm-up
        cpu0 = sum(ps.cpu_times()[:2])
        t0 = time.perf_counter()
        n = trio.run(load, port, conns, seconds)
        wall = time.perf_counter() - t0
        cpu = sum(ps.cpu_times()[:2]) - cpu0
        return n / wall, cpu / n * 1e6
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--fast", type=int, default=1)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.serve:
        serve(bool(args.fast))
        return
    res: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(args.rounds):
        for fast in (False, True):
            res[fast].append(run_once(fast, args.conns, args.seconds))
    print(f"no-op JSON-RPC, {args.conns} keep-alive connections, {args.seconds:g} s x {args.rounds} rounds "
          "(interleaved)")
    print("| path | req/s min / median / max | server CPU us/req min / median / max |")
    print("| --- | --- | --- |")
    for fast in (False, True):
        rps = [r for r, _ in res[fast]]
        cpu = [c for _, c in res[fast]]
        print(f"| {'fast path' if fast else 'h11'} | {min(rps):,.0f} / {statistics.median(rps):,.0f} / {max(rps):,.0f} "
              f"| {min(cpu):.0f} / {statistics.median(cpu):.0f} / {max(cpu):.0f} |")
    ratio = statistics.median(r for r, _ in res[True]) / statistics.median(r for r, _ in res[False])
    print(f"fast path / h11 (median req/s): {ratio:.2f}x")


if __name__ == "__main__":
    main()
