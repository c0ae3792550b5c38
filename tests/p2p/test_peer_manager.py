"""PeerManager: P2P_MIN_PEERS redial and P2P_PEER_CHECK_INTERVAL_MS heartbeat, on real libp2p hosts."""

from __future__ import annotations

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
        await wait_for(lambda: b.peer_id in a.host.connected_peers())
        await b.host.disconnect(a.peer_id)
        await wait_for(lambda: b.peer_id not in a.host.connected_peers())
        await wait_for(lambda: b.peer_id in a.host.connected_peers(), limit=10)
        stats = a.peer_manager.statistics()
        assert stats["autodials"] >= 1 and stats["min_peers"] == 1  # type: ignore[operator]
        nursery.cancel_scope.cancel()

