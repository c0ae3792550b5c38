"""Metrics: one Prometheus registry per node (served on /metrics by node.http), and an optional
OTLP/HTTP JSON pusher for OTEL_EXPORTER_OTLP_METRICS_ENDPOINT."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlparse

import trio
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector
from prometheus_client.metrics_core import Metric

log = logging.getLogger("node.metrics")


def new_registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    ProcessCollector(registry=reg)
    return reg


def build_info(registry: CollectorRegistry, components: list[str]) -> None:
    g = Gauge("aztec_py_node_component", "Components running in this node (1 = enabled)", ["component"],
              registry=registry)
    for c in components:
        g.labels(c).set(1)


def otlp_payload(registry: CollectorRegistry, service_name: str, now_ns: int) -> dict[str, Any]:
    """Convert the registry's current samples to an OTLP ExportMetricsServiceRequest (JSON mapping).

    Counters become cumulative monotonic sums, everything else gauges (histogram buckets are sent as
    their `_bucket`/`_sum`/`_count` series, as Prometheus exposes them).
    """
    metrics: list[dict[str, Any]] = []
    fam: Metric
    for fam in registry.collect():
        for s in fam.samples:
            attrs = [{"key": k, "value": {"stringValue": v}} for k, v in sorted(s.labels.items())]
            point = {"timeUnixNano": str(now_ns), "asDouble": float(s.value), "attributes": attrs}
            if fam.type == "counter" and s.name.endswith("_total"):
                body: dict[str, Any] = {
                    "sum": {"dataPoints": [point], "aggregationTemporality": 2, "isMonotonic": True}
                }
            else:
                body = {"gauge": {"dataPoints": [point]}}
            metrics.append({"name": s.name, "description": fam.documentation, **body})
    return {
        "resourceMetrics": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service_name}}]},
                "scopeMetrics": [{"scope": {"name": "aztec-py-node"}, "metrics": metrics}],
            }
        ]
    }


class OtlpPusher:
    """Pushes the registry to an OTLP/HTTP endpoint every `interval` seconds (JSON encoding).

    A collector that is down only produces a warning; the node keeps running.
    """

    def __init__(self, endpoint: str, registry: CollectorRegistry, service_name: str, interval: float = 15.0) -> None:
        self.endpoint = endpoint
        self.registry = registry
        self.service_name = service_name
        self.interval = interval
        self.pushed = 0
        self.failed = 0

    async def push_once(self) -> None:
        body = json.dumps(otlp_payload(self.registry, self.service_name, time.time_ns())).encode()
        u = urlparse(self.endpoint)
        host, port = u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80)
        path = u.path or "/v1/metrics"
        req = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        with trio.fail_after(10):
            if u.scheme == "https":
                stream: trio.abc.Stream = await trio.open_ssl_over_tcp_stream(host, port)
            else:
                stream = await trio.open_tcp_stream(host, port)
            async with stream:
                await stream.send_all(req)
                head = await stream.receive_some(4096)
        status = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"?"
        if not status.startswith(b"2"):
            raise OSError(f"collector answered HTTP {status.decode(errors='replace')}")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(self.interval)
            try:
                await self.push_once()
                self.pushed += 1
            except (OSError, trio.TooSlowError) as e:
                self.failed += 1
                log.warning("OTLP metrics push failed: %s", e, extra={"endpoint": self.endpoint})
