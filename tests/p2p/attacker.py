"""A hostile libp2p peer for containment tests: a real py-libp2p host (noise, yamux, secp256k1 id, no
pubsub and none of our patches' hooks) that dials a node and writes whatever bytes it likes on any
protocol, or serves garbage to the node's own outbound streams (identify)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import trio

from p2p.keys import generate_private_key

PUBSUB_SIGNING_PREFIX = b"libp2p-pubsub:"


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def frame(payload: bytes) -> bytes:
    return uvarint(len(payload)) + payload


class Attacker:
    def __init__(self, key: bytes | None = None) -> None:
        from libp2p import new_host
        from libp2p.crypto.secp256k1 import create_new_key_pair
        from multiaddr import Multiaddr

        self.key_pair = create_new_key_pair(key or generate_private_key())
        self.host: Any = new_host(key_pair=self.key_pair, listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")])
        self.peer_id = str(self.host.get_id())
        self._seqno = 0
        self.target: Any = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Attacker]:
        from multiaddr import Multiaddr

        async with self.host.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            yield self

    async def connect(self, addr_with_p2p: str) -> None:
        from libp2p.peer.peerinfo import info_from_p2p_addr
        from multiaddr import Multiaddr

        info = info_from_p2p_addr(Multiaddr(addr_with_p2p))
        self.target = info.peer_id
        await self.host.connect(info)

    def connected(self) -> bool:
        return self.target is not None and self.target in self.host.get_connected_peers()

    def serve(self, protocol: str, handler: Callable[[Any], Awaitable[None]]) -> None:
        from libp2p.custom_types import TProtocol

        self.host.set_stream_handler(TProtocol(protocol), handler)

    async def send(self, protocol: str, data: bytes, *, wait: float = 0.0) -> bytes:
        """Open `protocol`, write `data`, half-close, read what comes back for up to `wait` seconds."""
        from libp2p.custom_types import TProtocol

        stream = await self.host.new_stream(self.target, [TProtocol(protocol)])
        got = bytearray()
        try:
            await stream.write(data)
            with contextlib.suppress(Exception):
                await stream.close_write()
            with trio.move_on_after(wait):
                while True:
                    try:
                        chunk = await stream.read(65536)
                    except Exception:
                        break
                    if not chunk:
                        break
                    got += chunk
        finally:
            with contextlib.suppress(Exception):
                await stream.close()
        return bytes(got)

    # ---- gossip envelopes --------------------------------------------------------------------
    def message(
        self,
        topic: str,
        data: bytes,
        *,
        seqno: bytes | None = None,
        sign: bool = True,
        with_from: bool = True,
        key: bytes | None = None,
        topics: list[str] | None = None,
    ) -> Any:
        from libp2p.pubsub.pb import rpc_pb2

        if seqno is None:
            self._seqno += 1
            seqno = self._seqno.to_bytes(8, "big")
        msg = rpc_pb2.Message(data=data, topicIDs=topics if topics is not None else [topic], seqno=seqno)
        if with_from:
            msg.from_id = self.host.get_id().to_bytes()
        if sign:
            msg.signature = self.key_pair.private_key.sign(PUBSUB_SIGNING_PREFIX + msg.SerializeToString())
        if key is not None:
            msg.key = key
        return msg

    @staticmethod
    def rpc(*msgs: Any, subscribe: tuple[str, ...] = ()) -> bytes:
        from libp2p.pubsub.pb import rpc_pb2

        r = rpc_pb2.RPC(publish=list(msgs))
        for t in subscribe:
            r.subscriptions.append(rpc_pb2.RPC.SubOpts(subscribe=True, topicid=t))
        return frame(r.SerializeToString())
