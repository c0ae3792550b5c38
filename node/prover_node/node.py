"""The prover node's driver: polls L1, applies `monitor.decide`, sends quotes, proves claimed epochs.

Everything it talks to is a narrow port (Protocol), so the loop runs the same against the real L1
client, archiver, P2P client and orchestrator, or against in-memory doubles on a MockClock.

Start-up: BondManager.ensure_bond() (top the escrow up to PROVER_TARGET_ESCROW_AMOUNT when below the
minimum), then report ready. Every PROVER_NODE_POLLING_INTERVAL_MS: read a ChainView; for SendQuote,
ask the QuoteProvider, ensure the bond covers it, sign the EIP-712 digest and hand it to the quote
sink (P2PClient gossip, or PROVER_COORDINATION_NODE_URL); for StartProving, run the epoch proving job
in this component's nursery (restart-safe: after a crash the claim is seen again and the job resumes
from the broker's stored results).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import trio

from node.l1.rules import ProofClaim
from node.metrics import NodeMetrics
from node.prover_node.bond import BondManager
from node.prover_node.monitor import ChainView, MonitorState, SendQuote, StartProving, decide
from node.prover_node.quote_provider import QuoteProvider, QuoteRequest
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload

log = logging.getLogger("node.prover_node")

MAX_QUOTE_ATTEMPTS_PER_EPOCH = 3
MAX_PROVING_ATTEMPTS_PER_EPOCH = 3
QUOTE_HISTORY: Final = 64  # quotes we sent, kept for the live view


@dataclass(frozen=True, slots=True)
class EpochBlockSummary:
    number: int
    tx_count: int
    total_fees: int


class EpochProvingAborted(RuntimeError):
    """An expected way for an epoch job to end without a proof (deadline passed, L1 disagrees); logged
    without a traceback."""


class DeadlineMissed(EpochProvingAborted):
    """The epoch's proof deadline passed before the proof landed (counted as result="missed")."""


QuoteOutcome = Literal["claimed", "other_prover", "unclaimed"]


def quote_outcome(epoch: int, valid_until_slot: int, view: ChainView, me: bytes) -> QuoteOutcome | None:
    """What became of our quote for `epoch` (None: not decided yet). Pure.

    claimed: a claim for the epoch names us; other_prover: a claim for it names someone else;
    unclaimed: the quote expired, or the epoch left the proving window (proven or pruned), unclaimed."""
    claim = view.claim
    if claim is not None and claim.epoch_to_prove == epoch:
        return "claimed" if claim.bond_provider == me else "other_prover"
    if view.current_slot > valid_until_slot:
        return "unclaimed"
    if view.epoch_to_prove is None or view.epoch_to_prove > epoch:
        return "unclaimed"
    return None


class ChainReader(Protocol):
    async def chain_view(self) -> ChainView: ...


class BlockSource(Protocol):
    async def epoch_block_summaries(self, epoch: int) -> Sequence[EpochBlockSummary]: ...


class QuoteSink(Protocol):
    async def add_epoch_proof_quote(self, quote: EpochProofQuote) -> None: ...


class EpochProver(Protocol):
    async def prove_and_publish(self, epoch: int, claim: ProofClaim) -> None:
        """Prove every block of `epoch` and submit the root proof to L1; raises on failure."""
        ...


@dataclass
class ProverNodeStats:
    quotes_sent: int = 0
    quote_failures: int = 0
    epochs_started: int = 0
    epochs_proven: int = 0
    epochs_failed: int = 0


