"""JSON-RPC decoding: any body gives a JSON-RPC answer (never an exception), and the broker's
methods reject malformed params with -32602."""

from __future__ import annotations

import json
from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from core.http.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, Dispatcher
from proving.broker.core import ProvingBroker
from proving.broker.rpc import build_dispatcher

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
METHODS = [
    "enqueueProvingJob",
    "getProvingJobStatus",
    "removeAndCancelProvingJob",
    "waitForJobToSettle",
    "getProvingJob",
    "reportProvingJobProgress",
    "reportProvingJobSuccess",
    "reportProvingJobError",
    "getSettledJobs",
    "cleanUpProvingJobState",
    "getBrokerStatistics",
    "nope",
]


def _check_response(body: bytes) -> list[dict[str, Any]]:
    if body == b"":
        return []
    out = json.loads(body)
    items = out if isinstance(out, list) else [out]
    for item in items:
        assert item["jsonrpc"] == "2.0"
        assert ("result" in item) != ("error" in item)
        if "error" in item:
            assert isinstance(item["error"]["code"], int) and isinstance(item["error"]["message"], str)
    return items


async def _dispatcher() -> tuple[Dispatcher, ProvingBroker]:
    broker = ProvingBroker(None, registry=CollectorRegistry(), job_timeout=5)
    broker._ready.set()
    return build_dispatcher(broker), broker


def _run(body: bytes) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        d, broker = await _dispatcher()
        async with trio.open_nursery() as n:
            n.start_soon(broker.journal.run, broker._on_journaled)
            with trio.fail_after(5):
                out = _check_response(await d.handle_body(body))
            n.cancel_scope.cancel()
        return out

    return trio.run(main)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_garbage_bytes_get_an_error(body: bytes) -> None:
    _run(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(METHODS), params=json_values, req_id=json_values)
def test_random_params_never_crash(method: str, params: Any, req_id: Any) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}).encode()
    for item in _run(body):
        if "error" in item:
            assert item["error"]["code"] in (INVALID_REQUEST, INVALID_PARAMS, METHOD_NOT_FOUND, -32001, -32002)


def test_error_codes() -> None:
    assert _run(b"{")[0]["error"]["code"] == PARSE_ERROR
    assert _run(b"[]")[0]["error"]["code"] == INVALID_REQUEST
    assert _run(b'{"jsonrpc":"2.0","id":1,"method":"x"}')[0]["error"]["code"] == METHOD_NOT_FOUND
    bad = b'{"jsonrpc":"2.0","id":1,"method":"enqueueProvingJob","params":[{"id":"a","type":99}]}'
    err = _run(bad)[0]["error"]
    assert err["code"] == INVALID_PARAMS and "type" in err["message"]
    # notifications get no answer, batches answer each request
    assert _run(b'{"jsonrpc":"2.0","method":"getBrokerStatistics"}') == []
    batch = b'[{"jsonrpc":"2.0","id":1,"method":"getProvingJobStatus","params":["x"]},{"jsonrpc":"2.0","id":2}]'
    out = _run(batch)
    assert out[0]["result"] == {"status": "not-found"} and out[1]["error"]["code"] == INVALID_REQUEST
