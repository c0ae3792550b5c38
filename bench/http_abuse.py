"""HTTP abuse against real processes: a node (`python -m node --p2p-bootstrap`, which serves
AZTEC_PORT) and a broker node (`python -m node --prover-broker`, started by bench/node_broker.py),
both on 127.0.0.1.

Attacks, one after the other, against each process: deep JSON nesting, huge bodies (announced
and streamed), conflicting framing (double Content-Length, chunked garbage, obs-fold, TLS bytes),
3,000 connections held open, slow headers (1,000 sockets dribbling a byte a second). A prober
opens a fresh connection every 0.2 s and times `GET /health` during each attack and once after.
Prints: process alive, /health latency during (median / worst), /health latency after, answers seen.

Usage: python bench/http_abuse.py [--conns 3000] [--slow 1000] [--slow-seconds 15]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.node_broker import start_node_broker_sync  # noqa: E402
from core.procs import stop_process  # noqa: E402

HOST = "127.0.0.1"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_node(tmp: Path) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "AZTEC_HOST": HOST, "AZTEC_PORT": "0", "LOG_LEVEL": "info",
           "P2P_UDP_LISTEN_ADDR": f"{HOST}:{_free_port()}", "DATA_DIRECTORY": str(tmp / "node")}
    env.pop("PROVER_BROKER_AUTH_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "node", "--p2p-bootstrap"], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        m = re.search(r"http server listening addr=[\d.]+:(\d+)", line)
        if m:
            _drain(proc)
            return proc, int(m.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("node did not start")


def start_broker(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The broker node as an operator starts it; PROVER_BROKER_AUTH_TOKEN is passed on if set (the
    broker is on loopback, so it starts without one)."""
    proc, url = start_node_broker_sync(tmp / "broker", 0, token=os.environ.get("PROVER_BROKER_AUTH_TOKEN"))
    return proc, int(url.rsplit(":", 1)[1])


def _drain(proc: subprocess.Popen[str]) -> None:
    import threading

    def run() -> None:
        assert proc.stderr is not None
        for _ in proc.stderr:
            pass

    threading.Thread(target=run, daemon=True).start()


async def health(port: int, limit: float = 5.0) -> float:
    """Seconds for GET /health on a fresh connection (inf if no 200 within `limit`)."""
    t0 = time.perf_counter()
    with trio.move_on_after(limit):
        try:
            s = await trio.open_tcp_stream(HOST, port)
            async with s:
                await s.send_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := await s.receive_some(65536):
                    data += chunk
            if data.startswith(b"HTTP/1.1 200"):
                return time.perf_counter() - t0
        except OSError:
            pass
    return float("inf")


async def exchange(port: int, data: bytes, limit: float = 15.0) -> bytes:
    with trio.move_on_after(limit):
        try:
            s = await trio.open_tcp_stream(HOST, port)
            async with s:
                with contextlib.suppress(trio.BrokenResourceError):
                    await s.send_all(data)
                out = b""
                while chunk := await s.receive_some(65536):
                    out += chunk
                return out
        except OSError:
            return b"(reset)"
    return b"(no answer)"


