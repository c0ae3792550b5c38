"""HTTP/1.1 keep-alive transport for JSON-RPC, with h11 on trio.

Server: one task per connection, requests on a connection served in order (an agent's long-poll
holds only its own connection). Bounded: header size (h11), body size (``max_body``), connection
count (``max_connections``; further connections wait in the listen backlog).
Client: one keep-alive connection per :class:`HttpConnection`, one request at a time; it writes
requests itself and reads Content-Length responses (what the server sends).

The server parses plain Content-Length HTTP/1.1 requests itself (the JSON-RPC hot path: h11 cost
about half of the broker's CPU per request) and hands a connection to h11 as soon as a request
uses anything else, so every valid HTTP/1.1 request is still served.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import h11
import trio

log = logging.getLogger(__name__)

MAX_BODY: Final = 32 << 20
MAX_HEADERS: Final = 64 << 10
READ_SIZE: Final = 1 << 16


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: bytes = b"application/json"


HttpHandler = Callable[[bytes, bytes, bytes], Awaitable[HttpResponse]]  # method, target, body


class _BodyTooLarge(Exception):
    pass


class HttpServer:
    def __init__(
        self,
        handler: HttpHandler,
        host: str,
        port: int,
        *,
        max_connections: int = 4096,
        max_body: int = MAX_BODY,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.max_body = max_body
        self._slots = trio.Semaphore(max_connections)
        self.connections = 0
        self.requests = 0

    async def run(self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host=self.host, backlog=4096)
        sockname = listeners[0].socket.getsockname()
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(self._accept, listener, nursery)
            task_status.started((sockname[0], sockname[1]))
            await trio.sleep_forever()

    async def _accept(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        async with listener:
            while True:
                await self._slots.acquire()  # bounded: further clients wait in the backlog
                try:
                    stream = await listener.accept()
                except BaseException:
                    self._slots.release()
                    raise
                nursery.start_soon(self._serve, stream)

    async def _serve(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        try:
            await self._serve_conn(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            pass
        except h11.RemoteProtocolError as exc:
            log.debug("bad HTTP from peer: %s", exc)
        finally:
            self.connections -= 1
            self._slots.release()
            await trio.aclose_forcefully(stream)

    async def _serve_conn(self, stream: trio.SocketStream) -> None:
        """Fast path for plain HTTP/1.1 requests with a Content-Length (what JSON-RPC clients
        send); the first request using anything else (chunked bodies, Expect, HTTP/1.0, odd
        syntax) hands the connection, with its buffered bytes, to h11."""
        with contextlib.suppress(OSError):
            stream.setsockopt(6, 1, 1)  # TCP_NODELAY
        buf = bytearray()
        while True:
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                if len(buf) > MAX_HEADERS:
                    await stream.send_all(_raw_response(HttpResponse(431, b'{"error":"headers too large"}'), True))
                    return
                data = await stream.receive_some(READ_SIZE)
                if not data:
                    return
                buf += data
                end = buf.find(b"\r\n\r\n")
            parsed = _parse_simple_request(bytes(buf[:end]))
            if parsed is None:
                await self._serve_h11(stream, bytes(buf))
                return
            method, target, length, keep_alive = parsed
            if length > self.max_body:
                await stream.send_all(_raw_response(HttpResponse(413, b'{"error":"body too large"}'), True))
                return
            total = end + 4 + length
            while len(buf) < total:
                data = await stream.receive_some(READ_SIZE)
                if not data:
                    return
                buf += data
            body = bytes(buf[end + 4 : total])
            del buf[:total]
            self.requests += 1
            response = await self.handler(method, target, body)
            await stream.send_all(_raw_response(response, not keep_alive))
            if not keep_alive:
                return

    async def _serve_h11(self, stream: trio.SocketStream, initial: bytes) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)
        conn.receive_data(initial)
        while True:
            request: h11.Request | None = None
            chunks: list[bytes] = []
            size = 0
            try:
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await stream.receive_some(READ_SIZE)
                        conn.receive_data(data)
                        if not data and request is None:
                            return
                        continue
                    if isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        size += len(event.data)
                        if size > self.max_body:
                            raise _BodyTooLarge
                        chunks.append(bytes(event.data))
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        return
            except _BodyTooLarge:
                await self._send(stream, conn, HttpResponse(413, b'{"error":"body too large"}'), close=True)
                return
            except h11.RemoteProtocolError as exc:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    status = exc.error_status_hint
                    await self._send(stream, conn, HttpResponse(status, b'{"error":"bad request"}'), close=True)
                return
            assert request is not None
            self.requests += 1
            response = await self.handler(request.method, request.target, b"".join(chunks))
            await self._send(stream, conn, response, close=False)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _send(self, stream: trio.SocketStream, conn: h11.Connection, resp: HttpResponse, *, close: bool) -> None:
        headers = [
            (b"content-type", resp.content_type),
            (b"content-length", str(len(resp.body)).encode()),
        ]
        if close:
            headers.append((b"connection", b"close"))
        out = conn.send(h11.Response(status_code=resp.status, headers=headers))
        data = conn.send(h11.Data(data=resp.body)) if resp.body else b""
        end = conn.send(h11.EndOfMessage())
        assert out is not None and data is not None and end is not None
        await stream.send_all(out + data + end)


_REASONS = {200: b"OK", 204: b"No Content", 400: b"Bad Request", 404: b"Not Found", 413: b"Payload Too Large",
            431: b"Request Header Fields Too Large"}


def _raw_response(resp: HttpResponse, close: bool) -> bytes:
    head = b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n" % (
        resp.status,
        _REASONS.get(resp.status, b"Status"),
        resp.content_type,
        len(resp.body),
        b"connection: close\r\n" if close else b"",
    )
    return head + resp.body


def _parse_simple_request(head: bytes) -> tuple[bytes, bytes, int, bool] | None:
    """(method, target, content length, keep-alive) of a plain HTTP/1.1 request head, or None if
    it uses anything the fast path leaves to h11."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1" or not parts[0].isalpha() or not parts[1].startswith(b"/"):
        return None
    length = 0
    keep_alive = True
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or b" " in name:
            return None
        lname = name.lower()
        if lname == b"content-length":
            v = value.strip()
            if not v.isdigit() or len(v) > 12:
                return None
            length = int(v)
        elif lname in (b"transfer-encoding", b"expect"):
            return None
        elif lname == b"connection" and b"close" in value.lower():
            keep_alive = False
    return parts[0], parts[1], length, keep_alive


