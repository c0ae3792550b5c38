"""Aztec v0.63 gossip topics, intake on receipt, penalties.

`GossipIntake.validate(topic, forwarder, origin, data)` is the synchronous gossipsub topic validator
(called by the host before a message is forwarded). In order it:
1. drops messages forwarded by a graylisted peer (our `PeerScoring` score < -80);
2. applies a per-(peer, topic) token-bucket rate limit (over the limit: dropped and counted, no
   penalty: a busy honest relay can exceed it);
3. runs the pure topic validator from `p2p.validation`; Reject -> penalty (invalid delivery and/or
   Aztec app penalty) and not forwarded; Ignore -> not forwarded, no penalty;
4. de-duplicates against the pools (quotes by payload+normalised signature, txs by hash); quotes
   also pass the admission pre-check (`QuoteAdmission.precheck`: signature domain, minimum bond,
   fee range, deposit as last read from L1): a quote whose prover is known to lack the bond is
   ignored (a relay cannot know the bond, so no penalty) and its originator counted;
5. puts the decoded object on that topic's bounded intake queue with `send_nowait`; when the queue
   is full the object is dropped and counted (the pubsub reader never blocks). Returns True so the
   message is forwarded.
`GossipIntake.run()` drains the queues into the pools (quotes through `QuoteAdmission.admit`, which
reads the escrow deposit when it is not cached yet) and the block-proposal handlers.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import trio

from p2p.pools.attestation_pool import AttestationPool
from p2p.pools.quote_admission import Admission, QuoteAdmission
from p2p.pools.quote_pool import EpochProofQuotePool
from p2p.pools.tx_pool import TxPool
from p2p.scoring import PeerScoring
from p2p.validation import (
    Accept,
    Ignore,
    QuoteValidationContext,
    Reject,
    TxValidationContext,
    validate_block_attestation,
    validate_block_proposal,
    validate_quote,
    validate_tx,
)
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal

log = logging.getLogger(__name__)


class TopicType(enum.Enum):
    """Aztec's fixed topic enum (circuit-types/src/p2p/topic_type.ts)."""

    TX = "tx"
    BLOCK_PROPOSAL = "block_proposal"
    BLOCK_ATTESTATION = "block_attestation"
    EPOCH_PROOF_QUOTE = "epoch_proof_quote"

    @property
    def topic(self) -> str:
        return f"/aztec/{self.value}/0.1.0"


TX_TOPIC: Final = TopicType.TX.topic
BLOCK_PROPOSAL_TOPIC: Final = TopicType.BLOCK_PROPOSAL.topic
BLOCK_ATTESTATION_TOPIC: Final = TopicType.BLOCK_ATTESTATION.topic
EPOCH_PROOF_QUOTE_TOPIC: Final = TopicType.EPOCH_PROOF_QUOTE.topic
ALL_TOPICS: Final = tuple(t.topic for t in TopicType)

