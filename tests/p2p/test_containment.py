"""Fault containment on live hosts: a real py-libp2p attacker sends malformed frames on every protocol
our node speaks; the node stays up, keeps gossiping with an honest peer, and scores / bans the attacker.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2p.client import P2PClient
from p2p.containment import ContainmentConfig
from p2p.gossip import EPOCH_PROOF_QUOTE_TOPIC, TX_TOPIC
from p2p.reqresp import PING_PROTOCOL, STATUS_PROTOCOL, TX_PROTOCOL
from p2p.service import ManualChainState, P2PConfig, P2PService
from tests.p2p.attacker import Attacker, frame, uvarint
from tests.p2p.test_network import CHAIN_ID, ROLLUP, make_quote, wait_for

MESHSUB = "/meshsub/1.1.0"
_fees = itertools.count(1)


@dataclass
class Net:
    node: P2PClient
    honest: P2PClient
    addr: str
    offset: list[float]  # added to trio.current_time() by the node's clock (ban expiry tests)

    @property
    def svc(self) -> P2PService:
        return self.node.service

    def guard_stats(self) -> dict[str, Any]:
        return self.svc.guard.statistics()

    async def gossip_still_works(self) -> None:
        """A quote from the honest peer reaches the node, and one from the node reaches the peer."""
        await wait_for(lambda: self.honest.service.host.mesh_peers(EPOCH_PROOF_QUOTE_TOPIC))
        q1 = make_quote(fee=next(_fees))
        await self.honest.add_epoch_proof_quote(q1)
        await wait_for(lambda: q1 in self.node.get_epoch_proof_quotes(1))
        q2 = make_quote(fee=next(_fees))
        await self.node.add_epoch_proof_quote(q2)
        await wait_for(lambda: q2 in self.honest.get_epoch_proof_quotes(1))


@asynccontextmanager
async def live_net(containment: ContainmentConfig | None = None) -> AsyncIterator[Net]:
    state = ManualChainState(slot=20)
    offset = [0.0]

    def clock() -> float:
        return trio.current_time() + offset[0]

    cfg = P2PConfig(chain_id=CHAIN_ID, rollup_address=ROLLUP, containment=containment or ContainmentConfig())
    async with trio.open_nursery() as nursery:
        node = P2PService(cfg, chain_state=state, clock=clock)
        info = await nursery.start(node.run)
        addr = info.listen_addrs[0]
        honest = P2PService(replace(cfg, static_peers=(addr,)), chain_state=state)
        await nursery.start(honest.run)
        await wait_for(lambda: honest.peer_id in node.host.connected_peers())
        yield Net(P2PClient(node), P2PClient(honest), addr, offset)
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def attacker_on(net: Net) -> AsyncIterator[Attacker]:
    a = Attacker()
    async with a.running():
        await a.connect(net.addr)
        yield a


# ---- meshsub --------------------------------------------------------------------------------------
TRUNCATED_CONTROL = bytes([0x1A, 0x10, 0x0A, 0x05]) + b"ab"  # RPC.control (field 3) says 16 bytes, has 4
MALFORMED_MESHSUB = {
    "issue-example-03-0a0b0c": bytes.fromhex("030a0b0c"),
    "random-bytes": frame(bytes(range(7, 250, 3))),
    "truncated-control": frame(TRUNCATED_CONTROL),
    "bad-varint-length": b"\xff" * 11,
    "oversized-length-prefix": uvarint(1 << 40) + b"\x00" * 16,
    "wrong-wire-type": frame(b"\x0f\x01\x02"),
    "control-ihave-truncated": frame(bytes([0x1A, 0x06, 0x0A, 0x04, 0x12, 0x05, 0xAB, 0xCD])),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_MESHSUB))
async def test_malformed_meshsub_frame_is_contained(name: str) -> None:
    async with live_net() as net, attacker_on(net) as a:
        await a.send(MESHSUB, MALFORMED_MESHSUB[name], wait=0.5)
        await wait_for(lambda: net.guard_stats()["faults"] >= 1)
        assert net.svc.scoring.app_score(a.peer_id) < 0
        await net.gossip_still_works()


async def _send_malformed_once(a: Attacker) -> None:
    with trio.move_on_after(2):
        try:
            await a.send(MESHSUB, bytes.fromhex("030a0b0c"), wait=0.2)
        except Exception:
            await trio.sleep(0.5)  # refused (opening meshsub streams too fast): try again


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
async def test_repeated_malformed_frames_ban_and_disconnect_the_attacker() -> None:
    async with live_net() as net, attacker_on(net) as a:
        # keep sending until banned (a loaded machine may need more attempts: stream opens are rate
        # limited and a refused open is not a fault); the wait below fails the test if it never is
        with trio.move_on_after(30):
            while not net.svc.guard.is_banned(a.peer_id):
                await _send_malformed_once(a)
        await wait_for(lambda: net.svc.guard.is_banned(a.peer_id))
        await wait_for(lambda: a.peer_id not in net.svc.host.connected_peers())
        # kept out: its new connection is closed at once (the attacker's side may not have noticed the
        # disconnect yet, so a dial can be a no-op: dial until the node has refused one)
        with trio.move_on_after(30):
            while net.guard_stats()["connections_refused_banned"] < 1:
                with trio.move_on_after(5), suppress(Exception):
                    await a.connect(net.addr)
                await trio.sleep(0.2)
        await wait_for(lambda: a.peer_id not in net.svc.host.connected_peers())
        assert net.guard_stats()["connections_refused_banned"] >= 1
        await net.gossip_still_works()
        # the ban ends after ban_duration_s of the node's (injected) clock
        net.offset[0] += ContainmentConfig().ban_duration_s + 1
        assert not net.svc.guard.is_banned(a.peer_id)
        await a.connect(net.addr)
        await wait_for(lambda: a.peer_id in net.svc.host.connected_peers())


# ---- gossip envelopes (js gossipsub 13 StrictSign) -------------------------------------------------
def _envelopes(a: Attacker, data: bytes) -> dict[str, Any]:
    from libp2p.crypto.secp256k1 import create_new_key_pair

    other = create_new_key_pair(os.urandom(31) + b"\x01").public_key.serialize()
    return {
        "seqno-4-bytes": a.message(EPOCH_PROOF_QUOTE_TOPIC, data, seqno=b"\x00\x00\x00\x01"),
        "seqno-missing": a.message(EPOCH_PROOF_QUOTE_TOPIC, data, seqno=b""),
        "seqno-9-bytes": a.message(EPOCH_PROOF_QUOTE_TOPIC, data, seqno=bytes(9)),
        "no-signature": a.message(EPOCH_PROOF_QUOTE_TOPIC, data, sign=False),
        "no-from": a.message(EPOCH_PROOF_QUOTE_TOPIC, data, with_from=False),
        "key-of-another-peer": a.message(EPOCH_PROOF_QUOTE_TOPIC, data, key=other),
        "key-garbage": a.message(EPOCH_PROOF_QUOTE_TOPIC, data, key=b"\x08\x02\x12\x03abc"),
        "two-topics": a.message(EPOCH_PROOF_QUOTE_TOPIC, data, topics=[EPOCH_PROOF_QUOTE_TOPIC, TX_TOPIC]),
    }


@pytest.mark.parametrize(
    "case",
    [
        "seqno-4-bytes",
        "seqno-missing",
        "seqno-9-bytes",
        "no-signature",
        "no-from",
        "key-of-another-peer",
        "key-garbage",
        "two-topics",
    ],
)
@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
async def test_bad_envelope_rejected_scored_not_forwarded(case: str) -> None:
    async with live_net() as net, attacker_on(net) as a:
        bad_quote = make_quote(fee=next(_fees))
        await a.send(MESHSUB, a.rpc(_envelopes(a, bad_quote.to_bytes())[case]), wait=0.3)
        await wait_for(lambda: net.guard_stats()["envelope_rejected"] >= 1)
        assert net.svc.scoring.score(a.peer_id) < 0  # an invalid delivery on the quote topic
        # control: the same attacker's well-formed message with a valid quote is accepted
        good = make_quote(fee=next(_fees))
        await a.send(MESHSUB, a.rpc(a.message(EPOCH_PROOF_QUOTE_TOPIC, good.to_bytes())), wait=0.3)
        await wait_for(lambda: good in net.node.get_epoch_proof_quotes(1))
        await wait_for(lambda: good in net.honest.get_epoch_proof_quotes(1))
        # the bad one was neither pooled nor forwarded
        assert bad_quote not in net.node.get_epoch_proof_quotes(1)
        assert bad_quote not in net.honest.get_epoch_proof_quotes(1)


async def test_invalid_gossip_that_keeps_coming_gets_the_sender_banned() -> None:
    async with live_net() as net, attacker_on(net) as a:
        data = [make_quote(fee=next(_fees)).to_bytes() for _ in range(40)]
        bad = [a.message(EPOCH_PROOF_QUOTE_TOPIC, d, seqno=b"1234") for d in data]
        with suppress(Exception):
            await a.send(MESHSUB, a.rpc(*bad), wait=0.3)
        await wait_for(lambda: net.svc.guard.is_banned(a.peer_id))
        await wait_for(lambda: a.peer_id not in net.svc.host.connected_peers())
        assert net.svc.scoring.score(a.peer_id) < ContainmentConfig().ban_score_threshold
        await net.gossip_still_works()


async def test_exception_in_topic_validator_drops_only_that_message() -> None:
    async with live_net() as net, attacker_on(net) as a:
        boom = make_quote(fee=next(_fees)).to_bytes()
        real = net.svc.intake.validate

        def validate(topic: str, forwarder: str, origin: str, data: bytes) -> bool:
            if data == boom:
                raise ValueError("validator bug")
            return real(topic, forwarder, origin, data)

        net.svc.host._validator = validate  # the host reads it when building the pubsub validator
        for topic in (EPOCH_PROOF_QUOTE_TOPIC,):
            net.svc.host._pubsub.set_topic_validator(topic, net.svc.host._make_validator(topic), False)
        await a.send(MESHSUB, a.rpc(a.message(EPOCH_PROOF_QUOTE_TOPIC, boom)), wait=0.3)
        await wait_for(lambda: net.svc.host.validator_errors == 1)
        await net.gossip_still_works()


async def test_exception_in_push_msg_is_contained() -> None:
    """Something py-libp2p raises after validation (here: in forwarding) drops the message only."""
    async with live_net() as net, attacker_on(net) as a:
        router = net.svc.host._router
        real_publish = router.publish
        fail = [True]

        async def publish(forwarder: Any, msg: Any) -> None:
            if fail[0] and str(forwarder) == a.peer_id:
                fail[0] = False
                raise RuntimeError("forwarding failed")
            await real_publish(forwarder, msg)

        router.publish = publish
        q = make_quote(fee=next(_fees))
        await a.send(MESHSUB, a.rpc(a.message(EPOCH_PROOF_QUOTE_TOPIC, q.to_bytes())), wait=0.3)
        await wait_for(lambda: net.guard_stats()["faults_by_kind"].get("gossip", 0) == 1)
        await net.gossip_still_works()


# ---- identify / identify push / ping -------------------------------------------------------------
@pytest.mark.parametrize(
    "protocol", ["/ipfs/id/push/1.0.0", "/aztec/id/push/1.0.0", "/ipfs/id/1.0.0", "/aztec/id/1.0.0", "/ipfs/ping/1.0.0"]
)
async def test_garbage_on_identify_and_ping_is_contained(protocol: str) -> None:
    async with live_net() as net, attacker_on(net) as a:
        for data in (bytes.fromhex("030a0b0c"), b"\xff" * 11, uvarint(1 << 30), frame(b"\x12\xff\x01")):
            with trio.move_on_after(3):
                with suppress(Exception):  # the node may reset the stream
                    await a.send(protocol, data, wait=0.3)
        assert net.svc.host.connected_peers()
        if "push" in protocol:  # a push that does not parse is the pusher's fault
            await wait_for(lambda: net.guard_stats()["faults_by_kind"].get(protocol, 0) >= 1)
        await net.gossip_still_works()


async def test_valid_identify_push_is_still_applied() -> None:
    async with live_net() as net, attacker_on(net) as a:
        from libp2p.identity.identify.pb.identify_pb2 import Identify
        from libp2p.peer.id import ID

        msg = Identify(protocols=["/x/test/1.0.0"], agent_version="attacker/1")
        await a.send("/ipfs/id/push/1.0.0", frame(msg.SerializeToString()), wait=0.3)
        store = net.svc.host._host.get_peerstore()
        await wait_for(lambda: "/x/test/1.0.0" in store.get_protocols(ID.from_base58(a.peer_id)))
        assert net.guard_stats()["faults"] == 0


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
async def test_garbage_identify_answer_to_our_dial_is_contained() -> None:
    """The node identifies every peer it connects to; the attacker answers with garbage."""

    async def garbage(stream: Any) -> None:
        await stream.write(uvarint(40) + b"\x0a\xff\xff\xff\x0f" + os.urandom(35))
        await stream.close()

    async with live_net() as net:
        a = Attacker()
        for proto in ("/aztec/id/1.0.0", "/ipfs/id/1.0.0"):
            a.serve(proto, garbage)
        async with a.running():
            await a.connect(net.addr)
            await trio.sleep(1.0)  # identify runs in the background; nothing to wait on when it fails
            await net.gossip_still_works()


# ---- req/resp -------------------------------------------------------------------------------------
@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
@pytest.mark.parametrize("protocol", [PING_PROTOCOL, STATUS_PROTOCOL, TX_PROTOCOL])
async def test_garbage_and_floods_on_reqresp_are_contained(protocol: str) -> None:
    async with live_net() as net, attacker_on(net) as a:
        for data in (b"", os.urandom(7), os.urandom(5000), uvarint(1 << 40), b"\x00" * 32):
            with trio.move_on_after(3):
                await a.send(protocol, data, wait=0.5)
        # a flood beyond the per-peer limit is refused and penalised
        async with trio.open_nursery() as n:
            for _ in range(30):
                n.start_soon(_quiet_send, a, protocol, b"x")
        stats = net.svc.reqresp.statistics()
        assert stats["rate_limited_peer"] + stats["rate_limited_global"] > 0  # type: ignore[operator]
        assert net.svc.scoring.app_score(a.peer_id) < 0
        await net.gossip_still_works()
        assert await net.honest.service.reqresp.ping(net.node.peer_id) or protocol == PING_PROTOCOL


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
async def test_garbage_tx_response_to_our_request_is_contained() -> None:
    """The node asks the attacker for a tx; the answer is garbage / oversized / a stall."""
    answers = iter([os.urandom(3000), b"\x00" * 600_000, b""])

    async def serve(stream: Any) -> None:
        await stream.read(32)
        data = next(answers, b"")
        if data:
            await stream.write(data)
        else:
            await trio.sleep(5)  # stall past the request timeout
        await stream.close()

    async with live_net() as net:
        a = Attacker()
        a.serve(TX_PROTOCOL, serve)
        async with a.running():
            await a.connect(net.addr)
            for _ in range(3):
                assert await net.svc.reqresp.request_tx(os.urandom(32), peers=[a.peer_id]) is None
            assert net.svc.scoring.app_score(a.peer_id) < 0
            await net.gossip_still_works()


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
async def test_streams_reset_by_the_peer_are_not_faults() -> None:
    """A requester that gives up (resets its stream), as an honest peer on a timeout does, is not banned."""
    async with live_net() as net, attacker_on(net) as a:
        from libp2p.custom_types import TProtocol

        for proto in [TX_PROTOCOL, "/ipfs/id/push/1.0.0"] * 4:
            s = await a.host.new_stream(a.target, [TProtocol(proto)])
            await s.reset()
            await trio.sleep(0.2)
        await trio.sleep(0.3)
        assert net.guard_stats()["faults"] == 0
        assert not net.svc.guard.is_banned(a.peer_id)
        assert a.peer_id in net.svc.host.connected_peers()


async def _quiet_send(a: Attacker, protocol: str, data: bytes) -> None:
    with trio.move_on_after(3):
        with suppress(Exception):
            await a.send(protocol, data, wait=0.2)


async def test_streams_per_peer_are_bounded() -> None:
    """An attacker that opens many streams and never finishes them holds at most the per-peer cap."""
    cfg = ContainmentConfig(max_inbound_streams_per_peer=8, ban_after_faults=1000, ban_score_threshold=-1e12)
    async with live_net(cfg) as net, attacker_on(net) as a:
        from libp2p.custom_types import TProtocol

        opened: list[Any] = []

        async def hold() -> None:
            with trio.move_on_after(3):
                try:
                    s = await a.host.new_stream(a.target, [TProtocol(TX_PROTOCOL)])
                    opened.append(s)
                    await s.write(b"\x00")  # 1 of the 32 bytes the tx handler waits for
                except Exception:
                    pass

        async with trio.open_nursery() as n:
            for _ in range(40):
                n.start_soon(hold)
        st = net.guard_stats()
        assert st["open_streams"] <= 8
        assert st["streams_refused_too_many"] + st["streams_refused_rate"] > 0
        await net.gossip_still_works()


# ---- below the protocols: raw TCP, and garbage muxer frames inside an authenticated connection ------
async def test_raw_tcp_garbage_is_contained() -> None:
    async with live_net() as net:
        host, port = net.addr.split("/")[2], int(net.addr.split("/")[4])
        for i in range(10):
            with trio.move_on_after(2), suppress(OSError):
                s = await trio.open_tcp_stream(host, port)
                async with s:
                    head = b"\x13/multistream/1.0.0\n" if i % 2 else b""
                    await s.send_all(head + os.urandom(100 + 300 * i))
        await net.gossip_still_works()


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_garbage_muxer_frames_inside_noise_are_contained(seed: int) -> None:
    """The attacker completes noise, then writes random bytes where yamux frames belong."""
    rnd = __import__("random").Random(seed)
    async with live_net() as net, attacker_on(net) as a:
        conn = a.host.get_network().connections[a.target][0]
        secured = conn.muxed_conn.secured_conn
        with trio.move_on_after(3), suppress(Exception):
            for _ in range(5):
                await secured.write(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))))
        await trio.sleep(0.5)
        await net.gossip_still_works()


# ---- hypothesis: frame fuzz over the live meshsub handler -----------------------------------------
def _rpc_mutants() -> st.SearchStrategy[bytes]:
    from libp2p.pubsub.pb import rpc_pb2

    base = rpc_pb2.RPC(
        subscriptions=[rpc_pb2.RPC.SubOpts(subscribe=True, topicid=EPOCH_PROOF_QUOTE_TOPIC)],
        control=rpc_pb2.ControlMessage(
            ihave=[rpc_pb2.ControlIHave(topicID=EPOCH_PROOF_QUOTE_TOPIC, messageIDs=[b"x" * 20])],
            graft=[rpc_pb2.ControlGraft(topicID=TX_TOPIC)],
        ),
    ).SerializeToString()

    def mutate(edits: list[tuple[int, int]]) -> bytes:
        b = bytearray(base)
        for pos, val in edits:
            b[pos % len(b)] = val
        return bytes(b)

    return st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6).map(mutate)


def _control_rpcs() -> st.SearchStrategy[bytes]:
    """Structurally valid RPCs with hostile contents: control messages for odd topics, huge backoffs,
    PX peers with garbage ids/records, IWANT/IHAVE with random ids, subscriptions, a sender record."""
    from libp2p.pubsub.pb import rpc_pb2

    topics = st.one_of(st.sampled_from([EPOCH_PROOF_QUOTE_TOPIC, TX_TOPIC, ""]), st.text(max_size=20))
    ids = st.lists(st.binary(max_size=40), max_size=5)

    def build(
        t: str, t2: str, mids: list[bytes], backoff: int, pid: bytes, rec: bytes, sub: bool, sender: bytes
    ) -> bytes:
        px = [rpc_pb2.PeerInfo(peerID=pid, signedPeerRecord=rec)]
        ctl = rpc_pb2.ControlMessage(
            ihave=[rpc_pb2.ControlIHave(topicID=t, messageIDs=mids)],
            iwant=[rpc_pb2.ControlIWant(messageIDs=mids)],
            graft=[rpc_pb2.ControlGraft(topicID=t2)],
            prune=[rpc_pb2.ControlPrune(topicID=t, backoff=backoff, peers=px)],
            idontwant=[rpc_pb2.ControlIDontWant(messageIDs=mids)],
        )
        rpc = rpc_pb2.RPC(subscriptions=[rpc_pb2.RPC.SubOpts(subscribe=sub, topicid=t2)], control=ctl)
        if sender:
            rpc.senderRecord = sender
        return rpc.SerializeToString()

    return st.builds(
        build, topics, topics, ids, st.integers(0, 2**64 - 1), st.binary(max_size=40), st.binary(max_size=60),
        st.booleans(), st.binary(max_size=30),
    )


FRAMES = st.one_of(
    _control_rpcs().map(frame),
    st.binary(max_size=64),  # raw bytes: a varint and whatever follows
    st.binary(max_size=200).map(frame),  # well-framed garbage
    _rpc_mutants().map(frame),  # a real RPC with bytes changed
    st.builds(lambda n, b: uvarint(n) + b, st.integers(0, 1 << 63), st.binary(max_size=16)),  # lying length
)


PROTOCOLS = st.sampled_from(
    [MESHSUB, MESHSUB, MESHSUB, "/ipfs/id/push/1.0.0", "/aztec/id/push/1.0.0", "/aztec/id/1.0.0", "/ipfs/ping/1.0.0",
     PING_PROTOCOL, STATUS_PROTOCOL, TX_PROTOCOL]
)


FUZZ_EXAMPLES = int(os.environ.get("CONTAINMENT_FUZZ_EXAMPLES", "4"))  # each example: a fresh node, 15-25 frames


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=st.lists(st.tuples(PROTOCOLS, FRAMES), min_size=15, max_size=25))
async def test_fuzzed_frames_on_every_protocol_never_stop_the_node(frames: list[tuple[str, bytes]]) -> None:
    cfg = ContainmentConfig(ban_after_faults=10**6, ban_score_threshold=-1e12, protocol_rates={})
    async with live_net(cfg) as net, attacker_on(net) as a:
        for proto, f in frames:
            with trio.move_on_after(2), suppress(Exception):
                await a.send(proto, f, wait=0.05)
        await net.gossip_still_works()
        assert net.guard_stats()["open_streams"] <= cfg.max_inbound_streams_per_peer


GOSSIP_TOPICS = st.sampled_from(
    [EPOCH_PROOF_QUOTE_TOPIC, TX_TOPIC, "/aztec/block_proposal/0.1.0", "/aztec/block_attestation/0.1.0"]
)


def _payloads() -> st.SearchStrategy[bytes]:
    quote = make_quote(fee=7).to_bytes()

    def mutate(edits: list[tuple[int, int]]) -> bytes:
        b = bytearray(quote)
        for pos, val in edits:
            b[pos % len(b)] = val
        return bytes(b)

    return st.one_of(
        st.binary(max_size=600),
        st.lists(st.tuples(st.integers(0, 187), st.integers(0, 255)), min_size=1, max_size=4).map(mutate),
        st.binary(max_size=64).map(lambda tail: quote + tail),
    )


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(msgs=st.lists(st.tuples(GOSSIP_TOPICS, _payloads(), st.sampled_from([8, 8, 8, 0, 4])), min_size=10, max_size=30))
async def test_fuzzed_signed_gossip_never_stops_the_node(msgs: list[tuple[str, bytes, int]]) -> None:
    """Correctly signed messages with random payloads on every topic (some with bad seqno lengths)."""
    cfg = ContainmentConfig(ban_after_faults=10**6, ban_score_threshold=-1e12, ban_after_graylisted_messages=10**6)
    async with live_net(cfg) as net, attacker_on(net) as a:
        batch = [a.message(t, d, seqno=os.urandom(n)) for t, d, n in msgs]
        await a.send(MESHSUB, a.rpc(*batch), wait=0.1)  # one stream, one RPC frame
        bad = sum(1 for _, _, n in msgs if n != 8)
        await wait_for(lambda: net.guard_stats()["envelope_rejected"] == bad)
        await net.gossip_still_works()


# ---- RPCs holding more than an honest peer sends (found by review) -------------------------------


def test_rpc_over_limits_counts_messages_control_entries_and_ids() -> None:
    from libp2p.pubsub.pb import rpc_pb2

    from p2p.libp2p_patches import RPC_MAX_CONTROL, RPC_MAX_IDS, RPC_MAX_PUBLISH, rpc_over_limits

    def rpc(**kw: Any) -> bytes:
        return bytes(rpc_pb2.RPC(**kw).SerializeToString())

    msg = rpc_pb2.Message(data=b"x", topicIDs=["t"])
    assert rpc_over_limits(rpc(publish=[msg] * RPC_MAX_PUBLISH)) is None
    assert "published messages" in str(rpc_over_limits(rpc(publish=[msg] * (RPC_MAX_PUBLISH + 1))))
    iwant = rpc_pb2.ControlIWant(messageIDs=[b"a"])
    assert rpc_over_limits(rpc(control=rpc_pb2.ControlMessage(iwant=[iwant] * RPC_MAX_CONTROL))) is None
    ihave = rpc_pb2.ControlIHave(topicID="t")
    assert "control entries" in str(rpc_over_limits(rpc(control=rpc_pb2.ControlMessage(
        iwant=[iwant] * (RPC_MAX_CONTROL // 2), ihave=[ihave] * (RPC_MAX_CONTROL // 2 + 1)))))
    many = rpc_pb2.ControlIHave(topicID="t", messageIDs=[b"m"] * (RPC_MAX_IDS + 1))
    assert "message ids" in str(rpc_over_limits(rpc(control=rpc_pb2.ControlMessage(ihave=[many]))))
    assert rpc_over_limits(b"\xff\xff garbage") is None  # (left to py-libp2p)


def test_iwant_limiter_serves_each_id_once_per_request_and_three_times_per_peer() -> None:
    from p2p.libp2p_patches import IWANT_MAX_IDS, IwantLimiter

    lim = IwantLimiter(max_pairs=100)
    assert lim.allow("p", ["a"] * 2000) == ["a"]  # 2,000 copies of one id: served once
    assert lim.allow("p", ["a", "b"]) == ["a", "b"]
    assert lim.allow("p", ["a"]) == ["a"]
    assert lim.allow("p", ["a"]) == []  # a fourth time to the same peer: no
    assert lim.allow("q", ["a"]) == ["a"]  # another peer
    assert len(lim.allow("r", [str(i) for i in range(5000)])) == IWANT_MAX_IDS
    assert len(lim._served) <= 100


async def test_an_rpc_of_thousands_of_tiny_messages_is_dropped_whole_and_charged() -> None:
    """py-libp2p starts a task per published message and its task manager scans every task for each
    new one: 10,000 tiny messages in one RPC held the loop 40 s. Now the RPC is dropped before that,
    the peer is charged a fault, and gossip goes on."""
    async with live_net() as net, attacker_on(net) as a:
        msgs = [a.message(EPOCH_PROOF_QUOTE_TOPIC, os.urandom(8)) for _ in range(3000)]
        start = trio.current_time()
        await a.send(MESHSUB, a.rpc(*msgs), wait=0.5)
        await wait_for(lambda: net.guard_stats()["faults"] >= 1)
        assert trio.current_time() - start < 5
        assert net.svc.intake.statistics()["topics"][EPOCH_PROOF_QUOTE_TOPIC]["received"] == 0
        assert net.svc.scoring.app_score(a.peer_id) < 0
        await net.gossip_still_works()
