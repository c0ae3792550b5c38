"""A real core.http server on a real socket, and a raw client to throw bytes at it."""

from __future__ import annotations

import json
from typing import Any

import trio

from core.http import AccessPolicy, Dispatcher, HttpLimits, HttpServer, JsonRpcApp, current_request


def test_dispatcher(events: trio.MemorySendChannel[str] | None = None) -> Dispatcher:
    """`events` gets "enter" when a wait_gone long-poll starts and "gone"/"stayed" when it ends."""
    d = Dispatcher(max_batch=10)

    async def echo(x: Any) -> Any:
        return x

    async def add(a: int, b: int = 0) -> int:
        return a + b

    async def broken() -> None:
        raise TypeError("a bug inside the handler, not bad params")

    async def wait_gone(seconds: float) -> bool:
        """Long-poll: True if the client went away before `seconds`."""
        req = current_request()
        assert req is not None
        if events is not None:
            events.send_nowait("enter")
        gone = False
        with trio.move_on_after(seconds):
            await req.disconnected.wait()
            gone = True
        if events is not None:
            events.send_nowait("gone" if gone else "stayed")
        return gone

    async def secret() -> str:
        return "admitted"

    d.register("echo", echo)
    d.register("add", add)
    d.register("broken", broken)
    d.register("wait_gone", wait_gone)
    d.register("secret", secret, protected=True)
    return d


test_dispatcher.__test__ = False  # type: ignore[attr-defined]


async def start(
    nursery: trio.Nursery, limits: HttpLimits | None = None, token: str | None = None, d: Dispatcher | None = None
) -> HttpServer:
    server = HttpServer(JsonRpcApp(d or test_dispatcher(), access=AccessPolicy(token)), "127.0.0.1", 0, limits)
    await nursery.start(server.run)
    return server


def port(server: HttpServer) -> int:
    assert server.bound_port is not None
    return server.bound_port


async def exchange(p: int, data: bytes, *, source: str | None = None) -> bytes:
    """Send raw bytes, read until the server closes (or answers with connection: close)."""
    stream = await connect(p, source=source)
    async with stream:
        await stream.send_all(data)
        return await read_until_close(stream)


async def connect(p: int, *, source: str | None = None) -> trio.SocketStream:
    if source is None:
        return await trio.open_tcp_stream("127.0.0.1", p)
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", p))
    return trio.SocketStream(sock)


async def read_until_close(stream: trio.SocketStream, limit: float = 10.0) -> bytes:
    out = b""
    with trio.fail_after(limit):
        try:
            while chunk := await stream.receive_some(65536):
                out += chunk
        except trio.BrokenResourceError:
            pass
    return out


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def body_of(raw: bytes) -> Any:
    return json.loads(raw.partition(b"\r\n\r\n")[2])


def post(body: bytes, extra: bytes = b"") -> bytes:
    head = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n" % (len(body), extra)
    return head + body


async def rpc(p: int, obj: Any, extra: bytes = b"") -> tuple[int, Any]:
    raw = await exchange(p, post(json.dumps(obj).encode(), extra))
    st = status_of(raw)
    payload = raw.partition(b"\r\n\r\n")[2]
    return st, (json.loads(payload) if payload else None)
