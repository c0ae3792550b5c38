"""The live epoch view: what the node is proving, against its deadline (issue 13).

- `GET /` and `GET /epoch`: one HTML page (inline CSS and JS, no build step, no CDN) that polls
  `GET /api/epoch` every second and draws the epoch's proof tree (each job's state, agent, duration),
  the claim, the deadline and the projected finish, the agents, and the quote history (ours; on a
  sequencer every quote seen, with why it was or was not chosen).
- `GET /api/epoch` and JSON-RPC `node_getEpochView`: `LiveView.epoch_view()`, cheap and bounded (the
  snapshot functions it calls read in-memory state only, at most DEFAULT_NODE_LIMIT tree nodes).
- JSON-RPC `node_getProverStatus` (`python -m node status`): the same without the tree, plus what
  only L1 knows (pending / proven blocks and epochs, the claim, the escrow deposit and a pending
  withdrawal), read when asked.

Times inside the node are trio's clock; the view gives them as seconds from now (`*_in`, `*_ago`)
plus wall-clock stamps, so the page and the CLI need no clock of their own.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import trio

from core.http.server import Response

log = logging.getLogger("node.live_view")


def _hex(b: bytes | None) -> str | None:
    return None if b is None else "0x" + b.hex()


def _amounts(d: dict[str, Any]) -> dict[str, Any]:
    """Token amounts as decimal strings (JSON numbers lose precision above 2**53 in JS)."""
    return {k: str(v) if k in ("bond", "deposit", "amount") and isinstance(v, int) else v for k, v in d.items()}


def _claim(claim: Any) -> dict[str, Any] | None:
    if claim is None or not getattr(claim, "exists", True):
        return None
    return {
        "epoch": claim.epoch_to_prove,
        "fee_bps": claim.basis_point_fee,
        "bond": str(claim.bond_amount),
        "bond_provider": _hex(claim.bond_provider),
        "proposer": _hex(claim.proposer_claimant),
    }


@dataclass
class LiveView:
    """Reads the components a node runs (any of them may be absent or not started yet). The getters
    return the current objects (the components are built when their turn to start comes)."""

    prover_node: Callable[[], Any] = lambda: None  # node.prover_node.node.ProverNode
    prover_job: Callable[[], Any] = lambda: None  # node.prover_node.epoch_job.EpochProvingJob (or one EpochProver)
    broker: Callable[[], Any] = lambda: None  # in-process proving.broker.ProvingBroker
    agents: Callable[[], Any] = lambda: None  # in-process proving.agent.AgentPool
    sequencer: Callable[[], Any] = lambda: None  # node.sequencer.sequencer.Sequencer
    l1: Callable[[], Any] = lambda: None  # node.l1.client.L1Client (status only)
    prover_address: Callable[[], bytes | None] = lambda: None
    roles: list[str] = field(default_factory=list)
    clock: Callable[[], float] = trio.current_time
    cache_seconds: float = 0.5  # one snapshot serves every poll within this (many open pages cost one)
    _cache: dict[tuple[int, bool], tuple[float, dict[str, Any]]] = field(default_factory=dict)

    # ------------------------------------------------------------------ the view (no I/O)

    def _agents(self) -> dict[str, Any]:
        out: dict[str, Any] = {"busy": 0, "idle": 0, "jobs": [], "idle_agents": []}
        broker = self.broker()
        if broker is not None:
            out.update(broker.agents_view())
        pool = self.agents()
        if pool is not None:
            s = pool.statistics()
            out["local"] = {"concurrency": s.concurrency, "busy": s.busy, "proven": s.proven, "failed": s.failed}
        now = self.clock()
        for j in out["jobs"]:
            j["for_seconds"] = round(now - j.pop("since", now), 1)
        return out

    def _proof(self, agents: int, limit: int, with_nodes: bool) -> dict[str, Any] | None:
        job = self.prover_job()
        prover = getattr(job, "current", job)
        if prover is None or getattr(prover, "plan", None) is None:
            return None
        now = self.clock()
        broker = self.broker()
        lookup = broker.job_view if broker is not None and hasattr(broker, "job_view") else None
        snap: dict[str, Any] = prover.snapshot(now, broker=lookup, agents=max(1, agents), limit=limit)
        for n in snap["nodes"]:
            n.pop("started", None)
        eta = snap.pop("eta")
        snap["eta_in"] = None if eta is None else round(eta - now, 1)
        deadline_at = getattr(job, "deadline_at", None)
        started_at = getattr(job, "started_at", None)
        snap["deadline_in"] = None if deadline_at is None else round(deadline_at - now, 1)
        snap["started_ago"] = None if started_at is None else round(now - started_at, 1)
        snap["slack"] = (None if eta is None or deadline_at is None else round(deadline_at - eta, 1))
        snap["claim"] = _claim(getattr(job, "current_claim", None))
        snap["progress"] = round(snap["jobs_done"] / snap["jobs_total"], 3) if snap["jobs_total"] else 0.0
        if not with_nodes:
            snap.pop("nodes")
        return snap

    def _chain(self) -> dict[str, Any] | None:
        node = self.prover_node()
        view = getattr(node, "last_view", None)
        if view is None:
            return None
        return {
            "slot": view.current_slot,
            "epoch": view.current_epoch,
            "epoch_duration": view.epoch_duration,
            "pending_block": view.pending_block,
            "proven_block": view.proven_block,
            "epoch_to_prove": view.epoch_to_prove,
            "claim": _claim(view.claim),
        }

    def epoch_view(self, *, limit: int = 2000, with_nodes: bool = True) -> dict[str, Any]:
        """The page's JSON; recomputed at most every `cache_seconds` (O(jobs), ~50 ms for 4,191 jobs)."""
        now = self.clock()
        hit = self._cache.get((limit, with_nodes))
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        view = self._epoch_view(limit, with_nodes)
        if len(self._cache) >= 4:
            self._cache.clear()
        self._cache[(limit, with_nodes)] = (now, view)
        return view

    def _epoch_view(self, limit: int, with_nodes: bool) -> dict[str, Any]:
        agents = self._agents()
        n_agents = agents["busy"] + agents["idle"] or agents.get("local", {}).get("concurrency", 0)
        node = self.prover_node()
        seq = self.sequencer()
        job = self.prover_job()
        return {
            "time": time.time(),
            "roles": self.roles,
            "prover": _hex(self.prover_address()),
            "chain": self._chain(),
            "proof": self._proof(n_agents, limit, with_nodes),
            "agents": agents,
            "epochs": list(getattr(job, "history", ())),
            "quotes": {
                "ours": [_amounts(q) for q in getattr(node, "quotes", ())],
                "seen": [_amounts(q) for q in getattr(seq, "quote_history", {}).values()] if seq is not None else [],
            },
            "prover_stats": node.statistics() if node is not None else None,
        }

    # ------------------------------------------------------------------ status (reads L1)

    async def prover_status(self) -> dict[str, Any]:
        """`node_getProverStatus`: the view without the tree, plus L1's word on the chain and escrow.
        An L1 failure is reported in `l1_error`, never raised."""
        out = dict(self.epoch_view(with_nodes=False))  # the cached view stays as it is
        l1 = self.l1()
        me = self.prover_address()
        out["l1"] = None
        if l1 is None:
            return out
        try:
            with trio.fail_after(10):
                timing = await l1.timing()
                tips = await l1.tips()
                pending_epoch = await l1.epoch_for_block(tips.pending_block_number) if tips.pending_block_number else 0
                proven_epoch = await l1.epoch_for_block(tips.proven_block_number) if tips.proven_block_number else None
                l1_out: dict[str, Any] = {
                    "slot": await l1.current_slot(),
                    "epoch": await l1.current_epoch(),
                    "epoch_duration": timing.epoch_duration,
                    "slot_duration": timing.slot_duration,
                    "pending_block": tips.pending_block_number,
                    "proven_block": tips.proven_block_number,
                    "pending_epoch": pending_epoch,
                    "proven_epoch": proven_epoch,
                    "epoch_to_prove": await l1.epoch_to_prove(),
                    "claim": _claim(await l1.proof_claim()),
                }
                if me is not None:
                    l1_out["escrow"] = await escrow_status(l1, me)
            out["l1"] = l1_out
        except Exception as e:  # L1 down: say so, the rest of the status still stands
            out["l1_error"] = f"{type(e).__name__}: {str(e)[:200]}"
        return out

    # ------------------------------------------------------------------ HTTP

    def pages(self) -> dict[str, Callable[[], Response]]:
        def api() -> Response:
            try:
                body = json.dumps(self.epoch_view(), default=str).encode()
            except Exception as e:  # a view bug must not take the HTTP server down
                log.warning("epoch view failed: %s", e)
                return Response(500, json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())
            return Response(200, body)

        page = Response(200, PAGE.encode(), b"text/html; charset=utf-8")
        return {"/": lambda: page, "/epoch": lambda: page, "/api/epoch": api}


async def escrow_status(l1: Any, prover: bytes) -> dict[str, Any]:
    """The prover's ProofCommitmentEscrow deposit and pending withdrawal (amount, executable at, an L1
    timestamp); amounts as decimal strings."""
    out: dict[str, Any] = {"deposit": str(await l1.escrow_deposits(prover))}
    amount, executable_at = await l1.escrow_withdrawal(prover)
    out["withdrawal"] = {"amount": str(amount), "executable_at": executable_at} if amount else None
    return out


PAGE: Final = (Path(__file__).parent / "live_view.html").read_text()  # inline CSS and JS, no external resources
