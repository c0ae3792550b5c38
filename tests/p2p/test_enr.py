"""ENR (EIP-778, v4) and key helper tests, including the EIP-778 example record byte for byte."""

from __future__ import annotations

import base64

import pytest
import rlp

from p2p.enr import MAX_ENR_SIZE, Enr, EnrError, enrs_by_node_id, parse_enr_list
from p2p.keys import (
    KeyFormatError,
    encode_peer_id_private_key,
    generate_private_key,
    parse_peer_id_private_key,
    peer_id_from_private_key,
)

EIP778_KEY = bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
EIP778_TEXT = (
    "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlk"
    "gnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8"
)
EIP778_RLP = bytes.fromhex(
    "f884b8407098ad865b00a582051940cb9cf36836572411a47278783077011599ed5cd16b76f2635f4e234738f30813a89eb9137e3e3df5266e3a1f11df72ecf1145ccb9c01826964827634826970847f00000189736563703235366b31a103ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31388375647082765f"
)
EIP778_NODE_ID = bytes.fromhex("a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7")


def test_eip778_example_decodes() -> None:
    enr = Enr.from_text(EIP778_TEXT)
    assert enr.to_rlp() == EIP778_RLP
    assert enr.seq == 1
    assert enr.node_id == EIP778_NODE_ID
    assert enr.ip == "127.0.0.1" and enr.udp == 30303 and enr.tcp is None
    assert enr.public_key.hex() == "03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
    assert enr.aztec_network is None and not enr.is_aztec()


def test_eip778_example_is_rebuilt_byte_for_byte() -> None:
    enr = Enr.create(EIP778_KEY, seq=1, ip="127.0.0.1", udp=30303)
    assert enr.to_rlp() == EIP778_RLP
    assert enr.to_text() == EIP778_TEXT


def test_aztec_record_roundtrip_and_accessors() -> None:
    key = generate_private_key()
    enr = Enr.create(
        key, seq=3, ip="10.0.0.7", tcp=40400, udp=40500, ip6="::1", udp6=7, extra={"aztec_network": b"\x01"}
    )
    again = Enr.from_text(enr.to_text())
    assert again == enr and hash(again) == hash(enr)
    assert (again.ip, again.tcp, again.udp, again.ip6, again.udp6) == ("10.0.0.7", 40400, 40500, "::1", 7)
    assert again.aztec_network == 1 and again.is_aztec() and not again.is_aztec(2)
    assert again.udp_endpoint() == ("10.0.0.7", 40500)
    assert again.peer_id == peer_id_from_private_key(key)
    assert again.tcp_multiaddr() == f"/ip4/10.0.0.7/tcp/40400/p2p/{again.peer_id}"
    assert again.peer_id.startswith("16Uiu2")
    assert again.get("udp6") == b"\x00\x07"  # ports are always 2 bytes (@chainsafe/enr needs that)
    newer = again.updated(key, set_={"tcp": (40401).to_bytes(2, "big")})
    assert newer.seq == 4 and newer.tcp == 40401 and Enr.from_rlp(newer.to_rlp()) == newer
    with pytest.raises(EnrError):
        again.updated(generate_private_key())


def test_padding_and_whitespace_tolerated() -> None:
    body = EIP778_TEXT[4:]
    assert Enr.from_text("  enr:" + body + "=" * (-len(body) % 4) + "\n").node_id == EIP778_NODE_ID


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must start with 'enr:'"),
        ("enode://abc", "must start with 'enr:'"),
        ("enr:", "not valid RLP"),
        ("enr:!!!!", "not base64url"),
        ("enr:A", "invalid base64 length"),
        ("enr:" + "A" * 500, "longer than"),
        ("enr:" + EIP778_TEXT[4:-2] + "AA", "signature is invalid"),
    ],
)
def test_bad_text(text: str, message: str) -> None:
    with pytest.raises(EnrError, match=message):
        Enr.from_text(text)


def _raw(items: list[object]) -> bytes:
    return bytes(rlp.encode(items))


def test_structural_rejections() -> None:
    good = rlp.decode(EIP778_RLP)
    cases: list[tuple[object, str]] = [
        (b"\x01\x02", "RLP list"),
        ([good[0]], "signature, seq"),
        ([good[0], good[1], b"id"], "signature, seq"),
        ([good[0], b"\x00\x01", *good[2:]], "leading zero"),
        ([good[0], b"\x01" * 9, *good[2:]], "longer than 8"),
        ([good[0], good[1], b"ip", good[5], b"id", good[3], *good[6:]], "sorted and unique"),
        ([good[0], good[1], b"id", b"v5", *good[4:]], "identity scheme"),
        ([good[0], good[1], b"id", b"v4"], "33-byte compressed"),
        ([good[0][:63], *good[1:]], "64 bytes"),
        ([[b"x"], *good[1:]], "signature must be a byte string"),
    ]
    for items, message in cases:
        with pytest.raises(EnrError, match=message):
            Enr.from_rlp(_raw(items) if isinstance(items, list) else rlp.encode(items))
    bad_point = [*good[:7], b"\x02" + b"\xff" * 32, *good[8:]]
    with pytest.raises(EnrError, match="curve point"):
        Enr.from_rlp(_raw(bad_point))
    with pytest.raises(EnrError, match="RLP"):
        Enr.from_rlp(EIP778_RLP + b"\x00")  # trailing bytes


def test_size_limit() -> None:
    key = generate_private_key()
    with pytest.raises(EnrError, match="limit is 300"):
        Enr.create(key, extra={"big": b"x" * 250})
    Enr.create(key, extra={"ok": b"x" * 150})
    too_big = base64.urlsafe_b64encode(b"\xf9" + b"\x01" * (MAX_ENR_SIZE + 1)).decode().rstrip("=")
    with pytest.raises(EnrError):
        Enr.from_text("enr:" + too_big)


def test_enr_list_and_dedup() -> None:
    key = generate_private_key()
    a1, a2 = Enr.create(key, seq=1), Enr.create(key, seq=2)
    b = Enr.create(generate_private_key())
    assert parse_enr_list(f"{a1.to_text()}, {b.to_text()},") == [a1, b]
    with pytest.raises(EnrError, match="entry 2"):
        parse_enr_list(f"{a1.to_text()},enr:xx")
    assert enrs_by_node_id([a1, b, a2])[a1.node_id] == a2


def test_peer_id_private_key_formats() -> None:
    key = generate_private_key()
    aztec = encode_peer_id_private_key(key)
    assert aztec.startswith("08021220") and len(aztec) == 72
    assert parse_peer_id_private_key(aztec) == key
    assert parse_peer_id_private_key("0x" + key.hex() + "\n") == key
    for bad, message in [
        ("zz", "not valid hex"),
        ("08021221" + "11" * 32, "must start with 08021220"),
        ("11" * 31, "36 bytes"),
        ("00" * 32, "out of range"),
        ("ff" * 32, "out of range"),
    ]:
        with pytest.raises(KeyFormatError, match=message):
            parse_peer_id_private_key(bad)


def test_peer_id_known_value() -> None:
    # the EIP-778 key's libp2p peer id (protobuf 08021221 + compressed key, identity multihash, base58btc)
    assert peer_id_from_private_key(EIP778_KEY) == "16Uiu2HAmSH2XVgZqYHWucap5kuPzLnt2TsNQkoppVxB5eJGvaXwm"
