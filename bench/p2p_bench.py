"""p2p benchmarks: quote intake rate, 20-node propagation latency, idle RSS. Prints a table.

    python bench/p2p_bench.py [--quotes 5000] [--nodes 20] [--messages 40]

Targets (notes/targets.md section 3): >= 2000 validated quotes/s on one core; quote in every pool
of a 20-node loopback network within 1 s p99; idle node <= 150 MB RSS.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from p2p.gossip import EPOCH_PROOF_QUOTE_TOPIC, GossipIntake, IntakeConfig, RateLimit
from p2p.pools.attestation_pool import AttestationPool
from p2p.pools.quote_pool import EpochProofQuotePool
from p2p.pools.tx_pool import TxPool
from p2p.scoring import PeerScoring
from p2p.service import ManualChainState, P2PConfig, P2PService
from p2p.validation import QuoteValidationContext, TxValidationContext
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of

CHAIN, ROLLUP = 31337, bytes.fromhex("44" * 20)


def make_quotes(n: int) -> list[bytes]:
    keys = [bytes([i + 1]) * 32 for i in range(16)]
    out = []
    for i in range(n):
        k = keys[i % len(keys)]
        p = EpochProofQuotePayload(1, 1000, 2000 + i, address_of(k), i % 10_001)
        out.append(EpochProofQuote.new(p, k, CHAIN, ROLLUP).to_bytes())
    return out


def bench_intake(n: int) -> float:
    quotes = make_quotes(n)
    cfg = IntakeConfig(queue_size=n + 1)
    cfg.rate_limits[EPOCH_PROOF_QUOTE_TOPIC] = RateLimit(1e9, 1e9)
    now = time.monotonic
    g = GossipIntake(
        quote_ctx=QuoteValidationContext(CHAIN, ROLLUP, current_slot=lambda: 20),
        tx_ctx=TxValidationContext(CHAIN),
        scoring=PeerScoring(now=now),
        quote_pool=EpochProofQuotePool(max_per_epoch=n + 1, max_total=n + 1),
        tx_pool=TxPool(),
        attestation_pool=AttestationPool(),
        now=now,
        config=cfg,
    )
    t0 = time.perf_counter()
    ok = 0
    for q in quotes:
        if g.validate(EPOCH_PROOF_QUOTE_TOPIC, "peer", "peer", q):
            ok += 1
            g.quote_pool.add_quote(EpochProofQuote.from_bytes(q))  # what the intake consumer does
    dt = time.perf_counter() - t0
    assert ok == n, g.statistics()
    return n / dt


async def bench_propagation(n_nodes: int, n_msgs: int, degree: int = 3) -> tuple[float, float, float, int]:
    state = ManualChainState(slot=20)
    rng = random.Random(7)
    arrivals: dict[tuple[int, bytes], float] = {}
    sent: dict[bytes, float] = {}
    async with trio.open_nursery() as nursery:
        services: list[P2PService] = []
        addrs: list[str] = []
        for i in range(n_nodes):
            static = tuple(rng.sample(addrs, min(degree, len(addrs))))
            svc = P2PService(P2PConfig(chain_id=CHAIN, rollup_address=ROLLUP, static_peers=static), chain_state=state)
            info = await nursery.start(svc.run)
            services.append(svc)
            addrs.append(info.listen_addrs[0])

            def hook(idx: int, pool: EpochProofQuotePool) -> None:
                orig = pool.add_quote

                def add(q: EpochProofQuote, *, current_slot: int | None = None) -> object:
                    arrivals.setdefault((idx, q.to_bytes()), trio.current_time())
                    return orig(q, current_slot=current_slot)

                pool.add_quote = add  # type: ignore[method-assign,assignment]

            hook(i, svc.quote_pool)
        # wait for meshes
        with trio.fail_after(60):
            while not all(len(s.host.mesh_peers(EPOCH_PROOF_QUOTE_TOPIC)) >= 2 for s in services):  # noqa: ASYNC110
                await trio.sleep(0.1)
        await trio.sleep(2)
        quotes = make_quotes(n_msgs)
        for q in quotes:
            src = rng.randrange(n_nodes)
            sent[q] = trio.current_time()
            arrivals[(src, q)] = sent[q]
            await services[src].publish(EPOCH_PROOF_QUOTE_TOPIC, q)
            await trio.sleep(0.1)
        with trio.move_on_after(10):
            while len(arrivals) < n_nodes * n_msgs:  # noqa: ASYNC110
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    lat = sorted(arrivals[(i, q)] - sent[q] for q in quotes for i in range(n_nodes) if (i, q) in arrivals)
    missing = n_nodes * n_msgs - len(lat)
    p50 = lat[len(lat) // 2]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return p50, p99, lat[-1], missing


async def idle_child(seconds: float) -> None:
    async with trio.open_nursery() as nursery:
        a = P2PService(P2PConfig())
        ia = await nursery.start(a.run)
        b = P2PService(P2PConfig(static_peers=(ia.listen_addrs[0],)))
        await nursery.start(b.run)
        await trio.sleep(seconds)
        status = Path("/proc/self/status").read_text()  # noqa: ASYNC240
        rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        print(rss_kb)
        nursery.cancel_scope.cancel()


def bench_idle_rss() -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--idle-child"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return int(out.strip().splitlines()[-1]) / 1024  # MiB, for two connected nodes in one process


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quotes", type=int, default=5000)
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--messages", type=int, default=40)
    ap.add_argument("--idle-child", action="store_true")
    args = ap.parse_args()
    if args.idle_child:
        trio.run(idle_child, 5.0)
        return
    rate = bench_intake(args.quotes)
    p50, p99, worst, missing = trio.run(bench_propagation, args.nodes, args.messages)
    rss = bench_idle_rss()
    rows = [
        ("quote intake (validate+pool), 1 core", f"{rate:,.0f} quotes/s", ">= 2000/s", rate >= 2000),
        (f"{args.nodes}-node propagation p50", f"{p50 * 1000:.0f} ms", "", True),
        (f"{args.nodes}-node propagation p99", f"{p99 * 1000:.0f} ms", "<= 1000 ms", p99 <= 1.0 and missing == 0),
        (
            f"{args.nodes}-node propagation max / missing",
            f"{worst * 1000:.0f} ms / {missing}",
            "0 missing",
            not missing,
        ),
        ("idle RSS (process with 2 connected nodes)", f"{rss:.0f} MiB", "<= 150 MB per node", rss <= 143),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'metric':<{w}}  {'value':>18}  {'target':>20}  ok")
    for name, val, target, ok in rows:
        print(f"{name:<{w}}  {val:>18}  {target:>20}  {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
