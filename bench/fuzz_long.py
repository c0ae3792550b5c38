"""Long fuzz run over every decoder the node exposes to the outside. Prints a table.

    nice python bench/fuzz_long.py --budget 1000000            # the full run (targets.md section 4)
    python bench/fuzz_long.py --budget 20000 --seconds 20      # what tests/p2p/test_fuzz_budget.py runs
    python bench/fuzz_long.py --only quote,tx --budget 50000 --seed 7

Engine: seeded mutation (bit flips, byte insert/delete/duplicate, truncation, extension, splicing,
length-field edits, interesting integers, per-target dictionaries), guided by feedback: a mutant joins
the worker's corpus when it produces an outcome not seen before (accept, or a rejection class) or,
on the sampled inputs (1 in --trace-every) that run under a line tracer, new line transitions in the
project's and py-libp2p's code. (atheris is not installable here: no wheel in the offline index.)

A crash is any exception other than the target's declared rejection error(s), a broken invariant
(e.g. an accepted input that does not re-encode to the same bytes), or a hang (an input taking more
than --hang seconds, confirmed by a second run; a SIGALRM watchdog breaks infinite loops). Crashing
inputs go to --crash-dir (`<target>-<sha>.bin` plus a `.txt` with the traceback); once fixed, they
belong in tests/fuzz_corpus/<target>/ (replayed by tests/p2p/test_fuzz_budget.py, and used as seeds). Exit status 1 if
anything crashed, 0 otherwise.

Targets (decoder, entry point, declared rejection):
  quote           EpochProofQuote.from_bytes + recover_signer + JSON round trip      DecodeError
  tx              Tx.from_bytes + tx_hash, public_call_requests, teardown, views      DecodeError
  block_proposal  BlockProposal.from_bytes + get_sender                               DecodeError
  block_attest    BlockAttestation.from_bytes + get_sender                            DecodeError
  header          Header.from_bytes (+ re-encode)                                     DecodeError
  consensus       ConsensusPayload.read + payload hashes                              DecodeError
  enr             Enr.from_rlp / Enr.from_text + every accessor                       EnrError
  discv5_packet   decode_packet (real node id) + AES-GCM with session keys + decode_message
                                                              Discv5DecodeError, Discv5CryptoError
  discv5_message  decode_message                                                      Discv5DecodeError
  discv5_node     Discv5Protocol.receive with an established session (a handler: nothing may escape)
  gossipsub_rpc   py-libp2p's varint-prefixed RPC read + RPC.ParseFromString + signature_validator
                  + the origin peer id our topic validator derives      protobuf DecodeError, ParseError,
                                                                        MessageTooLarge, IncompleteReadError
  identify        parse_identify_response + update_peerstore_from_identify           DecodeError, ValueError
  mplex_frame     Mplex.read_message over an in-memory connection                    MplexUnavailable
  reqresp         p2p/reqresp.py server handlers (tx/ping/status) and the requester's response parse
                  (_read_to_eof + Tx decode + hash check)                             DecodeError, ReqRespError
  jsonrpc_proving core/http/jsonrpc.Dispatcher of the real broker (build_dispatcher(ProvingBroker()))
                  handle_body: nothing may escape, the answer is JSON, no -32603 internal error
  jsonrpc_node    core/http/jsonrpc.Dispatcher.handle_body with the node's decoding handlers
                  (node_addEpochProofQuote, node_sendTx): same rules
  http_request    core.http HttpServer.serve_stream on an in-memory stream (fast path / h11, limits, routing)
Opt-in (--only gossip_verdicts): p2p/validation.py's validate_* must return a verdict for any payload.
Yamux has no frame parser reachable as a function in py-libp2p 0.8.1 (its header parse is inlined in
Yamux.handle_incoming), so it is covered only by the p2p containment tests, not here.
"""

from __future__ import annotations

import argparse
import asyncio  # noqa: F401  (imported early so trio/libp2p imports do not race on it in workers)
import hashlib
import json
import multiprocessing as mp
import random
import re
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "interop"

from core.aztec.serialization import FR_MODULUS  # noqa: E402  (after the sys.path line)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
CHAIN_ID, ROLLUP = 31337, bytes.fromhex("44" * 20)


class Hang(BaseException):
    """Raised by the SIGALRM watchdog inside a runaway input."""


class InvariantError(AssertionError):
    """An accepted input broke a decoder invariant (e.g. does not re-encode to itself)."""


# ================================================================================================
# Targets
# ================================================================================================
Seed = tuple[bytes, tuple[int, ...]]  # bytes, hot offsets (field boundaries worth mutating)


@dataclass
class Target:
    name: str
    declared: tuple[type[BaseException], ...]
    seeds: Callable[[], list[Seed]]
    run: Callable[[bytes], bool] | None = None  # True = accepted, False = rejected without raising
    arun: Callable[[bytes], Coroutine[Any, Any, bool]] | None = None  # needs trio (MockClock)
    setup_async: Callable[[Any], Coroutine[Any, Any, None]] | None = None  # gets a nursery
    dictionary: list[bytes] = field(default_factory=list)
    max_len: int = 1 << 20


def _vectors(name: str) -> Any:
    return json.loads((SHARED / name).read_text())


def _drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never really suspends (in-memory I/O) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("coroutine suspended on real I/O")


class MemReader:
    """In-memory byte source with py-libp2p's Reader/ReadWriteCloser surface (read(n), EOF = b"")."""

    def __init__(self, data: bytes, chunk: int = 0) -> None:
        self._data = data
        self._pos = 0
        self._chunk = chunk
        self.written = bytearray()

    async def read(self, n: int | None = None) -> bytes:
        if n is None or n < 0:
            n = len(self._data) - self._pos
        if self._chunk:
            n = min(n, self._chunk)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    async def write(self, data: bytes) -> None:
        self.written += data

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._data)


# ---- p2p/wire ---------------------------------------------------------------------------------
def _quote_seeds() -> list[Seed]:
    v = _vectors("quote-vectors.json")
    hot = (0, 32, 64, 96, 116, 120, 152, 184, 188)
    entries = [e for e in v["valid"] + v["invalid"] if "quoteBuffer" in e]
    out = [(bytes.fromhex(e["quoteBuffer"].removeprefix("0x")), hot) for e in entries]
    from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of

    key = bytes([7]) * 32
    for i, fee in enumerate((0, 1, 9999, 10000)):
        p = EpochProofQuotePayload(i, 2**64 + i, 10**21, address_of(key), fee)
        out.append((EpochProofQuote.new(p, key, CHAIN_ID, ROLLUP).to_bytes(), hot))
    return out


def _run_quote(data: bytes) -> bool:
    from p2p.wire.quote import EpochProofQuote

    q = EpochProofQuote.from_bytes(data)
    if q.to_bytes() != data:
        raise InvariantError("quote does not re-encode to its bytes")
    q.p2p_message_identifier()
    if EpochProofQuote.from_json(json.loads(json.dumps(q.to_json()))) != q:
        raise InvariantError("quote JSON round trip changed it")
    q.to_l1_tuple()
    EpochProofQuote.from_bytes(data + data[:5], strict_length=False)
    q.recover_signer(CHAIN_ID, ROLLUP)
    return True


def _tx_seeds() -> list[Seed]:
    from p2p.wire import tx as T

    out: list[Seed] = []
    for e in _vectors("tx-vectors.json")["txs"]:
        raw = bytes.fromhex(e["hex"].removeprefix("0x"))
        hot = {item["offset"] for item in e["layout"]}
        hot |= {item["offset"] + item["length"] for item in e["layout"]}
        hot |= {T.OFF_CHAIN_ID, T.OFF_VERSION, T.OFF_MAX_BLOCK_NUMBER, T.OFF_FEE_PAYER}
        for acc in (T.OFF_ACCUMULATED, T.OFF_ACCUMULATED + T.ACC_PUBLIC_SIZE):
            base = acc + T.ACC_PUBLIC_CALL_REQUESTS_OFFSET
            hot |= {base + i * T.PUBLIC_CALL_REQUEST_SIZE + d for i in range(3) for d in (0, 32, 64, 68, 69)}
            hot |= {acc + T.ACC_NULLIFIERS_OFFSET, acc + T.ACC_NULLIFIERS_OFFSET + 32}
        hot.add(T.OFF_ACCUMULATED + 2 * T.ACC_PUBLIC_SIZE)
        out.append((raw, tuple(sorted(o for o in hot if o < len(raw)))))
    return out


