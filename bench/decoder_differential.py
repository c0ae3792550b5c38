"""Differential fuzz: our gossip verdicts against Aztec v0.63.1's decoders (@aztec/circuit-types@0.63.1).

    python bench/decoder_differential.py [--mutations 100000] [--seed 1]

Mutates valid quotes, txs, proposals and attestations (bit flips, byte sets, truncation, extension,
length-field edits, field elements >= the BN254 modulus, fee edits, header hash bytes, splices),
decodes each input with v0.63.1 (one node process, batches over stdin) and with our validators, and
prints the verdict table. The property: 0 inputs that v0.63.1 accepts and we REJECT; our validators
never raise. Exit status 1 if either fails.
"""

from __future__ import annotations

import argparse
import sys
import time

from interop.differential import DecoderOracle, format_table, run_differential


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutations", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    t0 = time.perf_counter()
    last = [t0]

    def progress(n: int) -> None:
        if time.perf_counter() - last[0] > 10:
            last[0] = time.perf_counter()
            print(f"  ... {n} mutations", file=sys.stderr)

    with DecoderOracle() as oracle:
        res = run_differential(oracle, mutations=args.mutations, seed=args.seed, batch_size=args.batch,
                               progress=progress)
    dt = time.perf_counter() - t0
    print(f"differential fuzz vs @aztec/circuit-types@0.63.1, seed {args.seed}, {dt:.1f} s "
          f"({res.mutations / dt:.0f} inputs/s)")
    print(format_table(res))
    ops = sorted({op for op, _ in res.ops})
    print(f"{'mutation':<18} {'v0.63.1 accepts':>16} {'v0.63.1 rejects':>16}")
    for op in ops:
        print(f"{op:<18} {res.ops[(op, True)]:>16} {res.ops[(op, False)]:>16}")
    for kind, op, data in res.false_rejects[:5]:
        print(f"FALSE REJECT {kind} ({op}): {data.hex()[:200]}...")
    return 1 if res.false_reject_count or res.exceptions else 0


if __name__ == "__main__":
    sys.exit(main())
