"""discv5 v5.1 codec and crypto against the official devp2p test vectors (discv5-wire-test-vectors.md)."""

from __future__ import annotations

from coincurve import PrivateKey

from p2p.discv5.crypto import aes_gcm_decrypt, aes_gcm_encrypt, derive_keys, ecdh, id_sign, id_verify
from p2p.discv5.messages import Ping, decode_message, encode_message
from p2p.discv5.packet import (
    HandshakeAuthdata,
    MessageAuthdata,
    Packet,
    WhoAreYouAuthdata,
    decode_packet,
)
from p2p.enr import Enr

NODE_A_KEY = bytes.fromhex("eef77acb6c6a6eebc5b363a475ac583ec7eccdb42b6481424c60f59aa326547f")
NODE_B_KEY = bytes.fromhex("66fb62bfbd66b9177a138c1e5cddbe4f7c30c343e94e68df8769459cb1cde628")
NODE_A_ID = bytes.fromhex("aaaa8419e9f49d0083561b48287df592939a8d19947d8c0ef88f2a4856a69fbb")
NODE_B_ID = bytes.fromhex("bbbb9d047f0488c0b5a93c1c3f2d8bafc7c8ff337024a55434a0d0555de64db9")
ZERO_IV = bytes(16)
NONCE_FF = bytes.fromhex("ffffffffffffffffffffffff")
EPH_KEY = bytes.fromhex("0288ef00023598499cb6c940146d050d2b1fb914198c327f76aad590bead68b6")
EPH_PUB = bytes.fromhex("039a003ba6517b473fa0cd74aefe99dadfdb34627f90fec6362df85803908f53a5")

PING_PACKET = bytes.fromhex(
    "00000000000000000000000000000000088b3d4342774649325f313964a39e55"
    "ea96c005ad52be8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3"
    "4c4f53245d08dab84102ed931f66d1492acb308fa1c6715b9d139b81acbdcc"
)
WHOAREYOU_PACKET = bytes.fromhex(
    "00000000000000000000000000000000088b3d434277464933a1ccc59f5967ad"
    "1d6035f15e528627dde75cd68292f9e6c27d6b66c8100a873fcbaed4e16b8d"
)
WHOAREYOU_CHALLENGE = bytes.fromhex(
    "000000000000000000000000000000006469736376350001010102030405060708090a0b0c00180102030405060708090a0b0c0d0e0f100000000000000000"
)
HANDSHAKE_CHALLENGE = bytes.fromhex(
    "000000000000000000000000000000006469736376350001010102030405060708090a0b0c00180102030405060708090a0b0c0d0e0f100000000000000001"
)
HANDSHAKE_PACKET = bytes.fromhex(
    "00000000000000000000000000000000088b3d4342774649305f313964a39e55"
    "ea96c005ad521d8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3"
    "4c4f53245d08da4bb252012b2cba3f4f374a90a75cff91f142fa9be3e0a5f3ef"
    "268ccb9065aeecfd67a999e7fdc137e062b2ec4a0eb92947f0d9a74bfbf44dfb"
    "a776b21301f8b65efd5796706adff216ab862a9186875f9494150c4ae06fa4d1"
    "f0396c93f215fa4ef524f1eadf5f0f4126b79336671cbcf7a885b1f8bd2a5d83"
    "9cf8"
)
HANDSHAKE_ENR_PACKET = bytes.fromhex(
    "00000000000000000000000000000000088b3d4342774649305f313964a39e55"
    "ea96c005ad539c8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3"
    "4c4f53245d08da4bb23698868350aaad22e3ab8dd034f548a1c43cd246be9856"
    "2fafa0a1fa86d8e7a3b95ae78cc2b988ded6a5b59eb83ad58097252188b902b2"
    "1481e30e5e285f19735796706adff216ab862a9186875f9494150c4ae06fa4d1"
    "f0396c93f215fa4ef524e0ed04c3c21e39b1868e1ca8105e585ec17315e755e6"
    "cfc4dd6cb7fd8e1a1f55e49b4b5eb024221482105346f3c82b15fdaae36a3bb1"
    "2a494683b4a3c7f2ae41306252fed84785e2bbff3b022812d0882f06978df84a"
    "80d443972213342d04b9048fc3b1d5fcb1df0f822152eced6da4d3f6df27e70e"
    "4539717307a0208cd208d65093ccab5aa596a34d7511401987662d8cf62b1394"
    "71"
)


def _pub(secret: bytes) -> bytes:
    return bytes(PrivateKey(secret).public_key.format(compressed=True))


def test_node_ids_of_vector_keys() -> None:
    assert Enr.create(NODE_A_KEY).node_id == NODE_A_ID
    assert Enr.create(NODE_B_KEY).node_id == NODE_B_ID


def test_ping_message_packet() -> None:
    packet = decode_packet(PING_PACKET, NODE_B_ID)
    assert packet.authdata == MessageAuthdata(NODE_A_ID)
    assert packet.nonce == NONCE_FF
    plaintext = aes_gcm_decrypt(bytes(16), packet.nonce, packet.message, packet.message_ad)
    assert decode_message(plaintext) == Ping(bytes.fromhex("00000001"), 2)
    # and re-encode byte for byte
    pt = encode_message(Ping(bytes.fromhex("00000001"), 2))
    header_only = Packet(ZERO_IV, NONCE_FF, MessageAuthdata(NODE_A_ID))
    message = aes_gcm_encrypt(bytes(16), NONCE_FF, pt, header_only.message_ad)
    assert Packet(ZERO_IV, NONCE_FF, MessageAuthdata(NODE_A_ID), message).encode(NODE_B_ID) == PING_PACKET


