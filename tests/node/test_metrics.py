"""Role metrics (node/metrics.py): names and labels, the p2p/L1/agent collectors, the Grafana dashboard
against what a registry exposes, the OTLP push decoded by a local listener, the README list."""

from __future__ import annotations

import json
import math
import re
from functools import partial
from pathlib import Path
from typing import Any

import h11
import pytest
import trio
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client import CollectorRegistry, generate_latest

from node.l1.rules import ProofClaim
from node.metrics import (
    BROKER_METRICS,
    CATALOG,
    AgentCollector,
    AgentJobTimer,
    L1Collector,
    NodeMetrics,
    OtlpPusher,
    P2PCollector,
    build_info,
    exposed_names,
    metrics_markdown,
    new_registry,
)
from node.prover_node.monitor import ChainView
from node.prover_node.node import quote_outcome
from proving.agent import AgentPool
from proving.broker.core import ProvingBroker
from proving.types import ProvingJob, ProvingRequestType

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops" / "grafana" / "aztec-py-node.json"
ME, OTHER = b"\x01" * 20, b"\x02" * 20

# the shape of p2p.service.P2PService.statistics() (the parts the collector reads)
P2P_STATS: dict[str, Any] = {
    "peer_id": "16Uiu2",
    "peers": 3,
    "peers_by_direction": {"inbound": 1, "outbound": 2, "unknown": 0},
    "gossip": {
        "topics": {
            "/aztec/tx/0.1.0": {"received": 9, "accepted": 5, "rejected": 1, "ignored": 1, "duplicates": 2,
                                "rate_limited": 0, "graylisted": 0, "queue_full_dropped": 1, "processed": 4},
            "/aztec/epoch_proof_quote/0.1.0": {"received": 2, "accepted": 2, "rejected": 0, "ignored": 0,
                                               "duplicates": 0, "rate_limited": 0, "graylisted": 0,
                                               "queue_full_dropped": 0, "processed": 2},
        },
        "queues": {"/aztec/tx/0.1.0": 1, "/aztec/epoch_proof_quote/0.1.0": 0},
    },
    "quote_pool": {"quotes": 2},
    "tx_pool": {"pending": 4},
    "peer_manager": {"dials": 5, "dial_failures": 2},
    "published": 7,
}


class _L1Stats:
    """What L1Collector reads of node.l1.client.L1Client: statistics() and reachability.reachable."""

    class _Reach:
        reachable = False

    reachability = _Reach()

    def statistics(self) -> dict[str, int]:
        return {"calls": 10, "retries": 3, "transactions": 2, "reverts": 1}


# label values known only when the event happens (job type x outcome, slot outcomes set by the Sequencer)
FIRST_EVENT_LABELS = {"aztec_prover_agent_jobs_total", "aztec_sequencer_slots_total",
                      "aztec_proving_jobs_enqueued_total", "aztec_proving_jobs_settled_total"}


def full_registry() -> CollectorRegistry:
    """A registry with everything a node running every role exports."""
    reg = new_registry()
    NodeMetrics(reg)
    build_info(reg, ["p2p", "prover", "prover_node", "sequencer"])
    reg.register(P2PCollector(lambda: P2P_STATS))
    reg.register(L1Collector(lambda: _L1Stats()))
    broker = ProvingBroker(None, registry=reg)
    pool = AgentPool(broker, 2)
    reg.register(AgentCollector(lambda: pool))
    return reg


def sample(reg: CollectorRegistry, name: str, **labels: str) -> float:
    v = reg.get_sample_value(name, labels)
    assert v is not None, f"{name}{labels} not exposed"
    return v


def test_names_follow_prometheus_usage() -> None:
    for s in (*CATALOG, *BROKER_METRICS):
        assert re.fullmatch(r"aztec_[a-z0-9_]+", s.name), s.name
        assert s.name.endswith("_total") == (s.kind == "counter"), s.name
        assert "/" not in s.name and "0_1_0" not in s.name  # no topic in a metric name
    names = [s.name for s in CATALOG]
    assert len(names) == len(set(names))


