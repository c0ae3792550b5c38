"""The gossip topic registry: one `TopicSpec` per topic, the only place a topic is described.

Gossip intake (`p2p.gossip.GossipIntake`: validation, rate limit, queue, consumer), subscription
(`p2p.service.P2PService` subscribes to every registered topic) and publishing (`P2PClient.publish`,
the proposal handler's attestations) all read `TOPICS`, so a new topic is one entry here (plus its
codec in `p2p/wire/` and its pure validator in `p2p/validation.py`):

    MY_TOPIC = TopicSpec(
        name="my_topic",                      # wire topic "/aztec/my_topic/0.1.0"
        decode=MyThing.from_bytes, encode=MyThing.to_bytes,
        check=lambda g, data: validate_my_thing(data, g.my_ctx),   # verdict incl. de-duplication
        deliver=_deliver_my_thing,            # async (intake, forwarder, accepted value) -> None
        rate_limit=RateLimit(10, 20),         # per (forwarder, topic), no penalty when exceeded
        verdicts=frozenset({Outcome.ACCEPTED, Outcome.REJECTED, Outcome.IGNORED}),
    )

`check` and `deliver` get the `GossipIntake` as their context (validation contexts, pools,
admission, proposal handlers, publisher); an embedder's extra topic may instead close over its own
state and be added with `TOPICS.with_topic(spec)` passed to `P2PService(..., topics=...)`.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from p2p.pools.quote_admission import Admission
from p2p.validation import (
    Accept,
    Ignore,
    Verdict,
    validate_block_attestation,
    validate_block_proposal,
    validate_quote,
    validate_tx,
)
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.quote import EpochProofQuote
from p2p.wire.tx import Tx

if TYPE_CHECKING:
    from p2p.gossip import GossipIntake

AZTEC_TOPIC_VERSION: Final = "0.1.0"


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_second: float
    burst: float


class Outcome(enum.Enum):
    """What intake can make of one valid-rate message (the `GossipIntake.statistics()` keys)."""

    ACCEPTED = "accepted"  # forwarded and queued for `deliver`
    REJECTED = "rejected"  # not forwarded; forwarder penalised (invalid delivery and/or app penalty)
    IGNORED = "ignored"  # not forwarded, no penalty
    DUPLICATES = "duplicates"  # already in the pool: an Ignore("duplicate")


Check = Callable[["GossipIntake", bytes], Verdict[Any]]
Deliver = Callable[["GossipIntake", str, Any], Awaitable[None]]
OnIgnore = Callable[["GossipIntake", str, Ignore], None]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str  # Aztec's TopicType value ("tx", ...)
    decode: Callable[[bytes], Any]  # the codec (wire bytes -> object)
    encode: Callable[[Any], bytes]  # object -> wire bytes (publishing)
    check: Check  # pure verdict: the topic's validator with its context, plus de-duplication
    deliver: Deliver  # where an accepted value goes (pool / handlers), run by `GossipIntake.run`
    rate_limit: RateLimit
    verdicts: frozenset[Outcome]
    on_ignore: OnIgnore | None = None  # called with the origin peer of an ignored message
    version: str = AZTEC_TOPIC_VERSION

    @property
    def topic(self) -> str:
        """The gossipsub topic string (Aztec: `/aztec/${TopicType}/${version}`)."""
        return f"/aztec/{self.name}/{self.version}"


class TopicRegistry:
    """An immutable, ordered set of `TopicSpec`s keyed by topic string."""

    __slots__ = ("_by_topic",)

    def __init__(self, specs: tuple[TopicSpec, ...]) -> None:
        by_topic: dict[str, TopicSpec] = {}
        for s in specs:
            if s.topic in by_topic:
                raise ValueError(f"topic {s.topic} registered twice")
            by_topic[s.topic] = s
        self._by_topic = by_topic

    def with_topic(self, spec: TopicSpec) -> TopicRegistry:
        return TopicRegistry((*self._by_topic.values(), spec))

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(self._by_topic)

    def get(self, topic: str) -> TopicSpec | None:
        return self._by_topic.get(topic)

    def by_name(self, name: str) -> TopicSpec:
        for s in self._by_topic.values():
            if s.name == name:
                return s
        raise KeyError(name)

    def __iter__(self) -> Iterator[TopicSpec]:
        return iter(tuple(self._by_topic.values()))

    def __len__(self) -> int:
        return len(self._by_topic)

    def __contains__(self, topic: object) -> bool:
        return topic in self._by_topic


# ---- the four v0.63.1 topics (circuit-types/src/p2p/topic_type.ts) --------------------------------
_ALL = frozenset(Outcome)


def _check_quote(g: GossipIntake, data: bytes) -> Verdict[Any]:
    v = validate_quote(data, g.quote_ctx)
    if isinstance(v, Accept):
        if g.quote_pool.contains(v.value):
            return Ignore("duplicate")
        if g.quote_admission is not None:
            # validate_quote recovered the prover under the same chain id and rollup
            pre = g.quote_admission.precheck(v.value, signature_verified=g.same_domain)
            if pre is not None:
                return Ignore(f"{pre.outcome.value}: {pre.reason}")
    return v


def _quote_ignored(g: GossipIntake, origin: str, verdict: Ignore) -> None:
    if verdict.reason.startswith(Admission.UNBONDED.value) and g.quote_admission is not None:
        g.quote_admission.count_unbonded_origin(origin)


async def _deliver_quote(g: GossipIntake, _forwarder: str, quote: Any) -> None:
    slot = g.quote_ctx.current_slot()
    if g.quote_admission is not None:
        await g.quote_admission.admit(quote, current_slot=slot, signature_verified=g.same_domain)
    else:
        g.quote_pool.add_quote(quote, current_slot=slot)


def _check_tx(g: GossipIntake, data: bytes) -> Verdict[Any]:
    vt = validate_tx(data, g.tx_ctx)
    if isinstance(vt, Accept):
        if vt.value.tx_hash() in g.tx_pool:
            return Ignore("duplicate")
        return Accept((vt.value, data))
    return vt


async def _deliver_tx(g: GossipIntake, _forwarder: str, item: Any) -> None:
    tx, raw = item
    g.tx_pool.add_tx(tx, raw)


async def _deliver_attestation(g: GossipIntake, _forwarder: str, item: Any) -> None:
    att, sender = item
    g.attestation_pool.add_attestation(att, sender, current_slot=g.quote_ctx.current_slot())


async def _deliver_proposal(g: GossipIntake, _forwarder: str, item: Any) -> None:
    proposal, sender = item
    for handler in list(g.proposal_handlers):
        att = await handler(proposal, sender)
        if att is not None and g.publisher is not None:
            await g.publisher(BLOCK_ATTESTATION.topic, BLOCK_ATTESTATION.encode(att))


TX: Final = TopicSpec(
    name="tx",
    decode=Tx.from_bytes,
    encode=Tx.to_bytes,
    check=_check_tx,
    deliver=_deliver_tx,
    rate_limit=RateLimit(50, 200),
    verdicts=_ALL,
)
BLOCK_PROPOSAL: Final = TopicSpec(
    name="block_proposal",
    decode=BlockProposal.from_bytes,
    encode=BlockProposal.to_bytes,
    check=lambda _g, data: validate_block_proposal(data),
    deliver=_deliver_proposal,
    rate_limit=RateLimit(10, 20),
    verdicts=frozenset({Outcome.ACCEPTED, Outcome.REJECTED, Outcome.IGNORED}),
)
BLOCK_ATTESTATION: Final = TopicSpec(
    name="block_attestation",
    decode=BlockAttestation.from_bytes,
    encode=BlockAttestation.to_bytes,
    check=lambda _g, data: validate_block_attestation(data),
    deliver=_deliver_attestation,
    rate_limit=RateLimit(200, 400),
    verdicts=frozenset({Outcome.ACCEPTED, Outcome.REJECTED, Outcome.IGNORED}),
)
EPOCH_PROOF_QUOTE: Final = TopicSpec(
    name="epoch_proof_quote",
    decode=EpochProofQuote.from_bytes,
    encode=EpochProofQuote.to_bytes,
    check=_check_quote,
    deliver=_deliver_quote,
    rate_limit=RateLimit(500, 2000),
    verdicts=_ALL,
    on_ignore=_quote_ignored,
)

TOPICS: Final = TopicRegistry((TX, BLOCK_PROPOSAL, BLOCK_ATTESTATION, EPOCH_PROOF_QUOTE))
