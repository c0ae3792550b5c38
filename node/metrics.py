"""Metrics: one Prometheus registry per node (served on /metrics by node.http) and an optional OTLP
push (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) of the same metrics through the OpenTelemetry SDK.

Every metric the roles export is declared once, in `CATALOG` (name, type, labels, meaning; the
README's "Metrics" list is `python -m node.metrics`). Names follow Prometheus usage: `aztec_` prefix,
counters end in `_total`, units in the name (`_seconds`, `_tokens`, `_ratio`). Events are counted
where they happen (`NodeMetrics`, handed to the prover node, sequencer, agents); levels that a
component already keeps in its `statistics()` are read at scrape time by collectors
(`P2PCollector`, `L1Collector`, `AgentCollector`), so p2p/ and proving/ never import node/.
The broker's own metrics (`aztec_proving_*`) live in proving/broker/core.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlparse

import trio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger("node.metrics")

Kind = Literal["counter", "gauge", "histogram"]

SLACK_BUCKETS: Final = (0, 6, 12, 24, 48, 96, 192, 384, 768, 1536, 3072, 6144)
EPOCH_BUCKETS: Final = (1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 2400, 4800)
JOB_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


@dataclass(frozen=True, slots=True)
class Spec:
    name: str  # as exposed (counters with their _total)
    kind: Kind
    labels: tuple[str, ...]
    help: str
    source: str  # who exports it (README)


CATALOG: Final[tuple[Spec, ...]] = (
    # --- prover node (node/prover_node)
    Spec("aztec_prover_quotes_sent_total", "counter", (), "Epoch proof quotes signed and sent", "prover node"),
    Spec("aztec_prover_quote_failures_total", "counter", (),
         "Quotes not sent (quote provider, bond top-up or sink failed)", "prover node"),
    Spec("aztec_prover_quotes_claimed_total", "counter", (), "Our quotes claimed on L1 (we must prove)",
         "prover node"),
    Spec("aztec_prover_quotes_lost_total", "counter", ("reason",),
         "Our quotes not claimed: reason=other_prover (another quote won) or unclaimed (window passed)",
         "prover node"),
    Spec("aztec_prover_epochs_started_total", "counter", (), "Epoch proofs started (claims naming us)",
         "prover node"),
    Spec("aztec_prover_epochs_total", "counter", ("result",),
         "Epoch proofs ended: result=proven (submitted), missed (deadline passed), failed (retried)",
         "prover node"),
    Spec("aztec_prover_deadline_slack_seconds", "histogram", (),
         "Seconds left before the proof deadline (end of epoch N+1) when the root proof landed", "prover node"),
    Spec("aztec_prover_epoch_proving_seconds", "histogram", (), "Claim seen to root proof submitted",
         "prover node"),
    Spec("aztec_prover_epoch_jobs", "gauge", ("state",),
         "Jobs of the epoch being proven: state=total (planned), done, in_flight", "prover node"),
    Spec("aztec_prover_epoch_eta_seconds", "gauge", (),
         "Projected seconds until the epoch being proven is done (measured job rate)", "prover node"),
    Spec("aztec_prover_epoch_deadline_seconds", "gauge", (),
         "Seconds until the deadline of the epoch being proven (negative: passed)", "prover node"),
    Spec("aztec_prover_escrow_deposit_tokens", "gauge", (),
         "Our deposit in the ProofCommitmentEscrow (bond token base units)", "prover node"),
    # --- sequencer (node/sequencer)
    Spec("aztec_sequencer_slots_total", "counter", ("outcome",),
         "Slots worked, by outcome (proposed, claimed, not-proposer, no-txs, ..., error)", "sequencer"),
    Spec("aztec_sequencer_txs_included_total", "counter", (), "Txs in the blocks we proposed", "sequencer"),
    Spec("aztec_sequencer_claims_total", "counter", (), "Epoch proof rights we claimed (proposeAndClaim or claim)",
         "sequencer"),
    Spec("aztec_sequencer_quotes_seen_total", "counter", (), "Distinct epoch proof quotes considered", "sequencer"),
    Spec("aztec_sequencer_quote_verdicts_total", "counter", ("verdict",),
         "Quotes considered at a slot: verdict=chosen, higher_fee, expired, rejected_by_rules, rejected_by_l1",
         "sequencer"),
    # --- prover agents (proving/agent.py, wired in node/components.py)
    Spec("aztec_prover_agent_jobs_total", "counter", ("type", "outcome"),
         "Jobs our agents finished: outcome=applied, not-applied, aborted, failed", "agents"),
    Spec("aztec_prover_agent_job_seconds", "histogram", ("type",), "Agent time per job (taken to finished)",
         "agents"),
    Spec("aztec_prover_agents", "gauge", (), "Agent slots (PROVER_AGENT_CONCURRENCY)", "agents"),
    Spec("aztec_prover_agents_busy", "gauge", (), "Agent slots proving a job now", "agents"),
    Spec("aztec_prover_agent_utilisation_ratio", "gauge", (), "Busy agent slots / agent slots", "agents"),
    # --- L1 client (node/l1/client.py statistics)
    Spec("aztec_l1_requests_total", "counter", (), "L1 requests (reads and transactions)", "L1"),
    Spec("aztec_l1_errors_total", "counter", ("kind",),
         "L1 failures: kind=transient (no answer, retried) or revert", "L1"),
    Spec("aztec_l1_transactions_total", "counter", (), "L1 transactions sent", "L1"),
    Spec("aztec_l1_up", "gauge", (), "1 when the last L1 request was answered", "L1"),
    # --- p2p (p2p/service.py statistics)
    Spec("aztec_p2p_peers", "gauge", ("direction",), "Connected peers by direction (inbound, outbound, unknown)",
         "p2p"),
    Spec("aztec_p2p_gossip_messages_total", "counter", ("topic", "verdict"),
         "Gossip messages validated: verdict=accepted, rejected, ignored, duplicate, rate_limited, graylisted",
         "p2p"),
    Spec("aztec_p2p_gossip_dropped_total", "counter", ("topic",),
         "Accepted gossip dropped because the topic's processing queue was full", "p2p"),
    Spec("aztec_p2p_gossip_queue_depth", "gauge", ("topic",), "Accepted gossip waiting to be processed", "p2p"),
    Spec("aztec_p2p_published_total", "counter", (), "Messages we published", "p2p"),
    Spec("aztec_p2p_tx_pool_txs", "gauge", (), "Pending txs in the tx pool", "p2p"),
    Spec("aztec_p2p_quote_pool_quotes", "gauge", (), "Quotes in the epoch proof quote pool", "p2p"),
    Spec("aztec_p2p_dials_total", "counter", ("result",), "Peer dials: result=ok, failed", "p2p"),
    # --- node
    Spec("aztec_py_node_component", "gauge", ("component",), "Components running in this node (1 = enabled)",
         "node"),
)

BROKER_METRICS: Final[tuple[Spec, ...]] = (  # declared in proving/broker/core.py; listed for the README
    Spec("aztec_proving_jobs_enqueued_total", "counter", ("type",), "New jobs", "broker"),
    Spec("aztec_proving_jobs_settled_total", "counter", ("type", "status"), "Settled jobs (fulfilled, rejected)",
         "broker"),
    Spec("aztec_proving_job_timeouts_total", "counter", (), "Jobs whose agent stopped reporting", "broker"),
    Spec("aztec_proving_job_wait_seconds", "histogram", ("type",), "Enqueue to dispatch", "broker"),
    Spec("aztec_proving_job_proving_seconds", "histogram", ("type",), "Dispatch to settlement", "broker"),
    Spec("aztec_proving_jobs", "gauge", ("type", "state"), "Unsettled jobs: state=queued, in_progress", "broker"),
    Spec("aztec_proving_queue_depth", "gauge", ("type",), "Jobs waiting for an agent", "broker"),
    Spec("aztec_proving_jobs_in_progress", "gauge", (), "Jobs held by agents", "broker"),
    Spec("aztec_proving_agents_waiting", "gauge", (), "Agents long-polling for a job", "broker"),
)

_SPECS: Final = {s.name: s for s in CATALOG}


def _base(name: str) -> str:
    return name.removesuffix("_total")


class NodeMetrics:
    """The event-counted metrics of CATALOG, registered on one registry (one per node)."""

    def __init__(self, registry: CollectorRegistry | None = None, sources: Iterable[str] | None = None) -> None:
        """`sources`: which CATALOG sources ("prover node", "sequencer", "agents") this node runs; the
        metrics of the others are kept off `registry` (default: all on it)."""
        self.registry = registry if registry is not None else CollectorRegistry()
        wanted = None if sources is None else set(sources)
        detached = CollectorRegistry()

        def reg(s: Spec) -> CollectorRegistry:
            return self.registry if wanted is None or s.source in wanted else detached

        def counter(name: str) -> Counter:
            s = _SPECS[name]
            return Counter(_base(s.name), s.help, s.labels, registry=reg(s))

        def gauge(name: str) -> Gauge:
            s = _SPECS[name]
            return Gauge(s.name, s.help, s.labels, registry=reg(s))

        def histogram(name: str, buckets: Iterable[float]) -> Histogram:
            s = _SPECS[name]
            return Histogram(s.name, s.help, s.labels, registry=reg(s), buckets=tuple(buckets))

        self.quotes_sent = counter("aztec_prover_quotes_sent_total")
        self.quote_failures = counter("aztec_prover_quote_failures_total")
        self.quotes_claimed = counter("aztec_prover_quotes_claimed_total")
        self.quotes_lost = counter("aztec_prover_quotes_lost_total")
        self.epochs_started = counter("aztec_prover_epochs_started_total")
        self.epochs = counter("aztec_prover_epochs_total")
        self.deadline_slack = histogram("aztec_prover_deadline_slack_seconds", SLACK_BUCKETS)
        self.epoch_proving = histogram("aztec_prover_epoch_proving_seconds", EPOCH_BUCKETS)
        self.epoch_jobs = gauge("aztec_prover_epoch_jobs")
        self.epoch_eta = gauge("aztec_prover_epoch_eta_seconds")
        self.epoch_deadline = gauge("aztec_prover_epoch_deadline_seconds")
        self.escrow_deposit = gauge("aztec_prover_escrow_deposit_tokens")
        self.slots = counter("aztec_sequencer_slots_total")
        self.txs_included = counter("aztec_sequencer_txs_included_total")
        self.seq_claims = counter("aztec_sequencer_claims_total")
        self.quotes_seen = counter("aztec_sequencer_quotes_seen_total")
        self.quote_verdicts = counter("aztec_sequencer_quote_verdicts_total")
        self.agent_jobs = counter("aztec_prover_agent_jobs_total")
        self.agent_job_seconds = histogram("aztec_prover_agent_job_seconds", JOB_BUCKETS)
        # label values known in advance are exported at 0 from the start (rate() and the dashboard
        # see a series before the first event)
        for reason in ("other_prover", "unclaimed"):
            self.quotes_lost.labels(reason)
        for result in ("proven", "missed", "failed"):
            self.epochs.labels(result)
        for state in ("total", "done", "in_flight"):
            self.epoch_jobs.labels(state)
        for verdict in ("chosen", "higher_fee", "expired", "rejected_by_rules", "rejected_by_l1"):
            self.quote_verdicts.labels(verdict)

    def epoch_progress(self, total: int, done: int, in_flight: int, eta: float | None, deadline: float) -> None:
        self.epoch_jobs.labels("total").set(total)
        self.epoch_jobs.labels("done").set(done)
        self.epoch_jobs.labels("in_flight").set(in_flight)
        self.epoch_eta.set(float("nan") if eta is None else eta)
        self.epoch_deadline.set(deadline)


def new_registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    ProcessCollector(registry=reg)
    return reg


def build_info(registry: CollectorRegistry, components: list[str]) -> None:
    s = _SPECS["aztec_py_node_component"]
    g = Gauge(s.name, s.help, s.labels, registry=registry)
    for c in components:
        g.labels(c).set(1)


# ---------------------------------------------------------------- collectors over statistics()


def _topic_name(topic: str) -> str:
    """'/aztec/tx/0.1.0' -> 'tx' (the label value)."""
    parts = [p for p in topic.split("/") if p]
    return parts[1] if len(parts) >= 2 and parts[0] == "aztec" else topic


_GOSSIP_VERDICTS: Final = {"accepted": "accepted", "rejected": "rejected", "ignored": "ignored",
                           "duplicates": "duplicate", "rate_limited": "rate_limited", "graylisted": "graylisted"}


def _num(d: Any, *path: str) -> float:
    for k in path:
        if not isinstance(d, dict):
            return 0.0
        d = d.get(k)
    return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else 0.0


class P2PCollector(Collector):
    """The p2p service's statistics() as labelled metrics (topic and verdict are labels)."""

    def __init__(self, stats: Callable[[], dict[str, Any] | None]) -> None:
        self.stats = stats

    def describe(self) -> list[Metric]:
        return []  # collect() may need the p2p service; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        st = self.stats()
        if st is None:
            return
        peers = GaugeMetricFamily("aztec_p2p_peers", _SPECS["aztec_p2p_peers"].help, labels=["direction"])
        by_dir = st.get("peers_by_direction")
        if isinstance(by_dir, dict):
            for d in ("inbound", "outbound", "unknown"):
                peers.add_metric([d], _num(by_dir, d))
        else:
            peers.add_metric(["unknown"], _num(st, "peers"))
        yield peers
        msgs = CounterMetricFamily("aztec_p2p_gossip_messages", _SPECS["aztec_p2p_gossip_messages_total"].help,
                                   labels=["topic", "verdict"])
        dropped = CounterMetricFamily("aztec_p2p_gossip_dropped", _SPECS["aztec_p2p_gossip_dropped_total"].help,
                                      labels=["topic"])
        depth = GaugeMetricFamily("aztec_p2p_gossip_queue_depth", _SPECS["aztec_p2p_gossip_queue_depth"].help,
                                  labels=["topic"])
        gossip = st.get("gossip") if isinstance(st.get("gossip"), dict) else {}
        assert isinstance(gossip, dict)
        topics = gossip.get("topics") if isinstance(gossip.get("topics"), dict) else {}
        assert isinstance(topics, dict)
        for topic, counts in sorted(topics.items()):
            name = _topic_name(str(topic))
            for key, verdict in _GOSSIP_VERDICTS.items():
                msgs.add_metric([name, verdict], _num(counts, key))
            dropped.add_metric([name], _num(counts, "queue_full_dropped"))
            depth.add_metric([name], _num(gossip, "queues", str(topic)))
        yield msgs
        yield dropped
        yield depth
        pub = CounterMetricFamily("aztec_p2p_published", _SPECS["aztec_p2p_published_total"].help)
        pub.add_metric([], _num(st, "published"))
        yield pub
        txs = GaugeMetricFamily("aztec_p2p_tx_pool_txs", _SPECS["aztec_p2p_tx_pool_txs"].help)
        txs.add_metric([], _num(st, "tx_pool", "pending"))
        yield txs
        quotes = GaugeMetricFamily("aztec_p2p_quote_pool_quotes", _SPECS["aztec_p2p_quote_pool_quotes"].help)
        quotes.add_metric([], _num(st, "quote_pool", "quotes"))
        yield quotes
        dials = CounterMetricFamily("aztec_p2p_dials", _SPECS["aztec_p2p_dials_total"].help, labels=["result"])
        failed = _num(st, "peer_manager", "dial_failures")
        dials.add_metric(["ok"], max(0.0, _num(st, "peer_manager", "dials") - failed))
        dials.add_metric(["failed"], failed)
        yield dials


