"""The prover node's EpochProver port: prove one claimed epoch from the archiver's blocks and submit
the root proof to L1 (proving doc section 6, propose-and-prove notes section 2).

`EpochProvingJob.prove_and_publish(epoch, claim)`:
1. deadline = end of epoch N+1 (the chain is prunable from slot (N+2)*E once a claim exists); if L1
   time is already past it, log and give up (`DeadlinePassedError`);
2. wait until the archiver has synced every block of the epoch (its tip reaches L1's pending tip and
   its blocks' archives match L1's `blocks(n)`);
3. convert every archiver `L2Block` into the orchestrator's `BlockInput` (`block_input`), with the
   previous archive snapshot, its sibling path and the previous block hash from the archiver's chain
   state, and run a fresh orchestrator `EpochProver` over the broker (in-process or JSON-RPC);
4. pre-check like the TS publisher: the root public inputs' archives and block hashes must equal
   L1's stored `blocks(n)` (a mismatch is `PublicInputsMismatchError`), and the full field vector
   must equal `getEpochProofPublicInputs`;
5. `submitEpochRootProof(epochSize, args, fees padded to 64, aggregationObject = b"", proof)`.

Restart-safe: job ids are content-addressed, so a new job over the same blocks (after a crash the
ProverNode sees its claim again) gets the stored results of every job a durable broker already has.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx
import trio

from core.aztec.header import AppendOnlyTreeSnapshot, Header
from node.l1.client import L1Client
from node.l1.propose import EpochProofArgs
from node.l1.rules import ProofClaim
from node.l2.block import L2Block
from node.l2.world_state import ChainState, genesis_header
from node.metrics import NodeMetrics
from node.prover_node.node import DeadlineMissed, EpochBlockSummary, EpochProvingAborted
from p2p.wire.quote import EpochProofQuote
from proving.interfaces import ProvingJobProducer
from proving.orchestrator.plan import BlockInput, TxInput
from proving.orchestrator.prover import EpochProofResult, EpochProver
from proving.proof_store import ProofStore

log = logging.getLogger("node.prover_node.epoch_job")
EPOCH_HISTORY: Final = 32  # epoch results kept for the live view and `status`


class EpochJobError(EpochProvingAborted):
    """The epoch cannot be proven or published; the message says why."""


class DeadlinePassedError(EpochJobError, DeadlineMissed):
    """The proof can no longer land before the end of epoch N+1."""


class PublicInputsMismatchError(EpochJobError):
    """The root rollup's public inputs disagree with what L1 stored."""


class ArchiverView(Protocol):
    def get_blocks_for_epoch(self, epoch: int, epoch_duration: int) -> list[L2Block]: ...
    def get_block(self, n: int) -> L2Block | None: ...
    def block_number(self) -> int: ...
    def get_l1_to_l2_messages(self, block_number: int) -> list[bytes]: ...
    def chain_state(self, block_number: int) -> ChainState: ...


# ------------------------------------------------------------------ conversions (pure)


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def block_input(block: L2Block, previous_header: Header, messages: Sequence[bytes]) -> BlockInput:
    """An archiver block as the orchestrator's input: its start state is the previous header's state,
    its end state and expected header are the published ones."""
    txs = tuple(
        TxInput(
            tx_hash=_int(e.tx_hash()) if e.nullifiers else 0,
            has_public_calls=bool(e.public_data_writes),
            effect=e.with_hashed_logs(),
        )
        for e in block.body.tx_effects
    )
    published = block.header
    return BlockInput(
        global_variables=published.global_variables,
        l1_to_l2_messages=tuple(_int(m) for m in messages),
        txs=txs,
        start_state=previous_header.state,
        end_state=published.state,
        expected_header=published,
        num_txs=published.content_commitment.num_txs,
    )


@dataclass(frozen=True, slots=True)
class EpochInputs:
    epoch: int
    from_block: int
    to_block: int
    previous_archive: AppendOnlyTreeSnapshot
    archive_sibling_path: tuple[int, ...]
    previous_block_hash: int
    blocks: tuple[BlockInput, ...]
    chain_id: int
    version: int


