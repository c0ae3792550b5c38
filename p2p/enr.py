"""Ethereum Node Records (EIP-778), "v4" identity scheme only.

A record is `rlp([signature, seq, k1, v1, k2, v2, ...])` with keys sorted and unique, at most 300 bytes.
The signature is a 64-byte secp256k1 `r || s` over `keccak256(rlp([seq, k1, v1, ...]))`; the node id is
`keccak256(uncompressed_pubkey[1:])`. Text form: `enr:` + base64url without padding.

Aztec v0.63 ENRs carry `aztec_network` = 0x01 plus `ip`/`tcp`/`udp` (p2p doc 6.2).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeAlias

import rlp
from coincurve import PrivateKey, PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact, signature_normalize
from eth_hash.auto import keccak

from p2p.keys import KeyFormatError, peer_id_from_public_key, validate_private_key

RlpItem: TypeAlias = "bytes | list[RlpItem]"

MAX_ENR_SIZE = 300
ENR_PREFIX = "enr:"
AZTEC_ENR_KEY = "aztec_network"
AZTEC_NETWORK_DEVNET = 0x01  # 0.63 hard-codes devnet for every network (p2p doc 6.2)
_MAX_SEQ = 2**64 - 1
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class EnrError(ValueError):
    """A node record is malformed, too large, badly signed or uses an unknown identity scheme."""


def _keccak(data: bytes) -> bytes:
    return bytes(keccak(data))


def _decode_uint(value: RlpItem, name: str, max_bytes: int) -> int:
    if not isinstance(value, bytes):
        raise EnrError(f"ENR {name} must be a byte string")
    if len(value) > max_bytes:
        raise EnrError(f"ENR {name} is longer than {max_bytes} bytes")
    if value[:1] == b"\x00":
        raise EnrError(f"ENR {name} has leading zero bytes")
    return int.from_bytes(value, "big")


def _uint_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def port_bytes(port: int) -> bytes:
    """Ports are always 2 bytes: @chainsafe/enr (Aztec's ENR library) rejects shorter port values."""
    return port.to_bytes(2, "big")


def _verify_v4(public_key: bytes, signature: bytes, digest: bytes) -> bool:
    """ECDSA verify of a 64-byte r||s signature; high-S signatures are normalised first."""
    try:
        sig = deserialize_compact(signature)
        _, normalized = signature_normalize(sig)
        return bool(PublicKey(public_key).verify(cdata_to_der(normalized), digest, hasher=None))
    except Exception:
        return False


def _sign_v4(secret: bytes, digest: bytes) -> bytes:
    return bytes(PrivateKey(secret).sign_recoverable(digest, hasher=None)[:64])


# verified records by their RLP items (Enr.from_rlp_items); least recently used dropped past the cap
_VERIFIED: OrderedDict[tuple[bytes, ...], Enr] = OrderedDict()
_VERIFIED_MAX: Final = 4096


class Enr:
    """An immutable, verified node record. Build with `Enr.create`, parse with `from_rlp`/`from_text`."""

    __slots__ = ("_node_id", "_pairs", "_public_key", "_raw", "seq", "signature")

    def __init__(self, seq: int, pairs: Mapping[bytes, RlpItem], signature: bytes, raw: bytes) -> None:
        # Use the constructors below; this one trusts its arguments.
        self.seq = seq
        self._pairs = dict(sorted(pairs.items()))
        self.signature = signature
        self._raw = raw
        pub = self._pairs.get(b"secp256k1")
        assert isinstance(pub, bytes)
        self._public_key = pub
        uncompressed = PublicKey(pub).format(compressed=False)
        self._node_id = _keccak(uncompressed[1:])

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        private_key: bytes,
        *,
        seq: int = 1,
        ip: str | None = None,
        tcp: int | None = None,
        udp: int | None = None,
        ip6: str | None = None,
        tcp6: int | None = None,
        udp6: int | None = None,
        extra: Mapping[str | bytes, RlpItem] | None = None,
    ) -> Enr:
        """Build and sign a v4 record."""
        try:
            secret = validate_private_key(private_key)
        except KeyFormatError as exc:
            raise EnrError(str(exc)) from exc
        if not 0 <= seq <= _MAX_SEQ:
            raise EnrError("ENR seq must fit in 64 bits")
        pairs: dict[bytes, RlpItem] = {
            b"id": b"v4",
            b"secp256k1": PrivateKey(secret).public_key.format(compressed=True),
        }
        if ip is not None:
            pairs[b"ip"] = _ip_bytes(ip, 4)
        if ip6 is not None:
            pairs[b"ip6"] = _ip_bytes(ip6, 6)
        for name, port in ((b"tcp", tcp), (b"udp", udp), (b"tcp6", tcp6), (b"udp6", udp6)):
            if port is not None:
                if not 0 <= port <= 0xFFFF:
                    raise EnrError(f"ENR {name.decode()} port out of range: {port}")
                pairs[name] = port_bytes(port)
        for key, value in (extra or {}).items():
            pairs[key.encode() if isinstance(key, str) else key] = value
        content = cls._content(seq, pairs)
        signature = _sign_v4(secret, _keccak(content))
        items: list[RlpItem] = [signature, _uint_bytes(seq)]
        for key, value in sorted(pairs.items()):
            items.extend([key, value])
        raw = rlp.encode(items)
        if len(raw) > MAX_ENR_SIZE:
            raise EnrError(f"ENR is {len(raw)} bytes, the limit is {MAX_ENR_SIZE}")
        return cls(seq, pairs, signature, raw)

    @staticmethod
    def _content(seq: int, pairs: Mapping[bytes, RlpItem]) -> bytes:
        items: list[RlpItem] = [_uint_bytes(seq)]
        for key, value in sorted(pairs.items()):
            items.extend([key, value])
        return bytes(rlp.encode(items))

    @classmethod
    def from_rlp(cls, data: bytes) -> Enr:
        """Decode and verify an RLP record; raises EnrError on any problem."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise EnrError("ENR must be bytes")
        data = bytes(data)
        if len(data) > MAX_ENR_SIZE:
            raise EnrError(f"ENR is {len(data)} bytes, the limit is {MAX_ENR_SIZE}")
        try:
            items = rlp.decode(data, strict=True)
        except Exception as exc:
            raise EnrError(f"ENR is not valid RLP: {exc}") from exc
        return cls.from_rlp_items(items, data)

    @classmethod
    def from_rlp_items(cls, items: object, raw: bytes | None = None) -> Enr:
        """Verify a record already decoded into RLP items (e.g. inside a NODES message). Records seen
        before (the same items, so the same bytes) come from a bounded cache of verified ones: every
        discv5 lookup brings back mostly the same records, and their signature check was the largest
        idle cost of a node (issue 15's profile)."""
        if not isinstance(items, list):
            raise EnrError("ENR must be an RLP list")
        key = tuple(items) if all(isinstance(i, bytes) for i in items) else None
        if key is not None:
            hit = _VERIFIED.get(key)
            if hit is not None:
                _VERIFIED.move_to_end(key)
                return hit
        enr = cls._verify_items(items, raw)
        if key is not None:
            _VERIFIED[key] = enr
            if len(_VERIFIED) > _VERIFIED_MAX:
                _VERIFIED.popitem(last=False)
        return enr

    @classmethod
    def _verify_items(cls, items: list[Any], raw: bytes | None) -> Enr:
        if len(items) < 2 or len(items) % 2 != 0:
            raise EnrError("ENR must hold a signature, seq and key/value pairs")
        if raw is None:
            try:
                raw = bytes(rlp.encode(items))
            except Exception as exc:
                raise EnrError("ENR cannot be re-encoded") from exc
            if len(raw) > MAX_ENR_SIZE:
                raise EnrError(f"ENR is {len(raw)} bytes, the limit is {MAX_ENR_SIZE}")
        signature = items[0]
        if not isinstance(signature, bytes):
            raise EnrError("ENR signature must be a byte string")
        seq = _decode_uint(items[1], "seq", 8)
        pairs: dict[bytes, RlpItem] = {}
        previous: bytes | None = None
        for i in range(2, len(items), 2):
            key = items[i]
            if not isinstance(key, bytes):
                raise EnrError("ENR key must be a byte string")
            if previous is not None and key <= previous:
                raise EnrError("ENR keys must be sorted and unique")
            previous = key
            pairs[key] = items[i + 1]
        scheme = pairs.get(b"id")
        if scheme != b"v4":
            raise EnrError(f"unsupported ENR identity scheme: {scheme!r}")
        pub = pairs.get(b"secp256k1")
        if not isinstance(pub, bytes) or len(pub) != 33:
            raise EnrError("ENR secp256k1 key must be a 33-byte compressed public key")
        try:
            PublicKey(pub)
        except Exception as exc:
            raise EnrError("ENR secp256k1 key is not a valid curve point") from exc
        if len(signature) != 64:
            raise EnrError("ENR v4 signature must be 64 bytes")
        if not _verify_v4(pub, signature, _keccak(cls._content(seq, pairs))):
            raise EnrError("ENR signature is invalid")
        return cls(seq, pairs, signature, raw)

    @classmethod
    def from_text(cls, text: str) -> Enr:
        """Decode `enr:<base64url>` (padding tolerated)."""
        if not isinstance(text, str):
            raise EnrError("ENR text must be a string")
        value = text.strip()
        if not value.startswith(ENR_PREFIX):
            raise EnrError("ENR text must start with 'enr:'")
        body = value[len(ENR_PREFIX) :].rstrip("=")
        if not _B64URL.match(body):
            raise EnrError("ENR text is not base64url")
        if len(body) % 4 == 1:
            raise EnrError("ENR text has an invalid base64 length")
        if len(body) > (MAX_ENR_SIZE * 4 + 2) // 3:
            raise EnrError(f"ENR text is longer than a {MAX_ENR_SIZE}-byte record")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except Exception as exc:
            raise EnrError("ENR text is not base64url") from exc
        return cls.from_rlp(raw)

    # ---- encoding -------------------------------------------------------------------------------
    def to_rlp(self) -> bytes:
        return self._raw

    def to_text(self) -> str:
        return ENR_PREFIX + base64.urlsafe_b64encode(self._raw).decode().rstrip("=")

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"Enr(node_id={self._node_id.hex()[:16]}…, seq={self.seq}, udp={self.udp_endpoint()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Enr) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    # ---- accessors ------------------------------------------------------------------------------
    @property
    def node_id(self) -> bytes:
        return self._node_id

    @property
    def public_key(self) -> bytes:
        """33-byte compressed secp256k1 public key."""
        return self._public_key

    @property
    def peer_id(self) -> str:
        """The libp2p peer id (`16Uiu2...`) made from the same key."""
        return peer_id_from_public_key(self._public_key)

    def keys(self) -> list[bytes]:
        return list(self._pairs)

    def get(self, key: str | bytes) -> RlpItem | None:
        return self._pairs.get(key.encode() if isinstance(key, str) else key)

    def _ip(self, key: bytes, size: int) -> str | None:
        value = self._pairs.get(key)
        if not isinstance(value, bytes) or len(value) != size:
            return None
        return str(ipaddress.ip_address(value))

    def _port(self, key: bytes) -> int | None:
        value = self._pairs.get(key)
        if not isinstance(value, bytes) or not 0 < len(value) <= 2:
            return None
        port = int.from_bytes(value, "big")
        return port or None

    @property
    def ip(self) -> str | None:
        return self._ip(b"ip", 4)

    @property
    def ip6(self) -> str | None:
        return self._ip(b"ip6", 16)

    @property
    def tcp(self) -> int | None:
        return self._port(b"tcp")

    @property
    def udp(self) -> int | None:
        return self._port(b"udp")

    @property
    def tcp6(self) -> int | None:
        return self._port(b"tcp6")

    @property
    def udp6(self) -> int | None:
        return self._port(b"udp6")

    @property
    def aztec_network(self) -> int | None:
        """First byte of `aztec_network`, or None if absent/empty."""
        value = self._pairs.get(AZTEC_ENR_KEY.encode())
        if not isinstance(value, bytes) or not value:
            return None
        return value[0]

    def is_aztec(self, network: int = AZTEC_NETWORK_DEVNET) -> bool:
        """Aztec 0.63's discovery filter: `aztec_network` present with first byte == network."""
        return self.aztec_network == network

    def udp_endpoint(self) -> tuple[str, int] | None:
        """IPv4 UDP endpoint (discv5 in Aztec binds IPv4 only)."""
        ip, port = self.ip, self.udp
        if ip is None or port is None:
            return None
        return ip, port

    def udp6_endpoint(self) -> tuple[str, int] | None:
        ip, port = self.ip6, self.udp6 or self.udp
        if ip is None or port is None:
            return None
        return ip, port

    def tcp_multiaddr(self) -> str | None:
        """`/ip4/<ip>/tcp/<port>/p2p/<peer id>` as Aztec's peer manager dials (None without ip/tcp)."""
        if self.ip is None or self.tcp is None:
            return None
        return f"/ip4/{self.ip}/tcp/{self.tcp}/p2p/{self.peer_id}"

    def updated(
        self, private_key: bytes, *, set_: Mapping[str | bytes, RlpItem] | None = None
    ) -> Enr:
        """A copy with some keys changed and seq + 1, signed with private_key (must match)."""
        if PrivateKey(private_key).public_key.format(compressed=True) != self._public_key:
            raise EnrError("private key does not match the record's key")
        pairs = dict(self._pairs)
        for key, value in (set_ or {}).items():
            pairs[key.encode() if isinstance(key, str) else key] = value
        seq = self.seq + 1
        content = self._content(seq, pairs)
        signature = _sign_v4(private_key, _keccak(content))
        items: list[RlpItem] = [signature, _uint_bytes(seq)]
        for key, value in sorted(pairs.items()):
            items.extend([key, value])
        raw = bytes(rlp.encode(items))
        if len(raw) > MAX_ENR_SIZE:
            raise EnrError(f"ENR is {len(raw)} bytes, the limit is {MAX_ENR_SIZE}")
        return Enr(seq, pairs, signature, raw)


def _ip_bytes(ip: str, version: int) -> bytes:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError as exc:
        raise EnrError(f"not an IP address: {ip!r}") from exc
    if addr.version != version:
        raise EnrError(f"expected an IPv{version} address, got {ip!r}")
    return addr.packed


def parse_enr_list(text: str) -> list[Enr]:
    """Parse comma-separated `enr:` records (BOOTSTRAP_NODES format); empty entries are skipped."""
    out: list[Enr] = []
    for index, part in enumerate(text.split(",")):
        entry = part.strip()
        if not entry:
            continue
        try:
            out.append(Enr.from_text(entry))
        except EnrError as exc:
            raise EnrError(f"entry {index + 1} ({entry[:24]}…): {exc}") from exc
    return out


def enrs_by_node_id(records: Iterable[Enr]) -> dict[bytes, Enr]:
    """De-duplicate by node id, keeping the highest seq."""
    out: dict[bytes, Enr] = {}
    for record in records:
        known = out.get(record.node_id)
        if known is None or record.seq > known.seq:
            out[record.node_id] = record
    return out