class L1Collector(Collector):
    """The shared L1 client's statistics() (every role's L1 calls go through one client)."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self.client = client

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        c = self.client()
        if c is None:
            return
        st = c.statistics()
        req = CounterMetricFamily("aztec_l1_requests", _SPECS["aztec_l1_requests_total"].help)
        req.add_metric([], _num(st, "calls"))
        err = CounterMetricFamily("aztec_l1_errors", _SPECS["aztec_l1_errors_total"].help, labels=["kind"])
        err.add_metric(["transient"], _num(st, "retries"))
        err.add_metric(["revert"], _num(st, "reverts"))
        txs = CounterMetricFamily("aztec_l1_transactions", _SPECS["aztec_l1_transactions_total"].help)
        txs.add_metric([], _num(st, "transactions"))
        up = GaugeMetricFamily("aztec_l1_up", _SPECS["aztec_l1_up"].help)
        up.add_metric([], 1.0 if getattr(getattr(c, "reachability", None), "reachable", True) else 0.0)
        yield from (req, err, txs, up)


class AgentCollector(Collector):
    """Agent slots and how many are busy (AgentPool.statistics())."""

    def __init__(self, pool: Callable[[], Any]) -> None:
        self.pool = pool

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        p = self.pool()
        if p is None:
            return
        st = p.statistics()
        total, busy = float(st.concurrency), float(st.busy)
        for name, value in (("aztec_prover_agents", total), ("aztec_prover_agents_busy", busy),
                            ("aztec_prover_agent_utilisation_ratio", busy / total if total else 0.0)):
            g = GaugeMetricFamily(name, _SPECS[name].help)
            g.add_metric([], value)
            yield g


class AgentJobTimer:
    """AgentPool's on_taken / on_finished hooks -> aztec_prover_agent_jobs_total and _job_seconds.
    Bounded: at most one entry per job an agent holds (removed when it finishes)."""

    def __init__(self, metrics: NodeMetrics, clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.clock = clock
        self._taken: dict[str, float] = {}

    def taken(self, job: Any) -> None:
        self._taken[str(job.id)] = self.clock()

    def finished(self, job: Any, outcome: str) -> None:
        began = self._taken.pop(str(job.id), None)
        tname = getattr(job.type, "name", str(job.type))
        self.metrics.agent_jobs.labels(tname, outcome).inc()
        if began is not None:
            self.metrics.agent_job_seconds.labels(tname).observe(max(0.0, self.clock() - began))


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """Every series name the registry exposes (with _total, _bucket, _sum, _count, _created)."""
    return {s.name for fam in registry.collect() for s in fam.samples}


def metrics_markdown() -> str:
    """The README's "Metrics" list."""
    rows = ["| Metric | Type | Labels | Meaning |", "|---|---|---|---|"]
    for s in (*CATALOG, *BROKER_METRICS):
        labels = ", ".join(s.labels) or "-"
        rows.append(f"| `{s.name}` | {s.kind} | {labels} | {s.help} ({s.source}) |")
    return "\n".join(rows)


