"""The broker's lease, durability and limit variables reach the in-process broker and agents."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.components import build_components
from node.config import ConfigError, load_config


def test_broker_variables_reach_the_broker(tmp_path: Path) -> None:
    cfg = load_config(
        {
            "DATA_DIRECTORY": str(tmp_path),
            "AZTEC_PORT": "0",
            "AZTEC_HOST": "127.0.0.1",
            "PROVER_JOB_TIMEOUT_MS": "2500",
            "PROVER_JOB_POLL_INTERVAL_MS": "200",
            "PROVER_BROKER_JOB_MAX_RETRIES": "5",
            "PROVER_BROKER_DB_SYNC": "normal",
            "PROVER_BROKER_MAX_INLINE_BYTES": "4096",
            "PROVER_BROKER_MAX_QUEUED_JOBS": "77",
        }
    )
    comps = {n.name: n.component for n in build_components(cfg, {"prover_broker"})}
    broker = comps["prover-broker"].broker  # type: ignore[attr-defined]
    m = broker.machine
    assert (m.job_timeout, broker.poll_interval, m.max_attempts, m.max_queued) == (2.5, 0.2, 5, 77)
    assert broker.store.sync == "normal" and broker.store.synchronous() == 1
    assert broker.uri_policy.max_inline == 4096
    assert broker.uri_policy.file_root == (tmp_path / "proofs").resolve()
    broker.store.close()
    with pytest.raises(ConfigError, match="PROVER_BROKER_DB_SYNC"):
        load_config({"PROVER_BROKER_DB_SYNC": "sometimes"})


def test_default_broker_is_power_loss_durable_with_short_leases() -> None:
    cfg = load_config({})
    assert cfg.prover_broker_db_sync == "full"
    assert cfg.prover_job_timeout_ms <= 5 * cfg.prover_agent_poll_interval_ms


def test_lease_shorter_than_two_heartbeats_is_a_config_error() -> None:
    cfg = load_config(
        {"PROVER_JOB_TIMEOUT_MS": "1000", "PROVER_AGENT_POLL_INTERVAL_MS": "1000", "AZTEC_PORT": "0"}
    )
    with pytest.raises(ConfigError, match="PROVER_JOB_TIMEOUT_MS"):
        build_components(cfg, {"prover", "prover_broker"})


def test_a_broker_node_serves_one_connection_per_agent_for_thousands_of_agents(tmp_path: Path) -> None:
    env = {"DATA_DIRECTORY": str(tmp_path), "AZTEC_PORT": "0", "AZTEC_HOST": "127.0.0.1"}
    for roles, extra, want in (
        ({"prover_broker"}, {}, (4096, 2048)),
        ({"prover_broker"}, {"PROVER_BROKER_MAX_CONNECTIONS": "1000"}, (1000, 500)),
        ({"archiver"}, {"PROVER_BROKER_MAX_CONNECTIONS": "1000"}, (512, 256)),  # not a broker: node limits
    ):
        comps = {n.name: n.component for n in build_components(load_config({**env, **extra}), roles)}
        http = comps["http"].inner  # type: ignore[attr-defined]
        assert (http.limits.max_connections, http.limits.max_per_client) == want
        if "prover_broker" in roles:
            comps["prover-broker"].broker.store.close()  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="PROVER_BROKER_MAX_CONNECTIONS"):
        load_config({"PROVER_BROKER_MAX_CONNECTIONS": "3"})
