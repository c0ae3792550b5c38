"""/health and /ready (node/health.py over a real HttpServer), the L1 outage state machine, and the
retrying L1 client against a real refused connection: it waits, logs one line, never raises."""

from __future__ import annotations

import json
import logging
import socket

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from core.http import Dispatcher
from node.health import ComponentHealth, HealthRegistry, http_response, l1_probe
from node.http import node_http_server
from node.l1.reachability import CameBack, L1Reachability, WentDown


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 5)), max_size=60))
def test_reachability_transitions_alternate_and_time_the_outage(events: list[tuple[bool, float]]) -> None:
    r = L1Reachability()
    now = 0.0
    last: type | None = CameBack
    first_fail: float | None = None
    downs = 0
    for ok, dt in events:
        now += dt
        if ok:
            change = r.success(now=now, wall=1000 + now)
            if change is not None:
                assert isinstance(change, CameBack) and last is WentDown
                assert first_fail is not None and change.down_for == pytest.approx(now - first_fail)
                last = CameBack
            first_fail = None
            assert r.reachable
        else:
            first_fail = now if first_fail is None else first_fail
            change = r.failure("boom", now=now, wall=1000 + now)
            if change is not None:
                assert isinstance(change, WentDown) and last is CameBack
                assert change.since == pytest.approx(1000 + first_fail)
                last = WentDown
                downs += 1
            assert not r.reachable
    assert r.outages == downs
    assert r.snapshot()["reachable"] is r.reachable


def test_report_and_status_codes() -> None:
    h = HealthRegistry()
    state = {"ok": True}
    h.add("l1", lambda: ComponentHealth(state["ok"], {"l1": {"reachable": state["ok"]}, "epoch": 7},
                                        None if state["ok"] else "down"))
    h.add("p2p", lambda: ComponentHealth(True, {"peers": 3}))
    rep = h.report()
    assert rep["status"] == "starting" and http_response(rep, "/ready")[0] == 503
    assert http_response(rep, "/health")[0] == 503 and http_response(rep, "/status")[0] == 200
    h.mark_ready()
    rep = h.report()
    assert (rep["status"], rep["peers"], rep["epoch"]) == ("ok", 3, 7)
    assert http_response(rep, "/health")[0] == 200 and http_response(rep, "/ready")[0] == 200
    state["ok"] = False
    rep = h.report()
    assert rep["status"] == "degraded" and rep["l1"] == {"reachable": False}
    assert rep["components"]["l1"] == {"healthy": False, "error": "down"}
    assert http_response(rep, "/health")[0] == 503 and http_response(rep, "/ready")[0] == 200

    def broken() -> ComponentHealth:
        raise RuntimeError("probe bug")

    state["ok"] = True
    h.add("broken", broken)
    rep = h.report()
    assert rep["status"] == "degraded" and "probe bug" in rep["components"]["broken"]["error"]


def test_last_error_is_the_last_warning() -> None:
    h = HealthRegistry()
    logger = logging.getLogger("test.health")
    logger.addHandler(h.errors)
    try:
        logger.info("fine")
        assert h.report()["lastError"] is None
        logger.warning("L1 down since %s", "now")
        logger.error("broker gone")
        last = h.report()["lastError"]
        assert last["message"] == "broker gone" and last["level"] == "error"
    finally:
        logger.removeHandler(h.errors)


async def _get(port: int, path: str) -> tuple[int, dict[str, object]]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_http_server_serves_the_report_with_matching_status() -> None:
    h = HealthRegistry()
    up = {"v": False}
    h.add("broker", lambda: ComponentHealth(up["v"], {"broker": {"reachable": up["v"]}}, None if up["v"] else "x"))
    server = node_http_server("127.0.0.1", 0, Dispatcher(), CollectorRegistry(), h.report)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.run)
        assert (await _get(port, "/ready"))[0] == 503
        h.mark_ready()
        assert (await _get(port, "/ready"))[0] == 200
        status, body = await _get(port, "/health")
        assert status == 503 and body["broker"] == {"reachable": False}
        up["v"] = True
        status, body = await _get(port, "/health")
        assert status == 200 and body["status"] == "ok"
        nursery.cancel_scope.cancel()


async def test_l1_client_waits_out_an_outage_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    from node.l1.client import L1Client, RetryPolicy
    from node.l1.deploy import L1ContractAddresses
    from node.l1.errors import L1TransientError
    from node.l1.rpc import SyncRpc

    with socket.socket() as s:  # a port nobody listens on: every request is refused, for real
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    z = "0x" + "00" * 20
    client = L1Client(SyncRpc.from_url(f"http://127.0.0.1:{port}", timeout=1), L1ContractAddresses(*[z] * 9),
                      retry=RetryPolicy.forever(base_delay=0.01, max_delay=0.05))
    caplog.set_level(logging.INFO, logger="node.l1")
    with trio.move_on_after(1.0) as cs:
        await client.block_number()
    assert cs.cancelled_caught  # still waiting after 1 s: no exception escaped
    assert client.statistics()["retries"] >= 5
    downs = [r for r in caplog.records if "L1 down since" in r.getMessage()]
    assert len(downs) == 1
    probe = l1_probe(lambda: client)()
    assert not probe.healthy and probe.facts["l1"]["reachable"] is False and probe.error
    client.retry = RetryPolicy(attempts=2, base_delay=0.01)
    with pytest.raises(L1TransientError):  # a bounded policy (start-up, scripts) still gives up
        await client.block_number()
