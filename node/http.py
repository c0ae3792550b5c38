"""The node's HTTP endpoint on AZTEC_HOST:AZTEC_PORT: JSON-RPC 2.0 on `POST /` (`node_*`, and the
broker's methods with `--prover-broker`), Prometheus on `GET /metrics`, `GET /health`, `/ready`
and `/status` (node/health.py: 503 while not healthy / not ready), the live epoch view on `GET /`,
`/epoch` and `/api/epoch` (node/live_view.py).

All of it is core.http (one server, one dispatcher for the whole project); this module only
states the node's limits and access: read-only node methods, /health and /metrics are open; the
broker's methods are protected (PROVER_BROKER_AUTH_TOKEN bearer token, or loopback callers when
no token is set).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from prometheus_client import CollectorRegistry

from core.http import AccessPolicy, Dispatcher, HttpLimits, HttpServer, JsonRpcApp
from core.http.server import Response
from node.health import http_response

NODE_LIMITS: Final = HttpLimits(max_connections=512, max_per_client=256, header_timeout=10.0, idle_timeout=60.0)


def node_http_server(
    host: str,
    port: int,
    dispatcher: Dispatcher,
    registry: CollectorRegistry,
    health: Callable[[], dict[str, Any]] | None = None,
    *,
    token: str | None = None,
    limits: HttpLimits = NODE_LIMITS,
    pages: Mapping[str, Callable[[], Response]] | None = None,
) -> HttpServer:
    report = health or (lambda: {"status": "ok", "ready": True})
    app = JsonRpcApp(
        dispatcher,
        registry=registry,
        access=AccessPolicy(token),
        health_route=lambda path: http_response(report(), path),  # node/health.py: 503 when not healthy/ready
        health_paths=("/health", "/ready", "/status"),
        pages=pages,  # node/live_view.py: GET / and /epoch (the live epoch view), /api/epoch (its JSON)
    )
    return HttpServer(app, host, port, limits)
