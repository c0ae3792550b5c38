"""The discv5 core draws every random byte from the `random_bytes` it is given: with a seeded source a
whole exchange (random packet, WHOAREYOU, handshake, PING/PONG, FINDNODE/NODES) is byte-identical run
after run, and the OS random source is never touched."""

from __future__ import annotations

import os
import random

import pytest

from p2p.discv5.protocol import Discv5Protocol, RequestCompleted
from p2p.enr import Enr

KEY_A, KEY_B, KEY_C = bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32


def exchange(seed: int) -> tuple[list[bytes], list[object]]:
    ra, rb = random.Random(seed), random.Random(seed + 1000)
    enr_a = Enr.create(KEY_A, ip="127.0.0.1", udp=9001)
    enr_b = Enr.create(KEY_B, ip="127.0.0.1", udp=9002)
    a = Discv5Protocol(KEY_A, enr_a, random_bytes=ra.randbytes)
    b = Discv5Protocol(KEY_B, enr_b, random_bytes=rb.randbytes)
    b.add_enr(Enr.create(KEY_C, ip="127.0.0.1", udp=9003), 0.0)
    nodes = {("127.0.0.1", 9001): a, ("127.0.0.1", 9002): b}
    a.add_enr(enr_b, 0.0)
    a.ping(enr_b, 0.0)
    a.find_node(enr_b, [256, 255, 254], 0.0)
    wire: list[bytes] = []
    events: list[object] = []
    for _ in range(20):
        moved = False
        for addr, node in nodes.items():
            for data, dest in node.take_outgoing():
                moved = True
                wire.append(data)
                target = nodes.get(dest)
                if target is not None:
                    target.receive(data, addr, 0.5)
            events += node.take_events()
        if not moved:
            break
    return wire, events


def test_seeded_exchange_is_byte_identical_and_uses_no_os_random(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_os_random(n: int) -> bytes:
        raise AssertionError("os.urandom called inline")

    monkeypatch.setattr(os, "urandom", no_os_random)
    wire1, events1 = exchange(7)
    wire2, events2 = exchange(7)
    assert len(wire1) >= 6 and wire1 == wire2
    assert events1 == events2
    done = [e for e in events1 if isinstance(e, RequestCompleted)]
    assert len(done) == 2  # the PONG and the NODES answer
    wire3, _ = exchange(8)
    assert wire3 != wire1  # the seed, not a constant, decides the bytes