def _run_tx(data: bytes) -> bool:
    from p2p.wire.tx import Tx

    tx = Tx.from_bytes(data)
    if tx.to_bytes() != data:
        raise InvariantError("tx does not re-encode to its bytes")
    tx.public_call_requests()
    tx.teardown_call_request()
    _ = (tx.chain_id, tx.version, tx.max_block_number, tx.fee_payer, tx.is_for_public, tx.size())
    tx.nullifiers()
    tx.tx_hash()
    return True


def _consensus_vectors() -> list[bytes]:
    return [bytes.fromhex(e["hex"].removeprefix("0x")) for e in _vectors("tx-vectors.json")["consensus"]]


_HEADER_HOT = (0, 32, 36, 68, 100, 132, 164, 200, 236, 272, 308, 340, 372, 404, 436, 468, 488, 520, 552, 584, 616)


def _signed_seeds(kind: str) -> list[Seed]:
    out = []
    for e in _vectors("tx-vectors.json")["consensus"]:
        if e["kind"] == kind:
            raw = bytes.fromhex(e["hex"].removeprefix("0x"))
            hot = (*_HEADER_HOT, 648, 652, len(raw) - 68, len(raw) - 36, len(raw) - 4)
            out.append((raw, hot))
    return out


def _run_proposal(data: bytes) -> bool:
    from p2p.wire.block_proposal import BlockProposal

    p = BlockProposal.from_bytes(data)
    if p.to_bytes() != data:
        raise InvariantError("proposal does not re-encode to its bytes")
    _ = (p.archive, p.slot_number, p.p2p_message_identifier())
    p.get_sender()
    return True


def _run_attestation(data: bytes) -> bool:
    from p2p.wire.block_attestation import BlockAttestation

    a = BlockAttestation.from_bytes(data)
    if a.to_bytes() != data:
        raise InvariantError("attestation does not re-encode to its bytes")
    _ = (a.archive, a.slot_number, a.p2p_message_identifier())
    a.get_sender()
    return True


def _header_seeds() -> list[Seed]:
    from core.aztec.header import Header

    return [(raw[:616], _HEADER_HOT) for raw in _consensus_vectors()] + [(Header.empty().to_bytes(), _HEADER_HOT)]


def _run_header(data: bytes) -> bool:
    from core.aztec.header import Header

    h = Header.from_bytes(data)
    if h.to_bytes() != data:
        raise InvariantError("header does not re-encode to its bytes")
    return True


def _consensus_seeds() -> list[Seed]:
    return [(raw[:-68], (*_HEADER_HOT, 648, 652)) for raw in _consensus_vectors()]


def _run_consensus(data: bytes) -> bool:
    from core.aztec.serialization import Reader
    from p2p.wire.consensus import ConsensusPayload

    r = Reader(data)
    payload = ConsensusPayload.read(r)
    r.expect_end("ConsensusPayload")
    if payload.to_bytes() != data:
        raise InvariantError("consensus payload does not re-encode to its bytes")
    payload.payload_hash(0)
    payload.signed_digest(1)
    return True


# ---- ENR / discv5 -----------------------------------------------------------------------------
_LOCAL_KEY = bytes.fromhex("11" * 32)
_REMOTE_KEY = bytes.fromhex("22" * 32)
_READ_KEY = bytes.fromhex("5a" * 16)  # what the local node decrypts the remote's messages with
_WRITE_KEY = bytes.fromhex("a5" * 16)
_REMOTE_ADDR = ("127.0.0.1", 9000)
_cache: dict[str, Any] = {}


def _enrs() -> tuple[Any, Any]:
    if "enrs" not in _cache:
        from p2p.enr import Enr

        local = Enr.create(_LOCAL_KEY, seq=3, ip="127.0.0.1", udp=9001, tcp=40400, extra={"aztec_network": b"\x01"})
        remote = Enr.create(_REMOTE_KEY, seq=5, ip="127.0.0.1", udp=9000, tcp=40401, extra={"aztec_network": b"\x01"})
        _cache["enrs"] = (local, remote)
    return _cache["enrs"]  # type: ignore[no-any-return]


def _enr_seeds() -> list[Seed]:
    from p2p.enr import Enr

    local, remote = _enrs()
    extra = Enr.create(bytes([3]) * 32, seq=2**40, ip6="::1", udp6=30303, tcp6=1, extra={"eth": [[b"\x01\x02", b""]]})
    eip778 = Enr.from_text(
        "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlk"
        "gnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8"
    )
    import rlp

    out: list[Seed] = []
    for e in (local, remote, extra, eip778):
        out.append((e.to_rlp(), (0, 1, 2, 3, 67, 68, 70)))
        out.append((e.to_text().encode(), (0, 4, 8)))
    # "sign mode": 0xee | rlp([seq, k1, v1, ...]) is signed with the remote key by the harness, so
    # mutated contents get past the signature check and reach the accessors.
    for e in (local, remote):
        content = rlp.encode(rlp.decode(e.to_rlp())[1:])
        out.append((b"\xee" + content, (0, 1, 2, 3, 4, 5, 8, 12)))
    return out


def _enr_sign_mode(content: bytes) -> bytes:
    """Sign a mutated ENR content list with the key it names (ours), as a peer would."""
    import rlp
    from coincurve import PrivateKey
    from eth_hash.auto import keccak

    try:
        items = rlp.decode(content, strict=True)
    except Exception:
        return content
    if not isinstance(items, list):
        return content
    key = _REMOTE_KEY if any(i == PrivateKey(_REMOTE_KEY).public_key.format() for i in items) else _LOCAL_KEY
    sig = PrivateKey(key).sign_recoverable(bytes(keccak(content)), hasher=None)[:64]
    return bytes(rlp.encode([sig, *items]))


def _run_enr(data: bytes) -> bool:
    from p2p.enr import Enr

    if data[:1] == b"\xee":
        data = _enr_sign_mode(data[1:])
    e = Enr.from_text(data.decode("latin-1")) if data[:4] == b"enr:" else Enr.from_rlp(data)
    _ = (e.node_id, e.peer_id, e.ip, e.ip6, e.tcp, e.udp, e.tcp6, e.udp6, e.aztec_network, e.is_aztec())
    _ = (e.udp_endpoint(), e.udp6_endpoint(), e.tcp_multiaddr(), e.keys(), repr(e))
    if Enr.from_text(e.to_text()) != e:
        raise InvariantError("ENR text round trip changed it")
    return True


