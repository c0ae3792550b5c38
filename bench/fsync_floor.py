"""What one durable commit costs the disk's caller on this machine: CPU (user + kernel, of the calling
thread) and wall time per write + sync, for the write a one-agent broker makes per job (one sqlite WAL
frame, 4,120 bytes, overwriting a preallocated file, then fdatasync), beside a sync with nothing to
write and an O_DIRECT | O_DSYNC write. The floor under the broker's CPU per job at K = 1 (issue 15):
each report is one such commit, and a request's reply waits for it.

Usage: python bench/fsync_floor.py [--dir DIR (default: a temporary directory under bench/out)] [--n 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FRAME = 4096 + 24  # a WAL frame: page + frame header
SPAN = 16 << 20


def measure(fd: int, op: Callable[[int], None], n: int) -> tuple[float, float]:
    c0, w0 = time.thread_time(), time.perf_counter()
    for i in range(n):
        op(i)
    return (time.thread_time() - c0) * 1e6 / n, (time.perf_counter() - w0) * 1e6 / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    base = args.dir or Path(__file__).resolve().parent / "out"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        path = os.path.join(tmp, "wal")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.write(fd, b"\0" * SPAN)
        os.fsync(fd)
        frame = b"x" * FRAME
        direct = os.open(path, os.O_RDWR | os.O_DIRECT | os.O_DSYNC)
        page = mmap.mmap(-1, 4096)  # (O_DIRECT wants an aligned buffer)
        page.write(b"y" * 4096)

        def wal_commit(i: int) -> None:
            os.pwrite(fd, frame, (i * FRAME) % (SPAN - FRAME))
            os.fdatasync(fd)

        def empty_sync(i: int) -> None:
            os.fdatasync(fd)

        def direct_dsync(i: int) -> None:
            os.pwritev(direct, [page], (i * 4096) % SPAN)

        cases = [("WAL frame write + fdatasync", wal_commit), ("fdatasync, nothing written", empty_sync),
                 ("4 KiB O_DIRECT + O_DSYNC write", direct_dsync)]
        res: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in cases}
        for _ in range(args.rounds):  # interleaved
            for name, op in cases:
                res[name].append(measure(fd, op, args.n))
        os.close(direct)
        os.close(fd)
    print(f"durable writes on {base} ({args.n} x {args.rounds} rounds, interleaved); min / median / max")
    print("| operation | CPU us per op | wall us per op |")
    print("|---|---|---|")
    for name, xs in res.items():
        cpu = sorted(x[0] for x in xs)
        wall = sorted(x[1] for x in xs)
        print(f"| {name} | {cpu[0]:.0f} / {statistics.median(cpu):.0f} / {cpu[-1]:.0f}"
              f" | {wall[0]:.0f} / {statistics.median(wall):.0f} / {wall[-1]:.0f} |")


if __name__ == "__main__":
    main()
