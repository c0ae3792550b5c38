"""Socket I/O shared by the HTTP server and client (issue 15: trio scheduling and socket I/O were a
third of the broker's CPU, and the agents share its two cores).

trio's SocketStream yields to the scheduler after every successful send and recv (a checkpoint each).
On the plain non-blocking socket under it these helpers try the call first and wait only when the
kernel has nothing (EAGAIN), so a request costs one wake-up for its bytes. Fairness: a recv that
succeeded without waiting still yields once. Every wait stays a cancel point. Any other stream
(tests, fuzzers, in-memory) takes trio's own path (`raw` is None).
"""

from __future__ import annotations

import socket
from typing import Any, Final

import trio

READ_SIZE: Final = 1 << 16


def plain_socket(sock: Any) -> socket.socket | None:
    """The non-blocking stdlib socket under a trio socket, or None (another kind, or blocking)."""
    raw = getattr(sock, "_sock", None)
    if not isinstance(raw, socket.socket) or raw.gettimeout() != 0.0:
        return None
    return raw


async def send_all(raw: socket.socket | None, stream: trio.abc.SendStream, data: bytes) -> None:
    """`stream.send_all(data)`, without a scheduler round-trip when the kernel takes it all at once."""
    if raw is not None:
        try:
            sent = raw.send(data)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    await stream.send_all(data)


async def recv_some(raw: socket.socket | None, stream: trio.abc.ReceiveStream) -> bytes:
    """`stream.receive_some(READ_SIZE)`: b"" at end of stream."""
    if raw is None:
        return bytes(await stream.receive_some(READ_SIZE))
    try:
        data = raw.recv(READ_SIZE)
    except BlockingIOError:
        while True:
            await trio.lowlevel.wait_readable(raw)
            try:
                return raw.recv(READ_SIZE)
            except BlockingIOError:
                continue
    await trio.lowlevel.checkpoint()  # the bytes were already there: still yield once (fairness)
    return data
