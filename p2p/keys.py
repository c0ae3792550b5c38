"""secp256k1 node keys: Aztec's PEER_ID_PRIVATE_KEY format and libp2p peer ids.

Aztec v0.63 (p2p doc 1.2) stores the node key as the hex of the libp2p protobuf-marshalled private key:
`08 02 12 20` + 32-byte scalar. The same key signs the discv5 ENR and makes the libp2p peer id
(`16Uiu2...`, the identity multihash of the protobuf public key `08 02 12 21` + 33-byte compressed key).
"""

from __future__ import annotations

import os

from coincurve import PrivateKey, PublicKey

PROTOBUF_SECP256K1_PRIVATE_PREFIX = bytes.fromhex("08021220")
PROTOBUF_SECP256K1_PUBLIC_PREFIX = bytes.fromhex("08021221")
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class KeyFormatError(ValueError):
    """A private or public key could not be parsed."""


def generate_private_key() -> bytes:
    """A fresh random secp256k1 secret (32 bytes)."""
    while True:
        secret = os.urandom(32)
        if 0 < int.from_bytes(secret, "big") < _SECP256K1_ORDER:
            return secret


def validate_private_key(secret: bytes) -> bytes:
    if len(secret) != 32:
        raise KeyFormatError(f"secp256k1 private key must be 32 bytes, got {len(secret)}")
    if not 0 < int.from_bytes(secret, "big") < _SECP256K1_ORDER:
        raise KeyFormatError("secp256k1 private key is out of range")
    return secret


def parse_peer_id_private_key(text: str) -> bytes:
    """Parse PEER_ID_PRIVATE_KEY into the 32-byte secret.

    Accepts Aztec's form (hex of `08021220` + 32 bytes, 72 hex chars) and a bare 32-byte hex key;
    an optional `0x` prefix and surrounding whitespace are ignored.
    """
    value = text.strip()
    if value[:2].lower() == "0x":
        value = value[2:]
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise KeyFormatError("PEER_ID_PRIVATE_KEY is not valid hex") from exc
    if len(raw) == 36:
        if raw[:4] != PROTOBUF_SECP256K1_PRIVATE_PREFIX:
            raise KeyFormatError(
                "PEER_ID_PRIVATE_KEY: 36-byte key must start with 08021220 (protobuf secp256k1 private key)"
            )
        raw = raw[4:]
    elif len(raw) != 32:
        raise KeyFormatError(
            f"PEER_ID_PRIVATE_KEY must be 36 bytes (08021220 + key) or 32 bytes, got {len(raw)}"
        )
    return validate_private_key(raw)


def encode_peer_id_private_key(secret: bytes) -> str:
    """Aztec's PEER_ID_PRIVATE_KEY text for a 32-byte secret (what `aztec generate-p2p-private-key` prints)."""
    return (PROTOBUF_SECP256K1_PRIVATE_PREFIX + validate_private_key(secret)).hex()


def compressed_public_key(secret: bytes) -> bytes:
    return PrivateKey(validate_private_key(secret)).public_key.format(compressed=True)


def base58btc_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(_BASE58_ALPHABET[rem])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(out))


def peer_id_from_public_key(public_key: bytes) -> str:
    """libp2p peer id (base58btc identity multihash) of a secp256k1 public key (33 or 65 bytes)."""
    try:
        compressed = PublicKey(public_key).format(compressed=True)
    except Exception as exc:
        raise KeyFormatError("not a valid secp256k1 public key") from exc
    protobuf = PROTOBUF_SECP256K1_PUBLIC_PREFIX + compressed
    multihash = bytes([0x00, len(protobuf)]) + protobuf
    return base58btc_encode(multihash)


def peer_id_from_private_key(secret: bytes) -> str:
    return peer_id_from_public_key(compressed_public_key(secret))