def test_every_catalog_metric_is_exposed_with_its_labels() -> None:
    reg = full_registry()
    exposed = exposed_names(reg)
    for s in (*CATALOG, *BROKER_METRICS):
        base = s.name if s.kind != "histogram" else s.name + "_count"
        if (s.kind == "histogram" and s.labels) or s.name in FIRST_EVENT_LABELS:
            continue  # appear with their first observation (checked below)
        assert base in exposed or s.name + "_bucket" in exposed, s.name


def test_p2p_statistics_become_labelled_metrics() -> None:
    reg = CollectorRegistry()
    reg.register(P2PCollector(lambda: P2P_STATS))
    text = generate_latest(reg).decode()
    assert "aztec_tx" not in text and "0_1_0" not in text  # the old per-topic gauge names are gone
    assert sample(reg, "aztec_p2p_gossip_messages_total", topic="tx", verdict="accepted") == 5
    assert sample(reg, "aztec_p2p_gossip_messages_total", topic="tx", verdict="duplicate") == 2
    assert sample(reg, "aztec_p2p_gossip_messages_total", topic="epoch_proof_quote", verdict="accepted") == 2
    assert sample(reg, "aztec_p2p_gossip_dropped_total", topic="tx") == 1
    assert sample(reg, "aztec_p2p_gossip_queue_depth", topic="tx") == 1
    assert sample(reg, "aztec_p2p_peers", direction="outbound") == 2
    assert sample(reg, "aztec_p2p_peers", direction="inbound") == 1
    assert sample(reg, "aztec_p2p_dials_total", result="failed") == 2
    assert sample(reg, "aztec_p2p_dials_total", result="ok") == 3
    assert sample(reg, "aztec_p2p_tx_pool_txs") == 4


def test_p2p_collector_before_p2p_runs_exports_nothing() -> None:
    reg = CollectorRegistry()
    reg.register(P2PCollector(lambda: None))
    assert exposed_names(reg) == set()


def test_l1_collector() -> None:
    reg = CollectorRegistry()
    reg.register(L1Collector(lambda: _L1Stats()))
    assert sample(reg, "aztec_l1_errors_total", kind="transient") == 3
    assert sample(reg, "aztec_l1_errors_total", kind="revert") == 1
    assert sample(reg, "aztec_l1_requests_total") == 10
    assert sample(reg, "aztec_l1_up") == 0


def test_agent_timer_and_utilisation() -> None:
    reg = CollectorRegistry()
    m = NodeMetrics(reg)
    now = [100.0]
    timer = AgentJobTimer(m, clock=lambda: now[0])
    job = ProvingJob("j1", ProvingRequestType.BASE_PARITY, 1, "data:,", 0)
    timer.taken(job)
    now[0] += 2.5
    timer.finished(job, "applied")
    assert sample(reg, "aztec_prover_agent_jobs_total", type="BASE_PARITY", outcome="applied") == 1
    assert sample(reg, "aztec_prover_agent_job_seconds_sum", type="BASE_PARITY") == 2.5
    assert sample(reg, "aztec_prover_agent_job_seconds_bucket", type="BASE_PARITY", le="5.0") == 1
    assert sample(reg, "aztec_prover_agent_job_seconds_bucket", type="BASE_PARITY", le="1.0") == 0
    pool = AgentPool(ProvingBroker(None, registry=CollectorRegistry()), 4)
    pool._current["x"] = ProvingRequestType.MERGE_ROLLUP  # one slot busy
    reg.register(AgentCollector(lambda: pool))
    assert sample(reg, "aztec_prover_agents") == 4
    assert sample(reg, "aztec_prover_agent_utilisation_ratio") == 0.25


def test_metrics_of_roles_not_run_stay_off_the_registry() -> None:
    reg = CollectorRegistry()
    m = NodeMetrics(reg, {"sequencer"})
    m.quotes_sent.inc()  # a prover-node metric: counted, but not exported by this node
    names = exposed_names(reg)
    assert "aztec_sequencer_quotes_seen_total" in names
    assert not any(n.startswith("aztec_prover_") for n in names)