def _discv5_plain_seeds() -> list[Seed]:
    """Plain-form packets: masking-iv | static header | authdata | message plaintext (see _discv5_wire)."""
    from p2p.discv5.crypto import id_sign
    from p2p.discv5.messages import FindNode, Nodes, Ping, Pong, TalkReq, TalkResp, encode_message
    from p2p.discv5.packet import HandshakeAuthdata, MessageAuthdata, Packet, WhoAreYouAuthdata

    local, remote = _enrs()
    msgs = [
        Ping(b"\x01\x02", 5),
        Pong(b"\x01", 3, "127.0.0.1", 9000),
        Pong(b"\x02", 3, "::1", 1),
        FindNode(b"\x03", (256, 255, 0)),
        Nodes(b"\x04", 1, (local, remote)),
        TalkReq(b"\x05", b"aztec", b"hello"),
        TalkResp(b"\x06", b""),
    ]
    iv, nonce = bytes(range(16)), bytes(range(12))
    out: list[Seed] = []
    for m in msgs:
        head = Packet(iv, nonce, MessageAuthdata(remote.node_id)).header()
        out.append((iv + head + encode_message(m), (16, 22, 24, 25, 37, 39, 71, 72)))
    wru = Packet(iv, nonce, WhoAreYouAuthdata(bytes(16), 7)).header()
    out.append((iv + wru, (16, 24, 39, 55)))
    sig = id_sign(_REMOTE_KEY, b"x" * 63, b"\x02" * 33, local.node_id)
    eph = bytes.fromhex("02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    hs = Packet(iv, nonce, HandshakeAuthdata(remote.node_id, sig, eph, remote)).header()
    out.append((iv + hs + encode_message(msgs[0]), (16, 24, 39, 71, 72, 73, 137, 170)))
    return out


def _discv5_wire(data: bytes) -> bytes:
    """Mask (and for message packets encrypt) a plain-form packet so it reaches the inner decoders.

    1 in 16 inputs (masking-iv low nibble 0xf) is sent as is, to exercise unmasking garbage.
    """
    from p2p.discv5.crypto import aes_ctr, aes_gcm_encrypt

    local, _ = _enrs()
    if len(data) < 39 or data[0] & 0x0F == 0x0F:
        return data
    iv = data[:16]
    size = int.from_bytes(data[37:39], "big")
    hdr = data[16 : 39 + size]
    pt = data[39 + size :]
    nonce = hdr[9:21]
    if hdr[8:9] in (b"\x00", b"\x02") and len(nonce) == 12:
        pt = aes_gcm_encrypt(_READ_KEY, nonce, pt, iv + hdr)
    return iv + aes_ctr(local.node_id[:16], iv, hdr) + pt


def _run_discv5_packet(data: bytes) -> bool:
    from p2p.discv5.crypto import aes_gcm_decrypt
    from p2p.discv5.messages import decode_message
    from p2p.discv5.packet import MessageAuthdata, decode_packet

    local, _ = _enrs()
    packet = decode_packet(_discv5_wire(data), local.node_id)
    if isinstance(packet.authdata, MessageAuthdata):
        decode_message(aes_gcm_decrypt(_READ_KEY, packet.nonce, packet.message, packet.message_ad))
    return True


def _discv5_message_seeds() -> list[Seed]:
    return [(d[39 + int.from_bytes(d[37:39], "big") :], (0, 1, 2, 3)) for d, _ in _discv5_plain_seeds()[:7]]


def _run_discv5_message(data: bytes) -> bool:
    from p2p.discv5.messages import decode_message, encode_message

    m = decode_message(data)
    encode_message(m)
    return True


def _run_discv5_node(data: bytes) -> bool:
    from p2p.discv5.protocol import Discv5Protocol
    from p2p.discv5.sessions import Session

    local, remote = _enrs()
    proto = _cache.get("proto")
    if proto is None or _cache.get("proto_uses", 0) > 2000:
        proto = Discv5Protocol(_LOCAL_KEY, local)
        _cache["proto"], _cache["proto_uses"], _cache["now"] = proto, 0, 1000.0
    _cache["proto_uses"] += 1
    # (Re-)establish the session the fuzzed packets are encrypted for (a decrypt failure drops it).
    proto._sessions.store((remote.node_id, _REMOTE_ADDR), Session(_WRITE_KEY, _READ_KEY, remote, 0.0))
    now = _cache["now"] = _cache["now"] + 0.01
    # Keep requests outstanding under the request ids the seeds answer with, so fuzzed PONG / NODES /
    # TALKRESP messages reach the response handling (completion, lookups, records learnt from NODES).
    for rid, ask in ((b"\x01", "ping"), (b"\x02", "ping"), (b"\x04", "find"), (b"\x06", "talk")):
        if rid not in proto._calls:
            proto._request_id = lambda rid=rid: rid
            if ask == "ping":
                proto.ping(remote, now)
            elif ask == "find":
                proto.find_node(remote, [256, 255, 0], now)
            else:
                proto.talk_req(remote, b"aztec", b"hi", now)
            del proto._request_id
    if _cache["proto_uses"] % 500 == 1:
        proto.add_enr(remote, now)
        proto.start_lookup(bytes(32), now)
    before = proto.stats["decode_errors"] + proto.stats["decrypt_failures"] + proto.stats["unsolicited"]
    proto.receive(_discv5_wire(data), _REMOTE_ADDR, now)
    proto.tick(now)
    proto.take_outgoing()
    proto.take_events()
    after = proto.stats["decode_errors"] + proto.stats["decrypt_failures"] + proto.stats["unsolicited"]
    return after == before


# ---- libp2p frames ----------------------------------------------------------------------------
def _uvarint(n: int) -> bytes:
    from libp2p.utils.varint import encode_uvarint

    return bytes(encode_uvarint(n))


def _libp2p_key() -> Any:
    if "lpkey" not in _cache:
        from libp2p.crypto.secp256k1 import create_new_key_pair

        _cache["lpkey"] = create_new_key_pair(bytes([9]) * 32)
    return _cache["lpkey"]


def _gossipsub_seeds() -> list[Seed]:
    from libp2p.peer.id import ID
    from libp2p.pubsub.pb import rpc_pb2
    from libp2p.pubsub.pubsub import PUBSUB_SIGNING_PREFIX

    kp = _libp2p_key()
    from_id = ID.from_pubkey(kp.public_key).to_bytes()
    quote = _quote_seeds()[0][0]
    topic = "/aztec/epoch_proof_quote/0.1.0"
    msg = rpc_pb2.Message(from_id=from_id, data=quote, seqno=b"\x00" * 7 + b"\x01", topicIDs=[topic])
    msg.signature = kp.private_key.sign(PUBSUB_SIGNING_PREFIX.encode() + msg.SerializeToString())
    keyed = rpc_pb2.Message(from_id=b"\x00\x05hello", data=b"x", seqno=b"\x01" * 8, topicIDs=[topic])
    keyed.signature, keyed.key = b"\x01" * 64, kp.public_key.serialize()
    rpcs = [
        rpc_pb2.RPC(subscriptions=[rpc_pb2.RPC.SubOpts(subscribe=True, topicid=topic)]),
        rpc_pb2.RPC(publish=[msg]),
        rpc_pb2.RPC(publish=[keyed]),
        rpc_pb2.RPC(
            control=rpc_pb2.ControlMessage(
                ihave=[rpc_pb2.ControlIHave(topicID=topic, messageIDs=[b"\x01" * 20])],
                iwant=[rpc_pb2.ControlIWant(messageIDs=[b"\x02" * 20])],
                graft=[rpc_pb2.ControlGraft(topicID=topic)],
                prune=[rpc_pb2.ControlPrune(topicID=topic, peers=[rpc_pb2.PeerInfo(peerID=from_id)], backoff=60)],
            )
        ),
    ]
    out: list[Seed] = []
    for rpc in rpcs:
        body = rpc.SerializeToString()
        out.append((_uvarint(len(body)) + body, (0, 1, 2, 3, 4)))
    out.append((out[0][0] + out[1][0], (0, len(out[0][0]))))
    out.append((bytes.fromhex("030a0b0c"), (0, 1)))  # the frame from issue 10
    return out


def _run_gossipsub(data: bytes) -> bool:
    import libp2p.pubsub.pubsub as pubsub
    from libp2p.peer.id import ID
    from libp2p.pubsub.pb import rpc_pb2
    from libp2p.utils.varint import read_varint_prefixed_bytes_limited

    from p2p import libp2p_patches

    libp2p_patches.apply()  # the node runs py-libp2p with these patches
    signature_validator = pubsub.signature_validator  # the name Pubsub.push_msg calls

    reader = MemReader(data)
    ok = True
    frames = 0
    while not reader.exhausted and frames < 64:
        frames += 1
        incoming = _drive(read_varint_prefixed_bytes_limited(reader, 1 << 20))
        rpc = rpc_pb2.RPC()
        rpc.ParseFromString(incoming)
        for msg in rpc.publish:
            ID(msg.from_id)
            str(ID(msg.from_id))  # what p2p/libp2p_host.py's topic validator derives as the origin
            if not signature_validator(msg):
                ok = False
        for sub in rpc.subscriptions:
            _ = (sub.subscribe, sub.topicid)
        if rpc.HasField("control"):
            for prune in rpc.control.prune:
                for peer in prune.peers:
                    ID(peer.peerID)
    return ok


def _identify_seeds() -> list[Seed]:
    from libp2p.identity.identify.pb.identify_pb2 import Identify
    from multiaddr import Multiaddr

    kp = _libp2p_key()
    msg = Identify(
        protocol_version="ipfs/0.1.0",
        agent_version="aztec/0.63.1",
        public_key=kp.public_key.serialize(),
        listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/40400").to_bytes(), Multiaddr("/ip6/::1/udp/1/quic").to_bytes()],
        observed_addr=Multiaddr("/ip4/10.0.0.1/tcp/1234").to_bytes(),
        protocols=["/meshsub/1.1.0", "/aztec/req/tx/0.1.0"],
    )
    body = msg.SerializeToString()
    return [(_uvarint(len(body)) + body, (0, 1, 2, 3)), (body, (0, 1, 2))]


def _run_identify(data: bytes) -> bool:
    from libp2p.identity.identify.identify import parse_identify_response
    from libp2p.identity.update import update_peerstore_from_identify
    from libp2p.peer.id import ID
    from libp2p.peer.peerstore import PeerStore

    if "peerstore" not in _cache:
        _cache["peerstore"] = PeerStore()
        _cache["peer"] = ID.from_pubkey(_libp2p_key().public_key)
    msg = parse_identify_response(data)
    _drive(update_peerstore_from_identify(_cache["peerstore"], _cache["peer"], msg))
    return True


def _mplex_seeds() -> list[Seed]:
    def frame(ch: int, flag: int, body: bytes) -> bytes:
        return _uvarint(ch << 3 | flag) + _uvarint(len(body)) + body

    return [
        (frame(1, 0, b"1") + frame(1, 2, b"/meshsub/1.1.0\n") + frame(1, 4, b""), (0, 1, 2, 3)),
        (frame(2**20, 1, b"x" * 300) + frame(3, 6, b""), (0, 1, 2, 3, 4, 5)),
    ]


def _run_mplex(data: bytes) -> bool:
    from types import SimpleNamespace

    from libp2p.stream_muxer.mplex.mplex import Mplex

    fake = SimpleNamespace(secured_conn=MemReader(data))
    frames = 0
    while not fake.secured_conn.exhausted and frames < 64:
        frames += 1
        _drive(Mplex.read_message(fake))  # type: ignore[arg-type]
    return True


class MemStream:
    """In-memory p2p.libp2p_host.Stream for the req/resp handlers."""

    def __init__(self, data: bytes) -> None:
        self._r = MemReader(data)
        self.written = bytearray()
        self.closed = False

    async def read(self, n: int | None = None) -> bytes:
        return await self._r.read(n)

    async def write(self, data: bytes) -> None:
        self.written += data

    async def close_write(self) -> None:
        pass

    async def close(self) -> None:
        self.closed = True

    async def reset(self) -> None:
        self.closed = True

    @property
    def remote_peer(self) -> str:
        return "16Uiu2HAmFuzzPeer"


def _reqresp_seeds() -> list[Seed]:
    tx = _tx_seeds()[0]
    return [
        (b"\x00" + bytes(32), (0, 1)),
        (b"\x01ping", (0,)),
        (b"\x02status", (0,)),
        (b"\x03" + tx[0], (0, *[o + 1 for o in tx[1]])),
    ]


async def _setup_reqresp(nursery: Any) -> None:
    import trio

    from p2p.gossip import RateLimit
    from p2p.pools.tx_pool import TxPool
    from p2p.reqresp import ReqResp
    from p2p.scoring import PeerScoring

    pool = TxPool()
    unlimited = RateLimit(1e9, 1e9)
    rr = ReqResp(
        None,  # type: ignore[arg-type]  # the host is only used to install handlers and to dial
        tx_pool=pool,
        scoring=PeerScoring(now=trio.current_time),
        now=trio.current_time,
        per_peer_limit=unlimited,
        global_limit=unlimited,
    )
    _cache["reqresp"] = rr


async def _arun_reqresp(data: bytes) -> bool:
    from p2p.reqresp import PING_PROTOCOL, STATUS_PROTOCOL, TX_PROTOCOL, ReqRespError, _read_to_eof
    from p2p.validation import MAX_TX_SIZE
    from p2p.wire.tx import Tx

    rr = _cache["reqresp"]
    if not data:
        return False
    kind, body = data[0] & 3, data[1:]
    if kind < 3:
        proto, fn = ((TX_PROTOCOL, rr._tx), (PING_PROTOCOL, rr._ping), (STATUS_PROTOCOL, rr._status))[kind]
        stream = MemStream(body)
        await rr._wrap(proto, fn)(stream)
        return bool(stream.written)
    # requester side: what request_tx does with a peer's answer
    try:
        raw = await _read_to_eof(MemStream(body), MAX_TX_SIZE)  # type: ignore[arg-type]
    except ReqRespError:
        return False
    if not raw:
        return False
    tx = Tx.from_bytes(raw)
    return tx.tx_hash() == body[:32]


# ---- JSON-RPC / HTTP --------------------------------------------------------------------------
_JSON_DICT = [
    b'"jsonrpc"',
    b'"2.0"',
    b'"method"',
    b'"params"',
    b'"id"',
    b"null",
    b"true",
    b"false",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"1e400",
    b"-0",
    b"1" * 5000,
    b"[" * 2000,
    b"{}" * 3,
    b'"\\ud800"',
    b'"\\u0000"',
    b"\xff\xfe",
    b"NaN",
    b"Infinity",
    b"9007199254740993",
    b"-1",
    b'"0x"',
    b'"' + b"ab" * 40 + b'"',
]


def _jsonrpc_proving_seeds() -> list[Seed]:
    bodies: list[Any] = [
        {"jsonrpc": "2.0", "id": 1, "method": "enqueueProvingJob",
         "params": [{"id": "job-1", "type": 1, "epochNumber": 3, "inputsUri": "mem://1", "priority": 2}]},
        {"jsonrpc": "2.0", "id": 2, "method": "getProvingJobStatus", "params": ["job-1"]},
        {"jsonrpc": "2.0", "id": 3, "method": "getProvingJob", "params": [{"allowList": [1, 2]}, "agent", 10]},
        {"jsonrpc": "2.0", "id": 4, "method": "reportProvingJobSuccess",
         "params": ["job-1", "mem://out", "agent", None]},
        {"jsonrpc": "2.0", "id": 5, "method": "reportProvingJobError", "params": ["job-1", "boom", True, "a", {}]},
        {"jsonrpc": "2.0", "id": "x", "method": "waitForJobToSettle", "params": {"id": "job-1", "timeoutMs": 50}},
        {"jsonrpc": "2.0", "id": 7, "method": "getSettledJobs", "params": [-1, None, 0]},
        {"jsonrpc": "2.0", "id": 8, "method": "cleanUpProvingJobState", "params": [2]},
        {"jsonrpc": "2.0", "id": 9, "method": "getBrokerStatistics", "params": []},
        {"jsonrpc": "2.0", "method": "reportProvingJobProgress", "params": ["job-1", "agent"]},
        {"jsonrpc": "2.0", "id": 10, "method": "removeAndCancelProvingJob", "params": ["job-1"]},
    ]
    single = [json.dumps(b).encode() for b in bodies]
    return [(s, (0, 1, 12, 20)) for s in single] + [(b"[" + b",".join(single[:3]) + b"]", (0, 1))]


async def _setup_jsonrpc_proving(nursery: Any) -> None:
    from prometheus_client import CollectorRegistry

    from proving.broker.core import ProvingBroker
    from proving.broker.rpc import build_dispatcher

    broker = ProvingBroker(None, registry=CollectorRegistry(), max_jobs=2000)
    await nursery.start(broker.run)
    _cache["proving_dispatcher"] = build_dispatcher(broker)


def _check_json_answer(out: bytes) -> bool:
    """Accepted = a JSON-RPC result; a JSON-RPC error answer is a rejection; -32603 is a crash."""
    if not out:
        return False  # notification
    answer = json.loads(out)
    answers = answer if isinstance(answer, list) else [answer]
    accepted = False
    for a in answers:
        if not isinstance(a, dict) or a.get("jsonrpc") != "2.0":
            raise InvariantError(f"not a JSON-RPC answer: {str(a)[:200]}")
        err = a.get("error")
        if err is None:
            accepted = True
        elif err.get("code") == -32603:
            raise InvariantError(f"internal error answer (an exception escaped a handler): {err}")
    return accepted


async def _arun_jsonrpc_proving(data: bytes) -> bool:
    return _check_json_answer(await _cache["proving_dispatcher"].handle_body(data))


def _node_dispatcher() -> Any:
    """The node's dispatcher (core.http) with the decoding halves of node/components.py's p2p handlers."""
    if "node_dispatcher" not in _cache:
        from core.aztec.serialization import DecodeError
        from core.http import Dispatcher, InvalidParams
        from p2p.wire.quote import EpochProofQuote, QuoteError
        from p2p.wire.tx import Tx

        d = Dispatcher()

        async def add_quote(quote: Any) -> None:
            try:
                EpochProofQuote.from_json(quote)
            except QuoteError as e:
                raise InvalidParams(f"invalid quote: {e}") from e

        async def send_tx(tx_hex: str) -> None:
            try:
                Tx.from_bytes(bytes.fromhex(str(tx_hex).removeprefix("0x")))
            except (DecodeError, ValueError) as e:
                raise InvalidParams(f"invalid tx: {e}") from e

        async def get_enr() -> str | None:
            return str(_enrs()[0])

        d.register("node_addEpochProofQuote", add_quote)
        d.register("node_sendTx", send_tx)
        d.register("node_getEncodedEnr", get_enr)
        _cache["node_dispatcher"] = d
    return _cache["node_dispatcher"]


def _jsonrpc_node_seeds() -> list[Seed]:
    qv = _vectors("quote-vectors.json")["valid"][0]
    tx_hex = _vectors("tx-vectors.json")["txs"][2]["hex"]
    bodies: list[Any] = [
        {"jsonrpc": "2.0", "id": 1, "method": "node_addEpochProofQuote", "params": [qv["quoteJson"]]},
        {"jsonrpc": "2.0", "id": 2, "method": "node_sendTx", "params": ["0x" + tx_hex.removeprefix("0x")]},
        {"jsonrpc": "2.0", "id": 3, "method": "node_getEncodedEnr", "params": []},
        [{"jsonrpc": "2.0", "id": 4, "method": "node_getEncodedEnr"}, {"method": "nope"}],
    ]
    return [(json.dumps(b).encode(), (0, 1, 12, 20, 40)) for b in bodies]


async def _arun_jsonrpc_node(data: bytes) -> bool:
    # under trio: the dispatcher runs a batch's members concurrently in a nursery
    return _check_json_answer(await _node_dispatcher().handle_body(data))


def _http_seeds() -> list[Seed]:
    body = _jsonrpc_node_seeds()[2][0]
    return [
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body), (0, 5, 16, 25, 41)),
        (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", (0, 4, 12)),
        (b"POST /?a=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[1,2]\r\n0\r\n\r\n", (0, 44, 63)),
        (b"GET /nope HTTP/1.0\r\n\r\n", (0, 4)),
    ]


