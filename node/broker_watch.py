"""Is the external prover broker (PROVER_BROKER_HOST) answering? A small watcher for --prover and a
--prover-node with an external broker.

Start-up: one probe with a short timeout; if the broker does not answer, ONE warning line says so
within a few seconds ("PROVER_BROKER_HOST ... unreachable ...: agents keep retrying"), and the node
keeps running: agents and broker are started independently (any order, restarts of either), so an
absent broker is a state the agents wait out, not a start-up mistake. Then a probe every `interval`
seconds; one log line per state change; `/health` reports it (`broker` in the report).
Any HTTP answer counts as reachable (an auth error too: the broker is there).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import trio

from node.health import ComponentHealth, Probe
from node.l1.reachability import CameBack, L1Reachability, WentDown

log = logging.getLogger("node.broker_watch")


class BrokerWatch:
    def __init__(self, url: str, *, interval: float = 2.0, timeout: float = 2.0) -> None:
        self.url = url
        self.interval = interval
        self.timeout = timeout
        self.state = L1Reachability(down_after=1)  # same state machine, another endpoint
        self.probes = 0

    async def probe_once(self) -> bool:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "getBrokerStatistics", "params": []})
        self.probes += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                await client.post(self.url, content=body, headers={"content-type": "application/json"})
        except (httpx.HTTPError, OSError) as e:
            change = self.state.failure(f"{type(e).__name__}: {e}", now=trio.current_time(), wall=time.time())
            if isinstance(change, WentDown):
                log.warning("PROVER_BROKER_HOST %s unreachable (%s): agents keep retrying; see /health",
                            self.url, change.error)
            return False
        if isinstance(self.state.success(now=trio.current_time(), wall=time.time()), CameBack):
            log.warning("PROVER_BROKER_HOST %s reachable again", self.url)
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.probe_once()
        task_status.started()
        while True:
            await trio.sleep(self.interval)
            await self.probe_once()

    def probe(self) -> Probe:
        def probe() -> ComponentHealth:
            snap: dict[str, Any] = {"url": self.url, **self.state.snapshot()}
            if self.probes == 0:
                return ComponentHealth(False, {"broker": snap}, "not probed yet")
            ok = bool(snap["reachable"])
            return ComponentHealth(ok, {"broker": snap}, None if ok else f"broker unreachable: {snap['lastError']}")

        return probe
