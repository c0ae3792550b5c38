"""A small keep-alive HTTP/1.1 client for JSON-RPC over trio (what BrokerClient pools).

One request at a time per connection; requests are written directly, responses parsed for the
Content-Length case (what `core.http.server` sends); anything else is a TransportError.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Final

import trio

from core.http.sockio import plain_socket, recv_some, send_all

MAX_HEADERS: Final = 64 << 10
MAX_RESPONSE: Final = 512 << 20  # bytes of one response body (inline proofs are at most 1 MiB each)
_OK_HEAD: Final = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "


class TransportError(ConnectionError):
    """The HTTP exchange failed (connection refused / reset / closed / bad HTTP)."""


class HttpConnection:
    """A keep-alive HTTP/1.1 client connection; reconnects lazily after a failure."""

    def __init__(
        self, host: str, port: int, *, path: bytes = b"/", headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """`timeout`: seconds for one exchange (connect, send, answer) before a TransportError (None:
        no limit); a server that accepts and never answers would otherwise hold the caller forever."""
        self.host = host
        self.port = port
        self.timeout = timeout
        self.path = path
        self._extra = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in (headers or {}).items())
        # the request head up to the length, built once (issue 15: the agents share the broker's 2 cores)
        self._head = b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n%scontent-length: " % (
            path, host.encode(), self._extra)
        self._stream: trio.SocketStream | None = None
        self._raw: socket.socket | None = None  # the plain socket under _stream (core.http.sockio)
        self._buf = bytearray()
        self._lock = trio.Lock()

    async def aclose(self) -> None:
        if self._stream is not None:
            await trio.aclose_forcefully(self._stream)
        self._stream = None
        self._raw = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        lock = self._lock
        if lock.locked():
            await lock.acquire()
        else:  # uncontended (an agent's one connection): no scheduler round-trip for the lock
            await trio.lowlevel.checkpoint_if_cancelled()
            lock.acquire_nowait()
        try:
            if self.timeout is None:
                return await self._post(body)
            with trio.move_on_after(self.timeout):
                return await self._post(body)
            raise TransportError(f"no answer from {self.host}:{self.port} within {self.timeout:g} s")
        except BaseException:
            await self.aclose()  # the connection's state is unknown: drop it
            raise
        finally:
            lock.release()

    async def _post(self, body: bytes) -> tuple[int, bytes]:
        """Requests are written directly; responses are parsed by a small reader for the
        Content-Length case and fall back to h11 for anything else."""
        if self._stream is None:
            try:
                self._stream = await trio.open_tcp_stream(self.host, self.port)
            except OSError as exc:
                raise TransportError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
            with contextlib.suppress(OSError):
                self._stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._raw = plain_socket(self._stream.socket)
            self._buf = bytearray()
        stream = self._stream
        try:
            await send_all(self._raw, stream, b"%s%d\r\n\r\n%s" % (self._head, len(body), body))  # one send
            buf = self._buf
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                if len(buf) > MAX_HEADERS:
                    raise TransportError("response headers too large")
                got = await recv_some(self._raw, stream)
                if not got:
                    raise TransportError("connection closed by the server")
                buf += got
                end = buf.find(b"\r\n\r\n")
            if buf.startswith(_OK_HEAD) and 0 < end - len(_OK_HEAD) <= 18 and buf[len(_OK_HEAD):end].isdigit():
                # the exact head core.http.server sends for a 200 (no other header): no line parsing
                ok_length = int(buf[len(_OK_HEAD) : end])
                if ok_length > MAX_RESPONSE:
                    raise TransportError(f"response of {ok_length} bytes is over {MAX_RESPONSE}")
                return await self._body(stream, buf, end, ok_length, False, 200)
            lines = bytes(buf[:end]).split(b"\r\n")
            status_parts = lines[0].split(b" ", 2)
            if (len(status_parts) < 2 or not status_parts[0].startswith(b"HTTP/1.") or not status_parts[1].isdigit()
                    or len(status_parts[1]) != 3):
                raise TransportError(f"bad HTTP status line {lines[0][:40]!r}")
            status = int(status_parts[1])
            length = None
            close = status_parts[0] == b"HTTP/1.0"
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname == b"content-length" and value.strip().isdigit():
                    if len(value.strip()) > 18:  # (int() refuses 4,300+ digits with a ValueError)
                        raise TransportError("response content-length out of range")
                    length = int(value.strip())
                elif lname == b"transfer-encoding":
                    raise TransportError("chunked responses are not supported")
                elif lname == b"connection" and b"close" in value.lower():
                    close = True
            if length is None and status in (204, 304):
                length = 0
            if length is None:
                raise TransportError("response without content-length")
            if length > MAX_RESPONSE:  # a malicious server announcing an endless body (found by review)
                raise TransportError(f"response of {length} bytes is over {MAX_RESPONSE}")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise TransportError(f"HTTP exchange with {self.host}:{self.port} failed: {exc}") from None
        return await self._body(stream, buf, end, length, close, status)

    async def _body(
        self, stream: trio.SocketStream, buf: bytearray, end: int, length: int, close: bool, status: int
    ) -> tuple[int, bytes]:
        try:
            total = end + 4 + length
            while len(buf) < total:
                got = await recv_some(self._raw, stream)
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