# ---------------------------------------------------------------- OTLP through the OpenTelemetry SDK


def metrics_data(registry: CollectorRegistry, service_name: str, start_ns: int, now_ns: int) -> Any:
    """The registry's current samples as an OpenTelemetry SDK `MetricsData` (same names as /metrics):
    counters -> cumulative monotonic Sums (named with `_total`), gauges -> Gauges, histograms ->
    cumulative Histograms with explicit bounds and per-bucket counts."""
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        HistogramDataPoint,
        MetricsData,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.sdk.metrics.export import (
        Gauge as OGauge,
    )
    from opentelemetry.sdk.metrics.export import (
        Histogram as OHistogram,
    )
    from opentelemetry.sdk.metrics.export import Metric as OMetric
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    cumulative = AggregationTemporality.CUMULATIVE
    out: list[OMetric] = []
    fam: Metric
    for fam in registry.collect():
        if fam.type == "counter":
            points = [NumberDataPoint(dict(s.labels), start_ns, now_ns, float(s.value))
                      for s in fam.samples if s.name.endswith("_total")]
            if points:
                out.append(OMetric(fam.name + "_total", fam.documentation, None, Sum(points, cumulative, True)))
        elif fam.type == "histogram":
            hpoints = []
            groups: dict[tuple[tuple[str, str], ...], list[Any]] = {}
            for s in fam.samples:
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                groups.setdefault(key, []).append(s)
            for key, samples in groups.items():
                buckets = sorted(
                    ((float(s.labels["le"]), s.value) for s in samples if s.name.endswith("_bucket")),
                    key=lambda b: b[0],
                )
                total = next((s.value for s in samples if s.name.endswith("_count")), 0.0)
                sum_ = next((s.value for s in samples if s.name.endswith("_sum")), 0.0)
                bounds = [le for le, _ in buckets if le != float("inf")]
                cum = [c for _, c in buckets]
                counts = [int(c - (cum[i - 1] if i else 0)) for i, c in enumerate(cum)]
                hpoints.append(HistogramDataPoint(dict(key), start_ns, now_ns, int(total), float(sum_), counts,
                                                  bounds, float("nan"), float("nan")))
            if hpoints:
                out.append(OMetric(fam.name, fam.documentation, None, OHistogram(hpoints, cumulative)))
        elif fam.type in ("gauge", "unknown", "info"):
            gpoints = [NumberDataPoint(dict(s.labels), start_ns, now_ns, float(s.value)) for s in fam.samples]
            if gpoints:
                out.append(OMetric(fam.name, fam.documentation, None, OGauge(gpoints)))
    resource = Resource.create({"service.name": service_name})
    scope = InstrumentationScope("aztec-py-node")
    return MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, out, "")], "")])


