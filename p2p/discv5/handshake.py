"""Packet sealing and the WHOAREYOU handshake, both sides (sans-IO, pure functions).

Randomness (nonces, masking IVs, ephemeral keys, id-nonces, random packets) comes from the
`RandomBytes` the caller passes, in a fixed order, so a seeded source gives the same bytes every run.
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PrivateKey

from p2p.discv5.config import Address, RandomBytes
from p2p.discv5.crypto import aes_gcm_decrypt, aes_gcm_encrypt, derive_keys, ecdh, id_sign, id_verify
from p2p.discv5.errors import Discv5CryptoError
from p2p.discv5.messages import Message, encode_message
from p2p.discv5.packet import HandshakeAuthdata, MessageAuthdata, Packet, WhoAreYouAuthdata
from p2p.discv5.sessions import Challenge, Session
from p2p.enr import Enr

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
RANDOM_PACKET_BODY = 20  # bytes of junk in the "random packet" that provokes a WHOAREYOU


def random_secret(random_bytes: RandomBytes) -> bytes:
    """A valid secp256k1 secret key (an ephemeral handshake key)."""
    while True:
        secret = random_bytes(32)
        if 0 < int.from_bytes(secret, "big") < SECP256K1_ORDER:
            return secret


@dataclass(frozen=True, slots=True)
class Sealed:
    datagram: bytes
    nonce: bytes


def seal_message(
    local_id: bytes, dest: bytes, key: bytes | None, message: Message, random_bytes: RandomBytes
) -> Sealed:
    """An ordinary message packet to `dest`: encrypted with `key`, or (key None) a random packet whose
    body the peer cannot decrypt, so it answers with WHOAREYOU."""
    nonce = random_bytes(12)
    masking_iv = random_bytes(16)
    auth = MessageAuthdata(local_id)
    head = Packet(masking_iv, nonce, auth)
    if key is not None:
        body = aes_gcm_encrypt(key, nonce, encode_message(message), head.message_ad)
    else:
        body = random_bytes(RANDOM_PACKET_BODY)
    return Sealed(Packet(masking_iv, nonce, auth, body).encode(dest), nonce)


def whoareyou(
    dest: bytes, nonce: bytes, known_enr: Enr | None, now: float, random_bytes: RandomBytes
) -> tuple[bytes, Challenge]:
    """The WHOAREYOU answering the packet with `nonce`, and the challenge to keep for its handshake."""
    masking_iv = random_bytes(16)
    packet = Packet(masking_iv, nonce, WhoAreYouAuthdata(random_bytes(16), known_enr.seq if known_enr else 0))
    return packet.encode(dest), Challenge(packet.message_ad, known_enr, now)


def initiate(
    local_key: bytes,
    local_enr: Enr,
    remote: Enr,
    challenge: Packet,
    message: Message,
    now: float,
    random_bytes: RandomBytes,
) -> tuple[Sealed, Session]:
    """Answer `remote`'s WHOAREYOU `challenge` with a handshake packet carrying `message`.

    Raises Discv5CryptoError if the remote public key is unusable."""
    assert isinstance(challenge.authdata, WhoAreYouAuthdata)
    local_id = local_enr.node_id
    eph_secret = random_secret(random_bytes)
    eph_pub = bytes(PrivateKey(eph_secret).public_key.format(compressed=True))
    challenge_data = challenge.message_ad
    secret = ecdh(remote.public_key, eph_secret)
    initiator_key, recipient_key = derive_keys(secret, challenge_data, local_id, remote.node_id)
    signature = id_sign(local_key, challenge_data, eph_pub, remote.node_id)
    record = local_enr if challenge.authdata.enr_seq < local_enr.seq else None
    nonce = random_bytes(12)
    masking_iv = random_bytes(16)
    auth = HandshakeAuthdata(local_id, signature, eph_pub, record)
    head = Packet(masking_iv, nonce, auth)
    body = aes_gcm_encrypt(initiator_key, nonce, encode_message(message), head.message_ad)
    sealed = Sealed(Packet(masking_iv, nonce, auth, body).encode(remote.node_id), nonce)
    return sealed, Session(initiator_key, recipient_key, remote, now)


@dataclass(frozen=True, slots=True)
class Accepted:
    session: Session
    plaintext: bytes
    enr: Enr
    verified: bool  # the record's UDP endpoint is the address the handshake came from


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str
    keep_challenge: bool = False  # a bad signature: the genuine peer may still answer the challenge


def accept(
    local_key: bytes,
    local_id: bytes,
    packet: Packet,
    auth: HandshakeAuthdata,
    challenge: Challenge,
    addr: Address,
    now: float,
) -> Accepted | Refused:
    """Check a handshake packet against the challenge we sent and derive the session."""
    enr = auth.record
    if enr is not None and enr.node_id != auth.src_id:
        return Refused("record of another node")
    if enr is None or (challenge.remote_enr is not None and challenge.remote_enr.seq > enr.seq):
        enr = challenge.remote_enr
    if enr is None:
        return Refused("handshake without a record we could use")
    if not id_verify(enr.public_key, auth.id_signature, challenge.data, auth.eph_pubkey, local_id):
        return Refused("bad id signature", keep_challenge=True)
    try:
        secret = ecdh(auth.eph_pubkey, local_key)
        initiator_key, recipient_key = derive_keys(secret, challenge.data, auth.src_id, local_id)
        plaintext = aes_gcm_decrypt(initiator_key, packet.nonce, packet.message, packet.message_ad)
    except Discv5CryptoError:
        return Refused("cannot decrypt the handshake message")
    verified = enr.udp_endpoint() == addr or enr.udp6_endpoint() == addr
    return Accepted(Session(recipient_key, initiator_key, enr, now), plaintext, enr, verified)
