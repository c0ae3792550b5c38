"""PeerManager: P2P_MIN_PEERS redial and P2P_PEER_CHECK_INTERVAL_MS heartbeat, on real libp2p hosts."""

from __future__ import annotations

import socket

import trio

from p2p.client import P2PClient
from p2p.service import P2PConfig, P2PService
from tests.p2p.test_network import wait_for


async def test_below_min_peers_redials_a_lost_peer() -> None:
    """a reaches b once (a discovered peer, not static); b drops the connection. Below P2P_MIN_PEERS, a's
    peer manager dials b again; with min_peers=0 it would not."""
    fast = {"peer_check_interval": 0.05, "autodial_interval": 0.1}
    async with trio.open_nursery() as nursery:
        a = P2PService(P2PConfig(min_peers=1, **fast))  # type: ignore[arg-type]
        b = P2PService(P2PConfig(min_peers=0, **fast))  # type: ignore[arg-type]
        await nursery.start(a.run)
        info_b = await nursery.start(b.run)
        assert a.peer_manager.heartbeat == 0.05 and a.peer_manager.min_peers == 1
        P2PClient(a).add_peer(b.peer_id, info_b.listen_addrs[0])
        await wait_for(lambda: a.peer_manager.statistics()["reached"] == 1)  # dialled and remembered
        assert a.peer_manager.statistics()["autodials"] == 0  # at min_peers: nothing to redial
        await b.host.disconnect(a.peer_id)
        await wait_for(lambda: a.peer_manager.statistics()["autodials"] >= 1, limit=10)  # a noticed, redials
        await wait_for(lambda: b.peer_id in a.host.connected_peers(), limit=10)
        assert a.peer_manager.statistics()["min_peers"] == 1
        nursery.cancel_scope.cancel()



async def test_a_peer_that_is_gone_is_forgotten_after_three_failed_redials() -> None:
    """A peer we once reached whose address now refuses connections is redialled below min_peers, and
    forgotten after 3 failures (the memory of reached peers does not keep dead addresses forever)."""
    gone = P2PService(P2PConfig())  # only for a valid peer id; never started
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: connections are refused
    fast = {"peer_check_interval": 0.05, "autodial_interval": 0.1}
    async with trio.open_nursery() as nursery:
        a = P2PService(P2PConfig(min_peers=1, **fast))  # type: ignore[arg-type]
        await nursery.start(a.run)
        a.peer_manager._remember(gone.peer_id, f"/ip4/127.0.0.1/tcp/{port}/p2p/{gone.peer_id}")  # as after a dial
        await wait_for(lambda: a.peer_manager.statistics()["reached"] == 0, limit=20)
        stats = a.peer_manager.statistics()
        assert stats["autodials"] == 3 and stats["dial_failures"] == 3
        nursery.cancel_scope.cancel()
