"""Hypothesis fuzzing of the discv5 decoders and the protocol core's packet intake.

Every input is either a decoded object or a clear Discv5DecodeError; the core never raises.
"""

from __future__ import annotations

import contextlib
import struct

import rlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2p.discv5.crypto import aes_ctr
from p2p.discv5.errors import Discv5DecodeError
from p2p.discv5.messages import decode_message, encode_message
from p2p.discv5.packet import decode_packet
from p2p.discv5.protocol import Discv5Protocol
from p2p.enr import Enr

NODE_B_KEY = bytes.fromhex("66fb62bfbd66b9177a138c1e5cddbe4f7c30c343e94e68df8769459cb1cde628")
NODE_B_ID = bytes.fromhex("bbbb9d047f0488c0b5a93c1c3f2d8bafc7c8ff337024a55434a0d0555de64db9")
VECTORS = [
    bytes.fromhex(
        "00000000000000000000000000000000088b3d4342774649325f313964a39e55ea96c005ad52be8c7560413a7008f16c9e6d2f43"
        "bbea8814a546b7409ce783d34c4f53245d08dab84102ed931f66d1492acb308fa1c6715b9d139b81acbdcc"
    ),
    bytes.fromhex(
        "00000000000000000000000000000000088b3d434277464933a1ccc59f5967ad1d6035f15e528627dde75cd68292f9e6c27d6b66"
        "c8100a873fcbaed4e16b8d"
    ),
    bytes.fromhex(
        "00000000000000000000000000000000088b3d4342774649305f313964a39e55ea96c005ad521d8c7560413a7008f16c9e6d2f43"
        "bbea8814a546b7409ce783d34c4f53245d08da4bb252012b2cba3f4f374a90a75cff91f142fa9be3e0a5f3ef268ccb9065aeecfd"
        "67a999e7fdc137e062b2ec4a0eb92947f0d9a74bfbf44dfba776b21301f8b65efd5796706adff216ab862a9186875f9494150c4a"
        "e06fa4d1f0396c93f215fa4ef524f1eadf5f0f4126b79336671cbcf7a885b1f8bd2a5d839cf8"
    ),
]
rlp_items = st.recursive(st.binary(max_size=40), lambda children: st.lists(children, max_size=6), max_leaves=24)


def _decode(data: bytes) -> None:
    try:
        packet = decode_packet(data, NODE_B_ID)
    except Discv5DecodeError:
        return
    assert packet.encode(NODE_B_ID) == data  # a decoded packet re-encodes to the same bytes


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=1400))
def test_packet_random_bytes(data: bytes) -> None:
    _decode(data)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(VECTORS), st.data())
def test_packet_mutations(seed: bytes, data: st.DataObject) -> None:
    raw = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(raw) - 1)) if raw else 0
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip" and raw:
            raw[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del raw[pos:]
        else:
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=40))
    _decode(bytes(raw))


@settings(max_examples=400, deadline=None)
@given(
    st.binary(min_size=16, max_size=16),
    st.integers(0, 255),
    st.binary(min_size=12, max_size=12),
    st.integers(0, 0xFFFF),
    st.binary(max_size=400),
    st.binary(max_size=100),
)
def test_packet_valid_header_random_authdata(
    iv: bytes, flag: int, nonce: bytes, size: int, authdata: bytes, message: bytes
) -> None:
    """Correctly masked headers with arbitrary flag/authdata-size/authdata reach the inner decoders."""
    header = b"discv5" + struct.pack(">HB", 1, flag) + nonce + struct.pack(">H", size) + authdata
    _decode(iv + aes_ctr(NODE_B_ID[:16], iv, header) + message)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_message_random_bytes(data: bytes) -> None:
    with contextlib.suppress(Discv5DecodeError):
        decode_message(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 8), rlp_items)
def test_message_random_rlp(kind: int, items: object) -> None:
    try:
        message = decode_message(bytes([kind]) + bytes(rlp.encode(items)))
    except Discv5DecodeError:
        return
    assert decode_message(encode_message(message)) == message


def _core() -> Discv5Protocol:
    return Discv5Protocol(NODE_B_KEY, Enr.create(NODE_B_KEY, ip="127.0.0.1", udp=9000))


CORE = _core()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VECTORS), st.data())
def test_core_never_raises(seed: bytes, data: st.DataObject) -> None:
    raw = bytearray(seed)
    if data.draw(st.booleans()):
        pos = data.draw(st.integers(16, len(raw) - 1))
        raw[pos] ^= data.draw(st.integers(1, 255))
    CORE.receive(bytes(raw), ("127.0.0.1", data.draw(st.integers(1, 65535))), data.draw(st.floats(0, 1e6)))
    CORE.tick(1e6)
    CORE.take_outgoing()
    CORE.take_events()
