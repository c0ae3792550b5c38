"""Prometheus (Debian's package, installed by scripts/bootstrap.sh) scrapes every process of a devnet
(boot node, 3 sequencers, a prover node with broker and agents, a tx bot) until an epoch is proven;
then its query API must return a series for every metric the Grafana dashboard uses, and every
dashboard query must evaluate."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import trio

from interop.test_devnet_e2e import devnet_config
from node.devnet import BOOT_HTTP_OFFSET, Devnet
from tests.node.test_metrics import dashboard_queries, promql_metric_names

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(900)]

PROMETHEUS = shutil.which("prometheus")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_config(targets: dict[str, int]) -> str:
    jobs = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "aztec-py-node",
                                "static_configs": [{"targets": [f"127.0.0.1:{p}"], "labels": {"node": name}}
                                                   for name, p in targets.items()]}]}
    return json.dumps(jobs)  # YAML is a superset of JSON


async def query(client: httpx.AsyncClient, base: str, path: str, **params: str) -> Any:
    r = await client.get(f"{base}{path}?{urlencode(params)}")
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


async def test_prometheus_scrapes_a_devnet_and_returns_the_dashboard_series(tmp_path: Path) -> None:
    assert PROMETHEUS is not None, "prometheus is not installed: scripts/bootstrap.sh installs Debian's package"
    cfg = devnet_config(tmp_path, agents=4)
    http0 = cfg.base_port + BOOT_HTTP_OFFSET
    targets = {"bootnode": http0, **{f"sequencer-{i + 1}": http0 + 1 + i for i in range(cfg.sequencers)},
               "prover-node": http0 + 20, "tx-bot": http0 + 21}
    (tmp_path / "prometheus.yml").write_text(scrape_config(targets))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    prom = await trio.lowlevel.open_process(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
    )
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=10) as client, trio.open_nursery() as nursery:
            await nursery.start(Devnet(cfg, out=lines.append).run)
            ready_after = time.monotonic() - started
            with trio.fail_after(480):
                while True:  # wait on Prometheus' view: an epoch proven by the prover node
                    try:
                        res = await query(client, base, "/api/v1/query",
                                          query='sum(aztec_prover_epochs_total{result="proven"})')
                        if res["result"] and float(res["result"][0]["value"][1]) >= 1:
                            break
                    except httpx.HTTPError:
                        pass
                    await trio.sleep(1)
            proven_after = time.monotonic() - started
            await trio.sleep(3)  # a few more scrapes
            up = await query(client, base, "/api/v1/query", query="up")
            assert {r["metric"]["node"]: r["value"][1] for r in up["result"]} == dict.fromkeys(targets, "1")
            used: set[str] = set()
            for expr in dashboard_queries():
                used |= promql_metric_names(expr)
                await query(client, base, "/api/v1/query", query=expr.replace("$__rate_interval", "1m"))
            missing = []
            for name in sorted(used):
                series = await query(client, base, "/api/v1/series", **{"match[]": name})
                if not series:
                    missing.append(name)
            assert not missing, f"no series in Prometheus for {missing}"
            # real py-libp2p connections carry their direction: both kinds appear across the devnet
            peers = await query(client, base, "/api/v1/query", query="sum by (direction) (aztec_p2p_peers)")
            by_dir = {r["metric"]["direction"]: float(r["value"][1]) for r in peers["result"]}
            assert by_dir.get("inbound", 0) > 0 and by_dir.get("outbound", 0) > 0, by_dir
            slack = await query(client, base, "/api/v1/query", query="sum(aztec_prover_deadline_slack_seconds_count)")
            assert float(slack["result"][0]["value"][1]) >= 1
            print("\n".join(lines))
            print(f"\ndevnet ready after {ready_after:.0f}s, first epoch proven (seen by Prometheus) after "
                  f"{proven_after:.0f}s; {len(used)} dashboard metrics all present; peers {by_dir}")
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            prom.terminate()
            with trio.move_on_after(10):
                await prom.wait()
            if prom.returncode is None:
                prom.kill()
                await prom.wait()
