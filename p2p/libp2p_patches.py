"""Every runtime change we make to py-libp2p 0.8.1, in one place, one comment each.

`apply()` is idempotent and is called by `p2p.libp2p_host` before a host is built. Nothing else in
the code base touches py-libp2p internals.
"""

from __future__ import annotations

from typing import Any, Final

AZTEC_IDENTIFY_PROTOCOL: Final = "/aztec/id/1.0.0"
AZTEC_IDENTIFY_PUSH_PROTOCOL: Final = "/aztec/id/push/1.0.0"
SUBSCRIPTION_CHANNEL_SIZE: Final = 256

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    import libp2p.host.basic_host as basic_host
    import libp2p.pubsub.gossipsub as gossipsub
    import libp2p.pubsub.pubsub as pubsub
    from libp2p.custom_types import TProtocol

    # 1. Outbound identify: Aztec (js identify with protocolPrefix 'aztec') only serves
    #    /aztec/id/1.0.0; py-libp2p dials the module-global `IdentifyID` (/ipfs/id/1.0.0), which makes
    #    every connection to an Aztec node log a failed negotiation. Our own hosts serve both ids.
    basic_host.IdentifyID = TProtocol(AZTEC_IDENTIFY_PROTOCOL)  # type: ignore[attr-defined]

    # 2. GossipSub._check_equivocation is a non-spec check that stores every message ever seen in a
    #    dict that is never pruned (unbounded memory). Under StrictSign the signature already binds
    #    from+seqno to the content, so the check adds nothing: make it a no-op.
    def _no_equivocation_check(self: Any, msg: Any) -> bool:
        return True

    gossipsub.GossipSub._check_equivocation = _no_equivocation_check  # type: ignore[method-assign]

    # 3. The per-topic subscription channel is only 32 deep and drops (with a warning per message)
    #    when the reader lags. Our intake happens in the topic validator and the subscription is only
    #    drained, but a deeper channel keeps bursts from spamming warnings.
    pubsub.SUBSCRIPTION_CHANNEL_SIZE = SUBSCRIPTION_CHANNEL_SIZE

    # 4. pubsub.signature_validator raises instead of answering False when a message's `key` field is
    #    not a valid public key (ValueError from coincurve) or a topic id is not UTF-8 (proto2 hands it
    #    over as bytes, rebuilding the signed payload raises UnicodeDecodeError); in push_msg that
    #    exception ends pubsub (found by bench/fuzz_long.py). A signature we cannot check is invalid.
    _signature_validator = pubsub.signature_validator  # type: ignore[attr-defined]

    def _signature_validator_no_raise(msg: Any) -> bool:
        try:
            return bool(_signature_validator(msg))
        except Exception:
            return False

    pubsub.signature_validator = _signature_validator_no_raise  # type: ignore[attr-defined]

    _applied = True