def epoch_inputs(archiver: ArchiverView, epoch: int, blocks: Sequence[L2Block]) -> EpochInputs:
    """Everything the orchestrator needs for `blocks` (consecutive, the whole epoch)."""
    if not blocks:
        raise EpochJobError(f"epoch {epoch} has no blocks")
    numbers = [b.number for b in blocks]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise EpochJobError(f"epoch {epoch}: blocks are not consecutive: {numbers}")
    first = numbers[0]
    parent = archiver.chain_state(first - 1)
    if first == 1:
        prev_header = genesis_header()
        prev_hash = prev_header.hash()
    else:
        prev = archiver.get_block(first - 1)
        if prev is None:
            raise EpochJobError(f"block {first - 1} (before epoch {epoch}) is not synced")
        prev_header, prev_hash = prev.header, _int(prev.block_hash)
    inputs: list[BlockInput] = []
    for b in blocks:
        inputs.append(block_input(b, prev_header, archiver.get_l1_to_l2_messages(b.number)))
        prev_header = b.header
    g = blocks[0].header.global_variables
    return EpochInputs(
        epoch=epoch,
        from_block=first,
        to_block=numbers[-1],
        previous_archive=AppendOnlyTreeSnapshot(parent.archive.root, parent.archive.size),
        archive_sibling_path=parent.archive.path,
        previous_block_hash=prev_hash,
        blocks=tuple(inputs),
        chain_id=g.chain_id,
        version=g.version,
    )


def proof_args(result: EpochProofResult, from_block: int, to_block: int) -> EpochProofArgs:
    pub = result.public_inputs
    return EpochProofArgs(
        epoch_size=to_block - from_block + 1,
        previous_archive=pub.previous_archive.root.to_bytes(32, "big"),
        end_archive=pub.end_archive.root.to_bytes(32, "big"),
        previous_block_hash=pub.previous_block_hash.to_bytes(32, "big"),
        end_block_hash=pub.end_block_hash.to_bytes(32, "big"),
        end_timestamp=pub.end_timestamp,
        out_hash=pub.out_hash.to_bytes(32, "big"),
        prover_id=pub.prover_id.to_bytes(32, "big"),
        fees=tuple((f.recipient.to_bytes(20, "big"), f.value) for f in pub.fees),
        aggregation_object=b"",
        proof=b"",
    )


# ------------------------------------------------------------------ the job


