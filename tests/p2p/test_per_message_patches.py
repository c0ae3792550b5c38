"""libp2p_patches 11-14 (per-message costs): an envelope is verified once per message, never once for a
copy that differs; the verdicts of patch 7 stay as they were."""

from __future__ import annotations

from typing import Any

from p2p import libp2p_patches
from p2p.gossip import EPOCH_PROOF_QUOTE_TOPIC
from p2p.libp2p_patches import VerifiedEnvelopes, envelope_problem
from tests.p2p.attacker import Attacker
from tests.p2p.test_containment import MESHSUB, _fees, attacker_on, live_net
from tests.p2p.test_network import make_quote, wait_for


def _copy(msg: Any, **changes: Any) -> Any:
    from libp2p.pubsub.pb import rpc_pb2

    out = rpc_pb2.Message()
    out.CopyFrom(msg)
    for k, v in changes.items():
        setattr(out, k, v)
    return out


def test_exact_copies_are_known_altered_ones_are_not() -> None:
    a = Attacker()
    msg = a.message(EPOCH_PROOF_QUOTE_TOPIC, b"quote bytes")
    cache = VerifiedEnvelopes(max_entries=2)
    assert not cache.known(msg)
    assert envelope_problem(msg) is None
    cache.remember(msg)
    assert cache.known(_copy(msg))  # what each further mesh peer delivers
    # same (from, seqno), anything the signature covers or the signature itself changed: checked in full
    for forged in (_copy(msg, data=b"other bytes"), _copy(msg, signature=bytes(64)),
                   _copy(msg, key=b"\x08\x02\x12\x21" + bytes(33))):
        assert not cache.known(forged)
        assert envelope_problem(forged) is not None
    assert cache.statistics()["hits"] == 1
    # bounded: the oldest entry goes first
    others = [a.message(EPOCH_PROOF_QUOTE_TOPIC, bytes([i])) for i in range(2)]
    for m in others:
        cache.remember(m)
    assert cache.statistics()["entries"] == 2
    assert not cache.known(msg) and all(cache.known(m) for m in others)


async def test_forged_copy_of_an_accepted_message_is_still_rejected_and_scored() -> None:
    async with live_net() as net, attacker_on(net) as a:
        good = make_quote(fee=next(_fees))
        msg = a.message(EPOCH_PROOF_QUOTE_TOPIC, good.to_bytes())
        await a.send(MESHSUB, a.rpc(msg), wait=0.3)
        await wait_for(lambda: good in net.node.get_epoch_proof_quotes(1))
        hits = libp2p_patches.verified_envelopes.statistics()["hits"]
        await a.send(MESHSUB, a.rpc(_copy(msg)), wait=0.3)  # an exact copy: known, dropped as seen
        await wait_for(lambda: libp2p_patches.verified_envelopes.statistics()["hits"] > hits)
        assert net.guard_stats()["envelope_rejected"] == 0
        # the same from+seqno and signature over other data: rejected and scored, as without the cache
        other = make_quote(fee=next(_fees))
        await a.send(MESHSUB, a.rpc(_copy(msg, data=other.to_bytes())), wait=0.3)
        await wait_for(lambda: net.guard_stats()["envelope_rejected"] >= 1)
        assert net.svc.scoring.score(a.peer_id) < 0
        assert other not in net.node.get_epoch_proof_quotes(1)


def test_nodes_message_splices_records_exactly_as_rlp_encodes_them() -> None:
    """NODES answers splice each record's RLP instead of re-encoding it: byte-identical output, and the
    decoder reads back the same records (0, 1 and many records; short and long list headers)."""
    import os

    import rlp

    from p2p.discv5.messages import NODES, Nodes, decode_message, encode_message
    from p2p.enr import Enr

    enrs = [Enr.create(os.urandom(31) + b"\x01", ip="127.0.0.1", tcp=40000 + i, udp=40000 + i) for i in range(5)]
    for records in ([], enrs[:1], enrs):
        for request_id, total in ((b"\x01", 1), (os.urandom(8), 3)):
            msg = Nodes(request_id, total, tuple(records))
            expected = bytes([NODES]) + bytes(rlp.encode(
                [request_id, total.to_bytes(1, "big"), [rlp.decode(e.to_rlp()) for e in records]]))
            assert encode_message(msg) == expected
            assert decode_message(encode_message(msg)) == msg
