"""Stateful hypothesis test of the discv5 core: two nodes, a lossy, reordering, duplicating network,
restarts (lost sessions) and corrupted packets. Invariants: nothing raises, every request resolves
(completed or failed) once enough time passes, and a clean exchange after the chaos succeeds."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from p2p.discv5.protocol import (
    Discv5Protocol,
    LookupCompleted,
    RequestCompleted,
    RequestFailed,
)
from p2p.enr import Enr

KEYS = [bytes(31) + bytes([i]) for i in (1, 2)]
ADDRS = [("127.0.0.1", 7001), ("127.0.0.1", 7002)]


def _node(i: int) -> Discv5Protocol:
    return Discv5Protocol(KEYS[i], Enr.create(KEYS[i], ip="127.0.0.1", udp=ADDRS[i][1]))


class Discv5Chaos(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.nodes = [_node(0), _node(1)]
        self.now = 0.0
        self.in_flight: list[tuple[int, bytes]] = []  # (destination index, datagram)
        self.pending: list[set[int]] = [set(), set()]

    def _collect(self) -> None:
        for i, node in enumerate(self.nodes):
            for data, addr in node.take_outgoing():
                self.in_flight.append((ADDRS.index(addr), data))
            for event in node.take_events():
                if isinstance(event, RequestCompleted | RequestFailed | LookupCompleted):
                    self.pending[i].discard(event.handle)

    @rule(src=st.integers(0, 1), kind=st.sampled_from(["ping", "findnode", "talk", "lookup"]))
    def request(self, src: int, kind: str) -> None:
        node, other = self.nodes[src], self.nodes[1 - src]
        if kind == "ping":
            handle = node.ping(other.enr, self.now)
        elif kind == "findnode":
            handle = node.find_node(other.enr, [0, 255, 256], self.now)
        elif kind == "talk":
            handle = node.talk_req(other.enr, b"proto", b"req", self.now)
        else:
            node.add_enr(other.enr, self.now)
            handle = node.start_lookup(bytes(32), self.now)
        self.pending[src].add(handle)
        self._collect()

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data(), action=st.sampled_from(["deliver", "drop", "duplicate", "corrupt"]))
    def network(self, data: st.DataObject, action: str) -> None:
        index = data.draw(st.integers(0, len(self.in_flight) - 1))
        dest, packet = self.in_flight[index]
        if action == "drop":
            del self.in_flight[index]
            return
        if action == "corrupt":
            pos = data.draw(st.integers(0, len(packet) - 1))
            packet = packet[:pos] + bytes([packet[pos] ^ 0x5A]) + packet[pos + 1 :]
        if action != "duplicate":
            del self.in_flight[index]
        self.nodes[dest].receive(packet, ADDRS[1 - dest], self.now)
        self._collect()

    @rule()
    def deliver_all(self) -> None:
        for _ in range(50):
            if not self.in_flight:
                break
            dest, packet = self.in_flight.pop(0)
            self.nodes[dest].receive(packet, ADDRS[1 - dest], self.now)
            self._collect()

    @rule(dt=st.floats(0.1, 5.0))
    def advance(self, dt: float) -> None:
        self.now += dt
        for node in self.nodes:
            node.tick(self.now)
        self._collect()

    @rule(which=st.integers(0, 1))
    def restart(self, which: int) -> None:
        self.nodes[which] = _node(which)  # same identity, all sessions lost
        self.pending[which].clear()
        self.in_flight = [(d, p) for d, p in self.in_flight if d != which]

    @invariant()
    def bounded(self) -> None:
        for node in self.nodes:
            stats = node.statistics()
            assert stats["calls"] <= node.config.max_calls
            assert stats["sessions"] <= 2

    def teardown(self) -> None:
        # everything outstanding resolves once time runs out
        self.in_flight.clear()
        for _ in range(4):
            self.now += 10.0
            for node in self.nodes:
                node.tick(self.now)
            self._collect()
            self.in_flight.clear()
        assert self.pending == [set(), set()]
        # and a clean exchange afterwards works in both directions
        for src in (0, 1):
            handle = self.nodes[src].ping(self.nodes[1 - src].enr, self.now)
            self.pending[src].add(handle)
            self._collect()
            self.deliver_all()
            assert handle not in self.pending[src]


Discv5Chaos.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestDiscv5Chaos = Discv5Chaos.TestCase
