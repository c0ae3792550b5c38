"""discv5 v5.1 packet codec (sans-IO), per devp2p discv5-wire.md.

    packet        = masking-iv(16) || masked-header || message
    masked-header = aesctr(dest-id[:16], masking-iv, static-header || authdata)
    static-header = "discv5" || 0x0001 || flag(1) || nonce(12) || authdata-size(2)

flag 0: message,   authdata = src-id(32)
flag 1: WHOAREYOU, authdata = id-nonce(16) || enr-seq(8), no message
flag 2: handshake, authdata = src-id(32) || sig-size(1) || eph-key-size(1) || id-signature
                               || eph-pubkey || record(optional ENR)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from p2p.discv5.crypto import aes_ctr
from p2p.discv5.errors import Discv5DecodeError
from p2p.enr import Enr, EnrError

PROTOCOL_ID = b"discv5"
PROTOCOL_VERSION = 1
FLAG_MESSAGE = 0
FLAG_WHOAREYOU = 1
FLAG_HANDSHAKE = 2
MASKING_IV_SIZE = 16
STATIC_HEADER_SIZE = 23
NONCE_SIZE = 12
ID_NONCE_SIZE = 16
GCM_TAG_SIZE = 16
MIN_PACKET_SIZE = 63
MAX_PACKET_SIZE = 1280
MESSAGE_AUTHDATA_SIZE = 32
WHOAREYOU_AUTHDATA_SIZE = 24
HANDSHAKE_AUTHDATA_HEAD_SIZE = 34
V4_SIGNATURE_SIZE = 64
V4_PUBKEY_SIZE = 33


@dataclass(frozen=True, slots=True)
class MessageAuthdata:
    src_id: bytes

    def encode(self) -> bytes:
        return self.src_id


@dataclass(frozen=True, slots=True)
class WhoAreYouAuthdata:
    id_nonce: bytes
    enr_seq: int

    def encode(self) -> bytes:
        return self.id_nonce + struct.pack(">Q", self.enr_seq)


@dataclass(frozen=True, slots=True)
class HandshakeAuthdata:
    src_id: bytes
    id_signature: bytes
    eph_pubkey: bytes
    record: Enr | None

    def encode(self) -> bytes:
        record = self.record.to_rlp() if self.record is not None else b""
        return (
            self.src_id
            + bytes([len(self.id_signature), len(self.eph_pubkey)])
            + self.id_signature
            + self.eph_pubkey
            + record
        )


Authdata = MessageAuthdata | WhoAreYouAuthdata | HandshakeAuthdata


def _flag_of(authdata: Authdata) -> int:
    if isinstance(authdata, MessageAuthdata):
        return FLAG_MESSAGE
    if isinstance(authdata, WhoAreYouAuthdata):
        return FLAG_WHOAREYOU
    return FLAG_HANDSHAKE


@dataclass(frozen=True, slots=True)
class Packet:
    """A decoded (unmasked) packet. `message` is still AES-GCM encrypted (empty for WHOAREYOU)."""

    masking_iv: bytes
    nonce: bytes
    authdata: Authdata
    message: bytes = b""

    @property
    def flag(self) -> int:
        return _flag_of(self.authdata)

    def header(self) -> bytes:
        authdata = self.authdata.encode()
        return (
            PROTOCOL_ID
            + struct.pack(">HB", PROTOCOL_VERSION, self.flag)
            + self.nonce
            + struct.pack(">H", len(authdata))
            + authdata
        )

    @property
    def message_ad(self) -> bytes:
        """masking-iv || header: the GCM associated data, and for WHOAREYOU the challenge-data."""
        return self.masking_iv + self.header()

    def encode(self, dest_id: bytes) -> bytes:
        """Mask the header with dest-id[:16] and produce the datagram."""
        if len(self.masking_iv) != MASKING_IV_SIZE or len(self.nonce) != NONCE_SIZE:
            raise ValueError("masking-iv must be 16 bytes and nonce 12 bytes")
        header = self.header()
        return self.masking_iv + aes_ctr(dest_id[:16], self.masking_iv, header) + self.message


def decode_packet(data: bytes, local_id: bytes) -> Packet:
    """Unmask and parse a datagram addressed to local_id. Raises Discv5DecodeError on any problem."""
    if len(data) < MIN_PACKET_SIZE:
        raise Discv5DecodeError(f"packet too small ({len(data)} < {MIN_PACKET_SIZE} bytes)")
    if len(data) > MAX_PACKET_SIZE:
        raise Discv5DecodeError(f"packet too large ({len(data)} > {MAX_PACKET_SIZE} bytes)")
    masking_iv = bytes(data[:MASKING_IV_SIZE])
    rest = bytes(data[MASKING_IV_SIZE:])
    # CTR is a stream cipher: unmask the whole remainder once, then slice what the header says.
    unmasked = aes_ctr(local_id[:16], masking_iv, rest)
    static = unmasked[:STATIC_HEADER_SIZE]
    if static[:6] != PROTOCOL_ID:
        raise Discv5DecodeError("bad protocol id (not a discv5 packet for this node)")
    version, flag = struct.unpack(">HB", static[6:9])
    if version != PROTOCOL_VERSION:
        raise Discv5DecodeError(f"unsupported discv5 version {version:#06x}")
    nonce = static[9:21]
    (authdata_size,) = struct.unpack(">H", static[21:23])
    header_end = STATIC_HEADER_SIZE + authdata_size
    if header_end > len(rest):
        raise Discv5DecodeError("authdata-size exceeds the packet")
    authdata_raw = unmasked[STATIC_HEADER_SIZE:header_end]
    message = rest[header_end:]
    authdata: Authdata
    if flag == FLAG_MESSAGE:
        if authdata_size != MESSAGE_AUTHDATA_SIZE:
            raise Discv5DecodeError(f"message authdata must be 32 bytes, got {authdata_size}")
        authdata = MessageAuthdata(authdata_raw)
        if len(message) < GCM_TAG_SIZE:
            raise Discv5DecodeError("message packet without a message")
    elif flag == FLAG_WHOAREYOU:
        if authdata_size != WHOAREYOU_AUTHDATA_SIZE:
            raise Discv5DecodeError(f"WHOAREYOU authdata must be 24 bytes, got {authdata_size}")
        if message:
            raise Discv5DecodeError("WHOAREYOU packet carries a message")
        (enr_seq,) = struct.unpack(">Q", authdata_raw[16:24])
        authdata = WhoAreYouAuthdata(authdata_raw[:16], enr_seq)
    elif flag == FLAG_HANDSHAKE:
        authdata = _decode_handshake_authdata(authdata_raw)
        if len(message) < GCM_TAG_SIZE:
            raise Discv5DecodeError("handshake packet without a message")
    else:
        raise Discv5DecodeError(f"unknown packet flag {flag}")
    return Packet(masking_iv, nonce, authdata, message)


def _decode_handshake_authdata(raw: bytes) -> HandshakeAuthdata:
    if len(raw) < HANDSHAKE_AUTHDATA_HEAD_SIZE:
        raise Discv5DecodeError("handshake authdata shorter than its head")
    src_id = raw[:32]
    sig_size, key_size = raw[32], raw[33]
    if sig_size != V4_SIGNATURE_SIZE or key_size != V4_PUBKEY_SIZE:
        raise Discv5DecodeError(f"unsupported handshake sizes sig={sig_size} eph-key={key_size} (v4 only)")
    end_sig = HANDSHAKE_AUTHDATA_HEAD_SIZE + sig_size
    end_key = end_sig + key_size
    if len(raw) < end_key:
        raise Discv5DecodeError("handshake authdata truncated")
    record_raw = raw[end_key:]
    record: Enr | None = None
    if record_raw:
        try:
            record = Enr.from_rlp(record_raw)
        except EnrError as exc:
            raise Discv5DecodeError(f"handshake record invalid: {exc}") from exc
    return HandshakeAuthdata(src_id, raw[HANDSHAKE_AUTHDATA_HEAD_SIZE:end_sig], raw[end_sig:end_key], record)
