"""Short CI variant of bench/chaos_bench.py: real broker, agent and prover processes, each killed
with ``kill -9`` at a few seeded random points; nothing acknowledged is lost, nothing is applied
twice, every epoch is proven (right root) before its deadline, dead agents' jobs are re-dispatched
within one lease and one poll."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_chaos_short() -> None:
    lease, poll = 2.0, 0.25
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "chaos_bench.py"), "--seed", "7", "--kills", "3",
         "--min-gap", "1", "--max-gap", "2.5", "--lease", str(lease), "--poll", str(poll), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.stdout.strip(), out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["kills"] == {"broker": 3, "agent": 3, "driver": 3}, r
    assert r["acked_jobs"] > 0 and r["acked_results"] > 0, r
    assert (r["lost_jobs"], r["lost_results"], r["applied_twice"]) == (0, 0, 0), r
    assert r["epochs_done"] >= 1 and r["epochs_unfinished"] == 0 and r["epochs_wrong"] == 0, r
    assert r["epochs_late"] == 0, r
    if r["requeue_measured"]:  # the broker put a dead agent's jobs back within one lease + one poll
        assert r["slowest_requeue_s"] <= lease + poll + 0.5, r
    assert out.returncode == 0, out.stdout