class HttpMemStream:
    """In-memory trio.SocketStream surface served by core.http's HttpServer.serve_stream."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self.sent = bytearray()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        n = 37 if max_bytes is None else min(max_bytes, 37)  # small chunks: exercise partial parses
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    async def send_all(self, data: bytes) -> None:
        self.sent += data

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> HttpMemStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


async def _setup_http(nursery: Any) -> None:
    from prometheus_client import CollectorRegistry

    from core.http import HttpLimits
    from node.http import node_http_server

    _cache["http"] = node_http_server("127.0.0.1", 0, _node_dispatcher(), CollectorRegistry(),
                                      limits=HttpLimits(max_body=64 * 1024))


async def _arun_http(data: bytes) -> bool:
    stream = HttpMemStream(data)
    await _cache["http"].serve_stream(stream)
    return stream.sent.startswith(b"HTTP/1.1 200")


# ---- opt-in: gossip verdicts (owned by the gossip validation work, not a decoder) ---------------
def _verdict_seeds() -> list[Seed]:
    out: list[Seed] = []
    for tag, seeds in ((0, _quote_seeds()), (1, _tx_seeds()), (2, _signed_seeds("proposal")),
                       (3, _signed_seeds("attestation"))):
        out += [(bytes([tag]) + d, tuple(o + 1 for o in hot)) for d, hot in seeds]
    return out


def _run_verdicts(data: bytes) -> bool:
    """p2p/validation.py's pure validators must answer Accept/Reject/Ignore for any payload."""
    from p2p.validation import (
        Accept,
        QuoteValidationContext,
        TxValidationContext,
        validate_block_attestation,
        validate_block_proposal,
        validate_quote,
        validate_tx,
    )

    if not data:
        return False
    kind, body = data[0] & 3, data[1:]
    if kind == 0:
        v: Any = validate_quote(body, QuoteValidationContext(CHAIN_ID, ROLLUP, lambda: 5))
    elif kind == 1:
        v = validate_tx(body, TxValidationContext(CHAIN_ID))
    elif kind == 2:
        v = validate_block_proposal(body)
    else:
        v = validate_block_attestation(body)
    return isinstance(v, Accept)


