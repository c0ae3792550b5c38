"""HTTP/1.1 keep-alive transport for JSON-RPC, with h11 on trio.

Server: one task per connection, requests on a connection served in order (an agent's long-poll
holds only its own connection). Bounded: header size (h11), body size (``max_body``), connection
count (``max_connections``; further connections wait in the listen backlog).
Client: one keep-alive connection per :class:`HttpConnection`, one request at a time.
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
        with contextlib.suppress(OSError):
            stream.setsockopt(6, 1, 1)  # TCP_NODELAY
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)
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


class TransportError(ConnectionError):
    """The HTTP exchange failed (connection refused / reset / closed / bad HTTP)."""


class HttpConnection:
    """A keep-alive HTTP/1.1 client connection; reconnects lazily after a failure."""

    def __init__(self, host: str, port: int, *, path: bytes = b"/") -> None:
        self.host = host
        self.port = port
        self.path = path
        self._stream: trio.SocketStream | None = None
        self._conn: h11.Connection | None = None
        self._lock = trio.Lock()

    async def aclose(self) -> None:
        if self._stream is not None:
            await trio.aclose_forcefully(self._stream)
        self._stream = None
        self._conn = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        async with self._lock:
            try:
                return await self._post(body)
            except BaseException:
                await self.aclose()  # the connection's state is unknown: drop it
                raise

    async def _post(self, body: bytes) -> tuple[int, bytes]:
        if self._stream is None or self._conn is None:
            try:
                self._stream = await trio.open_tcp_stream(self.host, self.port)
            except OSError as exc:
                raise TransportError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
            with contextlib.suppress(OSError):
                self._stream.setsockopt(6, 1, 1)
            self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADERS)
        conn, stream = self._conn, self._stream
        req = conn.send(
            h11.Request(
                method=b"POST",
                target=self.path,
                headers=[
                    (b"host", self.host.encode()),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            )
        )
        data = conn.send(h11.Data(data=body))
        end = conn.send(h11.EndOfMessage())
        assert req is not None and data is not None and end is not None
        try:
            await stream.send_all(req + data + end)
            status = 0
            chunks: list[bytes] = []
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    got = await stream.receive_some(READ_SIZE)
                    if not got:
                        raise TransportError("connection closed by the server")
                    conn.receive_data(got)
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise TransportError("connection closed by the server")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, h11.ProtocolError) as exc:
            raise TransportError(f"HTTP exchange with {self.host}:{self.port} failed: {exc}") from None
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            await self.aclose()
        else:
            conn.start_next_cycle()
        return status, b"".join(chunks)
