"""discv5 v5.1 message codec (sans-IO): `message-pt = message-type || rlp(message-data)`.

Only the messages discv5 v5.1 nodes actually exchange are supported (PING, PONG, FINDNODE, NODES,
TALKREQ, TALKRESP); topic messages are rejected as unknown.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import rlp

from p2p.discv5.errors import Discv5DecodeError
from p2p.enr import Enr, EnrError

PING = 0x01
PONG = 0x02
FINDNODE = 0x03
NODES = 0x04
TALKREQ = 0x05
TALKRESP = 0x06
MAX_REQUEST_ID_SIZE = 8
MAX_DISTANCE = 256


@dataclass(frozen=True, slots=True)
class Ping:
    request_id: bytes
    enr_seq: int


@dataclass(frozen=True, slots=True)
class Pong:
    request_id: bytes
    enr_seq: int
    recipient_ip: str
    recipient_port: int


@dataclass(frozen=True, slots=True)
class FindNode:
    request_id: bytes
    distances: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Nodes:
    request_id: bytes
    total: int
    enrs: tuple[Enr, ...]


@dataclass(frozen=True, slots=True)
class TalkReq:
    request_id: bytes
    protocol: bytes
    request: bytes


@dataclass(frozen=True, slots=True)
class TalkResp:
    request_id: bytes
    response: bytes


Message = Ping | Pong | FindNode | Nodes | TalkReq | TalkResp
Request = Ping | FindNode | TalkReq
Response = Pong | Nodes | TalkResp


def _uint(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def encode_message(message: Message) -> bytes:
    if len(message.request_id) > MAX_REQUEST_ID_SIZE:
        raise ValueError("request id longer than 8 bytes")
    body: list[object]
    if isinstance(message, Ping):
        kind, body = PING, [message.request_id, _uint(message.enr_seq)]
    elif isinstance(message, Pong):
        ip = ipaddress.ip_address(message.recipient_ip).packed
        kind, body = PONG, [message.request_id, _uint(message.enr_seq), ip, _uint(message.recipient_port)]
    elif isinstance(message, FindNode):
        kind, body = FINDNODE, [message.request_id, [_uint(d) for d in message.distances]]
    elif isinstance(message, Nodes):
        # the records' own (canonical) RLP spliced in, not decoded and re-encoded for every answer
        records = _rlp_list(b"".join(e.to_rlp() for e in message.enrs))
        head = bytes(rlp.encode(message.request_id)) + bytes(rlp.encode(_uint(message.total)))
        return bytes([NODES]) + _rlp_list(head + records)
    elif isinstance(message, TalkReq):
        kind, body = TALKREQ, [message.request_id, message.protocol, message.request]
    else:
        kind, body = TALKRESP, [message.request_id, message.response]
    return bytes([kind]) + bytes(rlp.encode(body))


def _rlp_list(payload: bytes) -> bytes:
    """RLP list header + payload (the payload being the concatenated encodings of the items)."""
    n = len(payload)
    if n < 56:
        return bytes([0xC0 + n]) + payload
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size + payload


def encode_nodes_payload_size(enrs: list[Enr]) -> int:
    """Bytes the ENR list adds to a NODES message (for packing under the packet limit)."""
    return sum(len(e.to_rlp()) for e in enrs)


def _bytes(item: object, name: str, max_size: int | None = None) -> bytes:
    if not isinstance(item, bytes):
        raise Discv5DecodeError(f"{name} must be a byte string")
    if max_size is not None and len(item) > max_size:
        raise Discv5DecodeError(f"{name} longer than {max_size} bytes")
    return item


def _int(item: object, name: str, max_bytes: int) -> int:
    raw = _bytes(item, name, max_bytes)
    if raw[:1] == b"\x00":
        raise Discv5DecodeError(f"{name} has leading zero bytes")
    return int.from_bytes(raw, "big")


def _fields(body: object, count: int, name: str) -> list[object]:
    if not isinstance(body, list) or len(body) < count:
        raise Discv5DecodeError(f"{name} must be a list of at least {count} items")
    # Extra trailing fields are tolerated for forward compatibility (as EIP-8 style decoders do).
    return body


def decode_message(data: bytes) -> Message:
    """Decode a decrypted message plaintext. Raises Discv5DecodeError on anything malformed."""
    if not data:
        raise Discv5DecodeError("empty message")
    kind = data[0]
    try:
        body = rlp.decode(bytes(data[1:]), strict=True)
    except Exception as exc:
        raise Discv5DecodeError(f"message body is not valid RLP: {exc}") from exc
    if kind == PING:
        f = _fields(body, 2, "PING")
        return Ping(_bytes(f[0], "request-id", MAX_REQUEST_ID_SIZE), _int(f[1], "enr-seq", 8))
    if kind == PONG:
        f = _fields(body, 4, "PONG")
        ip_raw = _bytes(f[2], "recipient-ip")
        if len(ip_raw) not in (4, 16):
            raise Discv5DecodeError("PONG recipient-ip must be 4 or 16 bytes")
        port = _int(f[3], "recipient-port", 2)
        return Pong(
            _bytes(f[0], "request-id", MAX_REQUEST_ID_SIZE),
            _int(f[1], "enr-seq", 8),
            str(ipaddress.ip_address(ip_raw)),
            port,
        )
    if kind == FINDNODE:
        f = _fields(body, 2, "FINDNODE")
        if not isinstance(f[1], list):
            raise Discv5DecodeError("FINDNODE distances must be a list")
        distances = tuple(_int(d, "distance", 2) for d in f[1])
        if any(d > MAX_DISTANCE for d in distances):
            raise Discv5DecodeError("FINDNODE distance above 256")
        return FindNode(_bytes(f[0], "request-id", MAX_REQUEST_ID_SIZE), distances)
    if kind == NODES:
        f = _fields(body, 3, "NODES")
        if not isinstance(f[2], list):
            raise Discv5DecodeError("NODES records must be a list")
        try:
            enrs = tuple(Enr.from_rlp_items(item) for item in f[2])
        except EnrError as exc:
            raise Discv5DecodeError(f"NODES carries an invalid record: {exc}") from exc
        return Nodes(_bytes(f[0], "request-id", MAX_REQUEST_ID_SIZE), _int(f[1], "total", 8), enrs)
    if kind == TALKREQ:
        f = _fields(body, 3, "TALKREQ")
        return TalkReq(
            _bytes(f[0], "request-id", MAX_REQUEST_ID_SIZE), _bytes(f[1], "protocol"), _bytes(f[2], "request")
        )
    if kind == TALKRESP:
        f = _fields(body, 2, "TALKRESP")
        return TalkResp(_bytes(f[0], "request-id", MAX_REQUEST_ID_SIZE), _bytes(f[1], "response"))
    raise Discv5DecodeError(f"unknown or unsupported message type {kind:#04x}")