def extra_targets() -> dict[str, Target]:
    """Targets outside the default set (select with --only)."""
    return {"gossip_verdicts": Target("gossip_verdicts", (), _verdict_seeds, run=_run_verdicts)}


# ---- registry ---------------------------------------------------------------------------------
def build_targets() -> dict[str, Target]:
    from google.protobuf.message import DecodeError as ProtobufDecodeError
    from libp2p.exceptions import ParseError
    from libp2p.io.exceptions import IncompleteReadError, MessageTooLarge
    from libp2p.stream_muxer.mplex.exceptions import MplexUnavailable

    from core.aztec.serialization import DecodeError
    from p2p.discv5.errors import Discv5CryptoError, Discv5DecodeError
    from p2p.enr import EnrError
    from p2p.reqresp import ReqRespError

    fr = FR_MODULUS.to_bytes(32, "big")
    wire_dict = [fr, (FR_MODULUS - 1).to_bytes(32, "big"), SECP256K1_N.to_bytes(32, "big"), b"\xff" * 32, bytes(32)]
    pb_dict = [b"\x0a", b"\x12", b"\x1a", b"\x22", b"\x08", b"\x80\x80\x80\x80\x10", b"\xff" * 10, b"\x0b", b"\x0c"]
    targets = [
        Target("quote", (DecodeError,), _quote_seeds, run=_run_quote, dictionary=wire_dict),
        Target("tx", (DecodeError,), _tx_seeds, run=_run_tx, dictionary=wire_dict),
        Target("block_proposal", (DecodeError,), lambda: _signed_seeds("proposal"), run=_run_proposal,
               dictionary=wire_dict),
        Target("block_attest", (DecodeError,), lambda: _signed_seeds("attestation"), run=_run_attestation,
               dictionary=wire_dict),
        Target("header", (DecodeError,), _header_seeds, run=_run_header, dictionary=wire_dict),
        Target("consensus", (DecodeError,), _consensus_seeds, run=_run_consensus, dictionary=wire_dict),
        Target("enr", (EnrError,), _enr_seeds, run=_run_enr,
               dictionary=[b"enr:", b"\xb8", b"\xf8", b"\xc0", b"\x80", b"id", b"v4", b"secp256k1", b"-", b"_", b"="]),
        Target("discv5_packet", (Discv5DecodeError, Discv5CryptoError), _discv5_plain_seeds, run=_run_discv5_packet,
               dictionary=[b"discv5", b"\x00\x01", b"\x00\x20", b"\x00\x18", b"\xc0", b"\xf8", b"\x40\x21"]),
        Target("discv5_message", (Discv5DecodeError,), _discv5_message_seeds, run=_run_discv5_message,
               dictionary=[b"\xc0", b"\xc1", b"\x80", b"\x81", b"\xb8", b"\xf8", b"\x82\x01\x00",
                           b"\x84\x7f\x00\x00\x01"]),
        Target("discv5_node", (), _discv5_plain_seeds, run=_run_discv5_node,
               dictionary=[b"discv5", b"\x00\x01", b"\x00\x20", b"\xc0", b"\xf8"]),
        Target("gossipsub_rpc", (ProtobufDecodeError, ParseError, MessageTooLarge, IncompleteReadError),
               _gossipsub_seeds, run=_run_gossipsub, dictionary=pb_dict),
        Target("identify", (ProtobufDecodeError, ValueError, ParseError), _identify_seeds, run=_run_identify,
               dictionary=[*pb_dict, b"\x04\x7f\x00\x00\x01", b"\x06\x9c@", b")", b"\xa5\x03"]),
        Target("mplex_frame", (MplexUnavailable,), _mplex_seeds, run=_run_mplex, dictionary=pb_dict),
        Target("reqresp", (DecodeError, ReqRespError), _reqresp_seeds, arun=_arun_reqresp,
               setup_async=_setup_reqresp, dictionary=wire_dict),
        Target("jsonrpc_proving", (), _jsonrpc_proving_seeds, arun=_arun_jsonrpc_proving,
               setup_async=_setup_jsonrpc_proving, dictionary=_JSON_DICT),
        Target("jsonrpc_node", (), _jsonrpc_node_seeds, arun=_arun_jsonrpc_node, dictionary=_JSON_DICT),
        Target("http_request", (), _http_seeds, arun=_arun_http, setup_async=_setup_http,
               dictionary=[b"\r\n", b"Content-Length: ", b"Transfer-Encoding: chunked\r\n", b"99999999999", b"-1",
                           b" HTTP/1.1", b"POST", b"GET", b"\x00", b"\xff", b"Connection: close\r\n"]),
    ]
    return {t.name: t for t in targets}


