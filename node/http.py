"""The node's HTTP server on trio + h11: JSON-RPC 2.0 on POST /, Prometheus on GET /metrics,
GET /health. Components register JSON-RPC methods (`node_getEncodedEnr`, ...) before it starts.

Bounded: request bodies above `max_body` get 413, at most `max_connections` connections are served
at once (more wait in the listen backlog), idle keep-alive connections close after `idle_timeout`.
Bad JSON / unknown methods / bad params get a JSON-RPC error object, never a crash.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import h11
import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from node.health import http_response

log = logging.getLogger("node.http")

JsonRpcHandler = Callable[..., Awaitable[Any]]

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603


class JsonRpcError(Exception):
    """Raise from a handler to return a specific JSON-RPC error (default: invalid params)."""

    def __init__(self, message: str, code: int = INVALID_PARAMS) -> None:
        super().__init__(message)
        self.code = code


class JsonRpcDispatcher:
    """Sans-IO-ish: bytes of a request body in, bytes of the response body out."""

    def __init__(self) -> None:
        self._methods: dict[str, JsonRpcHandler] = {}

    def register(self, name: str, handler: JsonRpcHandler) -> None:
        if name in self._methods:
            raise ValueError(f"JSON-RPC method {name} registered twice")
        self._methods[name] = handler

    @property
    def methods(self) -> list[str]:
        return sorted(self._methods)

    async def handle_body(self, body: bytes) -> bytes:
        try:
            req = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: deeply nested JSON
            return json.dumps(_error(None, PARSE_ERROR, f"invalid JSON: {e}")).encode()
        if isinstance(req, list):
            if not req:
                return json.dumps(_error(None, INVALID_REQUEST, "empty batch")).encode()
            return json.dumps([await self._one(r) for r in req[:100]]).encode()
        return json.dumps(await self._one(req)).encode()

    async def _one(self, req: Any) -> dict[str, Any]:
        if not isinstance(req, dict) or not isinstance(req.get("method"), str):
            return _error(None, INVALID_REQUEST, "expected an object with a string 'method'")
        rid = req.get("id")
        if not isinstance(rid, (str, int, type(None))):
            rid = None
        handler = self._methods.get(req["method"])
        if handler is None:
            return _error(rid, METHOD_NOT_FOUND, f"unknown method {req['method']}")
        params = req.get("params", [])
        try:
            if isinstance(params, list):
                result = await handler(*params)
            elif isinstance(params, dict):
                result = await handler(**params)
            else:
                return _error(rid, INVALID_PARAMS, "params must be an array or an object")
        except JsonRpcError as e:
            return _error(rid, e.code, str(e))
        except TypeError as e:
            return _error(rid, INVALID_PARAMS, f"bad params for {req['method']}: {e}")
        except Exception as e:
            log.exception("JSON-RPC %s failed", req["method"])
            return _error(rid, INTERNAL_ERROR, f"{type(e).__name__}: {e}")
        return {"jsonrpc": "2.0", "id": rid, "result": result}


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


class HttpServer:
    def __init__(
        self,
        host: str,
        port: int,
        dispatcher: JsonRpcDispatcher,
        registry: CollectorRegistry,
        health: Callable[[], dict[str, Any]] | None = None,
        *,
        max_body: int = 4 * 1024 * 1024,
        max_connections: int = 512,
        idle_timeout: float = 60.0,
    ) -> None:
        self.host, self.port = host, port
        self.dispatcher = dispatcher
        self.registry = registry
        self.health = health or (lambda: {"status": "ok", "ready": True})
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self._slots = trio.Semaphore(max_connections)
        self.bound_port: int | None = None

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        self.bound_port = listeners[0].socket.getsockname()[1]
        log.info("http server listening", extra={"addr": f"{self.host}:{self.bound_port}"})
        async with trio.open_nursery() as nursery:
            task_status.started(self.bound_port)
            for listener in listeners:
                nursery.start_soon(self._accept_loop, listener)

    async def _accept_loop(self, listener: trio.SocketListener) -> None:
        async with listener, trio.open_nursery() as nursery:
            while True:
                await self._slots.acquire()
                try:
                    stream = await listener.accept()
                except BaseException:
                    self._slots.release()
                    raise
                nursery.start_soon(self._serve, stream)

    async def _serve(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            async with stream:
                while True:
                    with trio.move_on_after(self.idle_timeout) as idle:
                        request = await self._next_request(conn, stream)
                    if idle.cancelled_caught or request is None:
                        return
                    method, target, body = request
                    status, ctype, payload = await self._route(method, target, body)
                    await self._send(conn, stream, status, ctype, payload)
                    if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                        return
                    conn.start_next_cycle()
        except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError, _TooLarge) as e:
            log.debug("http connection closed: %s", e)
        finally:
            self._slots.release()

    async def _next_request(self, conn: h11.Connection, stream: trio.SocketStream) -> tuple[str, str, bytes] | None:
        method = target = ""
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data and conn.their_state is h11.IDLE:
                    return None
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                method, target = event.method.decode(), event.target.decode("latin-1")
                for name, value in event.headers:
                    if name == b"content-length" and int(value) > self.max_body:
                        await self._send(conn, stream, 413, "text/plain", b"request body too large\n")
                        raise _TooLarge()
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.max_body:
                    raise _TooLarge()
            elif isinstance(event, h11.EndOfMessage):
                return method, target, bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _route(self, method: str, target: str, body: bytes) -> tuple[int, str, bytes]:
        path = target.split("?", 1)[0]
        if method == "POST" and path in ("/", ""):
            return 200, "application/json", await self.dispatcher.handle_body(body)
        if method == "GET" and path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if method == "GET" and path in ("/health", "/ready", "/status"):
            status, report = http_response(self.health(), path)  # node/health.py: 503 when not healthy/ready
            return status, "application/json", json.dumps(report).encode()
        return 404, "text/plain", b"not found\n"

    async def _send(
        self, conn: h11.Connection, stream: trio.SocketStream, status: int, ctype: str, body: bytes
    ) -> None:
        headers = [("content-type", ctype), ("content-length", str(len(body)))]
        await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        await stream.send_all(conn.send(h11.Data(data=body)) or b"")
        await stream.send_all(conn.send(h11.EndOfMessage()) or b"")


class _TooLarge(Exception):
    pass