class EpochProvingJob:
    """`prove_and_publish(epoch, claim)`, one fresh orchestrator per call.

    `producer()` gives the broker to enqueue into (the in-process ProvingBroker or a BrokerClient);
    `l1` must carry PROVER_PUBLISHER_PRIVATE_KEY."""

    def __init__(
        self,
        *,
        l1: L1Client,
        archiver: ArchiverView,
        producer: Callable[[], ProvingJobProducer],
        proof_store: ProofStore,
        prover_id: int,
        sync_poll: float = 0.5,
        on_published: Callable[[int, dict[str, Any]], Awaitable[None]] | None = None,
        metrics: NodeMetrics | None = None,
        progress_interval: float = 10.0,
    ) -> None:
        self.l1 = l1
        self.archiver = archiver
        self.producer = producer
        self.proof_store = proof_store
        self.prover_id = prover_id
        self.sync_poll = sync_poll
        self.on_published = on_published
        self.last: dict[str, Any] = {}
        self.metrics = metrics if metrics is not None else NodeMetrics()
        self.progress_interval = progress_interval
        self.progress: Progress | None = None  # of the epoch being proven (None between epochs)
        # the live view (node/live_view.py): the epoch being proven, its deadline on trio's clock, the
        # last EPOCH_HISTORY results
        self.current: EpochProver | None = None
        self.current_epoch: int | None = None
        self.current_claim: ProofClaim | None = None
        self.started_at: float | None = None
        self.deadline_at: float | None = None
        self.history: deque[dict[str, Any]] = deque(maxlen=EPOCH_HISTORY)

    async def _seconds_to_deadline(self, epoch: int) -> float:
        timing = await self.l1.timing()
        deadline = timing.genesis_time + (epoch + 2) * timing.epoch_duration * timing.slot_duration
        return float(deadline - await self.l1.block_timestamp())

    async def _synced_blocks(self, epoch: int) -> list[L2Block]:
        timing = await self.l1.timing()
        while True:
            tips = await self.l1.tips()
            if self.archiver.block_number() >= tips.pending_block_number:
                blocks = self.archiver.get_blocks_for_epoch(epoch, timing.epoch_duration)
                if blocks and blocks[0].number == tips.proven_block_number + 1:
                    stored = [await self.l1.block(b.number) for b in (blocks[0], blocks[-1])]
                    if stored[0].archive == blocks[0].archive and stored[1].archive == blocks[-1].archive:
                        return blocks
                log.info(
                    "waiting for the archiver",
                    extra={"epoch": epoch, "blocks": [b.number for b in blocks], "proven": tips.proven_block_number},
                )
            await trio.sleep(self.sync_poll)

    async def _precheck(self, result: EpochProofResult, args: EpochProofArgs, inputs: EpochInputs) -> None:
        pub = result.public_inputs
        prev = await self.l1.block(inputs.from_block - 1)
        end = await self.l1.block(inputs.to_block)
        problems = []
        if args.previous_archive != prev.archive:
            problems.append(f"previousArchive 0x{args.previous_archive.hex()} != L1 0x{prev.archive.hex()}")
        if args.end_archive != end.archive:
            problems.append(f"endArchive 0x{args.end_archive.hex()} != L1 0x{end.archive.hex()}")
        if any(prev.block_hash) and args.previous_block_hash != prev.block_hash:
            problems.append(f"previousBlockHash 0x{args.previous_block_hash.hex()} != L1 0x{prev.block_hash.hex()}")
        if args.end_block_hash != end.block_hash:
            problems.append(f"endBlockHash 0x{args.end_block_hash.hex()} != L1 0x{end.block_hash.hex()}")
        if problems:
            raise PublicInputsMismatchError(f"epoch {inputs.epoch}: " + "; ".join(problems))
        on_l1 = await self.l1.epoch_proof_public_inputs(args)
        ours = pub.to_fields()
        names = ["previousArchive", "previousArchiveNextIndex", "endArchive", "endArchiveNextIndex",
                 "previousBlockHash", "endBlockHash", "endTimestamp", "endBlockNumber", "outHash"]
        differ = [
            names[i] if i < len(names) else f"field {i}"
            for i, (a, b) in enumerate(zip(ours, on_l1[: len(ours)], strict=True))
            if a != int.from_bytes(b, "big")
        ]
        if differ:
            raise PublicInputsMismatchError(
                f"epoch {inputs.epoch}: root public inputs differ from getEpochProofPublicInputs at {differ}"
            )

    async def prove_and_publish(self, epoch: int, claim: ProofClaim) -> None:
        remaining = await self._seconds_to_deadline(epoch)
        if remaining <= 0:
            raise DeadlinePassedError(
                f"epoch {epoch}: the proof deadline (end of epoch {epoch + 1}) has passed ({-remaining:.0f}s ago), "
                "giving up"
            )
        started = time.monotonic()
        deadline_at = trio.current_time() + remaining
        self.current_epoch, self.current_claim = epoch, claim
        self.started_at = trio.current_time()
        self.deadline_at = deadline_at
        with trio.move_on_after(remaining) as scope:
            try:
                await self._prove_and_publish(epoch, started, deadline_at)
            except Exception as e:
                self.history.append({"epoch": epoch, "result": "failed", "error": str(e)[:200]})
                raise
            finally:
                self.progress = None
            return
        self.history.append({"epoch": epoch, "result": "missed deadline"})
        if scope.cancelled_caught:
            raise DeadlinePassedError(
                f"epoch {epoch}: not proven before the deadline (end of epoch {epoch + 1}, {remaining:.0f}s), giving up"
            )

    async def _report_progress(self, prover: EpochProver, epoch: int, planned: int, deadline_at: float) -> None:
        """The progress line (info) and the aztec_prover_epoch_* gauges, while the epoch is proven."""
        began = last_at = trio.current_time()
        last_pct = -1
        while True:
            st = prover.statistics()
            emitted = st.plan.emitted if st.plan else 0
            now = trio.current_time()
            cur = Progress(st.results_applied, max(planned, emitted), st.jobs_in_flight, now - began, deadline_at - now)
            self.progress = cur
            self.metrics.epoch_progress(cur.total, cur.done, cur.in_flight, cur.eta, cur.to_deadline)
            if last_pct < 0 or should_log_progress(last_pct, last_at, cur, now, self.progress_interval):
                log.info("epoch proof progress", extra={"epoch": epoch, **cur.fields()})
                last_pct, last_at = cur.percent, now
            await trio.sleep(1.0)

    async def _prove_and_publish(self, epoch: int, started: float, deadline_at: float | None = None) -> None:
        blocks = await self._synced_blocks(epoch)
        inputs = epoch_inputs(self.archiver, epoch, blocks)
        vk_tree_root = await self.l1.vk_tree_root()
        pct_root = await self.l1.protocol_contract_tree_root()
        prover = EpochProver(
            self.producer(),
            self.proof_store,
            prover_id=self.prover_id,
            vk_tree_root=vk_tree_root,
            protocol_contract_tree_root=pct_root,
        )
        self.current = prover
        log.info(
            "proving epoch",
            extra={"epoch": epoch, "blocks": f"{inputs.from_block}-{inputs.to_block}",
                   "txs": sum(len(b.txs) for b in inputs.blocks)},
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(prover.run)
            if deadline_at is not None:
                nursery.start_soon(self._report_progress, prover, epoch, planned_jobs(inputs.blocks), deadline_at)
            try:
                await prover.start_epoch(
                    epoch,
                    len(inputs.blocks),
                    previous_archive=inputs.previous_archive,
                    archive_sibling_path=inputs.archive_sibling_path,
                    previous_block_hash=inputs.previous_block_hash,
                    chain_id=inputs.chain_id,
                    version=inputs.version,
                )
                for b in inputs.blocks:
                    await prover.add_block(b)
                result = await prover.finalise()
            except BaseException:
                with trio.CancelScope(shield=True):
                    await prover.cancel()
                raise
            finally:
                nursery.cancel_scope.cancel()
        proven_at = time.monotonic()
        args = proof_args(result, inputs.from_block, inputs.to_block)
        await self._precheck(result, args, inputs)
        receipt = await self.l1.submit_epoch_root_proof(args)
        slack = await self._seconds_to_deadline(epoch)
        self.metrics.deadline_slack.observe(max(0.0, slack))
        self.metrics.epoch_proving.observe(time.monotonic() - started)
        self.metrics.epoch_progress(0, 0, 0, None, 0.0)
        stats = prover.statistics()
        self.last = {
            "epoch": epoch,
            "blocks": f"{inputs.from_block}-{inputs.to_block}",
            "jobs": stats.plan.emitted if stats.plan else 0,
            "already_proven": stats.already_proven_at_enqueue,
            "prove_seconds": round(proven_at - started, 2),
            "total_seconds": round(time.monotonic() - started, 2),
            "gas": receipt.gas_used,
            "deadline_slack_s": round(slack, 1),
        }
        self.history.append({**self.last, "result": "proven",
                             "slack_seconds": round((self.deadline_at or 0.0) - trio.current_time(), 1)})
        log.info("submitted epoch proof", extra=self.last)
        if self.on_published is not None:
            await self.on_published(epoch, self.last)


# ------------------------------------------------------------------ progress (pure)


def planned_jobs(blocks: Sequence[BlockInput]) -> int:
    """How many proving jobs the orchestrator's plan emits for these blocks (proving/orchestrator/plan.py):
    per block 4 BASE_PARITY + ROOT_PARITY, a TUBE per tx (+ PUBLIC_VM with public calls), a base rollup per
    declared tx (max(2, txs)), one PRIVATE_KERNEL_EMPTY per epoch when padding, the MERGE tree and the BLOCK_ROOT; per
    epoch the BLOCK_MERGE tree over max(2, B) leaves (an EMPTY_BLOCK_ROOT pads a 1-block epoch) and ROOT."""
    total = 0
    padded = False
    for b in blocks:
        txs = len(b.txs)
        declared = b.num_txs if b.num_txs is not None else max(2, txs)
        total += 5 + txs + sum(1 for t in b.txs if t.has_public_calls) + declared + max(0, declared - 2) + 1
        padded = padded or txs < declared
    leaves = max(2, len(blocks))
    return total + (1 if padded else 0) + (leaves - 2) + 1 + (1 if len(blocks) == 1 else 0)


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    in_flight: int
    elapsed: float
    to_deadline: float  # seconds until the deadline from now

    @property
    def eta(self) -> float | None:
        """Seconds until done at the measured rate (None before the first job is done)."""
        if self.done <= 0:
            return None
        return self.elapsed / self.done * max(0, self.total - self.done)

    @property
    def percent(self) -> int:
        return 100 * self.done // self.total if self.total else 0

    def fields(self) -> dict[str, Any]:
        eta = self.eta
        return {
            "jobs": f"{self.done}/{self.total}",
            "in_flight": self.in_flight,
            "elapsed_s": round(self.elapsed, 1),
            "eta_s": None if eta is None else round(eta, 1),
            "deadline_in_s": round(self.to_deadline, 1),
            "on_time": None if eta is None else eta <= self.to_deadline,
        }


def should_log_progress(prev_percent: int, prev_at: float, cur: Progress, now: float, interval: float) -> bool:
    """A progress line every `interval` seconds or whenever another 10% of the jobs is done."""
    return cur.percent // 10 > prev_percent // 10 or now - prev_at >= interval


# ------------------------------------------------------------------ BlockSource and QuoteSinks


class ArchiverBlockSource:
    """ProverNode BlockSource: the epoch's blocks as the archiver has synced them."""

    def __init__(self, archiver: ArchiverView, l1: L1Client) -> None:
        self.archiver = archiver
        self.l1 = l1

    async def epoch_block_summaries(self, epoch: int) -> Sequence[EpochBlockSummary]:
        timing = await self.l1.timing()
        return [
            EpochBlockSummary(b.number, len(b.body.tx_effects), b.header.total_fees)
            for b in self.archiver.get_blocks_for_epoch(epoch, timing.epoch_duration)
        ]


class P2PQuoteSink:
    """Quotes into the local pool and gossip (P2PClient.add_epoch_proof_quote)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def add_epoch_proof_quote(self, quote: EpochProofQuote) -> None:
        await self.client.add_epoch_proof_quote(quote)


class QuoteSinkError(RuntimeError):
    pass


class HttpQuoteSink:
    """Quotes to PROVER_COORDINATION_NODE_URL's `node_addEpochProofQuote` (JSON form of the quote)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    async def add_epoch_proof_quote(self, quote: EpochProofQuote) -> None:
        body = {"jsonrpc": "2.0", "id": 1, "method": "node_addEpochProofQuote", "params": [quote.to_json()]}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                resp = await client.post(self.url, json=body)
            out = resp.json()
        except (httpx.HTTPError, ValueError) as e:
            raise QuoteSinkError(f"PROVER_COORDINATION_NODE_URL {self.url}: {e!r}") from e
        if isinstance(out, dict) and out.get("error"):
            raise QuoteSinkError(f"node_addEpochProofQuote at {self.url} failed: {out['error']}")
