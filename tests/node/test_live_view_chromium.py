"""The live epoch view in a real browser: headless Chromium (Debian's `chromium`, installed by
scripts/bootstrap.sh) loads the node's page while a simulated epoch is being proven by slow agents,
runs its JS (which polls /api/epoch), and the rendered DOM shows the proof tree mid-epoch: jobs in
several states, the deadline and the ETA. A screenshot of that moment is saved to
bench/out/live-view-mid-epoch.png (or LIVE_VIEW_SCREENSHOT) and its path printed."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import trio

from tests.conftest import REPO
from tests.node.live_sim import simulated_epoch

pytestmark = pytest.mark.slow


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: run scripts/bootstrap.sh (apt-get install chromium)", pytrace=False)
    return exe


async def _browse(exe: str, profile: Path, url: str, *extra: str) -> str:
    # --virtual-time-budget: let the page's JS run (fetch /api/epoch, render) before dumping/shooting
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           f"--user-data-dir={profile}", "--virtual-time-budget=4000", "--window-size=1500,1100", *extra, url]
    with trio.fail_after(90):
        proc = await trio.run_process(cmd, capture_stdout=True, capture_stderr=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return proc.stdout.decode(errors="replace")


async def _mid_epoch(sim: object) -> None:
    """Until jobs are done, some are proving and some are still waiting, and an ETA exists."""
    view = sim.view  # type: ignore[attr-defined]
    while True:
        p = view.epoch_view(with_nodes=False)["proof"]
        if p is not None and p["eta_in"] is not None and {"done", "proving", "waiting"} <= set(p["states"]):
            return
        await trio.sleep(0.1)


async def test_chromium_shows_the_proof_tree_mid_epoch(tmp_path: Path) -> None:
    exe = _chromium()
    shot = Path(os.environ.get("LIVE_VIEW_SCREENSHOT", REPO / "bench" / "out" / "live-view-mid-epoch.png"))
    shot.parent.mkdir(parents=True, exist_ok=True)
    # ~2 min of proving on 3 agents (cancelled once the page is checked): a first Chromium start-up on a
    # fresh machine (profile, font cache: many seconds) still lands mid-epoch
    async with simulated_epoch(blocks=4, txs=4, agents=3, seconds_per_million_gates=1.0, deadline=600) as sim:
        with trio.fail_after(60):
            await _mid_epoch(sim)
        dom = await _browse(exe, tmp_path / "profile", sim.url + "/epoch", "--dump-dom")
        assert sim.done.is_set() is False, "the epoch finished before Chromium rendered it: slow the agents"
        await trio.Path(shot).unlink(missing_ok=True)
        await _browse(exe, tmp_path / "profile2", sim.url + "/epoch", f"--screenshot={shot}")
        mid_at_shot = not sim.done.is_set()
    assert 'data-loaded="1"' in dom, "the page's JS did not render /api/epoch"
    states = re.findall(r'<g class="job" data-key="([^"]+)" data-state="(\w+)"', dom)
    assert "epoch:root" in {k for k, _ in states}, "the tree has no root"
    assert len(states) >= 60, f"only {len(states)} jobs drawn"
    seen = {s for _, s in states}
    assert {"done", "waiting"} <= seen and len(seen) >= 3, f"states drawn: {seen}"
    title = re.search(r'<h2 id="title">Epoch (\d+): (\d+)/(\d+) jobs proven</h2>', dom)
    assert title is not None and 0 < int(title.group(2)) < int(title.group(3))
    assert re.search(r"<b>deadline</b><span[^>]*>in \d", dom), "no deadline shown"
    assert re.search(r"<b>ETA</b><span[^>]*>in \d", dom), "no ETA shown"
    assert re.search(r"<b>slack</b><span class=\"(ok|late)\">", dom), "no slack shown"
    png = await trio.Path(shot).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert mid_at_shot, "the epoch finished before the screenshot was taken"
    print(f"\nlive view screenshot (mid-epoch): {shot}")
