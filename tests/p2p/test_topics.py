"""The gossip topic registry: it is the one description of every topic the host subscribes to, and
one extra entry is enough for a new topic to be subscribed, validated and delivered between two
real in-process nodes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from p2p.client import P2PClient, P2PClientError
from p2p.gossip import GossipIntake
from p2p.scoring import PeerErrorSeverity
from p2p.service import ManualChainState, P2PConfig, P2PService
from p2p.topics import TOPICS, Outcome, RateLimit, TopicRegistry, TopicSpec
from p2p.validation import Accept, Ignore, Reject, Verdict
from tests.p2p.test_network import CHAIN_ID, ROLLUP, make_quote, wait_for

# Aztec v0.63.1 circuit-types/src/p2p/topic_type.ts: createTopicString(TopicType.*)
# (interop/test_topics_js.py checks these against the npm package)
AZTEC_TOPICS = (
    "/aztec/tx/0.1.0",
    "/aztec/block_proposal/0.1.0",
    "/aztec/block_attestation/0.1.0",
    "/aztec/epoch_proof_quote/0.1.0",
)


def test_registry_is_aztecs_topic_list() -> None:
    assert TOPICS.topics == AZTEC_TOPICS
    assert [s.name for s in TOPICS] == ["tx", "block_proposal", "block_attestation", "epoch_proof_quote"]
    # the rate limits intake used before the registry (wire behaviour unchanged)
    assert {s.name: (s.rate_limit.per_second, s.rate_limit.burst) for s in TOPICS} == {
        "tx": (50, 200),
        "block_proposal": (10, 20),
        "block_attestation": (200, 400),
        "epoch_proof_quote": (500, 2000),
    }
    with pytest.raises(ValueError, match="registered twice"):
        TOPICS.with_topic(TOPICS.by_name("tx"))


def test_declared_verdicts_cover_what_check_produces() -> None:
    """Garbage, truncated and valid payloads: each outcome is one the entry declares."""
    svc = P2PService(P2PConfig(chain_id=CHAIN_ID, rollup_address=ROLLUP), chain_state=ManualChainState(slot=20))
    g = svc.intake
    q = make_quote().to_bytes()
    seen: dict[str, set[Outcome]] = {}
    for spec in TOPICS:
        for data in (b"", b"\x00", b"\xff" * 7, q, q[:150], bytes(1000)):
            v = g.check(spec.topic, data)
            kind = (
                Outcome.ACCEPTED
                if isinstance(v, Accept)
                else Outcome.REJECTED
                if isinstance(v, Reject)
                else Outcome.DUPLICATES
                if v.reason == "duplicate"
                else Outcome.IGNORED
            )
            assert kind in spec.verdicts, (spec.name, data[:8], v)
            seen.setdefault(spec.name, set()).add(kind)
    assert Outcome.ACCEPTED in seen["epoch_proof_quote"] and Outcome.REJECTED in seen["epoch_proof_quote"]
    assert Outcome.REJECTED in seen["tx"]


async def test_host_subscribes_to_exactly_the_registry() -> None:
    svc = P2PService(P2PConfig(chain_id=CHAIN_ID, rollup_address=ROLLUP))
    async with trio.open_nursery() as nursery:
        await nursery.start(svc.run)
        assert sorted(svc.host.subscribed_topics()) == sorted(TOPICS.topics)
        stats = svc.intake.statistics()
        assert set(stats["topics"]) == set(TOPICS.topics)  # type: ignore[arg-type]
        nursery.cancel_scope.cancel()


# ---- a toy topic: one entry, nothing else ----------------------------------------------------------
class ToyInbox:
    """Where the toy topic's accepted values go (its 'pool')."""

    def __init__(self) -> None:
        self.send, self.recv = trio.open_memory_channel[tuple[str, bytes]](16)


def toy_topic(inbox: ToyInbox) -> TopicSpec:
    def check(_g: GossipIntake, data: bytes) -> Verdict[Any]:
        if data.startswith(b"ping:"):
            return Accept(data[5:])
        if data.startswith(b"bad"):
            return Reject("toy: bad", PeerErrorSeverity.LOW_TOLERANCE)
        return Ignore("toy: not a ping")

    async def deliver(_g: GossipIntake, forwarder: str, value: Any) -> None:
        await inbox.send.send((forwarder, value))

    return TopicSpec(
        name="toy_ping",
        decode=bytes,
        encode=lambda s: b"ping:" + s,
        check=check,
        deliver=deliver,
        rate_limit=RateLimit(100, 100),
        verdicts=frozenset({Outcome.ACCEPTED, Outcome.REJECTED, Outcome.IGNORED}),
    )


@asynccontextmanager
async def two_nodes(topics: TopicRegistry) -> AsyncIterator[list[P2PClient]]:
    state = ManualChainState(slot=20)
    async with trio.open_nursery() as nursery:
        a = P2PService(P2PConfig(chain_id=CHAIN_ID, rollup_address=ROLLUP), chain_state=state, topics=topics)
        info = await nursery.start(a.run)
        b = P2PService(
            P2PConfig(chain_id=CHAIN_ID, rollup_address=ROLLUP, static_peers=(info.listen_addrs[0],)),
            chain_state=state,
            topics=topics,
        )
        await nursery.start(b.run)
        yield [P2PClient(a), P2PClient(b)]
        nursery.cancel_scope.cancel()


async def test_toy_topic_is_subscribed_validated_and_delivered() -> None:
    inbox = ToyInbox()
    toy = toy_topic(inbox)
    topics = TOPICS.with_topic(toy)
    assert toy.topic == "/aztec/toy_ping/0.1.0" and toy.topic not in TOPICS
    async with two_nodes(topics) as (a, b):

        def toy_stats() -> dict[str, int]:
            return a.service.intake.statistics()["topics"][toy.topic]  # type: ignore[index,no-any-return]

        for c in (a, b):
            assert toy.topic in c.service.host.subscribed_topics()
        await wait_for(lambda: all(c.service.host.mesh_peers(toy.topic) for c in (a, b)))
        # valid: b gossips, a validates it with the toy check and delivers it to the toy inbox
        await b.publish("toy_ping", b"hello")
        with trio.fail_after(20):
            forwarder, value = await inbox.recv.receive()
        assert (forwarder, value) == (b.peer_id, b"hello")
        # the four v0.63.1 topics still work beside it
        q = make_quote()
        await b.add_epoch_proof_quote(q)
        await wait_for(lambda: a.get_epoch_proof_quotes(1) == [q])
        # ignore: dropped, no penalty
        await b.service.publish(toy.topic, b"junk")
        await wait_for(lambda: toy_stats()["ignored"] == 1)
        assert a.service.scoring.score(b.peer_id) >= 0
        # reject: not delivered, a penalises b (app penalty + invalid delivery on the toy topic)
        await b.service.publish(toy.topic, b"bad!")
        await wait_for(lambda: toy_stats()["rejected"] == 1)
        assert a.service.intake.last_reject[toy.topic] == "toy: bad"
        assert a.service.scoring.score(b.peer_id) < 0
        # only the accepted ping was queued and delivered (validate counts before queueing)
        st = toy_stats()
        assert (st["accepted"], st["ignored"], st["processed"]) == (1, 1, 1)
        assert inbox.recv.statistics().current_buffer_used == 0


async def test_publish_on_unregistered_topic_is_refused() -> None:
    async with two_nodes(TOPICS) as (a, _b):
        with pytest.raises(P2PClientError, match="not registered"):
            await a.publish("toy_ping", b"x")
