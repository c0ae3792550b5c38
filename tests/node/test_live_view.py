"""The live epoch view's data (proving/orchestrator/view.py, EpochProver.snapshot, node/live_view.py)
over a simulated epoch proven by slow agents: the tree covers the whole epoch from the start (planned
jobs waiting), states move waiting -> queued -> proving -> done, the projection converges, and the
HTTP pages answer."""

from __future__ import annotations

import json

import httpx
import trio

from node.live_view import LiveView
from proving.orchestrator import EpochProvingPlan
from proving.orchestrator.view import plan_nodes, project_finish
from proving.synthetic import make_epoch
from tests.node.live_sim import simulated_epoch
from tests.proving.test_epoch import _start


def test_plan_nodes_cover_the_planned_tree_and_are_bounded() -> None:
    ep = make_epoch(3, 4, seed=1)
    plan = EpochProvingPlan(_start(ep))
    nodes, cut = plan_nodes(plan)
    keys = {n.key for n in nodes}
    # before any block: the epoch tree with each block's root, nothing more
    assert keys == {"epoch:root", "epoch:block-merge:0-2", "b0:block-root", "b1:block-root", "b2:block-root"}
    assert cut == 0
    parents = {n.key: n.parent for n in nodes}
    assert parents["b2:block-root"] == "epoch:root" and parents["b0:block-root"] == "epoch:block-merge:0-2"
    plan.start_block(ep.blocks[0].global_variables, ep.blocks[0].l1_to_l2_messages, 4,
                     ep.blocks[0].start_state, ep.blocks[0].end_state, ep.blocks[0].expected_header)
    nodes, _ = plan_nodes(plan)
    keys = {n.key for n in nodes}
    assert {"b0:root-parity", "b0:base-parity:3", "b0:base:3-4", "b0:merge:0-2", "b0:merge:2-4"} <= keys
    assert {n.key: n.parent for n in nodes}["b0:merge:0-2"] == "b0:block-root"
    few, cut = plan_nodes(plan, limit=4)
    assert len(few) == 4 and cut == len(nodes) - 4


def test_projection_is_the_longer_of_critical_path_and_work_over_agents() -> None:
    def n(key: str, parent: str | None, state: str, duration: float | None = None) -> dict[str, object]:
        return {"key": key, "type": "MERGE_ROLLUP", "parent": parent, "state": state, "duration": duration}

    nodes = [n("r", None, "waiting"), n("a", "r", "done", 2.0), n("b", "r", "waiting"), n("c", "b", "waiting"),
             n("d", "b", "waiting")]
    one = project_finish(nodes, 100.0, agents=1)
    assert one.estimates["MERGE_ROLLUP"] == 2.0
    assert one.remaining_work == 8.0 and one.critical_path == 6.0 and one.eta == 108.0
    many = project_finish(nodes, 100.0, agents=8)
    assert many.eta == 106.0  # the critical path bounds it
    assert project_finish([n("r", None, "waiting")], 0.0, 4).eta is None  # nothing measured yet


async def test_snapshot_mid_epoch_and_at_the_end() -> None:
    async with simulated_epoch(blocks=2, txs=4, agents=2, seconds_per_million_gates=0.05) as sim:
        sim.view.cache_seconds = 0.0
        seen: set[str] = set()
        mid = None
        while not sim.done.is_set():
            v = sim.view.epoch_view()
            p = v["proof"]
            if p is not None:
                seen |= set(p["states"])
                if {"done", "proving"} <= set(p["states"]) and p["eta_in"] is not None and mid is None:
                    mid = p
            await trio.sleep(0.05)
        assert mid is not None, f"never saw a mid-epoch snapshot with an ETA (states seen {seen})"
        assert {"waiting", "queued", "proving", "done"} <= seen
        assert mid["deadline_in"] is not None and mid["slack"] is not None and 0 < mid["progress"] < 1
        busy = [x for x in mid["nodes"] if x["state"] == "proving"]
        assert busy and all(x["agent"] and x["agent"].startswith("sim-") for x in busy)
        end = sim.view.epoch_view()
        p = end["proof"]
        assert p["done"] and p["states"] == {"done": p["jobs_total"]} and p["jobs_done"] == p["jobs_total"]
        assert all(x["duration"] is not None and x["duration"] >= 0 for x in p["nodes"])
        assert end["epochs"][0]["result"] == "proven"
        cut = sim.prover.snapshot(trio.current_time(), limit=5)  # the tree is cut, the counts are not
        assert len(cut["nodes"]) == 5 and cut["truncated"] == p["jobs_total"] - 5
        assert cut["jobs_total"] == p["jobs_total"] and cut["states"] == p["states"]
        async with httpx.AsyncClient() as http:
            page = await http.get(sim.url + "/epoch")
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "/api/epoch" in page.text and "<script>" in page.text and "://" not in page.text  # no CDN
            api = await http.get(sim.url + "/api/epoch")
            assert json.loads(api.text)["proof"]["epoch"] == p["epoch"]
            assert (await http.get(sim.url + "/")).text == page.text


def test_one_snapshot_serves_the_polls_within_cache_seconds() -> None:
    t = [0.0]
    calls = [0]

    class Job:
        current = None

    def job() -> Job:
        calls[0] += 1
        return Job()

    view = LiveView(prover_job=job, clock=lambda: t[0], cache_seconds=0.5)
    first = view.epoch_view()
    t[0] = 0.4
    assert view.epoch_view() is first and calls[0] == 2  # _proof and _epoch_view each ask once
    t[0] = 0.6
    assert view.epoch_view() is not first and calls[0] == 4
    assert view.epoch_view(with_nodes=False) is not first
