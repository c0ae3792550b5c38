"""statistics()["peers_by_direction"] on real py-libp2p hosts: the dialer counts an outbound peer, the
dialed one an inbound peer (what node/metrics.py exports as aztec_p2p_peers{direction})."""

from __future__ import annotations

from tests.p2p.test_network import network, wait_for


async def test_peers_by_direction_on_a_real_connection() -> None:
    async with network(2) as (first, second):  # the second dials the first
        await wait_for(lambda: first.statistics()["peers"] == 1 and second.statistics()["peers"] == 1)
        assert first.statistics()["peers_by_direction"] == {"inbound": 1, "outbound": 0, "unknown": 0}
        assert second.statistics()["peers_by_direction"] == {"inbound": 0, "outbound": 1, "unknown": 0}