class ProverNode:
    def __init__(
        self,
        *,
        chain: ChainReader,
        blocks: BlockSource,
        quote_provider: QuoteProvider,
        quote_sink: QuoteSink,
        bond: BondManager,
        prover: EpochProver,
        signer_key: bytes,
        prover_address: bytes,
        chain_id: int,
        rollup_address: bytes,
        polling_interval: float,
        metrics: NodeMetrics | None = None,
    ) -> None:
        self.chain, self.blocks, self.quote_provider, self.quote_sink = chain, blocks, quote_provider, quote_sink
        self.bond, self.prover = bond, prover
        self._key = signer_key
        self.address = prover_address
        self.chain_id, self.rollup_address = chain_id, rollup_address
        self.polling_interval = polling_interval
        self.state = MonitorState()
        self.stats = ProverNodeStats()
        self._attempts: dict[int, int] = {}
        self._prove_failures: dict[int, int] = {}
        self.metrics = metrics if metrics is not None else NodeMetrics()
        self._open_quotes: dict[int, int] = {}  # epoch -> valid_until_slot of quotes not yet decided
        self.last_view: ChainView | None = None  # the last L1 poll (the live view and `status` read it)
        self.quotes: deque[dict[str, Any]] = deque(maxlen=QUOTE_HISTORY)  # quotes we sent, and their fate

    def statistics(self) -> dict[str, int]:
        return {**self.stats.__dict__, "quoted_epochs": len(self.state.quoted), "proving": len(self.state.proving)}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.bond.ensure_bond()
        async with trio.open_nursery() as nursery:
            task_status.started()
            log.info("prover node started", extra={"prover": "0x" + self.address.hex()})
            while True:
                try:
                    await self.tick(nursery)
                except Exception as e:  # one bad poll (L1 hiccup) must not stop the node
                    log.warning("prover node poll failed: %s", e)
                await trio.sleep(self.polling_interval)

    async def tick(self, nursery: trio.Nursery) -> None:
        view = await self.chain.chain_view()
        self.last_view = view
        self._note_claim(view)
        if view.epoch_to_prove is not None:
            self.state.forget_before(view.epoch_to_prove)
        self._settle_quotes(view)
        for action in decide(view, self.state, self.address):
            if isinstance(action, StartProving):
                self.state.proving.add(action.epoch)
                nursery.start_soon(self._prove, action)
            elif isinstance(action, SendQuote):
                await self._quote(action)

    def _settle_quotes(self, view: ChainView) -> None:
        for epoch, valid_until in list(self._open_quotes.items()):
            outcome = quote_outcome(epoch, valid_until, view, self.address)
            if outcome is None:
                continue
            del self._open_quotes[epoch]
            if outcome == "claimed":
                self.metrics.quotes_claimed.inc()
            else:
                self.metrics.quotes_lost.labels(outcome).inc()
            claim = view.claim
            log.info("our quote for epoch %d: %s", epoch, outcome.replace("_", " "),
                     extra={"epoch": epoch} | ({"claimed_by": "0x" + claim.bond_provider.hex(),
                                                "fee_bps": claim.basis_point_fee}
                                               if claim is not None and claim.epoch_to_prove == epoch else {}))

    def _note_claim(self, view: ChainView) -> None:
        """Mark our quote for the claimed epoch as claimed (ours) or lost (someone else's bond)."""
        claim = view.claim
        if claim is None:
            return
        for q in self.quotes:
            if q["epoch"] == claim.epoch_to_prove and q["outcome"] == "sent":
                ours = claim.bond_provider == self.address
                q["outcome"] = "claimed" if ours else "lost"
                if not ours:
                    q["claimed_by"] = "0x" + claim.bond_provider.hex()

    async def _quote(self, action: SendQuote) -> None:
        epoch = action.epoch
        blocks = await self.blocks.epoch_block_summaries(epoch)
        if not blocks:
            log.info("no blocks found for epoch %d, not quoting", epoch)
            self.state.quoted.add(epoch)
            return
        request = QuoteRequest(
            epoch_number=epoch,
            from_block=blocks[0].number,
            to_block=blocks[-1].number,
            tx_count=sum(b.tx_count for b in blocks),
            total_fees=sum(b.total_fees for b in blocks),
        )
        try:
            params = await self.quote_provider.get_quote(request)
            await self.bond.ensure_bond(params.bond_amount)
        except Exception as e:  # QuoteProviderError, InsufficientTokens, L1 errors: skip this epoch's quote
            self.stats.quote_failures += 1
            self.metrics.quote_failures.inc()
            n = self._attempts[epoch] = self._attempts.get(epoch, 0) + 1
            if n >= MAX_QUOTE_ATTEMPTS_PER_EPOCH:
                self.state.quoted.add(epoch)
            log.warning("no quote for epoch %d (attempt %d): %s", epoch, n, e)
            return
        valid_until = action.valid_until_slot if params.valid_until_slot is None else params.valid_until_slot
        payload = EpochProofQuotePayload(epoch, valid_until, params.bond_amount, self.address, params.basis_point_fee)
        quote = EpochProofQuote.new(payload, self._key, self.chain_id, self.rollup_address)
        await self.quote_sink.add_epoch_proof_quote(quote)
        self.state.quoted.add(epoch)
        self.stats.quotes_sent += 1
        self.metrics.quotes_sent.inc()
        self._open_quotes[epoch] = valid_until
        self.quotes.append({"epoch": epoch, "fee_bps": params.basis_point_fee, "bond": params.bond_amount,
                            "valid_until_slot": valid_until, "at": time.time(), "outcome": "sent",
                            "blocks": f"{request.from_block}-{request.to_block}", "txs": request.tx_count})
        log.info(
            "sent quote",
            extra={
                "epoch": epoch,
                "blocks": f"{request.from_block}-{request.to_block}",
                "fee_bps": params.basis_point_fee,
                "bond": params.bond_amount,
                "valid_until_slot": valid_until,
            },
        )

    async def _prove(self, action: StartProving) -> None:
        self.stats.epochs_started += 1
        self.metrics.epochs_started.inc()
        log.info("our quote was claimed, proving", extra={"epoch": action.epoch})
        try:
            await self.prover.prove_and_publish(action.epoch, action.claim)
        except Exception as e:
            self.stats.epochs_failed += 1
            self.metrics.epochs.labels("missed" if isinstance(e, DeadlineMissed) else "failed").inc()
            n = self._prove_failures[action.epoch] = self._prove_failures.get(action.epoch, 0) + 1
            if n < MAX_PROVING_ATTEMPTS_PER_EPOCH and not isinstance(e, DeadlineMissed):
                self.state.proving.discard(action.epoch)  # a later poll retries while the claim is still live
            log.error("proving epoch %d failed (attempt %d): %s", action.epoch, n, e,
                      exc_info=not isinstance(e, EpochProvingAborted))
            return
        self.stats.epochs_proven += 1
        self.metrics.epochs.labels("proven").inc()
        log.info("epoch proven and submitted", extra={"epoch": action.epoch})
        try:
            await self.bond.ensure_bond()  # the claim staked part of the deposit
        except Exception as e:
            log.warning("bond top-up after proving failed: %s", e)
