"""discv5 v5.1 cryptography for the "v4" identity scheme (discv5-theory.md, handshake section).

- ecdh: the 33-byte compressed shared point (not hashed: coincurve's `ecdh()` hashes, so we multiply).
- key derivation: HKDF-SHA256(salt=challenge-data, ikm=secret, info="discovery v5 key agreement"
  || node-id-A || node-id-B), 32 bytes -> initiator-key(16) || recipient-key(16).
- id-signature: secp256k1 r||s over sha256("discovery v5 identity proof" || challenge-data
  || ephemeral-pubkey || node-id-B).
- message encryption AES-128-GCM (tag appended); header masking AES-128-CTR.
"""

from __future__ import annotations

import hashlib

from coincurve import PrivateKey, PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact, signature_normalize
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from p2p.discv5.errors import Discv5CryptoError

KEY_AGREEMENT_INFO = b"discovery v5 key agreement"
ID_SIGNATURE_TEXT = b"discovery v5 identity proof"


def ecdh(public_key: bytes, secret: bytes) -> bytes:
    """Compressed point public_key * secret (33 bytes)."""
    try:
        return bytes(PublicKey(public_key).multiply(secret).format(compressed=True))
    except Exception as exc:
        raise Discv5CryptoError(f"ECDH failed: {exc}") from exc


def derive_keys(secret: bytes, challenge_data: bytes, node_id_a: bytes, node_id_b: bytes) -> tuple[bytes, bytes]:
    """(initiator-key, recipient-key); A is the handshake initiator, B the WHOAREYOU sender."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=challenge_data, info=KEY_AGREEMENT_INFO + node_id_a + node_id_b
    )
    key_data = hkdf.derive(secret)
    return key_data[:16], key_data[16:]


def _id_signature_digest(challenge_data: bytes, eph_pubkey: bytes, node_id_b: bytes) -> bytes:
    return hashlib.sha256(ID_SIGNATURE_TEXT + challenge_data + eph_pubkey + node_id_b).digest()


def id_sign(secret: bytes, challenge_data: bytes, eph_pubkey: bytes, node_id_b: bytes) -> bytes:
    digest = _id_signature_digest(challenge_data, eph_pubkey, node_id_b)
    return bytes(PrivateKey(secret).sign_recoverable(digest, hasher=None)[:64])


def id_verify(
    public_key: bytes, signature: bytes, challenge_data: bytes, eph_pubkey: bytes, node_id_b: bytes
) -> bool:
    if len(signature) != 64:
        return False
    digest = _id_signature_digest(challenge_data, eph_pubkey, node_id_b)
    try:
        _, normalized = signature_normalize(deserialize_compact(signature))
        return bool(PublicKey(public_key).verify(cdata_to_der(normalized), digest, hasher=None))
    except Exception:
        return False


def aes_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    return AESGCM(key).encrypt(nonce, plaintext, ad)


def aes_gcm_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    if len(ciphertext) < 16:
        raise Discv5CryptoError("message shorter than the GCM tag")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, ad)
    except InvalidTag as exc:
        raise Discv5CryptoError("message authentication failed") from exc


def aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CTR (masking and unmasking are the same operation)."""
    cipher = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return cipher.update(data) + cipher.finalize()


def generate_ephemeral_key(secret: bytes) -> tuple[bytes, bytes]:
    """(secret, 33-byte compressed public key) for a given random 32-byte secret."""
    return secret, bytes(PrivateKey(secret).public_key.format(compressed=True))
