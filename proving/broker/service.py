"""BrokerService: the durable broker served over HTTP JSON-RPC (PROVER_BROKER_HOST).

``POST /`` JSON-RPC 2.0 (single or batch), ``GET /metrics`` Prometheus text of the registry the
broker's metrics are registered on, ``GET /health``: core.http's server and app. Every broker
method needs ``auth_token`` (``Authorization: Bearer``) when one is set, else a loopback caller;
binding beyond loopback without a token raises ExposureError.
"""

from __future__ import annotations

from pathlib import Path

import trio
from prometheus_client import REGISTRY, CollectorRegistry

from core.http import AccessPolicy, HttpLimits, HttpServer, JsonRpcApp, check_exposure
from proving.broker.core import DEFAULT_POLL_INTERVAL, ProvingBroker
from proving.broker.rpc import build_dispatcher
from proving.broker.state import (
    DEFAULT_JOB_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_JOBS,
    DEFAULT_MAX_QUEUED,
    DispatchPolicy,
)
from proving.broker.store import SqliteJobStore, SyncMode
from proving.proof_store import UriPolicy

DB_NAME = "broker.sqlite"
AUTH_TOKEN_VAR = "PROVER_BROKER_AUTH_TOKEN"
BROKER_LIMITS = HttpLimits(max_connections=4096, max_per_client=4096, idle_timeout=120.0, max_body=8 << 20)


class BrokerService:
    """Durable broker + JSON-RPC server. ``data_dir=None`` runs in memory (not durable).

    ``run`` calls ``task_status.started((host, port))`` with the bound address (``port=0`` picks
    a free port). ``self.broker`` is the in-process broker, usable directly by an in-process
    orchestrator and agent pool (``--prover``) while remote agents use the JSON-RPC endpoint."""

    def __init__(
        self,
        data_dir: Path | None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sync: SyncMode = "full",
        job_timeout: float = DEFAULT_JOB_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_jobs: int = DEFAULT_MAX_JOBS,
        max_queued: int = DEFAULT_MAX_QUEUED,
        uri_policy: UriPolicy | None = None,
        policy: DispatchPolicy = "priority",
        max_epochs_to_keep: int | None = None,
        limits: HttpLimits = BROKER_LIMITS,
        registry: CollectorRegistry | None = None,
        auth_token: str | None = None,
    ) -> None:
        check_exposure(host, auth_token, what="the prover broker", token_var=AUTH_TOKEN_VAR)
        self.data_dir = data_dir
        self.registry = REGISTRY if registry is None else registry
        store = None if data_dir is None else SqliteJobStore(data_dir / DB_NAME, sync=sync)
        self.broker = ProvingBroker(
            store,
            job_timeout=job_timeout,
            poll_interval=poll_interval,
            max_attempts=max_attempts,
            max_jobs=max_jobs,
            max_queued=max_queued,
            uri_policy=uri_policy,
            policy=policy,
            max_epochs_to_keep=max_epochs_to_keep,
            registry=self.registry,
        )
        self.dispatcher = build_dispatcher(self.broker)
        app = JsonRpcApp(self.dispatcher, registry=self.registry, access=AccessPolicy(auth_token))
        self.server = HttpServer(app, host, port, limits)
        self.address: tuple[str, int] | None = None

    @property
    def url(self) -> str:
        if self.address is None:
            raise RuntimeError("BrokerService is not running")
        return f"http://{self.address[0]}:{self.address[1]}"

    async def run(self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.broker.run)
                port = await nursery.start(self.server.run)
                self.address = (self.server.host, port)
                task_status.started(self.address)
        finally:
            if self.broker.store is not None:
                self.broker.store.close()