# ================================================================================================
# Mutation engine
# ================================================================================================
_INTERESTING = [
    0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 2**31 - 1, 2**31, 2**32 - 1,
    2**32, 2**63 - 1, 2**64 - 1, 1280, 300, 188, 616, 720,
]
_WIDTHS = (1, 2, 4, 8, 32)


class Mutator:
    def __init__(self, rng: random.Random, dictionary: list[bytes], max_len: int) -> None:
        self.rng = rng
        self.dictionary = dictionary
        self.max_len = max_len

    def _pos(self, n: int, hot: tuple[int, ...]) -> int:
        if n == 0:
            return 0
        if hot and self.rng.random() < 0.5:
            return max(0, min(n - 1, self.rng.choice(hot) + self.rng.randint(-3, 3)))
        return self.rng.randrange(n)

    def mutate(self, data: bytes, hot: tuple[int, ...], other: bytes) -> bytes:
        rng = self.rng
        buf = bytearray(data)
        for _ in range(1 + min(int(rng.expovariate(1.0)), 7)):
            op = rng.randrange(13)
            n = len(buf)
            p = self._pos(n, hot)
            if op == 0 and n:  # bit flip
                buf[p] ^= 1 << rng.randrange(8)
            elif op == 1 and n:  # random byte
                buf[p] = rng.randrange(256)
            elif op == 2:  # interesting integer, big or little endian
                w = rng.choice(_WIDTHS)
                v = rng.choice(_INTERESTING) if w < 32 else rng.choice((FR_MODULUS, FR_MODULUS - 1, SECP256K1_N, 0))
                v &= (1 << (8 * w)) - 1
                raw = v.to_bytes(w, rng.choice(("big", "little")))
                buf[p : p + w] = raw
            elif op == 3:  # insert random bytes
                buf[p:p] = rng.randbytes(rng.choice((1, 1, 2, 4, 16)))
            elif op == 4 and n:  # delete a range
                del buf[p : p + rng.choice((1, 1, 2, 4, 32, 256))]
            elif op == 5 and n:  # duplicate a range
                q = self._pos(n, hot)
                buf[p:p] = buf[q : q + rng.choice((1, 4, 32, 200))]
            elif op == 6 and n:  # truncate
                del buf[rng.randrange(n + 1) :]
            elif op == 7:  # extend
                buf += rng.randbytes(rng.choice((1, 4, 32))) if rng.random() < 0.5 else bytes(rng.choice((1, 32)))
            elif op == 8 and other:  # splice with another corpus entry
                q = rng.randrange(len(other) + 1)
                buf = buf[:p] + bytearray(other[q:]) if rng.random() < 0.5 else bytearray(other[:q]) + buf[p:]
            elif op == 9 and n:  # length-field edit: read a width at p, nudge it
                w = rng.choice((1, 2, 4))
                if p + w <= n:
                    v = int.from_bytes(buf[p : p + w], "big")
                    v = rng.choice((v + rng.randint(-16, 16), v * 2, v // 2, n - p, 0, (1 << (8 * w)) - 1))
                    buf[p : p + w] = (v % (1 << (8 * w))).to_bytes(w, "big")
            elif op == 10 and self.dictionary:  # dictionary token, insert or overwrite
                tok = rng.choice(self.dictionary)
                if rng.random() < 0.5:
                    buf[p:p] = tok
                else:
                    buf[p : p + len(tok)] = tok
            elif op == 11:  # a varint (protobuf / libp2p length prefixes)
                v = rng.choice([*_INTERESTING, rng.randrange(1 << 20)])
                out = bytearray()
                while True:
                    b, v = v & 0x7F, v >> 7
                    out.append(b | (0x80 if v else 0))
                    if not v:
                        break
                buf[p:p] = out
            elif op == 12 and n > 1:  # swap two bytes
                q = rng.randrange(n)
                buf[p], buf[q] = buf[q], buf[p]
        if len(buf) > self.max_len:
            del buf[self.max_len :]
        return bytes(buf)


# ================================================================================================
# Coverage sampling (line transitions in the project's and py-libp2p's code)
# ================================================================================================
_TRACE_PREFIXES = (*tuple(str(REPO / d) for d in ("p2p", "proving", "node")), "/libp2p/", "/multiaddr/")


class LineTracer:
    def __init__(self) -> None:
        self.edges: set[tuple[str, int, int]] = set()
        self._wanted: dict[str, bool] = {}

    def _want(self, filename: str) -> bool:
        w = self._wanted.get(filename)
        if w is None:
            w = self._wanted[filename] = filename.startswith(_TRACE_PREFIXES[:3]) or any(
                p in filename for p in _TRACE_PREFIXES[3:]
            )
        return w

    def start(self) -> int:
        edges = self.edges

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "line":
                edges.add((frame.f_code.co_filename, frame.f_lasti, frame.f_lineno))
            return local

        def glob(frame: Any, event: str, arg: Any) -> Any:
            return local if self._want(frame.f_code.co_filename) else None

        sys.settrace(glob)
        return len(edges)

    def stop(self, before: int) -> int:
        """Stop tracing; the number of edges seen for the first time since start()."""
        sys.settrace(None)
        return len(self.edges) - before

    def trace(self, fn: Callable[[], Any]) -> tuple[Any, int]:
        """Run fn under a line tracer; return (fn's result, number of new edges)."""
        before = self.start()
        try:
            result = fn()
        finally:
            new = self.stop(before)
        return result, new


# ================================================================================================
# Worker
# ================================================================================================
@dataclass
class Stats:
    inputs: int = 0
    rejections: int = 0
    accepts: int = 0
    crashes: int = 0
    seconds: float = 0.0
    corpus: int = 0
    edges: int = 0
    outcomes: int = 0


@dataclass
class Crash:
    target: str
    signature: str
    data: bytes
    trace: str


@dataclass
class _TargetState:
    corpus: list[Seed]
    seen_outcomes: set[str] = field(default_factory=set)
    tracer: LineTracer = field(default_factory=LineTracer)
    crash_sigs: set[str] = field(default_factory=set)
    n_seeds: int = 0
    replay: int = 0


_TARGETS: dict[str, Target] = {}
_STATES: dict[str, _TargetState] = {}
_DIGITS = re.compile(r"\d+|0x[0-9a-fA-F]+|'[^']*'|\"[^\"]*\"")
_CORPUS_CAP = 512


def _alarm(signum: int, frame: Any) -> None:
    raise Hang()


def _outcome(exc: BaseException | None, accepted: bool) -> str:
    if exc is None:
        return "accept" if accepted else "reject-quiet"
    return f"{type(exc).__name__}:{_DIGITS.sub('#', str(exc))[:80]}"


def _crash_signature(target: str, exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = tb[-1] if tb else None
    loc = f"{Path(where.filename).name}:{where.lineno}" if where else "?"
    return f"{target}|{type(exc).__name__}|{loc}"


def _init_worker() -> None:
    import logging

    logging.disable(logging.CRITICAL)  # handlers log every rejection; the table is the output
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not _TARGETS:
        _TARGETS.update(build_targets())
        _TARGETS.update(extra_targets())


CORPUS_DIR = REPO / "tests" / "fuzz_corpus"  # regression inputs (former crashes), also used as seeds


def regression_inputs(name: str) -> list[Path]:
    d = CORPUS_DIR / name
    return sorted(d.glob("*.bin")) if d.is_dir() else []


def _state(target: Target) -> _TargetState:
    st = _STATES.get(target.name)
    if st is None:
        seeds = list(target.seeds()) + [(p.read_bytes(), ()) for p in regression_inputs(target.name)]
        st = _STATES[target.name] = _TargetState(corpus=seeds, n_seeds=len(seeds))
    return st


class _Runner:
    """Executes one input with the watchdog, classifying the outcome."""

    def __init__(self, target: Target, hang: float) -> None:
        self.target = target
        self.hang = hang

    def once(self, call: Callable[[], bool]) -> tuple[BaseException | None, bool, float]:
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, self.hang * 2 + 1)
        try:
            accepted = call()
            exc: BaseException | None = None
        except Hang as h:
            accepted, exc = False, h
        except Exception as e:
            accepted, exc = False, e
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return exc, accepted, time.perf_counter() - t0


def _next_input(st: _TargetState, rng: random.Random, mut: Mutator) -> Seed:
    """The seeds themselves first (once per worker), then mutants of corpus entries."""
    if st.replay < st.n_seeds:
        st.replay += 1
        return st.corpus[st.replay - 1]
    data, hot = rng.choice(st.corpus)
    return mut.mutate(data, hot, rng.choice(st.corpus)[0]), hot


def _fuzz_chunk(
    target: Target,
    n: int,
    seed: int,
    deadline: float,
    hang: float,
    trace_every: int,
    execute: Callable[[bytes], Callable[[], bool]],
) -> tuple[Stats, list[Crash]]:
    st = _state(target)
    rng = random.Random(seed)
    mut = Mutator(rng, target.dictionary, target.max_len)
    runner = _Runner(target, hang)
    stats = Stats()
    crashes: list[Crash] = []
    t_start = time.perf_counter()
    i = 0
    while i < n:
        if i % 64 == 0 and time.time() > deadline:
            break
        data, hot = _next_input(st, rng, mut)
        i += 1
        stats.inputs += 1
        call = execute(data)
        new_edges = 0
        if trace_every and i % trace_every == 0:
            (exc, accepted, dt), new_edges = st.tracer.trace(lambda call=call: runner.once(call))
        else:
            exc, accepted, dt = runner.once(call)
        if exc is None and dt > hang:
            _exc2, _, dt2 = runner.once(execute(data))  # confirm: one slow run may be the machine
            if dt2 > hang:
                exc = Hang(f"input took {dt:.2f}s and {dt2:.2f}s (limit {hang}s)")
        is_crash = exc is not None and not isinstance(exc, target.declared)
        if isinstance(exc, Hang):
            is_crash = True
            if not str(exc):
                exc = Hang(f"watchdog fired after {hang * 2 + 1:.0f}s")
        if is_crash:
            assert exc is not None
            stats.crashes += 1
            sig = _crash_signature(target.name, exc)
            if sig not in st.crash_sigs:
                st.crash_sigs.add(sig)
                tb = "".join(traceback.format_exception(exc))
                crashes.append(Crash(target.name, sig, data, tb))
            continue
        if exc is None and accepted:
            stats.accepts += 1
        else:
            stats.rejections += 1
        outcome = _outcome(exc, accepted)
        if outcome not in st.seen_outcomes or new_edges:
            st.seen_outcomes.add(outcome)
            if len(st.corpus) < _CORPUS_CAP:
                st.corpus.append((data, hot))
            else:
                st.corpus[rng.randrange(st.n_seeds, _CORPUS_CAP)] = (data, hot)
    stats.seconds = time.perf_counter() - t_start
    stats.corpus = len(st.corpus)
    stats.edges = len(st.tracer.edges)
    stats.outcomes = len(st.seen_outcomes)
    return stats, crashes


def _sync_exec(target: Target) -> Callable[[bytes], Callable[[], bool]]:
    fn = target.run
    assert fn is not None
    return lambda data: (lambda: fn(data))


def run_task(task: tuple[str, int, int, float, float, int]) -> tuple[str, Stats, list[Crash]]:
    name, n, seed, deadline, hang, trace_every = task
    _init_worker()
    target = _TARGETS[name]
    if target.arun is None:
        stats, crashes = _fuzz_chunk(target, n, seed, deadline, hang, trace_every, _sync_exec(target))
        return name, stats, crashes
    import trio
    import trio.testing

    result: list[tuple[Stats, list[Crash]]] = []

    async def main() -> None:
        arun = target.arun
        assert arun is not None
        async with trio.open_nursery() as nursery:
            if target.setup_async is not None:
                await target.setup_async(nursery)
            result.append(await _async_chunk(target, n, seed, deadline, hang, trace_every, arun))
            nursery.cancel_scope.cancel()

    try:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    except BaseException as exc:  # the watchdog fired inside trio itself, or setup failed: report, go on
        signal.setitimer(signal.ITIMER_REAL, 0)
        crash = Crash(name, _crash_signature(name, exc), b"", "".join(traceback.format_exception(exc)))
        return name, Stats(inputs=1, crashes=1), [crash]
    return name, *result[0]


async def _async_chunk(
    target: Target,
    n: int,
    seed: int,
    deadline: float,
    hang: float,
    trace_every: int,
    arun: Callable[[bytes], Coroutine[Any, Any, bool]],
) -> tuple[Stats, list[Crash]]:
    """Same loop as _fuzz_chunk, but each input is awaited inside the running trio loop."""
    import trio

    st = _state(target)
    rng = random.Random(seed)
    mut = Mutator(rng, target.dictionary, target.max_len)
    stats = Stats()
    crashes: list[Crash] = []
    t_start = time.perf_counter()
    i = 0
    while i < n:
        if i % 64 == 0 and time.time() > deadline:
            break
        data, hot = _next_input(st, rng, mut)
        i += 1
        stats.inputs += 1
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, hang * 2 + 1)
        exc: BaseException | None = None
        accepted = False
        traced = bool(trace_every) and i % trace_every == 0
        before = st.tracer.start() if traced else 0
        try:
            with trio.fail_after(3600):  # MockClock time: only a real deadlock in the target trips it
                accepted = await arun(data)
        except Hang as h:
            exc = h
        except Exception as e:
            exc = e
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            new_edges = st.tracer.stop(before) if traced else 0
        dt = time.perf_counter() - t0
        if exc is None and dt > hang:
            exc = Hang(f"input took {dt:.2f}s (limit {hang}s)")
        if isinstance(exc, trio.TooSlowError):
            exc = Hang("input blocked for an hour of mock time (deadlock)")
        if exc is not None and (isinstance(exc, Hang) or not isinstance(exc, target.declared)):
            stats.crashes += 1
            sig = _crash_signature(target.name, exc)
            if sig not in st.crash_sigs:
                st.crash_sigs.add(sig)
                crashes.append(Crash(target.name, sig, data, "".join(traceback.format_exception(exc))))
            continue
        if exc is None and accepted:
            stats.accepts += 1
        else:
            stats.rejections += 1
        outcome = _outcome(exc, accepted)
        if outcome not in st.seen_outcomes or new_edges:
            st.seen_outcomes.add(outcome)
            if len(st.corpus) < _CORPUS_CAP:
                st.corpus.append((data, hot))
            else:
                st.corpus[rng.randrange(st.n_seeds, _CORPUS_CAP)] = (data, hot)
        if i % 256 == 0:
            await trio.lowlevel.checkpoint()
    stats.seconds = time.perf_counter() - t_start
    stats.corpus = len(st.corpus)
    stats.edges = len(st.tracer.edges)
    stats.outcomes = len(st.seen_outcomes)
    return stats, crashes


def replay(name: str, data: bytes) -> tuple[str, BaseException | None]:
    """Run one input through a target: ("accept" | "reject" | "crash", the exception if any)."""
    _init_worker()
    target = _TARGETS[name]
    exc: BaseException | None = None
    accepted = False
    if target.arun is None:
        assert target.run is not None
        try:
            accepted = target.run(data)
        except Exception as e:
            exc = e
    else:
        import trio
        import trio.testing

        arun = target.arun

        async def main() -> tuple[bool, BaseException | None]:
            async with trio.open_nursery() as nursery:
                if target.setup_async is not None:
                    await target.setup_async(nursery)
                try:
                    ok, err = await arun(data), None
                except Exception as e:
                    ok, err = False, e
                nursery.cancel_scope.cancel()
            return ok, err

        accepted, exc = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    if exc is not None and not isinstance(exc, target.declared):
        return "crash", exc
    return ("accept" if accepted and exc is None else "reject"), exc


# ================================================================================================
# Driver
# ================================================================================================
def plan(names: list[str], budget: int, chunk: int, seed: int, deadline: float, hang: float, trace_every: int
         ) -> Iterator[tuple[str, int, int, float, float, int]]:
    """Round-robin chunks over the targets so a --seconds cut leaves every target fuzzed."""
    per = {n: budget // len(names) + (1 if i < budget % len(names) else 0) for i, n in enumerate(names)}
    k = 0
    while any(per.values()):
        for name in names:
            take = min(chunk, per[name])
            if take:
                per[name] -= take
                yield (name, take, seed * 1_000_003 + k, deadline, hang, trace_every)
                k += 1


@dataclass
class Report:
    rows: dict[str, Stats]
    crashes: list[Crash]
    wall: float

    @property
    def total_inputs(self) -> int:
        return sum(s.inputs for s in self.rows.values())

    @property
    def total_crashes(self) -> int:
        return sum(s.crashes for s in self.rows.values())


def fuzz(
    names: list[str],
    *,
    budget: int,
    seconds: float | None = None,
    workers: int = 2,
    seed: int = 1,
    hang: float = 1.0,
    chunk: int = 2000,
    trace_every: int = 16,
    progress: Callable[[str], None] | None = None,
) -> Report:
    deadline = time.time() + seconds if seconds else float("inf")
    tasks = list(plan(names, budget, chunk, seed, deadline, hang, trace_every))
    rows = {n: Stats() for n in names}
    crashes: list[Crash] = []
    seen: set[str] = set()
    t0 = time.perf_counter()

    def absorb(name: str, stats: Stats, found: list[Crash]) -> None:
        r = rows[name]
        r.inputs += stats.inputs
        r.rejections += stats.rejections
        r.accepts += stats.accepts
        r.crashes += stats.crashes
        r.seconds += stats.seconds
        r.corpus = max(r.corpus, stats.corpus)
        r.edges = max(r.edges, stats.edges)
        r.outcomes = max(r.outcomes, stats.outcomes)
        for c in found:
            if c.signature not in seen:
                seen.add(c.signature)
                crashes.append(c)

    done = 0
    if workers <= 1:
        for task in tasks:
            absorb(*run_task(task))
            done += 1
            if progress and done % 20 == 0:
                progress(f"{done}/{len(tasks)} chunks, {sum(s.inputs for s in rows.values())} inputs")
    else:
        ctx = mp.get_context("fork")
        with ctx.Pool(min(workers, 2), initializer=_init_worker, maxtasksperchild=None) as pool:
            for result in pool.imap_unordered(run_task, tasks):
                absorb(*result)
                done += 1
                if progress and done % 20 == 0:
                    progress(f"{done}/{len(tasks)} chunks, {sum(s.inputs for s in rows.values())} inputs")
    return Report(rows, crashes, time.perf_counter() - t0)


def save_crashes(crashes: list[Crash], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for c in crashes:
        h = hashlib.sha256(c.data).hexdigest()[:16]
        path = directory / f"{c.target}-{h}.bin"
        path.write_bytes(c.data)
        (directory / f"{c.target}-{h}.txt").write_text(f"{c.signature}\n\n{c.trace}")
        out.append(path)
    return out


def format_table(report: Report) -> str:
    head = f"{'decoder':<16} {'inputs':>9} {'rejections':>10} {'accepts':>8} {'crashes':>7} {'time s':>8} " \
           f"{'inputs/s':>8} {'corpus':>6} {'edges':>6}"
    lines = [head, "-" * len(head)]
    for name, s in report.rows.items():
        rate = s.inputs / s.seconds if s.seconds else 0.0
        lines.append(
            f"{name:<16} {s.inputs:>9} {s.rejections:>10} {s.accepts:>8} {s.crashes:>7} {s.seconds:>8.1f} "
            f"{rate:>8.0f} {s.corpus:>6} {s.edges:>6}"
        )
    tot = Stats()
    for s in report.rows.values():
        tot.inputs += s.inputs
        tot.rejections += s.rejections
        tot.accepts += s.accepts
        tot.crashes += s.crashes
        tot.seconds += s.seconds
    lines.append("-" * len(head))
    lines.append(
        f"{'TOTAL':<16} {tot.inputs:>9} {tot.rejections:>10} {tot.accepts:>8} {tot.crashes:>7} {tot.seconds:>8.1f}"
        f"   (wall {report.wall:.1f} s)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=int, default=1_000_000, help="total inputs over all decoders")
    ap.add_argument("--seconds", type=float, default=None, help="stop after this long (wall clock)")
    ap.add_argument("--workers", type=int, default=2, help="processes (at most 2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hang", type=float, default=1.0, help="seconds one input may take")
    ap.add_argument("--chunk", type=int, default=2000, help="inputs per task")
    ap.add_argument("--trace-every", type=int, default=16, help="trace 1 in N inputs for coverage (0 = off)")
    ap.add_argument("--only", default="", help="comma-separated decoder names")
    ap.add_argument("--crash-dir", default=str(Path(tempfile.gettempdir()) / "fuzz-long-crashes"),
                    help="where crashing inputs are written (copy them to tests/fuzz_corpus/<decoder>/ once fixed)")
    ap.add_argument("--list", action="store_true", help="list the decoders (and opt-in targets) and exit")
    args = ap.parse_args(argv)
    names = list(build_targets())
    if args.list:
        print("\n".join(names + [f"{n} (opt-in)" for n in extra_targets()]))
        return 0
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names and n not in extra_targets()]
        if unknown:
            print(f"unknown decoder(s) {unknown}; known: {names}", file=sys.stderr)
            return 2
        names = wanted
    if not SHARED.exists():
        print(f"seed vectors not found at {SHARED}", file=sys.stderr)
        return 2
    report = fuzz(
        names,
        budget=args.budget,
        seconds=args.seconds,
        workers=args.workers,
        seed=args.seed,
        hang=args.hang,
        chunk=args.chunk,
        trace_every=args.trace_every,
        progress=lambda s: print(s, file=sys.stderr, flush=True),
    )
    print(format_table(report))
    if report.crashes:
        paths = save_crashes(report.crashes, Path(args.crash_dir))
        print(f"\n{report.total_crashes} crashing inputs, {len(report.crashes)} distinct; saved to {args.crash_dir}:")
        for c, p in zip(report.crashes, paths, strict=True):
            print(f"  {c.signature}  ->  {p.name}")
        return 1
    print(f"\n0 crashes in {report.total_inputs} inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