def _view(slot: int, epoch_to_prove: int | None, claim: ProofClaim | None) -> ChainView:
    return ChainView(slot, 4, 2, 10, 5, epoch_to_prove, claim)


def _claim(epoch: int, who: bytes) -> ProofClaim:
    return ProofClaim(epoch, 100, 1000, who, OTHER)


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        (_view(5, 1, None), None),  # window still open, no claim
        (_view(5, 1, _claim(1, ME)), "claimed"),
        (_view(5, 1, _claim(1, OTHER)), "other_prover"),
        (_view(6, 1, None), "unclaimed"),  # quote expired (valid until slot 5)
        (_view(5, 2, None), "unclaimed"),  # the epoch left the proving window without our claim
        (_view(5, 1, _claim(0, ME)), None),  # a claim for another epoch says nothing about ours
    ],
)
def test_quote_outcome(view: ChainView, expected: str | None) -> None:
    assert quote_outcome(1, 5, view, ME) == expected


# ---------------------------------------------------------------- the dashboard

_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "by", "without", "rate", "increase", "irate", "histogram_quantile",
    "clamp_min", "clamp_max", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset",
    "bool", "topk", "bottomk", "abs", "delta", "deriv", "time", "vector", "scalar", "le", "inf", "nan",
}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords, label names
    (inside {...} or by(...)), durations ([5m]) or Grafana variables ($__rate_interval)."""
    e = re.sub(r'"[^"]*"', '""', expr)  # label values
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges
    e = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", e)  # grouping labels
    e = re.sub(r"\$\w+", "", e)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word = m.group(0)
        after = e[m.end():].lstrip()
        if word in _PROMQL_WORDS or after.startswith("("):
            continue
        names.add(word)
    return names


def test_promql_name_parser() -> None:
    assert promql_metric_names(
        'histogram_quantile(0.9, sum by (le, type) (rate(aztec_x_bucket{job="a"}[$__rate_interval])))'
    ) == {"aztec_x_bucket"}
    assert promql_metric_names("sum(a_total) / clamp_min(sum(b), 1)") == {"a_total", "b"}


def dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    return exprs


def test_every_dashboard_query_names_an_exported_metric() -> None:
    reg = full_registry()
    # labelled histograms appear with their first observation
    reg2 = CollectorRegistry()
    m2 = NodeMetrics(reg2)
    m2.agent_job_seconds.labels("BASE_PARITY").observe(1)
    m2.agent_jobs.labels("BASE_PARITY", "applied").inc()
    m2.slots.labels("proposed").inc()
    bm = ProvingBroker(None, registry=reg2).metrics  # the broker's per-job metrics, as a job passes
    bm.enqueued.labels("BASE_PARITY").inc()
    bm.settled.labels("BASE_PARITY", "fulfilled").inc()
    bm.wait.labels("BASE_PARITY").observe(0.1)
    bm.proving.labels("BASE_PARITY").observe(0.1)
    exposed = exposed_names(reg) | exposed_names(reg2)
    used: set[str] = set()
    for expr in dashboard_queries():
        names = promql_metric_names(expr)
        assert names, expr
        missing = names - exposed
        assert not missing, f"{expr}: {missing} not exported"
        used |= names
    # and the dashboard draws every role: prover node, sequencer, agents, broker, L1, p2p
    for prefix in ("aztec_prover_epoch", "aztec_sequencer_", "aztec_prover_agent", "aztec_proving_", "aztec_l1_",
                   "aztec_p2p_"):
        assert any(n.startswith(prefix) for n in used), prefix


def test_dashboard_is_grafana_json() -> None:
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        assert {"gridPos", "type", "title"} <= set(p)
        for t in p.get("targets", []):
            assert t["refId"] and t["expr"]


# ---------------------------------------------------------------- OTLP


class OtlpListener:
    """A local OTLP/HTTP collector: decodes each POST body as an ExportMetricsServiceRequest."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[ExportMetricsServiceRequest] = []
        self.paths: list[str] = []
        self.status = status
        self.got = trio.Event()

    async def serve(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        body = b""
        path = ""
        async with stream:
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(ev, h11.Request):
                    path = ev.target.decode()
                elif isinstance(ev, h11.Data):
                    body += ev.data
                elif isinstance(ev, h11.EndOfMessage):
                    req = ExportMetricsServiceRequest()
                    req.ParseFromString(body)
                    self.requests.append(req)
                    self.paths.append(path)
                    self.got.set()
                    out = conn.send(h11.Response(status_code=self.status, headers=[("content-length", "0")]))
                    await stream.send_all((out or b"") + (conn.send(h11.EndOfMessage()) or b""))
                    return
                else:
                    return


async def test_otlp_push_through_the_sdk_exporter_decodes_at_the_collector() -> None:
    reg = CollectorRegistry()
    m = NodeMetrics(reg)
    m.quotes_sent.inc(3)
    m.epochs.labels("proven").inc()
    m.escrow_deposit.set(5000)
    for v in (3.0, 30.0, 300.0):
        m.deadline_slack.observe(v)
    listener = OtlpListener()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, listener.serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        pusher = OtlpPusher(f"http://127.0.0.1:{port}", reg, "test-node", timeout=5)
        await pusher.push_once()
        nursery.cancel_scope.cancel()
    assert listener.paths == ["/v1/metrics"]
    (req,) = listener.requests
    rm = req.resource_metrics[0]
    assert {a.key: a.value.string_value for a in rm.resource.attributes}["service.name"] == "test-node"
    metrics = {mm.name: mm for sm in rm.scope_metrics for mm in sm.metrics}
    sent = metrics["aztec_prover_quotes_sent_total"]
    assert sent.sum.is_monotonic and sent.sum.aggregation_temporality == 2  # cumulative
    assert sent.sum.data_points[0].as_double == 3
    points = metrics["aztec_prover_epochs_total"].sum.data_points
    epochs = {dp.attributes[0].value.string_value: dp.as_double for dp in points}
    assert epochs == {"proven": 1, "missed": 0, "failed": 0}
    assert metrics["aztec_prover_escrow_deposit_tokens"].gauge.data_points[0].as_double == 5000
    h = metrics["aztec_prover_deadline_slack_seconds"].histogram
    (dp,) = h.data_points
    assert dp.count == 3 and dp.sum == 333
    assert list(dp.explicit_bounds) == [0, 6, 12, 24, 48, 96, 192, 384, 768, 1536, 3072, 6144]
    assert len(dp.bucket_counts) == len(dp.explicit_bounds) + 1
    assert sum(dp.bucket_counts) == 3
    # (0,6], (24,48], (192,384]
    assert dp.bucket_counts[1] == 1 and dp.bucket_counts[4] == 1 and dp.bucket_counts[7] == 1
    # one metric per histogram (not a gauge per bucket), and no Prometheus-only suffixes
    assert not any(n.endswith(("_bucket", "_created")) for n in metrics)


async def test_otlp_collector_errors_are_reported_not_raised_into_the_node(caplog: pytest.LogCaptureFixture) -> None:
    reg = CollectorRegistry()
    NodeMetrics(reg)
    listener = OtlpListener(status=400)  # a collector that refuses (not retried by the exporter)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, listener.serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        pusher = OtlpPusher(f"http://127.0.0.1:{port}/v1/metrics", reg, "n", interval=0.05, timeout=2)
        nursery.start_soon(pusher.run)
        with trio.fail_after(20):
            while pusher.failed < 2:  # noqa: ASYNC110 (the pusher has no event to wait on)
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    assert pusher.pushed == 0 and listener.requests
    assert any("OTLP metrics push failed" in r.getMessage() for r in caplog.records)


def test_nan_eta_is_exported_as_nan() -> None:
    reg = CollectorRegistry()
    m = NodeMetrics(reg)
    m.epoch_progress(10, 0, 2, None, 30.0)
    assert math.isnan(sample(reg, "aztec_prover_epoch_eta_seconds"))
    assert sample(reg, "aztec_prover_epoch_jobs", state="in_flight") == 2


def test_readme_metrics_list_matches_the_catalog() -> None:
    readme = (ROOT / "README.md").read_text()
    assert metrics_markdown() in readme, "README's Metrics list is stale: python -m node.metrics"