def test_whoareyou_packet() -> None:
    packet = decode_packet(WHOAREYOU_PACKET, NODE_B_ID)
    assert packet.authdata == WhoAreYouAuthdata(bytes.fromhex("0102030405060708090a0b0c0d0e0f10"), 0)
    assert packet.nonce == bytes.fromhex("0102030405060708090a0b0c")
    assert packet.message == b""
    assert packet.message_ad == WHOAREYOU_CHALLENGE
    assert packet.encode(NODE_B_ID) == WHOAREYOU_PACKET


def _check_handshake(data: bytes, challenge: bytes, read_key: bytes, with_record: bool) -> None:
    packet = decode_packet(data, NODE_B_ID)
    auth = packet.authdata
    assert isinstance(auth, HandshakeAuthdata)
    assert auth.src_id == NODE_A_ID
    assert auth.eph_pubkey == EPH_PUB
    assert (auth.record is not None) == with_record
    if auth.record is not None:
        assert auth.record.node_id == NODE_A_ID
        assert auth.record.seq == 1
    # id-signature: verify, and reproduce it (RFC 6979 deterministic signing)
    assert id_verify(_pub(NODE_A_KEY), auth.id_signature, challenge, EPH_PUB, NODE_B_ID)
    assert id_sign(NODE_A_KEY, challenge, EPH_PUB, NODE_B_ID) == auth.id_signature
    # initiator (A) side key derivation reproduces the read key of B
    initiator_key, _ = derive_keys(ecdh(_pub(NODE_B_KEY), EPH_KEY), challenge, NODE_A_ID, NODE_B_ID)
    assert initiator_key == read_key
    # recipient (B) side: ECDH with its static key and the ephemeral public key
    assert derive_keys(ecdh(EPH_PUB, NODE_B_KEY), challenge, NODE_A_ID, NODE_B_ID)[0] == read_key
    plaintext = aes_gcm_decrypt(read_key, packet.nonce, packet.message, packet.message_ad)
    assert decode_message(plaintext) == Ping(bytes.fromhex("00000001"), 1)
    # re-encode byte for byte
    rebuilt = Packet(ZERO_IV, NONCE_FF, auth)
    message = aes_gcm_encrypt(read_key, NONCE_FF, plaintext, rebuilt.message_ad)
    assert Packet(ZERO_IV, NONCE_FF, auth, message).encode(NODE_B_ID) == data


def test_ping_handshake_packet() -> None:
    _check_handshake(
        HANDSHAKE_PACKET, HANDSHAKE_CHALLENGE, bytes.fromhex("4f9fac6de7567d1e3b1241dffe90f662"), False
    )


def test_ping_handshake_packet_with_enr() -> None:
    _check_handshake(
        HANDSHAKE_ENR_PACKET, WHOAREYOU_CHALLENGE, bytes.fromhex("53b1c075f41876423154e157470c2f48"), True
    )


def test_ecdh_vector() -> None:
    public = bytes.fromhex("039961e4c2356d61bedb83052c115d311acb3a96f5777296dcf297351130266231")
    secret = bytes.fromhex("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736")
    assert ecdh(public, secret).hex() == "033b11a2a1f214567e1537ce5e509ffd9b21373247f2a3ff6841f4976f53165e7e"


def test_key_derivation_vector() -> None:
    eph_key = bytes.fromhex("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736")
    dest_pub = bytes.fromhex("0317931e6e0840220642f230037d285d122bc59063221ef3226b1f403ddc69ca91")
    ik, rk = derive_keys(ecdh(dest_pub, eph_key), WHOAREYOU_CHALLENGE, NODE_A_ID, NODE_B_ID)
    assert ik.hex() == "dccc82d81bd610f4f76d3ebe97a40571"
    assert rk.hex() == "ac74bb8773749920b0d3a8881c173ec5"


def test_id_nonce_signing_vector() -> None:
    static_key = bytes.fromhex("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736")
    eph_pub = bytes.fromhex("039961e4c2356d61bedb83052c115d311acb3a96f5777296dcf297351130266231")
    expected = bytes.fromhex(
        "94852a1e2318c4e5e9d422c98eaf19d1d90d876b29cd06ca7cb7546d0fff7b48"
        "4fe86c09a064fe72bdbef73ba8e9c34df0cd2b53e9d65528c2c7f336d5dfc6e6"
    )
    assert id_sign(static_key, WHOAREYOU_CHALLENGE, eph_pub, NODE_B_ID) == expected
    assert id_verify(_pub(static_key), expected, WHOAREYOU_CHALLENGE, eph_pub, NODE_B_ID)
    assert not id_verify(_pub(static_key), expected, WHOAREYOU_CHALLENGE, eph_pub, NODE_A_ID)


def test_aes_gcm_vector() -> None:
    key = bytes.fromhex("9f2d77db7004bf8a1a85107ac686990b")
    nonce = bytes.fromhex("27b5af763c446acd2749fe8e")
    ad = bytes.fromhex("93a7400fa0d6a694ebc24d5cf570f65d04215b6ac00757875e3f3a5f42107903")
    ct = aes_gcm_encrypt(key, nonce, bytes.fromhex("01c20101"), ad)
    assert ct.hex() == "a5d12a2d94b8ccb3ba55558229867dc13bfa3648"
    assert aes_gcm_decrypt(key, nonce, ct, ad) == bytes.fromhex("01c20101")