class TransportError(ConnectionError):
    """The HTTP exchange failed (connection refused / reset / closed / bad HTTP)."""


class HttpConnection:
    """A keep-alive HTTP/1.1 client connection; reconnects lazily after a failure."""

    def __init__(self, host: str, port: int, *, path: bytes = b"/") -> None:
        self.host = host
        self.port = port
        self.path = path
        self._stream: trio.SocketStream | None = None
        self._buf = bytearray()
        self._lock = trio.Lock()

    async def aclose(self) -> None:
        if self._stream is not None:
            await trio.aclose_forcefully(self._stream)
        self._stream = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        async with self._lock:
            try:
                return await self._post(body)
            except BaseException:
                await self.aclose()  # the connection's state is unknown: drop it
                raise

    async def _post(self, body: bytes) -> tuple[int, bytes]:
        """Requests are written directly; responses are parsed by a small reader for the
        Content-Length case and fall back to h11 for anything else."""
        if self._stream is None:
            try:
                self._stream = await trio.open_tcp_stream(self.host, self.port)
            except OSError as exc:
                raise TransportError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
            with contextlib.suppress(OSError):
                self._stream.setsockopt(6, 1, 1)
            self._buf = bytearray()
        stream = self._stream
        req = b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % (
            self.path,
            self.host.encode(),
            len(body),
        )
        try:
            await stream.send_all(req + body)
            buf = self._buf
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                if len(buf) > MAX_HEADERS:
                    raise TransportError("response headers too large")
                got = await stream.receive_some(READ_SIZE)
                if not got:
                    raise TransportError("connection closed by the server")
                buf += got
                end = buf.find(b"\r\n\r\n")
            lines = bytes(buf[:end]).split(b"\r\n")
            status_parts = lines[0].split(b" ", 2)
            if len(status_parts) < 2 or not status_parts[0].startswith(b"HTTP/1.") or not status_parts[1].isdigit():
                raise TransportError(f"bad HTTP status line {lines[0][:40]!r}")
            status = int(status_parts[1])
            length: int | None = None
            close = status_parts[0] == b"HTTP/1.0"
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname == b"content-length" and value.strip().isdigit():
                    length = int(value.strip())
                elif lname == b"transfer-encoding":
                    raise TransportError("chunked responses are not supported")
                elif lname == b"connection" and b"close" in value.lower():
                    close = True
            if length is None:
                raise TransportError("response without content-length")
            total = end + 4 + length
            while len(buf) < total:
                got = await stream.receive_some(READ_SIZE)
                if not got:
                    raise TransportError("connection closed by the server")
                buf += got
            data = bytes(buf[end + 4 : total])
            del buf[:total]
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise TransportError(f"HTTP exchange with {self.host}:{self.port} failed: {exc}") from None
        if close:
            await self.aclose()
        return status, data