def _post(body: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def _answer(raw: bytes) -> str:
    if raw.startswith(b"HTTP/1.1 "):
        code = raw[9:12].decode()
        m = re.search(rb'"code":\s*(-?\d+)', raw)
        return f"{code}/{m.group(1).decode()}" if m and code == "200" else code
    return raw.decode(errors="replace")[:12] or "closed"


# nesting hidden from a byte scan: UTF-16 characters holding a backslash (U+5C00) or quote (U+0122)
# byte; a run of escaped quotes after an unpaired quote (quadratic for a string regex: 2 MiB)
_UTF16_DEEP = [('{"jsonrpc":"2.0","id":1,"method":"node_getNodeInfo","params":["' + ch + '",' + "[" * 5000
                + "]" * 5000 + "]}").encode("utf-16-le") for ch in ("\u5c00", "\u0122")]
_ESCAPED_QUOTES = b"[" * 65 + b'"' + b'\\"' * (1 << 20)


async def deep_nesting(port: int, answers: set[str]) -> None:
    for body in (b"[" * 1000, b"[" * 200_000, b'{"a":' * 50_000, b"[" * 5000 + b"]" * 5000, *_UTF16_DEEP,
                 _ESCAPED_QUOTES):
        for _ in range(10):
            answers.add(_answer(await exchange(port, _post(body))))


async def huge_bodies(port: int, answers: set[str]) -> None:
    answers.add(_answer(await exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n")))
    answers.add(_answer(await exchange(port, _post(b"[" + b"1," * (8 << 20) + b"1]"))))
    chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
    answers.add(_answer(await exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       + chunk * 40 + b"0\r\n\r\n")))


FRAMING = [
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 50\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    b"POST / HTTP/1.1\r\n Host: x\r\nContent-Length: 0\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),
]


async def bad_framing(port: int, answers: set[str]) -> None:
    for _ in range(25):
        for req in FRAMING:
            answers.add(_answer(await exchange(port, req)))


async def many_connections(port: int, answers: set[str], n: int) -> None:
    held: list[trio.SocketStream] = []
    try:
        for _ in range(n):
            try:
                held.append(await trio.open_tcp_stream(HOST, port))
            except OSError:
                answers.add("connect-failed")
        await trio.sleep(3)
        alive = 0
        for s in held:  # how many the server kept (the rest were evicted to make room)
            with trio.move_on_after(0.001) as cs:
                try:
                    if await s.receive_some(1) == b"":
                        continue
                except (trio.BrokenResourceError, OSError):
                    continue
            alive += cs.cancelled_caught
        answers.add(f"{alive}/{n} kept")
    finally:
        for s in held:
            await trio.aclose_forcefully(s)


async def slow_headers(port: int, answers: set[str], n: int, seconds: float) -> None:
    closed = 0

    async def one(nursery: trio.Nursery) -> None:
        nonlocal closed
        try:
            s = await trio.open_tcp_stream(HOST, port)
        except OSError:
            return
        async with s:
            try:
                await s.send_all(b"POST / HTTP/1.1\r\n")
                end = trio.current_time() + seconds
                while trio.current_time() < end:
                    await trio.sleep(1)
                    await s.send_all(b"X")
            except (trio.BrokenResourceError, OSError):
                closed += 1

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(one, nursery)
    answers.add(f"{closed}/{n} cut")


def probe_main(port: int) -> None:
    """The /health prober, in its own process so the attack's own load does not time it: one line
    per probe (milliseconds, or "inf") until stdin closes."""

    async def run() -> None:
        while True:
            print(f"{await health(port) * 1000:.1f}", flush=True)
            await trio.sleep(0.2)

    import threading

    def watch_stdin() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    trio.run(run)


async def attack(port: int, run: Callable[[], Awaitable[None]]) -> tuple[float, float, float]:
    prober = await trio.lowlevel.open_process(
        [sys.executable, __file__, "--probe", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert prober.stdout is not None and prober.stdin is not None
    samples: list[float] = []
    first = trio.Event()

    async def read() -> None:
        assert prober.stdout is not None
        buf = b""
        async for chunk in prober.stdout:
            buf += chunk
            *lines, buf = buf.split(b"\n")
            samples.extend(float(x) for x in lines if x)
            if samples:
                first.set()

    async with trio.open_nursery() as n:
        n.start_soon(read)
        await first.wait()  # the prober is up
        await run()
        await prober.stdin.aclose()
        await prober.wait()
    during = sorted(samples[1:] or samples)
    return during[len(during) // 2] / 1000, during[-1] / 1000, await health(port)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=3000)
    ap.add_argument("--slow", type=int, default=1000)
    ap.add_argument("--slow-seconds", type=float, default=15.0)
    ap.add_argument("--probe", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe is not None:
        probe_main(args.probe)
        return
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        procs: dict[str, tuple[subprocess.Popen[Any], int]] = {"node": start_node(Path(tmp)),
                                                               "broker": start_broker(Path(tmp))}
        try:
            for name, (proc, port) in procs.items():
                attacks: list[tuple[str, Callable[[set[str]], Awaitable[None]]]] = [
                    ("deep nesting (1k-200k levels, UTF-16, escaped quotes)", lambda a, p=port: deep_nesting(p, a)),
                    ("huge bodies (1 TB announced, 16 MB, 40 MiB chunked)", lambda a, p=port: huge_bodies(p, a)),
                    ("conflicting framing x200", lambda a, p=port: bad_framing(p, a)),
                    (f"{args.conns} connections held", lambda a, p=port: many_connections(p, a, args.conns)),
                    (f"{args.slow} slow-header sockets, {args.slow_seconds:g} s",
                     lambda a, p=port: slow_headers(p, a, args.slow, args.slow_seconds)),
                ]
                for label, fn in attacks:
                    answers: set[str] = set()

                    async def run(fn: Callable[[set[str]], Awaitable[None]] = fn, answers: set[str] = answers) -> None:
                        await fn(answers)

                    median, worst, after = trio.run(attack, port, run)
                    alive = proc.poll() is None
                    rows.append(f"| {name} | {label} | {'yes' if alive else 'NO'} | {median * 1000:,.0f} / "
                                f"{worst * 1000:,.0f} | {after * 1000:,.0f} | {', '.join(sorted(answers))[:70]} |")
                    print(rows[-1], flush=True)
        finally:
            for proc, _ in procs.values():
                stop_process(proc, 10)
    print()
    print("| process | attack | alive | /health during, median / worst (ms) | /health after (ms) | answers |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
