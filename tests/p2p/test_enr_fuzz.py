"""Hypothesis fuzzing of the ENR decoder: every input is a verified Enr or a clear EnrError."""

from __future__ import annotations

import base64
import contextlib

import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from p2p.enr import Enr, EnrError

EIP778_RLP = Enr.from_text(
    "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlk"
    "gnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8"
).to_rlp()
AZTEC = Enr.create(bytes(31) + b"\x07", ip="127.0.0.1", tcp=1, udp=2, extra={"aztec_network": b"\x01"}).to_rlp()

rlp_items = st.recursive(st.binary(max_size=40), lambda children: st.lists(children, max_size=6), max_leaves=20)


def _check_bytes(data: bytes) -> None:
    try:
        enr = Enr.from_rlp(data)
    except EnrError:
        return
    assert Enr.from_rlp(enr.to_rlp()) == enr


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    _check_bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([EIP778_RLP, AZTEC]), st.data())
def test_mutated_records(seed: bytes, data: st.DataObject) -> None:
    raw = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "flip" and raw:
            raw[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del raw[pos:]
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif raw:
            del raw[pos]
    _check_bytes(bytes(raw))


@settings(max_examples=300, deadline=None)
@given(rlp_items)
def test_random_rlp_structures(items: object) -> None:
    with contextlib.suppress(EnrError):
        Enr.from_rlp_items(items)
    _check_bytes(bytes(rlp.encode(items)))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120), st.binary(max_size=200))
def test_random_text(text: str, data: bytes) -> None:
    for candidate in (text, "enr:" + text, "enr:" + base64.urlsafe_b64encode(data).decode().rstrip("=")):
        with contextlib.suppress(EnrError):
            Enr.from_text(candidate)
