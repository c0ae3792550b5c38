"""node.config is the one parser of the p2p variables: env -> NodeConfig -> p2p.service.P2PConfig."""

from __future__ import annotations

import pytest

from node.config import ConfigError, HostPort, load_config, p2p_config


def test_env_to_p2p_config() -> None:
    c = load_config(
        {
            "PEER_ID_PRIVATE_KEY": "08021220" + "11" * 32,
            "P2P_TCP_LISTEN_ADDR": "0.0.0.0:40400",
            "P2P_TCP_ANNOUNCE_ADDR": "[::1]:40401",
            "L1_CHAIN_ID": "1337",
            "ROLLUP_CONTRACT_ADDRESS": "0x" + "ab" * 20,
            "P2P_STATIC_PEERS": "/ip4/127.0.0.1/tcp/1/p2p/16Uiu2HAkx, ",
            "P2P_MAX_PEERS": "50",
            "P2P_MIN_PEERS": "3",
            "P2P_PEER_CHECK_INTERVAL_MS": "250",
        }
    )
    cfg = p2p_config(c)
    assert cfg.private_key == bytes([0x11]) * 32
    assert cfg.listen_addrs == ("/ip4/0.0.0.0/tcp/40400",)
    assert cfg.announce_addrs == ("/ip6/::1/tcp/40401",)
    assert cfg.chain_id == 1337 and cfg.rollup_address == bytes([0xAB]) * 20
    assert cfg.static_peers == ("/ip4/127.0.0.1/tcp/1/p2p/16Uiu2HAkx",)
    assert (cfg.max_peers, cfg.min_peers, cfg.peer_check_interval) == (50, 3, 0.25)


def test_node_values_win_and_defaults() -> None:
    c = load_config({"ROLLUP_CONTRACT_ADDRESS": "0x" + "ab" * 20})
    cfg = p2p_config(c, private_key=b"\x22" * 32, announce=HostPort("10.0.0.1", 9), rollup_address=b"\x33" * 20,
                     epoch_duration=4)
    assert cfg.private_key == b"\x22" * 32 and cfg.rollup_address == b"\x33" * 20 and cfg.epoch_duration == 4
    assert cfg.announce_addrs == ("/ip4/10.0.0.1/tcp/9",)
    plain = p2p_config(load_config({}))
    assert plain.private_key is None and plain.announce_addrs == () and plain.rollup_address == bytes(20)
    assert (plain.min_peers, plain.peer_check_interval, plain.static_peers) == (10, 1.0, ())


def test_bad_p2p_values_are_named() -> None:
    with pytest.raises(ConfigError) as e:
        load_config({"P2P_MIN_PEERS": "0", "P2P_PEER_CHECK_INTERVAL_MS": "soon", "AZTEC_NODE_MODULES": " "})
    msg = str(e.value)
    assert "P2P_MIN_PEERS" in msg and "P2P_PEER_CHECK_INTERVAL_MS" in msg
