"""Our gossip verdicts against @aztec/circuit-types@0.63.1's decoders on mutated messages (CI budget).

The long run is `bench/decoder_differential.py` (>= 100k mutations). Here: DIFF_MUTATIONS
(default 4000) mutations of valid quotes, txs, proposals and attestations through one node process.
Property: no input that v0.63.1 decodes is REJECTed by us; our validators never raise; and
`p2p.wire.compat` (our model of v0.63.1's decoders) agrees with v0.63.1 on every input.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from interop.differential import DecoderOracle, OracleError, format_table, our_verdict, run_differential, seed_inputs

pytestmark = pytest.mark.interop

MUTATIONS = int(os.environ.get("DIFF_MUTATIONS", "4000"))
SEED = int(os.environ.get("DIFF_SEED", "7"))


@pytest.fixture(scope="module")
def oracle(node_modules: Path) -> Iterator[DecoderOracle]:
    try:
        o = DecoderOracle()
    except OracleError as e:
        pytest.skip(str(e))
    yield o
    o.close()


def test_never_reject_what_v0631_accepts(oracle: DecoderOracle) -> None:
    res = run_differential(oracle, mutations=MUTATIONS, seed=SEED)
    table = format_table(res)
    assert res.false_reject_count == 0, f"seed {SEED}: v0.63.1 accepts, we reject:\n{table}\n{res.false_rejects[:3]}"
    assert not res.exceptions, f"seed {SEED}: our validators raised on {res.exceptions[:3]}"
    assert not res.compat_mismatches, f"seed {SEED}: compat disagrees with v0.63.1: {res.compat_mismatches[:3]}"
    # the run must exercise both sides of every decoder, or it proves nothing
    for kind in ("quote", "tx", "proposal", "attestation"):
        accepted = sum(n for (k, az, _), n in res.table.items() if k == kind and az == "accepts")
        rejected = sum(n for (k, az, _), n in res.table.items() if k == kind and az == "rejects")
        assert accepted > 0 and rejected > 0, f"{kind}: {accepted} accepted / {rejected} rejected by v0.63.1\n{table}"


def test_known_cases(oracle: DecoderOracle) -> None:
    """The three wrong verdicts of issue 10, held against v0.63.1 directly."""
    seeds = seed_inputs(random.Random(3))
    tx = bytearray(seeds["tx"][0])
    tx[1 + 616 : 1 + 616 + 32] = (2**256 - 1).to_bytes(32, "big")  # chain id word >= modulus
    other_rollup = seeds["quote"][0]  # index 0 is signed for rollup 0x0
    cases = [("tx", bytes(tx)), ("tx", seeds["tx"][1] + b"\0"), ("quote", seeds["quote"][1] + b"\x01"),
             ("quote", other_rollup), ("proposal", seeds["proposal"][0] + b"\0\0")]
    answers = oracle.decode(cases)
    for (kind, data), (ok, _) in zip(cases, answers, strict=True):
        assert ok, f"v0.63.1 should decode this {kind}"
        assert our_verdict(kind, data) == "ignore", kind