class OtlpPusher:
    """Pushes the registry to an OTLP/HTTP endpoint (protobuf, the SDK's OTLPMetricExporter) every
    `interval` seconds. A collector that is down is one warning per failed push; the node keeps running."""

    def __init__(self, endpoint: str, registry: CollectorRegistry, service_name: str, interval: float = 15.0,
                 timeout: float = 10.0) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        # OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is the full URL; a bare host:port gets the usual path
        self.endpoint = endpoint if urlparse(endpoint).path not in ("", "/") else endpoint.rstrip("/") + "/v1/metrics"
        self.registry = registry
        self.service_name = service_name
        self.interval = interval
        self.timeout = timeout
        self.exporter = OTLPMetricExporter(endpoint=self.endpoint, timeout=timeout)
        self.start_ns = time.time_ns()
        self.pushed = 0
        self.failed = 0

    async def push_once(self) -> None:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        data = metrics_data(self.registry, self.service_name, self.start_ns, time.time_ns())
        result = await trio.to_thread.run_sync(
            lambda: self.exporter.export(data, timeout_millis=self.timeout * 1000), abandon_on_cancel=True)
        if result is not MetricExportResult.SUCCESS:
            raise OSError(f"OTLP export to {self.endpoint} failed")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                await trio.sleep(self.interval)
                try:
                    await self.push_once()
                    self.pushed += 1
                except Exception as e:  # a collector that is down or answers garbage never stops the node
                    self.failed += 1
                    log.warning("OTLP metrics push failed: %s", e, extra={"endpoint": self.endpoint})
        finally:
            self.exporter.shutdown()


if __name__ == "__main__":
    print(metrics_markdown())
