"""The one HTTP/1.1 server of the project (trio; h11 for framing, a checked fast path for the
plain requests JSON-RPC clients send).

Every connection goes through the same bounded pipeline:

- **Slots**: at most `max_connections` connections, at most `max_per_client` per client IP. A new
  connection over either limit evicts the longest-idle connection (of that IP, or of anyone)
  - "idle" meaning waiting for or reading a request, never one whose handler runs - and is
  refused (closed) only if every slot is busy in a handler. Idle and slow sockets therefore
  cannot lock anybody out; the accept loop never stops accepting.
- **Timeouts**: `header_timeout` from accept (or from a request's first byte, if its head does not
  arrive in one piece) to the end of its head, `body_timeout` for the rest of the body,
  `idle_timeout` from the end of a handler to the next request's first byte (sending the answer
  included). A timed-out partial request gets 408, a silent one is closed.
- **Limits**: head size (431 via h11), body size (413, announced or streamed).
- **Errors**: every request h11 rejects gets the status h11 suggests (400, 431, 501) and a close;
  a handler that raises answers 500 with one log line. Nothing a client sends ends the server.

Handlers see a :class:`Request`, also available as :func:`current_request` from code they call
(the JSON-RPC methods). `Request.disconnected` is an Event set when the client's socket closes
while its request is being handled (only watched once somebody asks for it, so it costs nothing
otherwise): a long-poll uses it to stop waiting and not hand work to a gone client.
"""
# size: the one HTTP server: the connection pipeline (slots, timeouts, reaper, fast path / h11 fallback) is one
# bounded state per socket.

from __future__ import annotations

import contextlib
import contextvars
import errno
import logging
import math
import socket
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import h11
import trio

from core.http.framing import FastRequest, encode_response, harden_h11, parse_head
from core.http.sockio import READ_SIZE, plain_socket, recv_some, send_all

harden_h11()  # (before any connection: h11 reads header lines with the linear pattern)

log = logging.getLogger("core.http")

_ACCEPT_RETRY_ERRNOS: Final = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
MAX_BODY_PIECES: Final = 4096  # h11 Data events of one body before their average size is checked
MIN_AVERAGE_PIECE: Final = 1024  # bytes
ACCEPT_BURST: Final = 256  # connections taken from the backlog per accept wake-up (see _accept_loop)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_connections: int = 512
    max_per_client: int = 256  # connections per client IP
    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    body_timeout: float = 30.0
    max_head: int = 64 * 1024
    max_body: int = 4 * 1024 * 1024
    fast_path: bool = True

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_per_client < 1:
            raise ValueError("connection limits must be >= 1")
        if min(self.header_timeout, self.idle_timeout, self.body_timeout) <= 0:
            raise ValueError("HTTP timeouts must be > 0")


class Response(NamedTuple):
    status: int
    body: bytes = b""
    content_type: bytes = b"application/json"


