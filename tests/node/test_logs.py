"""LOG_JSON: every line a process writes is one JSON object, py-libp2p's, web3's, urllib3's, warnings
and uncaught exceptions included (in a fresh interpreter, as `python -m node` runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import logging, sys, warnings
from node.logs import configure_logging
configure_logging("info", True)
assert "libp2p" not in sys.modules  # not imported by every role just for logging
configure_logging("info", True, libp2p=True)  # as `python -m node --p2p` does
import libp2p.network.swarm
logging.getLogger("libp2p.network.swarm").warning("dial failed %s", "peer")
logging.getLogger("libp2p").error("libp2p root error")
logging.getLogger("libp2p.network.swarm").info("chatty libp2p info")  # libp2p stays at warning
logging.getLogger("web3.providers.HTTPProvider").warning("web3 says")
logging.getLogger("urllib3.connectionpool").warning("Retrying connection")
warnings.warn("something is deprecated", DeprecationWarning)
logging.getLogger("node.test").info("ours", extra={"epoch": 3})
raise RuntimeError("boom")
"""


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
@pytest.mark.parametrize("libp2p_debug", ["", "network.swarm:DEBUG"])
def test_every_line_is_json(libp2p_debug: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LIBP2P_DEBUG": libp2p_debug, "PYTHONWARNINGS": "always"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    objs = []
    for ln in lines:
        try:
            objs.append(json.loads(ln))
        except ValueError:
            pytest.fail(f"not JSON: {ln!r}\n{proc.stderr}")
    msgs = {o["msg"] for o in objs}
    assert "dial failed peer" in msgs
    assert "libp2p root error" in msgs
    assert ("chatty libp2p info" in msgs) == bool(libp2p_debug)  # LIBP2P_DEBUG levels are kept
    assert "web3 says" in msgs and "Retrying connection" in msgs
    assert any("something is deprecated" in m for m in msgs)
    assert "ours" in msgs and any(o.get("epoch") == 3 for o in objs)
    crash = [o for o in objs if o["msg"].startswith("uncaught RuntimeError")]
    assert crash and "Traceback" in crash[0]["exc"]
    assert proc.returncode == 1
