"""PeerGuard (sans-IO, injected clock) and the gossip envelope rule; discv5 fed garbage on a live socket."""

from __future__ import annotations

import os
import socket

import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from p2p.containment import ContainmentConfig, PeerGuard
from p2p.gossip import RateLimit
from p2p.libp2p_patches import envelope_problem
from p2p.scoring import PeerScoring
from tests.p2p.attacker import Attacker


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make_guard(**kw: object) -> tuple[PeerGuard, Clock]:
    clock = Clock()
    scoring = PeerScoring(now=clock)
    return PeerGuard(ContainmentConfig(**kw), scoring=scoring, now=clock), clock  # type: ignore[arg-type]


def test_faults_ban_then_the_ban_expires() -> None:
    g, clock = make_guard(ban_after_faults=3, ban_duration_s=60, ban_score_threshold=-1e9)
    assert not g.fault("p", "meshsub", "DecodeError")
    assert not g.fault("p", "meshsub", "DecodeError")
    assert g.fault("p", "meshsub", "DecodeError")
    assert g.is_banned("p") and not g.allow_connection("p") and not g.open_stream("p")
    assert not g.begin_message("p")
    assert g.scoring.app_score("p") < 0
    clock.t += 59
    assert g.is_banned("p")
    clock.t += 2
    assert not g.is_banned("p") and g.allow_connection("p") and g.open_stream("p")
    st = g.statistics()
    assert st["bans"] == 1 and st["bans_expired"] == 1 and st["connections_refused_banned"] == 1


def test_faults_outside_the_window_do_not_add_up() -> None:
    g, clock = make_guard(ban_after_faults=3, fault_window_s=10, ban_score_threshold=-1e9)
    for _ in range(10):
        assert not g.fault("p", "identify", "x")
        clock.t += 6  # at most two faults within any 10 s
    assert not g.is_banned("p")


def test_score_below_threshold_bans_but_graylist_alone_does_not() -> None:
    g, _ = make_guard(ban_score_threshold=-500, ban_after_faults=10**6)
    for _ in range(5):  # 5 invalid deliveries: -100, graylisted (< -80) but not banned
        g.envelope_invalid("relay", "/aztec/tx/0.1.0", "InvalidSeqno")
    assert g.scoring.is_graylisted("relay") and not g.is_banned("relay")
    for _ in range(30):
        g.envelope_invalid("spammer", "/aztec/tx/0.1.0", "InvalidSeqno")
    assert g.is_banned("spammer")


def test_stream_limits() -> None:
    g, _ = make_guard(max_inbound_streams_per_peer=3, stream_rate=RateLimit(1, 100))
    assert [g.open_stream("p") for _ in range(5)] == [True, True, True, False, False]
    g.close_stream("p")
    assert g.open_stream("p")
    assert g.statistics()["open_streams"] == 3
    g2, clock2 = make_guard(stream_rate=RateLimit(1, 2))
    assert [g2.open_stream("q") for _ in range(3)] == [True, True, False]
    for _ in range(2):
        g2.close_stream("q")
    clock2.t += 1
    assert g2.open_stream("q")


def test_protocol_rate_and_inflight_bound() -> None:
    g, _ = make_guard(max_inflight_messages_per_peer=2)
    assert [g.allow_protocol("p", "/ipfs/id/push/1.0.0") for _ in range(6)] == [True] * 5 + [False]
    assert g.allow_protocol("p", "/aztec/req/tx/0.1.0")  # req/resp has its own limiter
    assert [g.allow_protocol("p", "/meshsub/1.1.0") for _ in range(3)] == [True, True, False]  # 2 open at most
    g.protocol_closed("p", "/meshsub/1.1.0")
    assert g.allow_protocol("p", "/meshsub/1.1.0")
    assert [g.begin_message("p") for _ in range(3)] == [True, True, False]
    g.end_message("p")
    assert g.begin_message("p")
    assert g.statistics()["messages_dropped_inflight"] == 1


def test_banned_peers_are_bounded() -> None:
    g, _ = make_guard(max_banned_peers=10)
    for i in range(25):
        g.ban(f"p{i}", "test")
    assert len(g.banned_peers()) == 10 and g.statistics()["bans_dropped_full"] == 15


