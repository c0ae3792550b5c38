"""EpochProver: the trio driver of :class:`EpochProvingPlan` (the API the prover node calls).

    prover = EpochProver(broker_or_client, proof_store, prover_id=..., vk_tree_root=...)
    async with trio.open_nursery() as n:
        await n.start(prover.run)
        await prover.start_epoch(epoch, total_blocks, previous_archive=..., archive_sibling_path=...,
                                 previous_block_hash=...)
        for block in blocks:
            await prover.add_block(block)          # or start_block / add_tx / complete_block
        result = await prover.finalise()           # RootRollupPublicInputs for submitEpochRootProof

Every job the plan emits is written to the proof store, enqueued with its content-addressed id and
awaited in its own task (bounded by the epoch's job count); results are fed back into the plan,
which emits the jobs that became ready. Nothing here blocks on proving: ``add_block`` returns as
soon as the block's jobs are enqueued.

Restart: a new EpochProver fed the same blocks derives the same ids; the broker answers enqueue
with the stored result of every job already proven, so only missing work runs again.
Failure: the first failed job (or check) fails the epoch ("Epoch proving failed: ...") and the
remaining jobs are cancelled at the broker; ``cancel()`` does the same with "Proving cancelled".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import trio

from core.aztec.header import AppendOnlyTreeSnapshot, GlobalVariables, Header, StateReference
from proving.circuits.simulate import FakeProof, RootOutput, decode_output
from proving.circuits.structs import CircuitInputError, RootRollupPublicInputs
from proving.interfaces import ProvingJobProducer
from proving.orchestrator.plan import (
    BlockInput,
    EnqueueJob,
    EpochProvingError,
    EpochProvingPlan,
    EpochStart,
    PlanStatistics,
    PriorityMode,
    TxInput,
)
from proving.orchestrator.view import DEFAULT_NODE_LIMIT, plan_nodes, project_finish
from proving.proof_store import ProofStore, ProofStoreError
from proving.types import ProvingJob, ProvingRequestType, make_job_id

log = logging.getLogger(__name__)

# @aztec/protocol-contracts 0.63.1 (proving doc 3.6)
PROTOCOL_CONTRACT_TREE_ROOT: Final = 0x181EA9874513769FE323C85B846355E1804811EFD7D46790A896838FF23158D2
CANCELLED_REASON: Final = "Proving cancelled"


class EpochProvingFailedError(RuntimeError):
    """finalise() of an epoch that failed or was cancelled."""


@dataclass(frozen=True, slots=True)
class EpochProofResult:
    public_inputs: RootRollupPublicInputs
    proof: FakeProof
    output_uri: str


@dataclass(slots=True)
class _JobTiming:
    job_id: str
    enqueued_at: float
    settled_at: float | None = None
    outcome: str | None = None  # fulfilled / rejected / ...
    cached: bool = False  # the broker had the result already (restart)


BrokerLookup = Callable[[str], tuple[str, str | None, float] | None]  # job id -> (state, agent, dispatched_at)


@dataclass(frozen=True, slots=True)
class ProverStatistics:
    plan: PlanStatistics | None
    jobs_in_flight: int
    results_applied: int
    already_proven_at_enqueue: int
    failed: str | None


class EpochProver:
    def __init__(
        self,
        producer: ProvingJobProducer,
        proof_store: ProofStore,
        *,
        prover_id: int,
        vk_tree_root: int,
        protocol_contract_tree_root: int = PROTOCOL_CONTRACT_TREE_ROOT,
        priority_mode: PriorityMode = "critical-path",
        max_concurrent_enqueues: int = 64,
        priority_of: Callable[[EnqueueJob], int] | None = None,
        hold: Callable[[EnqueueJob], bool] | None = None,
        max_outstanding: int | None = None,
        keep_on_cancel: frozenset[ProvingRequestType] = frozenset(),
    ) -> None:
        """``priority_of``: the broker priority key of a job (default: the plan's); ``hold``: jobs
        kept back instead of enqueued (speculative proving holds the epoch-level ones, see
        :mod:`proving.orchestrator.schedule`), listed in ``held``; ``max_outstanding``: at most that
        many of this prover's jobs unsettled at the broker at once (caps speculation's share);
        ``keep_on_cancel``: job types not cancelled at the broker when this epoch fails or is
        cancelled, because other epochs may wait for the same (content-addressed) job, e.g. the
        base parity over zero messages."""
        self.keep_on_cancel = keep_on_cancel
        self.producer = producer
        self.store = proof_store
        self.prover_id = prover_id
        self.vk_tree_root = vk_tree_root
        self.protocol_contract_tree_root = protocol_contract_tree_root
        self.priority_mode: PriorityMode = priority_mode
        self._enqueue_slots = trio.Semaphore(max_concurrent_enqueues)
        self.priority_of = priority_of
        self.hold = hold
        self.held: list[EnqueueJob] = []
        self._outstanding = trio.Semaphore(max_outstanding) if max_outstanding else None
        self.plan: EpochProvingPlan | None = None
        self._nursery: trio.Nursery | None = None
        self._done = trio.Event()
        self._failure: str | None = None
        self._result_uri: str | None = None
        self._ids: dict[str, list[str]] = defaultdict(list)  # job id -> plan keys
        self._settled_ids: set[str] = set()
        self.results_applied = 0
        self.already_proven = 0
        self._in_flight = 0
        self.finished_at: float | None = None  # when the root proof arrived (trio clock)
        self._jobs: dict[str, _JobTiming] = {}  # plan key -> timing (one per emitted job: bounded by the plan)

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as jobs:
            self._nursery = jobs
            jobs.start_soon(trio.sleep_forever)  # keeps the job nursery open until failure/cancel
            task_status.started()
        await trio.sleep_forever()

    def _plan(self) -> EpochProvingPlan:
        if self.plan is None:
            raise EpochProvingError("no epoch started")
        return self.plan

    def _check_alive(self) -> None:
        if self._failure is not None:
            raise EpochProvingFailedError(f"Epoch proving failed: {self._failure}")

    def _flush(self) -> None:
        if self._nursery is None:
            raise RuntimeError("EpochProver.run() is not running")
        for action in self._plan().take_actions():
            if self.hold is not None and self.hold(action):
                self.held.append(action)
                continue
            self._in_flight += 1
            self._nursery.start_soon(self._job, action)

    # ------------------------------------------------------------------ EpochProver API

    async def start_epoch(
        self,
        epoch_number: int,
        total_blocks: int,
        *,
        previous_archive: AppendOnlyTreeSnapshot,
        archive_sibling_path: Sequence[int],
        previous_block_hash: int,
        chain_id: int = 0,
        version: int = 0,
    ) -> None:
        if self.plan is not None:
            raise EpochProvingError("this EpochProver already has an epoch (make one per epoch)")
        self.plan = EpochProvingPlan(
            EpochStart(
                epoch_number=epoch_number,
                total_blocks=total_blocks,
                previous_archive=previous_archive,
                archive_sibling_path=tuple(archive_sibling_path),
                previous_block_hash=previous_block_hash,
                vk_tree_root=self.vk_tree_root,
                protocol_contract_tree_root=self.protocol_contract_tree_root,
                prover_id=self.prover_id,
                chain_id=chain_id,
                version=version,
            ),
            priority_mode=self.priority_mode,
        )

    async def start_block(
        self,
        global_variables: GlobalVariables,
        l1_to_l2_messages: Sequence[int],
        num_txs: int,
        *,
        start_state: StateReference,
        end_state: StateReference,
        expected_header: Header | None = None,
    ) -> None:
        self._check_alive()
        self._plan().start_block(global_variables, l1_to_l2_messages, num_txs, start_state, end_state, expected_header)
        self._flush()

    async def add_tx(self, tx: TxInput) -> None:
        self._check_alive()
        self._plan().add_tx(tx)
        self._flush()

    async def complete_block(self) -> Header:
        self._check_alive()
        try:
            header = self._plan().complete_block()
        except EpochProvingError as exc:
            await self._fail(str(exc))
            raise
        self._flush()
        return header

    async def add_block(self, block: BlockInput) -> Header:
        num_txs = block.num_txs if block.num_txs is not None else max(2, len(block.txs))
        await self.start_block(
            block.global_variables,
            block.l1_to_l2_messages,
            num_txs,
            start_state=block.start_state,
            end_state=block.end_state,
            expected_header=block.expected_header,
        )
        for tx in block.txs:
            await self.add_tx(tx)
        return await self.complete_block()

    async def finalise(self) -> EpochProofResult:
        self._check_alive()
        plan = self._plan()
        plan.finalise()
        self._flush()
        if plan.result is None:
            await self._done.wait()
        self._check_alive()
        assert plan.result is not None and self._result_uri is not None
        out: RootOutput = plan.result
        return EpochProofResult(out.public_inputs, out.proof, self._result_uri)

    async def cancel(self) -> None:
        """Abort every pending job at the broker and fail the epoch with "Proving cancelled"."""
        await self._fail(CANCELLED_REASON)

    def statistics(self) -> ProverStatistics:
        return ProverStatistics(
            plan=None if self.plan is None else self.plan.statistics(),
            jobs_in_flight=self._in_flight,
            results_applied=self.results_applied,
            already_proven_at_enqueue=self.already_proven,
            failed=self._failure,
        )

    def snapshot(
        self, now: float, *, broker: BrokerLookup | None = None, agents: int = 1, limit: int = DEFAULT_NODE_LIMIT
    ) -> dict[str, Any]:
        """The epoch's proof tree with each job's state, agent and duration, and the projected finish
        (proving/orchestrator/view.py). `broker` (the in-process broker's lookup) adds agents and
        dispatch times; without it a job is "queued" from enqueue to settle. Cost: O(jobs of the
        epoch); the tree returned is cut at `limit` nodes (its top first)."""
        plan = self.plan
        if plan is None:
            return {"epoch": None, "nodes": [], "truncated": 0}
        # every node counts for the states and the projection; only the first `limit` are returned
        nodes, _ = plan_nodes(plan, limit=1 << 62)
        out: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        for n in nodes:
            t = self._jobs.get(n.key)
            row: dict[str, Any] = {"key": n.key, "type": n.type, "parent": n.parent, "block": n.block,
                                   "state": "waiting", "agent": None, "duration": None, "started": None}
            if t is not None:
                info = broker(t.job_id) if broker is not None else None
                started = info[2] if info is not None and info[2] > 0 else None
                row["agent"] = info[1] if info is not None else None
                row["started"] = started
                if t.cached:
                    row["state"] = "cached"
                elif t.settled_at is not None:
                    row["state"] = "done" if t.outcome == "fulfilled" else "failed"
                    row["duration"] = round(t.settled_at - (started if started is not None else t.enqueued_at), 3)
                elif info is not None and info[0] == "IN_PROGRESS":
                    row["state"] = "proving"
                    row["duration"] = round(now - (started if started is not None else t.enqueued_at), 3)
                else:
                    row["state"] = "queued"
            counts[row["state"]] = counts.get(row["state"], 0) + 1
            out.append(row)
        proj = project_finish(out, now, agents)
        stats = plan.statistics()
        eta = self.finished_at if plan.done and self.finished_at is not None else proj.eta
        return {
            "epoch": plan.start.epoch_number,
            "blocks": plan.start.total_blocks,
            "blocks_started": stats.blocks_started,
            "jobs_total": len(out),
            "jobs_done": counts.get("done", 0) + counts.get("cached", 0),
            "states": counts,
            "failed": self._failure,
            "done": plan.done,
            "eta": eta,  # when done: when the root proof arrived
            "remaining_work": round(proj.remaining_work, 3),
            "critical_path": round(proj.critical_path, 3),
            "estimates": {k: round(v, 3) for k, v in proj.estimates.items()},
            "nodes": out[:limit],
            "truncated": max(0, len(out) - limit),
        }

    # ------------------------------------------------------------------ jobs

    async def _fail(self, reason: str) -> None:
        if self._failure is not None:
            return
        self._failure = reason
        log.warning("epoch proving failed: %s", reason)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        self._done.set()
        pending = [
            i for i in self._ids
            if i not in self._settled_ids and not any(i.startswith(t.name + ":") for t in self.keep_on_cancel)
        ]
        with trio.CancelScope(shield=True), trio.move_on_after(30):
            for job_id in pending:
                try:
                    await self.producer.remove_and_cancel_proving_job(job_id)
                except Exception as exc:  # the broker may be gone; the jobs die with their epoch
                    log.warning("could not cancel %s: %s", job_id, exc)
                    break

    async def _job(self, action: EnqueueJob) -> None:
        try:
            await self._run_job(action)
        except (EpochProvingError, CircuitInputError, ProofStoreError) as exc:
            await self._fail(f"{action.key}: {exc}")
        except Exception as exc:  # the broker refused the job (full, bad URI): the epoch fails, we go on
            await self._fail(f"{action.key}: {type(exc).__name__}: {exc}")
        finally:
            self._in_flight -= 1

    async def _run_job(self, action: EnqueueJob) -> None:
        if self._outstanding is None:
            await self._run_job_unbounded(action)
            return
        async with self._outstanding:
            await self._run_job_unbounded(action)

    async def _run_job_unbounded(self, action: EnqueueJob) -> None:
        job_id = make_job_id(action.type, action.inputs)
        self._ids[job_id].append(action.key)
        timing = self._jobs[action.key] = _JobTiming(job_id, trio.current_time())
        async with self._enqueue_slots:
            uri = self.store.save(action.inputs)
            priority = action.priority if self.priority_of is None else self.priority_of(action)
            job = ProvingJob(job_id, action.type, action.epoch_number, uri, priority)
            status = await self.producer.enqueue_proving_job(job)
        if status.settled:
            self.already_proven += 1
            timing.cached = True
        for _ in range(3):
            if not status.settled:
                status = await self.producer.wait_for_job_to_settle(job_id)
            if status.status != "not-found":
                break
            # lost (cleaned up, or a broker without a durable store restarted): ask again
            status = await self.producer.enqueue_proving_job(job)
        self._settled_ids.add(job_id)
        timing.settled_at, timing.outcome = trio.current_time(), status.status
        if status.status == "rejected":
            raise EpochProvingError(f"{action.type.name} job {job_id} failed: {status.reason}")
        if status.status != "fulfilled" or status.value is None:
            raise EpochProvingError(f"{action.type.name} job {job_id} ended as {status.status}")
        output = decode_output(action.type, self.store.load(status.value))
        if self._failure is not None:
            return
        plan = self._plan()
        plan.on_result(action.key, output)
        self.results_applied += 1
        if isinstance(output, RootOutput):
            self.finished_at = trio.current_time()
            self._result_uri = status.value
            self._done.set()
        self._flush()
