"""What persisting the tx pool costs (DATA_DIRECTORY/tx_pool.sqlite, node/tx_store.py).

For N txs (the tx bot's shape): time to add them to an in-memory TxPool, and to a TxPool with the
sqlite store (adds only queue in memory), then the group commit (`flush`, one fsync'd transaction),
the restore of a fresh pool from disk, and the event-loop time a flush would take if it ran inline.

Usage: python bench/tx_pool_store_bench.py [--txs 1000,10000] [--flush-every 0,100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.tx_store import SqliteTxStore
from node.txbot import make_tx
from p2p.pools.tx_pool import TxPool


def run(n: int, flush_every: int) -> dict[str, float]:
    txs = [make_tx(i + 1, chain_id=31337, note_hashes=(i * 7 + 1,)) for i in range(n)]
    raws = [t.to_bytes() for t in txs]
    t0 = time.perf_counter()
    mem = TxPool(max_txs=n + 1)
    for t, r in zip(txs, raws, strict=True):
        mem.add_tx(t, r)
    t_mem = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "tx_pool.sqlite"
        store = SqliteTxStore(path)
        pool = TxPool(max_txs=n + 1, store=store)
        flushes = 0
        worst_flush = 0.0
        t0 = time.perf_counter()
        for i, (t, r) in enumerate(zip(txs, raws, strict=True), 1):
            pool.add_tx(t, r)
            if flush_every and i % flush_every == 0:
                f0 = time.perf_counter()
                store.flush()
                worst_flush = max(worst_flush, time.perf_counter() - f0)
                flushes += 1
        t_add = time.perf_counter() - t0
        f0 = time.perf_counter()
        store.flush()
        t_flush = time.perf_counter() - f0
        worst_flush = max(worst_flush, t_flush)
        store.close()
        size = path.stat().st_size + sum(p.stat().st_size for p in path.parent.glob("*-wal"))
        r0 = time.perf_counter()
        again = TxPool(max_txs=n + 1, store=SqliteTxStore(path))
        restored = again.restore()
        t_restore = time.perf_counter() - r0
        assert restored == n
    return {"n": n, "flush_every": flush_every, "mem_us": t_mem / n * 1e6, "store_us": (t_add + t_flush) / n * 1e6,
            "worst_flush_ms": worst_flush * 1e3, "restore_ms": t_restore * 1e3, "mib": size / 2**20,
            "flushes": flushes + 1}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--txs", default="1000,10000")
    ap.add_argument("--flush-every", default="0,100")
    a = ap.parse_args()
    print("| txs | flush every | add, memory (µs/tx) | add+flush, sqlite (µs/tx) | flushes | slowest flush (ms) "
          "| restore (ms) | on disk (MiB) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in (int(x) for x in a.txs.split(",")):
        for fe in (int(x) for x in a.flush_every.split(",")):
            r = run(n, fe)
            print(f"| {n} | {fe or 'end'} | {r['mem_us']:.1f} | {r['store_us']:.1f} | {r['flushes']:.0f} "
                  f"| {r['worst_flush_ms']:.1f} | {r['restore_ms']:.0f} | {r['mib']:.1f} |")


if __name__ == "__main__":
    main()