class GuardMachine(RuleBasedStateMachine):
    """Whatever the sequence, counters never go negative, caps hold, memory stays bounded."""

    def __init__(self) -> None:
        super().__init__()
        self.g, self.clock = make_guard(
            max_inbound_streams_per_peer=4, max_inflight_messages_per_peer=3, max_tracked_peers=5, max_banned_peers=4
        )
        self.open: dict[str, int] = {}
        self.inflight: dict[str, int] = {}

    peers = st.sampled_from([f"p{i}" for i in range(8)])

    @rule(p=peers)
    def open_stream(self, p: str) -> None:
        if self.g.open_stream(p):
            self.open[p] = self.open.get(p, 0) + 1

    @precondition(lambda self: any(self.open.values()))
    @rule(data=st.data())
    def close_stream(self, data: st.DataObject) -> None:
        p = data.draw(st.sampled_from(sorted(k for k, v in self.open.items() if v)))
        self.g.close_stream(p)
        self.open[p] -= 1

    @rule(p=peers)
    def begin(self, p: str) -> None:
        if self.g.begin_message(p):
            self.inflight[p] = self.inflight.get(p, 0) + 1

    @precondition(lambda self: any(self.inflight.values()))
    @rule(data=st.data())
    def end(self, data: st.DataObject) -> None:
        p = data.draw(st.sampled_from(sorted(k for k, v in self.inflight.items() if v)))
        self.g.end_message(p)
        self.inflight[p] -= 1

    @rule(p=peers)
    def fault(self, p: str) -> None:
        self.g.fault(p, "meshsub", "x")

    @rule(dt=st.floats(0, 700))
    def tick(self, dt: float) -> None:
        self.clock.t += dt

    @invariant()
    def bounded(self) -> None:
        st_ = self.g.statistics()
        assert st_["open_streams"] == sum(self.open.values())
        assert st_["inflight_messages"] == sum(self.inflight.values())
        assert all(v <= 4 for v in self.open.values()) and all(v <= 3 for v in self.inflight.values())
        assert len(self.g.banned_peers()) <= 4
        assert st_["tracked_peers"] <= 5


TestGuardMachine = GuardMachine.TestCase
TestGuardMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


# ---- the envelope rule (pure) -----------------------------------------------------------------------
def test_envelope_rule() -> None:
    a = Attacker()
    topic = "/aztec/epoch_proof_quote/0.1.0"
    assert envelope_problem(a.message(topic, b"q")) is None
    assert envelope_problem(a.message(topic, b"q", seqno=b"1234")) == "InvalidSeqno: 4-byte seqno"
    assert envelope_problem(a.message(topic, b"q", seqno=b"")) == "InvalidSeqno: 0-byte seqno"
    assert envelope_problem(a.message(topic, b"q", sign=False)) == "InvalidSignature: no signature"
    assert envelope_problem(a.message(topic, b"q", with_from=False)) == "InvalidPeerId: no from"
    own_key = a.key_pair.public_key.serialize()
    assert envelope_problem(a.message(topic, b"q", key=own_key)) is None  # key present and matching: fine
    m = a.message(topic, b"q")
    m.data = b"tampered"
    assert envelope_problem(m) == "InvalidSignature"
    from libp2p.pubsub.pb import rpc_pb2

    raw = rpc_pb2.Message()  # signed, one topic that is not UTF-8: rebuilding the signed bytes fails
    raw.ParseFromString(a.message(topic, b"q", topics=[]).SerializeToString() + bytes([0x22, 0x02, 0xFF, 0xFE]))
    assert len(raw.topicIDs) == 1 and len(raw.seqno) == 8 and raw.signature
    assert envelope_problem(raw) == "undecodable envelope: UnicodeDecodeError"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=16), st.binary(max_size=64), st.binary(max_size=80), st.binary(max_size=48))
def test_envelope_rule_never_raises(seqno: bytes, data: bytes, sig: bytes, frm: bytes) -> None:
    a = _ATTACKER
    m = a.message("/aztec/tx/0.1.0", data, seqno=seqno)
    assert (envelope_problem(m) is None) == (len(seqno) == 8)
    m.signature = sig
    m.from_id = frm
    problem = envelope_problem(m)  # must not raise whatever the fields hold
    assert problem is not None or (len(seqno) == 8 and frm == a.host.get_id().to_bytes())


_ATTACKER = Attacker()


# ---- discv5: garbage datagrams on a live service ------------------------------------------------------
async def test_discv5_garbage_packets_do_not_stop_the_service() -> None:
    from tests.p2p.test_discv5_service import make_service

    target = make_service([])
    honest = make_service([])
    async with trio.open_nursery() as nursery:
        enr = await nursery.start(target.run)
        await nursery.start(honest.run)
        assert enr.udp is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for i in range(300):
                size = (0, 1, 23, 63, 64, 100, 1280, 1281)[i % 8]
                sock.sendto(os.urandom(size), ("127.0.0.1", enr.udp))
                if i % 50 == 0:
                    await trio.sleep(0.01)
        finally:
            sock.close()
        with trio.fail_after(10):
            pong = await honest.ping(target.enr)
        assert pong is not None
        assert target.statistics()["core_errors"] == 0  # all rejected by the decoders, none escaped
        nursery.cancel_scope.cancel()


def test_a_graylisted_peer_that_keeps_sending_is_banned() -> None:
    g, clock = make_guard(ban_after_graylisted_messages=20, ban_score_threshold=-1e9)
    for _ in range(5):
        g.envelope_invalid("p", "/aztec/tx/0.1.0", "x")  # -100: graylisted
    assert g.scoring.is_graylisted("p")
    results = []
    for _ in range(25):
        results.append(g.begin_message("p"))
        g.end_message("p")
        clock.t += 0.01
    assert results[:19] == [True] * 19 and not results[19] and g.is_banned("p")
    # an honest peer sending as much while not graylisted is not banned
    for _ in range(100):
        assert g.begin_message("q")
        g.end_message("q")
    assert not g.is_banned("q")