class Request:
    """One HTTP request as a handler sees it."""

    __slots__ = ("_conn", "body", "client", "headers", "method", "path", "target")

    def __init__(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        client: tuple[str, int],
        conn: _Conn | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.path = target.split(b"?", 1)[0]
        self.headers = headers  # lower-case names
        self.body = body
        self.client = client  # (ip, port) of the peer
        self._conn = conn

    def header(self, name: bytes) -> bytes | None:
        """The first value of header `name` (lower-case), or None."""
        for n, v in self.headers:
            if n == name:
                return v
        return None

    @property
    def disconnected(self) -> trio.Event:
        """Set when the client's connection closes while this request is handled."""
        if self._conn is None:
            return trio.Event()  # not from a socket (tests, in-process calls): never fires
        return self._conn.watch_disconnect()


_current: contextvars.ContextVar[Request | None] = contextvars.ContextVar("core_http_request", default=None)


def current_request() -> Request | None:
    """The HTTP request whose handler is running in this task (None outside the server)."""
    return _current.get()


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(slots=True)
class HttpStatistics:
    open: int = 0
    busy: int = 0
    accepted: int = 0
    requests: int = 0
    fast_path: int = 0
    evicted_idle: int = 0  # idle connections closed to make room for a new one
    refused: int = 0  # new connections closed because every slot was busy
    timeouts: int = 0
    bad_requests: int = 0  # 4xx/5xx framing answers (400, 408, 413, 431, 501)
    handler_errors: int = 0  # handlers that raised (answered 500)
    accept_errors: int = 0


_IDLE, _HEAD, _BODY, _HANDLER = range(4)


@dataclass(eq=False, slots=True)
class _Conn:
    server: HttpServer
    stream: trio.SocketStream
    ip: str
    port: int
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    buf: bytearray = field(default_factory=bytearray)
    evicted: bool = False
    timed_out: bool = False
    deadline: float = math.inf
    eof: bool = False
    phase: int = 0  # _IDLE
    nursery: trio.Nursery | None = None
    disconnected: trio.Event | None = None
    watch_scope: trio.CancelScope | None = None
    watch_done: trio.Event | None = None
    raw: socket.socket | None = None  # the plain socket under a SocketStream (None: another stream; sockio)

    def watch_disconnect(self) -> trio.Event:
        if self.disconnected is None:
            self.disconnected = trio.Event()
            if self.eof:
                self.disconnected.set()
            elif self.nursery is not None:
                self.watch_scope = trio.CancelScope()
                self.watch_done = trio.Event()
                self.nursery.start_soon(self._watch)
        return self.disconnected

    async def _watch(self) -> None:
        scope, done, gone = self.watch_scope, self.watch_done, self.disconnected
        assert scope is not None and done is not None and gone is not None
        limit = self.server.limits.max_head + self.server.limits.max_body
        try:
            with scope:
                while len(self.buf) <= limit:  # keeps pipelined bytes; stops reading when over the limit
                    data = await self.stream.receive_some(READ_SIZE)
                    if not data:
                        self.eof = True
                        gone.set()
                        return
                    self.buf += data
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self.eof = True
            gone.set()
        finally:
            done.set()

    async def stop_watch(self) -> None:
        """Stop the watcher before the connection reads again (two readers would collide). If this
        task is being cancelled, the watcher still ends: its scope is cancelled and the stream is
        closed next."""
        scope, done = self.watch_scope, self.watch_done
        self.disconnected = self.watch_scope = self.watch_done = None
        if scope is not None and done is not None:
            scope.cancel()
            await done.wait()


class HttpServer:
    """Serves `handler` on host:port. `run` reports the bound port through `task_status`."""

    def __init__(self, handler: Handler, host: str, port: int, limits: HttpLimits | None = None) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.limits = limits or HttpLimits()
        self.max_connections = min(self.limits.max_connections, _fd_budget())
        self.bound_port: int | None = None
        self.stats = HttpStatistics()
        self._idle: OrderedDict[_Conn, None] = OrderedDict()  # oldest idle first
        self._idle_by_ip: dict[str, OrderedDict[_Conn, None]] = {}
        self._per_ip: dict[str, int] = {}
        self._conns: set[_Conn] = set()
        lim = self.limits
        self._tick = min(1.0, max(0.05, min(lim.header_timeout, lim.idle_timeout, lim.body_timeout) / 10))

    def statistics(self) -> HttpStatistics:
        return dataclass_copy(self.stats)

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host=self.host or None, backlog=4096)
        self.bound_port = int(listeners[0].socket.getsockname()[1])
        log.info("http server listening", extra={"addr": f"{self.host}:{self.bound_port}"})
        if self.max_connections < self.limits.max_connections:
            log.warning("http server on port %d: %d connections at most (half the open-file limit), not %d",
                        self.bound_port, self.max_connections, self.limits.max_connections)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._reaper)
            for listener in listeners:
                nursery.start_soon(self._accept_loop, listener, nursery)
            task_status.started(self.bound_port)

    async def serve_stream(self, stream: Any, client: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        """Serve one already-connected stream until it ends, through the same path as an accepted
        socket (fuzzers and tests drive in-memory streams; no reaper runs unless `run` does)."""
        c = _Conn(self, stream, client[0], client[1])
        self.stats.accepted += 1
        self.stats.open += 1
        self._per_ip[c.ip] = self._per_ip.get(c.ip, 0) + 1
        self._conns.add(c)
        await self._serve(c)

    async def _reaper(self) -> None:
        """Closes connections past their phase deadline (see `_serve`)."""
        while True:
            await trio.sleep(self._tick)
            now = trio.current_time()
            for c in [c for c in self._conns if c.deadline <= now and not c.timed_out]:
                c.timed_out = True
                c.scope.cancel()

    # ------------------------------------------------------------------ slots

    def _set_idle(self, c: _Conn, idle: bool) -> None:
        if c.evicted:  # already released; its task is about to notice the cancel
            return
        per_ip = self._idle_by_ip.setdefault(c.ip, OrderedDict())
        if idle:
            self._idle[c] = None
            self._idle.move_to_end(c)
            per_ip[c] = None
            per_ip.move_to_end(c)
        else:
            self._idle.pop(c, None)
            per_ip.pop(c, None)

    def _evict(self, victims: OrderedDict[_Conn, None]) -> bool:
        for c in victims:
            if not c.evicted:
                c.evicted = True
                self._release(c)
                c.scope.cancel()
                self.stats.evicted_idle += 1
                return True
        return False

    def _release(self, c: _Conn) -> None:
        self._conns.discard(c)
        self._idle.pop(c, None)
        per_ip = self._idle_by_ip.get(c.ip)
        if per_ip is not None:
            per_ip.pop(c, None)
        n = self._per_ip.get(c.ip, 0) - 1
        if n <= 0:
            self._per_ip.pop(c.ip, None)
            self._idle_by_ip.pop(c.ip, None)
        else:
            self._per_ip[c.ip] = n
        self.stats.open -= 1

    def _admit(self, ip: str) -> bool:
        lim = self.limits
        if self._per_ip.get(ip, 0) >= lim.max_per_client and not self._evict(self._idle_by_ip.get(ip, OrderedDict())):
            return False
        return not (self.stats.open >= self.max_connections and not self._evict(self._idle))

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        raw = plain_socket(listener.socket)
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in _ACCEPT_RETRY_ERRNOS:
                        raise
                    self.stats.accept_errors += 1
                    log.warning("http accept failed (%s); closing an idle connection", exc.strerror)
                    self._evict(self._idle)
                    await trio.sleep(0.05)
                    continue
                await self._open(stream, nursery)
                # The rest of the backlog without a scheduler round each: trio's accept yields after
                # every connection, so with many busy connections 1,000 agents connecting at once
                # waited ~3.5 s in the backlog (issue 15, bench/broker_bench.py at K = 1000). Errors
                # (EMFILE, ...) are left to the awaited accept above.
                for _ in range(ACCEPT_BURST if raw is not None else 0):
                    try:
                        sock, _addr = raw.accept()  # type: ignore[union-attr]
                    except OSError:
                        break
                    await self._open(trio.SocketStream(trio.socket.from_stdlib_socket(sock)), nursery)

    async def _open(self, stream: trio.SocketStream, nursery: trio.Nursery) -> None:
        """Admit (or refuse) one accepted connection and start serving it."""
        try:
            peer = stream.socket.getpeername()
        except OSError:
            await trio.aclose_forcefully(stream)
            return
        ip, port = str(peer[0]), int(peer[1])
        if not self._admit(ip):
            self.stats.refused += 1
            await trio.aclose_forcefully(stream)
            return
        self.stats.accepted += 1
        self.stats.open += 1
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        c = _Conn(self, stream, ip, port, nursery=nursery)  # (the nursery runs disconnect watchers)
        self._conns.add(c)
        self._set_idle(c, True)
        nursery.start_soon(self._serve, c)

    # ------------------------------------------------------------------ one connection
    # One cancel scope per connection (c.scope). Its deadline (c.deadline, a plain float: trio's
    # own deadline setter costs ~3 us, a visible part of a request) follows the phase:
    # header_timeout for a head, body_timeout for a body, none while the handler runs, idle_timeout
    # from the answer to the next request. The reaper task cancels the scope of a connection past
    # its deadline (within `_tick` seconds); eviction cancels the same scope.

    async def _serve(self, c: _Conn) -> None:
        lim = self.limits
        if isinstance(c.stream, trio.SocketStream):
            c.raw = plain_socket(c.stream.socket)
        try:
            with c.scope:  # (trio's SocketStream already sets TCP_NODELAY)
                c.deadline = trio.current_time() + lim.header_timeout
                if lim.fast_path:
                    await self._serve_fast(c)
                else:
                    await self._serve_h11(c)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        except Exception as exc:  # containment: a connection's bug never ends the server
            log.error("http connection from %s failed: %s: %s", c.ip, type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG))
        finally:
            if c.timed_out and not c.evicted:
                self.stats.timeouts += 1
                if c.phase in (_HEAD, _BODY):
                    await self._reply_now(c, 408, b'{"error":"request timeout"}')
            if not c.evicted:
                self._release(c)
            await trio.aclose_forcefully(c.stream)

    # Socket I/O of the request loop: core/http/sockio.py (one wake-up per request on a plain
    # socket). Only one task reads a connection at a time (the disconnect watcher is stopped before
    # the next read), and every wait is a cancel point of the connection's scope (timeouts, eviction).

    async def _receive(self, c: _Conn) -> bytes:
        data = await recv_some(c.raw, c.stream)
        if not data:
            c.eof = True
        return data

    async def _send(self, c: _Conn, data: bytes) -> None:
        await send_all(c.raw, c.stream, data)

    def _phase(self, c: _Conn, phase: int, timeout: float) -> None:
        c.phase = phase
        c.deadline = trio.current_time() + timeout

    async def _serve_fast(self, c: _Conn) -> None:
        lim = self.limits
        while True:
            if not c.buf:  # wait for the next request's first byte (the first one: header_timeout)
                data = await self._receive(c)
                if not data:
                    return
                c.buf += data
            c.phase = _HEAD
            parsed = parse_head(c.buf, lim.max_head)
            if parsed is None:  # the head did not come in one piece: now it has header_timeout
                c.deadline = min(c.deadline, trio.current_time() + lim.header_timeout)
            while parsed is None:
                data = await self._receive(c)
                if not data:
                    return
                c.buf += data
                parsed = parse_head(c.buf, lim.max_head)
            if not isinstance(parsed, FastRequest):
                await self._serve_h11(c)
                return
            if parsed.content_length > lim.max_body:
                await self._reply_now(c, 413, b'{"error":"request body too large"}')
                return
            total = parsed.head_length + parsed.content_length
            if len(c.buf) < total:
                self._phase(c, _BODY, lim.body_timeout)
                while len(c.buf) < total:
                    data = await self._receive(c)
                    if not data:
                        return
                    c.buf += data
            body = bytes(c.buf[parsed.head_length : total])
            del c.buf[:total]
            self.stats.fast_path += 1
            resp = await self._handle(c, parsed.method, parsed.target, parsed.headers, body)
            close = not parsed.keep_alive or c.eof
            # one deadline for sending the answer and waiting for the next request (fewer deadline
            # changes per request: they are a visible part of the per-request cost)
            self._phase(c, _IDLE, lim.idle_timeout)
            # evictable while the answer goes out: a client that never reads held its slot until
            # idle_timeout, beyond eviction (a few such clients locked everybody out; found by review)
            self._set_idle(c, True)
            await self._send(c, encode_response(resp.status, resp.content_type, resp.body, close=close))
            if close:
                return
            self._set_idle(c, True)

    async def _handle(
        self, c: _Conn, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Response:
        if c.evicted:
            raise trio.ClosedResourceError("evicted")
        self._set_idle(c, False)
        c.phase = _HANDLER
        c.deadline = math.inf
        self.stats.busy += 1
        self.stats.requests += 1
        req = Request(method, target, headers, body, (c.ip, c.port), c)
        token = _current.set(req)
        try:
            return await self.handler(req)
        except Exception as exc:
            self.stats.handler_errors += 1
            log.error("http handler failed for %s %r: %s: %s", method.decode(errors="replace"),
                      target[:80], type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            return Response(500, b'{"error":"internal server error"}')
        finally:
            _current.reset(token)
            self.stats.busy -= 1
            if c.disconnected is not None:
                await c.stop_watch()

    async def _reply_now(self, c: _Conn, status: int, body: bytes) -> None:
        """A framing error answer, best effort within a second (then the connection closes)."""
        self.stats.bad_requests += 1
        with trio.move_on_after(1.0), contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await c.stream.send_all(encode_response(status, b"application/json", body, close=True))

    async def _serve_h11(self, c: _Conn) -> None:
        """Everything the fast path does not take: h11 parses (and rejects) the rest of the connection."""
        lim = self.limits
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=lim.max_head)
        if c.buf:  # (b"" would mean EOF to h11)
            conn.receive_data(bytes(c.buf))
            c.buf.clear()
        while True:
            request: h11.Request | None = None
            chunks: list[bytes] = []
            size = 0
            try:
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        if conn.they_are_waiting_for_100_continue:
                            await c.stream.send_all(
                                conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
                        data = await self._receive(c)
                        if data and c.phase == _IDLE:
                            self._phase(c, _HEAD, lim.header_timeout)
                        conn.receive_data(data)
                    elif isinstance(event, h11.Request):
                        request = event
                        self._phase(c, _BODY, lim.body_timeout)
                        length = _content_length(event.headers)
                        if length is not None and length > lim.max_body:
                            await self._h11_error(c, conn, 413, b'{"error":"request body too large"}')
                            return
                    elif isinstance(event, h11.Data):
                        size += len(event.data)
                        if size > lim.max_body:
                            await self._h11_error(c, conn, 413, b'{"error":"request body too large"}')
                            return
                        chunks.append(bytes(event.data))
                        # a body in many tiny chunks costs h11 an event each: 1,000,000 chunks of 2
                        # bytes (7 MB sent) took 8.7 s and 131 MB (found by review)
                        if len(chunks) > MAX_BODY_PIECES and size < len(chunks) * MIN_AVERAGE_PIECE:
                            await self._h11_error(c, conn, 400, b'{"error":"body in too many tiny chunks"}')
                            return
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:  # ConnectionClosed (a clean close between requests) / PAUSED
                        return
            except h11.RemoteProtocolError as exc:
                log.debug("bad HTTP from %s: %s", c.ip, exc)
                await self._h11_error(c, conn, exc.error_status_hint, b'{"error":"bad request"}')
                return
            assert request is not None
            resp = await self._handle(c, request.method, request.target, list(request.headers), b"".join(chunks))
            if c.buf:  # bytes the disconnect watcher read during the handler
                conn.receive_data(bytes(c.buf))
                c.buf.clear()
            close = c.eof or conn.their_state is h11.MUST_CLOSE
            self._phase(c, _IDLE, lim.idle_timeout)
            self._set_idle(c, True)  # (evictable while the answer goes out, as in _serve_fast)
            await c.stream.send_all(_h11_response(conn, resp, close=close, head=request.method == b"HEAD"))
            if close or conn.our_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return
            self._set_idle(c, True)
            if conn.trailing_data[0]:
                self._phase(c, _HEAD, lim.header_timeout)

    async def _h11_error(self, c: _Conn, conn: h11.Connection, status: int, body: bytes) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            self.stats.bad_requests += 1
            return
        try:
            data = _h11_response(conn, Response(status, body), close=True)
        except h11.LocalProtocolError:
            data = encode_response(status, b"application/json", body, close=True)
        self.stats.bad_requests += 1
        with trio.move_on_after(1.0), contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await c.stream.send_all(data)


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value)
    return None


def _h11_response(conn: h11.Connection, resp: Response, *, close: bool, head: bool = False) -> bytes:
    headers = [(b"content-type", resp.content_type)]
    if resp.status != 204:
        headers.append((b"content-length", str(len(resp.body)).encode()))
    if close:
        headers.append((b"connection", b"close"))
    out = conn.send(h11.Response(status_code=resp.status, headers=headers)) or b""
    if resp.body and resp.status != 204 and not head:
        out += conn.send(h11.Data(data=resp.body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


def _fd_budget() -> int:
    """Half the soft open-file limit: the rest stays for the process's other files and sockets."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 1 << 30
    return 1 << 30 if soft == resource.RLIM_INFINITY else max(16, soft // 2)


def dataclass_copy(s: HttpStatistics) -> HttpStatistics:
    return HttpStatistics(**{k: getattr(s, k) for k in HttpStatistics.__dataclass_fields__})


@contextlib.asynccontextmanager
async def cancelled_on_disconnect() -> AsyncIterator[trio.CancelScope]:
    """Run the body under a scope that is cancelled when the current request's client goes away
    (a long-poll then stops waiting instead of taking work for nobody). Outside a request: a
    plain scope."""
    req = current_request()
    if req is None or req._conn is None:
        with trio.CancelScope() as scope:
            yield scope
        return
    gone = req.disconnected
    try:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                await gone.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            try:
                yield nursery.cancel_scope
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:  # (the watcher never raises: the body's own exception, unwrapped,
        if len(group.exceptions) == 1:  # so callers catch it by its type - found by review)
            raise group.exceptions[0] from None
        raise