# A proposal handler gets the proposal and its recovered sender; it may return an attestation,
# which is then gossiped (Aztec's registerBlockProposalHandler).
BlockProposalHandler = Callable[[BlockProposal, bytes], Awaitable[BlockAttestation | None]]
Publisher = Callable[[str, bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_second: float
    burst: float


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    queue_size: int = 1024  # per topic
    rate_limits: dict[str, RateLimit] = field(
        default_factory=lambda: {
            TX_TOPIC: RateLimit(50, 200),
            BLOCK_PROPOSAL_TOPIC: RateLimit(10, 20),
            BLOCK_ATTESTATION_TOPIC: RateLimit(200, 400),
            EPOCH_PROOF_QUOTE_TOPIC: RateLimit(500, 2000),
        }
    )
    max_rate_limited_peers: int = 4096


class TokenBuckets:
    """Per-key token buckets (sans-IO; `now` injected). Bounded: least recently used key dropped."""

    def __init__(self, max_keys: int) -> None:
        self._max = max_keys
        self._b: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def allow(self, key: tuple[str, str], limit: RateLimit, now: float) -> bool:
        tokens, last = self._b.pop(key, (limit.burst, now))
        tokens = min(limit.burst, tokens + (now - last) * limit.per_second)
        ok = tokens >= 1.0
        if ok:
            tokens -= 1.0
        self._b[key] = (tokens, now)
        if len(self._b) > self._max:
            self._b.popitem(last=False)
        return ok


class GossipIntake:
    def __init__(
        self,
        *,
        quote_ctx: QuoteValidationContext,
        tx_ctx: TxValidationContext,
        scoring: PeerScoring,
        quote_pool: EpochProofQuotePool,
        tx_pool: TxPool,
        attestation_pool: AttestationPool,
        now: Callable[[], float],
        config: IntakeConfig | None = None,
        quote_admission: QuoteAdmission | None = None,
    ) -> None:
        self.config = config or IntakeConfig()
        self.quote_admission = quote_admission
        self._same_domain = quote_admission is not None and (
            quote_admission.chain_id,
            quote_admission.rollup_address,
        ) == (quote_ctx.chain_id, quote_ctx.rollup_address)
        self.quote_ctx = quote_ctx
        self.tx_ctx = tx_ctx
        self.scoring = scoring
        self.quote_pool = quote_pool
        self.tx_pool = tx_pool
        self.attestation_pool = attestation_pool
        self._now = now
        self._buckets = TokenBuckets(self.config.max_rate_limited_peers)
        self._send: dict[str, trio.MemorySendChannel[tuple[str, Any]]] = {}
        self._recv: dict[str, trio.MemoryReceiveChannel[tuple[str, Any]]] = {}
        for t in ALL_TOPICS:
            s, r = trio.open_memory_channel[tuple[str, Any]](self.config.queue_size)
            self._send[t], self._recv[t] = s, r
        self.proposal_handlers: list[BlockProposalHandler] = []
        self.publisher: Publisher | None = None
        self.last_reject: dict[str, str] = {}
        self._stats: dict[str, dict[str, int]] = {
            t: {
                "received": 0,
                "accepted": 0,
                "rejected": 0,
                "ignored": 0,
                "duplicates": 0,
                "rate_limited": 0,
                "graylisted": 0,
                "queue_full_dropped": 0,
                "processed": 0,
            }
            for t in ALL_TOPICS
        }

    # ---- sync validator (runs inside the pubsub receive path) ----------------------------
    def validate(self, topic: str, forwarder: str, origin: str, data: bytes) -> bool:
        st = self._stats.get(topic)
        if st is None:
            return False
        st["received"] += 1
        if self.scoring.is_graylisted(forwarder):
            st["graylisted"] += 1
            return False
        limit = self.config.rate_limits.get(topic)
        if limit is not None and not self._buckets.allow((forwarder, topic), limit, self._now()):
            st["rate_limited"] += 1
            return False
        verdict = self.check(topic, data)
        if isinstance(verdict, Reject):
            st["rejected"] += 1
            self.last_reject[topic] = verdict.reason
            if verdict.invalid_delivery:
                self.scoring.invalid_delivery(forwarder, topic)
            if verdict.severity is not None:
                self.scoring.penalize(forwarder, verdict.severity)
            log.debug("rejected %s from %s: %s", topic, forwarder, verdict.reason)
            return False
        if isinstance(verdict, Ignore):
            if verdict.reason.startswith(Admission.UNBONDED.value) and self.quote_admission is not None:
                self.quote_admission.count_unbonded_origin(origin)
            if verdict.reason == "duplicate":
                st["duplicates"] += 1
            else:
                st["ignored"] += 1
            return False
        st["accepted"] += 1
        try:
            self._send[topic].send_nowait((forwarder, verdict.value))
        except trio.WouldBlock:
            st["queue_full_dropped"] += 1
        return True

    def check(self, topic: str, data: bytes) -> Accept[Any] | Reject | Ignore:
        """Pure verdict for one payload, including de-duplication against the pools."""
        if topic == EPOCH_PROOF_QUOTE_TOPIC:
            v = validate_quote(data, self.quote_ctx)
            if isinstance(v, Accept):
                if self.quote_pool.contains(v.value):
                    return Ignore("duplicate")
                if self.quote_admission is not None:
                    # validate_quote recovered the prover under the same chain id and rollup
                    pre = self.quote_admission.precheck(v.value, signature_verified=self._same_domain)
                    if pre is not None:
                        return Ignore(f"{pre.outcome.value}: {pre.reason}")
            return v
        if topic == TX_TOPIC:
            vt = validate_tx(data, self.tx_ctx)
            if isinstance(vt, Accept):
                if vt.value.tx_hash() in self.tx_pool:
                    return Ignore("duplicate")
                return Accept((vt.value, data))
            return vt
        if topic == BLOCK_ATTESTATION_TOPIC:
            return validate_block_attestation(data)
        if topic == BLOCK_PROPOSAL_TOPIC:
            return validate_block_proposal(data)
        return Ignore(f"unknown topic {topic}")

    # ---- consumers ---------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._consume, EPOCH_PROOF_QUOTE_TOPIC, self._on_quote)
            nursery.start_soon(self._consume, TX_TOPIC, self._on_tx)
            nursery.start_soon(self._consume, BLOCK_ATTESTATION_TOPIC, self._on_attestation)
            nursery.start_soon(self._consume, BLOCK_PROPOSAL_TOPIC, self._on_proposal)
            task_status.started()

    async def _consume(self, topic: str, fn: Callable[[str, Any], Awaitable[None]]) -> None:
        async for forwarder, obj in self._recv[topic]:
            try:
                await fn(forwarder, obj)
            except Exception as e:  # a handler bug must not stop intake
                log.warning("processing %s from %s failed: %r", topic, forwarder, e)
            self._stats[topic]["processed"] += 1

    async def _on_quote(self, _forwarder: str, quote: Any) -> None:
        slot = self.quote_ctx.current_slot()
        if self.quote_admission is not None:
            await self.quote_admission.admit(quote, current_slot=slot, signature_verified=self._same_domain)
        else:
            self.quote_pool.add_quote(quote, current_slot=slot)

    async def _on_tx(self, _forwarder: str, item: Any) -> None:
        tx, raw = item
        self.tx_pool.add_tx(tx, raw)

    async def _on_attestation(self, _forwarder: str, item: Any) -> None:
        att, sender = item
        self.attestation_pool.add_attestation(att, sender)

    async def _on_proposal(self, _forwarder: str, item: Any) -> None:
        proposal, sender = item
        for handler in list(self.proposal_handlers):
            att = await handler(proposal, sender)
            if att is not None and self.publisher is not None:
                await self.publisher(BLOCK_ATTESTATION_TOPIC, att.to_bytes())

    def queue_depths(self) -> dict[str, int]:
        return {t: self._recv[t].statistics().current_buffer_used for t in ALL_TOPICS}

    def statistics(self) -> dict[str, object]:
        return {"topics": {t: dict(s) for t, s in self._stats.items()}, "queues": self.queue_depths()}
