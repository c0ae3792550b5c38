"""Gossip intake on receipt, penalties; the topics themselves are described in `p2p.topics`.

`GossipIntake.validate(topic, forwarder, origin, data)` is the synchronous gossipsub topic validator
(called by the host before a message is forwarded). In order it:
1. drops messages on topics not in its registry, and messages forwarded by a graylisted peer (our
   `PeerScoring` score < -80);
2. applies a per-(peer, topic) token-bucket rate limit (`IntakeConfig.rate_limits`, defaulting to
   each `TopicSpec.rate_limit`; over the limit: dropped and counted, no penalty: a busy honest relay
   can exceed it);
3. runs the topic's `TopicSpec.check`: its pure validator from `p2p.validation` with its context,
   plus de-duplication against the pools (quotes by payload+normalised signature, txs by hash;
   quotes also pass the admission pre-check `QuoteAdmission.precheck`: a quote whose prover is
   known to lack the bond is ignored, no penalty, and its originator counted via `on_ignore`).
   Reject -> penalty (invalid delivery and/or Aztec app penalty) and not forwarded; Ignore -> not
   forwarded, no penalty;
4. puts the accepted value on that topic's bounded intake queue with `send_nowait`; when the queue
   is full the object is dropped and counted (the pubsub reader never blocks). Returns True so the
   message is forwarded.
`GossipIntake.run()` drains each queue into its topic's `TopicSpec.deliver` (quotes through
`QuoteAdmission.admit`, txs and attestations into their pools, proposals to the handlers).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import trio

from p2p.pools.attestation_pool import AttestationPool
from p2p.pools.quote_admission import QuoteAdmission
from p2p.pools.quote_pool import EpochProofQuotePool
from p2p.pools.tx_pool import TxPool
from p2p.scoring import PeerScoring
from p2p.topics import BLOCK_ATTESTATION, BLOCK_PROPOSAL, EPOCH_PROOF_QUOTE, TOPICS, TX, TopicRegistry
from p2p.topics import RateLimit as RateLimit
from p2p.validation import (
    Accept,
    Ignore,
    QuoteValidationContext,
    Reject,
    TxValidationContext,
)
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal

log = logging.getLogger(__name__)


# topic strings, for callers that name one topic (the registry in p2p.topics is the source)
TX_TOPIC: Final = TX.topic
BLOCK_PROPOSAL_TOPIC: Final = BLOCK_PROPOSAL.topic
BLOCK_ATTESTATION_TOPIC: Final = BLOCK_ATTESTATION.topic
EPOCH_PROOF_QUOTE_TOPIC: Final = EPOCH_PROOF_QUOTE.topic
ALL_TOPICS: Final = TOPICS.topics

# A proposal handler gets the proposal and its recovered sender; it may return an attestation,
# which is then gossiped (Aztec's registerBlockProposalHandler).
BlockProposalHandler = Callable[[BlockProposal, bytes], Awaitable[BlockAttestation | None]]
Publisher = Callable[[str, bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    queue_size: int = 1024  # per topic
    # overrides of `TopicSpec.rate_limit`, per topic string (defaults: the four v0.63.1 topics)
    rate_limits: dict[str, RateLimit] = field(default_factory=lambda: {s.topic: s.rate_limit for s in TOPICS})
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
    """Intake for every topic of `topics`; also the context `TopicSpec.check`/`deliver` receive."""

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
        topics: TopicRegistry = TOPICS,
    ) -> None:
        self.config = config or IntakeConfig()
        self.topics = topics
        self.quote_admission = quote_admission
        # validate_quote recovered the prover under the admission's chain id and rollup
        self.same_domain = quote_admission is not None and (
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
        for t in topics.topics:
            s, r = trio.open_memory_channel[tuple[str, Any]](self.config.queue_size)
            self._send[t], self._recv[t] = s, r
        self.proposal_handlers: list[BlockProposalHandler] = []
        self.publisher: Publisher | None = None
        # called with (topic, data) for each accepted message, before it is queued (the node's
        # P2P_GOSSIP_TRACE log line); must not raise
        self.on_accept: Callable[[str, bytes], None] | None = None
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
            for t in topics.topics
        }

    # ---- sync validator (runs inside the pubsub receive path) ----------------------------
    def validate(self, topic: str, forwarder: str, origin: str, data: bytes) -> bool:
        spec = self.topics.get(topic)
        st = self._stats.get(topic)
        if spec is None or st is None:
            return False
        st["received"] += 1
        if self.scoring.is_graylisted(forwarder):
            st["graylisted"] += 1
            return False
        limit = self.config.rate_limits.get(topic, spec.rate_limit)
        if not self._buckets.allow((forwarder, topic), limit, self._now()):
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
            if spec.on_ignore is not None:
                spec.on_ignore(self, origin, verdict)
            if verdict.reason == "duplicate":
                st["duplicates"] += 1
            else:
                st["ignored"] += 1
            return False
        st["accepted"] += 1
        if self.on_accept is not None:
            self.on_accept(topic, data)
        try:
            self._send[topic].send_nowait((forwarder, verdict.value))
        except trio.WouldBlock:
            st["queue_full_dropped"] += 1
        return True

    def check(self, topic: str, data: bytes) -> Accept[Any] | Reject | Ignore:
        """Pure verdict for one payload, including de-duplication against the pools."""
        spec = self.topics.get(topic)
        if spec is None:
            return Ignore(f"unknown topic {topic}")
        try:
            return spec.check(self, data)
        except Exception as e:  # a check that is not total is our bug, not the peer's
            return Ignore(f"internal error in {spec.name} check: {type(e).__name__}: {e}")

    # ---- consumers ---------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for spec in self.topics:
                nursery.start_soon(self._consume, spec.topic, spec.deliver)
            task_status.started()

    async def _consume(self, topic: str, deliver: Callable[[GossipIntake, str, Any], Awaitable[None]]) -> None:
        async for forwarder, obj in self._recv[topic]:
            try:
                await deliver(self, forwarder, obj)
            except Exception as e:  # a handler bug must not stop intake
                log.warning("processing %s from %s failed: %r", topic, forwarder, e)
            self._stats[topic]["processed"] += 1

    def queue_depths(self) -> dict[str, int]:
        return {t: r.statistics().current_buffer_used for t, r in self._recv.items()}

    def statistics(self) -> dict[str, object]:
        return {"topics": {t: dict(s) for t, s in self._stats.items()}, "queues": self.queue_depths()}
