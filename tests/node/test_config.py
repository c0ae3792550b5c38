from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.config import VARS, ConfigError, HostPort, NodeConfig, config_table_markdown, load_config


def test_defaults() -> None:
    c = load_config({})
    assert c == NodeConfig()
    assert c.l1_chain_id == 31337 and c.prover_agent_concurrency == 1 and not c.p2p_enabled
    assert c.target_escrow_amount == c.prover_minimum_escrow_amount


def test_seed_variables_parse() -> None:
    env = {
        "ETHEREUM_HOST": "http://127.0.0.1:8545/",
        "L1_CHAIN_ID": "11155111",
        "DATA_DIRECTORY": "/tmp/x",
        "AZTEC_PORT": "8081",
        "PROVER_PUBLISHER_PRIVATE_KEY": "0x" + "11" * 32,
        "PROVER_AGENT_ENABLED": "false",
        "P2P_ENABLED": "true",
        "PROVER_COORDINATION_NODE_URL": "http://127.0.0.1:9000",
        "BOOT_NODE_URL": "enr:-abc",
        "AZTEC_NODE_URL": "http://127.0.0.1:8080",
        "PROVER_BROKER_HOST": "http://127.0.0.1:8082",
        "PROVER_AGENT_CONCURRENCY": "4",
        "PROVER_REAL_PROOFS": "false",
        "LOG_LEVEL": "verbose",
        "LOG_JSON": "1",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:4318/v1/metrics",
        "PROVER_MINIMUM_ESCROW_AMOUNT": "1000",
        "PROVER_TARGET_ESCROW_AMOUNT": "5000",
        "QUOTE_PROVIDER_URL": "http://127.0.0.1:9999/quote",
        "QUOTE_PROVIDER_BASIS_POINT_FEE": "250",
        "QUOTE_PROVIDER_BOND_AMOUNT": "2000",
        "PROVER_NODE_POLLING_INTERVAL_MS": "500",
        "P2P_TCP_LISTEN_ADDR": "127.0.0.1:40401",
        "PEER_ID_PRIVATE_KEY": "08021220" + "22" * 32,
        "BOOTSTRAP_NODES": "enr:-a, enr:-b,",
    }
    c = load_config(env)
    assert c.ethereum_host == "http://127.0.0.1:8545"
    assert c.l1_chain_id == 11155111 and c.data_directory == Path("/tmp/x") and c.aztec_port == 8081
    assert c.prover_publisher_private_key == b"\x11" * 32
    assert c.p2p_enabled and not c.prover_agent_enabled and c.log_json and c.log_level == "verbose"
    assert c.prover_agent_concurrency == 4 and c.target_escrow_amount == 5000
    assert c.quote_provider_basis_point_fee == 250 and c.quote_provider_bond_amount == 2000
    assert c.prover_node_polling_interval_ms == 500
    assert c.p2p_tcp_listen_addr == HostPort("127.0.0.1", 40401)
    assert c.peer_id_private_key == b"\x22" * 32
    assert c.bootstrap_nodes == ("enr:-a", "enr:-b")


def test_all_errors_reported_at_once() -> None:
    with pytest.raises(ConfigError) as e:
        load_config({
            "L1_CHAIN_ID": "x", "PROVER_AGENT_CONCURRENCY": "0", "QUOTE_PROVIDER_BASIS_POINT_FEE": "10001",
            "ETHEREUM_HOST": "localhost:8545", "PROVER_PUBLISHER_PRIVATE_KEY": "0x1234", "P2P_ENABLED": "maybe",
            "P2P_TCP_LISTEN_ADDR": "1.2.3.4", "LOG_LEVEL": "loud",
        })
    msg = str(e.value)
    for name in ("L1_CHAIN_ID", "PROVER_AGENT_CONCURRENCY", "QUOTE_PROVIDER_BASIS_POINT_FEE", "ETHEREUM_HOST",
                 "PROVER_PUBLISHER_PRIVATE_KEY", "P2P_ENABLED", "P2P_TCP_LISTEN_ADDR", "LOG_LEVEL"):
        assert name in msg


def test_target_below_minimum_rejected() -> None:
    with pytest.raises(ConfigError, match="PROVER_TARGET_ESCROW_AMOUNT"):
        load_config({"PROVER_MINIMUM_ESCROW_AMOUNT": "5000", "PROVER_TARGET_ESCROW_AMOUNT": "10"})


def test_ipv6_host_port() -> None:
    assert load_config({"P2P_UDP_LISTEN_ADDR": "[::1]:9000"}).p2p_udp_listen_addr == HostPort("::1", 9000)


def test_table_lists_every_var() -> None:
    table = config_table_markdown()
    assert all(f"`{v.env}`" in table for v in VARS)


@given(st.dictionaries(st.sampled_from([v.env for v in VARS]), st.text(max_size=80), max_size=8))
def test_any_env_gives_config_or_config_error(env: dict[str, str]) -> None:
    try:
        c = load_config(env)
    except ConfigError as e:
        assert str(e).startswith("invalid configuration")
    else:
        assert isinstance(c, NodeConfig)


def test_readme_config_table_is_generated_from_code() -> None:
    from tests.conftest import REPO

    assert config_table_markdown() in (REPO / "README.md").read_text(), "run: python -m node --help-env"
