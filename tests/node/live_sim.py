"""A simulated epoch being proven, served by the node's HTTP server with the live epoch view: an
in-process broker, slow simulated agents (TimingModel), an EpochProver fed a synthetic epoch, and a
claim with a deadline. Used by tests/node/test_live_view.py and the headless Chromium test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio
from prometheus_client import CollectorRegistry

from core.http import Dispatcher, HttpServer
from node.http import node_http_server
from node.l1.rules import ProofClaim
from node.live_view import LiveView
from proving.agent import AgentPool
from proving.broker import ProvingBroker
from proving.circuits.timing import TimingModel
from proving.orchestrator import EpochProver
from proving.proof_store import InlineProofStore
from proving.synthetic import make_epoch

PROVER = bytes.fromhex("7e57" * 10)
PROPOSER = bytes.fromhex("5e9" + "0" * 36 + "1")


@dataclass
class SimJob:
    """What EpochProvingJob exposes to the view, for one epoch proven here."""

    current: EpochProver
    current_claim: ProofClaim
    started_at: float
    deadline_at: float
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Sim:
    server: HttpServer
    prover: EpochProver
    view: LiveView
    done: trio.Event

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.bound_port}"


@asynccontextmanager
async def simulated_epoch(
    *, blocks: int = 4, txs: int = 4, agents: int = 3, seconds_per_million_gates: float = 0.2, deadline: float = 60.0
) -> AsyncIterator[Sim]:
    broker = ProvingBroker(poll_interval=0.2, registry=CollectorRegistry())
    pool = AgentPool(broker, agents, timing=TimingModel(seconds_per_million_gates), heartbeat_interval=0.5,
                     long_poll=1.0, name="sim")
    prover = EpochProver(broker, InlineProofStore(), prover_id=int.from_bytes(PROVER, "big"), vk_tree_root=11)
    ep = make_epoch(blocks, txs, public_fraction=0.5, seed=7)
    now = trio.current_time()
    claim = ProofClaim(ep.epoch_number, 250, 10**21, PROVER, PROPOSER)
    job = SimJob(prover, claim, now, now + deadline)
    view = LiveView(prover_job=lambda: job, broker=lambda: broker, agents=lambda: pool,
                    prover_address=lambda: PROVER, roles=["prover", "prover_broker", "prover_node"])
    server = node_http_server("127.0.0.1", 0, Dispatcher(), CollectorRegistry(), pages=view.pages())
    done = trio.Event()

    async def prove() -> None:
        await prover.start_epoch(ep.epoch_number, len(ep.blocks), previous_archive=ep.previous_archive,
                                 archive_sibling_path=ep.archive_sibling_path,
                                 previous_block_hash=ep.previous_block_hash)
        for b in ep.blocks:
            await prover.add_block(b)
        await prover.finalise()
        job.history.append({"epoch": ep.epoch_number, "result": "proven",
                            "prove_seconds": round(trio.current_time() - now, 2),
                            "slack_seconds": round(job.deadline_at - trio.current_time(), 1)})
        done.set()

    async with trio.open_nursery() as n:
        await n.start(broker.run)
        await n.start(server.run)
        await n.start(pool.run)
        await n.start(prover.run)
        n.start_soon(prove)
        yield Sim(server, prover, view, done)
        n.cancel_scope.cancel()
