"""bench/p2p_propagation.py at small scale, so the bench cannot rot: a boot node, 4 `python -m node --p2p`
processes and the js-libp2p peer, 20 messages from varying origins; every message reaches every node,
and the table reports it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench" / "p2p_propagation.py"
JS_READY = shutil.which("node") is not None and (
    REPO / "interop" / "js" / "node_modules" / "@chainsafe" / "libp2p-gossipsub").is_dir()


@pytest.mark.slow  # ~30-40 s: starts 6 processes
@pytest.mark.interop
@pytest.mark.skipif(not JS_READY, reason="needs node and interop/js/node_modules (scripts/bootstrap.sh)")
def test_propagation_bench_small(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    dump = tmp_path / "dump.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--nodes", "4", "--messages", "20", "--tx-rate", "2", "--quote-rate", "1",
         "--sweep", "", "--settle", "10", "--json", str(out), "--dump", str(dump)],
        cwd=REPO, capture_output=True, text=True, timeout=170,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "propagation p99" in proc.stdout and "missing deliveries" in proc.stdout, proc.stdout
    res = json.loads(out.read_text())
    seed = res["seed"]
    assert seed["messages"] == 20
    assert seed["missing"] == 0, proc.stdout
    assert seed["deliveries"] == 20 * 4  # 5 receivers (4 py + js) less the origin, per message
    assert 0 < seed["p50"] <= seed["p99"] <= seed["max"] < 10
    assert res["dead"] == []
    msgs = json.loads(dump.read_text())
    # both kinds of message, published by py nodes (JSON-RPC) and by the js peer (gossipsub)
    assert {m["topic"] for m in msgs} == {"/aztec/tx/0.1.0", "/aztec/epoch_proof_quote/0.1.0"}
    assert 4 in {m["origin"] for m in msgs} and any(m["origin"] < 4 for m in msgs)
    # the js peer (index 4) received what the py nodes published
    assert all("4" in m["lat"] for m in msgs)
