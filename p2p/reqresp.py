"""Aztec v0.63 request/response: `/aztec/req/{ping,status,tx}/0.1.0` (p2p doc 7).

Framing: none. The requester opens a stream, writes the request once, half-closes, and reads to EOF;
an empty response means "not found". The responder answers once and closes.
Rate limits as Aztec (GCRA there, token buckets here): per peer 5 req/s and global 10 req/s per
protocol. Over the global limit the stream is closed without a response; over the per-peer limit it
is closed and the peer gets a MidTolerance penalty. Requester: peers are asked one after another,
2 s per peer, 4 s overall; a tx whose hash does not match the request costs the peer MidTolerance,
an error or timeout HighTolerance.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import trio

from core.aztec.serialization import DecodeError
from p2p.gossip import RateLimit, TokenBuckets
from p2p.libp2p_host import HostError, Libp2pHost, Stream
from p2p.pools.tx_pool import TxPool
from p2p.scoring import PeerErrorSeverity, PeerScoring
from p2p.validation import MAX_TX_SIZE
from p2p.wire.tx import Tx

log = logging.getLogger(__name__)

PING_PROTOCOL: Final = "/aztec/req/ping/0.1.0"
STATUS_PROTOCOL: Final = "/aztec/req/status/0.1.0"
TX_PROTOCOL: Final = "/aztec/req/tx/0.1.0"
PER_PEER_LIMIT: Final = RateLimit(5, 5)
GLOBAL_LIMIT: Final = RateLimit(10, 10)
INDIVIDUAL_REQUEST_TIMEOUT: Final = 2.0
OVERALL_REQUEST_TIMEOUT: Final = 4.0
MAX_REQUEST_SIZE: Final = 1024


class ReqRespError(Exception):
    """A request failed (timeout, stream error, oversize response)."""


async def _read_to_eof(stream: Stream, limit: int) -> bytes:
    buf = bytearray()
    while True:
        try:
            chunk = await stream.read(65536)
        except Exception as e:  # py-libp2p signals EOF/reset with assorted exception types
            if "EOF" in type(e).__name__ or "Closed" in type(e).__name__:
                break
            raise ReqRespError(f"read failed: {e!r}") from e
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            raise ReqRespError(f"response exceeds {limit} bytes")
    return bytes(buf)


async def _read_exactly(stream: Stream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = await stream.read(n - len(buf))
        except Exception:
            break
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


class ReqResp:
    def __init__(
        self,
        host: Libp2pHost,
        *,
        tx_pool: TxPool,
        scoring: PeerScoring,
        now: Callable[[], float],
        per_peer_limit: RateLimit = PER_PEER_LIMIT,
        global_limit: RateLimit = GLOBAL_LIMIT,
    ) -> None:
        self.host = host
        self.tx_pool = tx_pool
        self.scoring = scoring
        self._now = now
        self._per_peer_limit = per_peer_limit
        self._global_limit = global_limit
        self._peer_buckets = TokenBuckets(4096)
        self._global_buckets = TokenBuckets(8)
        self._stats = {"served": 0, "rate_limited_global": 0, "rate_limited_peer": 0, "requests": 0, "failures": 0}

    def install(self) -> None:
        for proto, fn in (
            (PING_PROTOCOL, self._ping),
            (STATUS_PROTOCOL, self._status),
            (TX_PROTOCOL, self._tx),
        ):
            self.host.set_stream_handler(proto, self._wrap(proto, fn))

    def _wrap(self, proto: str, fn: Callable[[Stream], Awaitable[bytes]]) -> Callable[[Stream], Awaitable[None]]:
        async def handler(stream: Stream) -> None:
            now = self._now()
            peer = stream.remote_peer
            if not self._global_buckets.allow(("*", proto), self._global_limit, now):
                self._stats["rate_limited_global"] += 1
                await stream.close()
                return
            if not self._peer_buckets.allow((peer, proto), self._per_peer_limit, now):
                self._stats["rate_limited_peer"] += 1
                self.scoring.penalize(peer, PeerErrorSeverity.MID_TOLERANCE)
                await stream.close()
                return
            with trio.move_on_after(INDIVIDUAL_REQUEST_TIMEOUT):
                resp = await fn(stream)
                await stream.write(resp)
                self._stats["served"] += 1
            await stream.close()

        return handler

    async def _ping(self, stream: Stream) -> bytes:
        await stream.read(MAX_REQUEST_SIZE)
        return b"pong"

    async def _status(self, stream: Stream) -> bytes:
        await stream.read(MAX_REQUEST_SIZE)
        return b"ok"

    async def _tx(self, stream: Stream) -> bytes:
        h = await _read_exactly(stream, 32)
        if len(h) != 32:
            return b""
        return self.tx_pool.get_raw_tx(h) or b""

    # ---- requester ---------------------------------------------------------------------
    async def request(self, peer: str, protocol: str, payload: bytes, *, max_response: int = MAX_TX_SIZE) -> bytes:
        self._stats["requests"] += 1
        with trio.move_on_after(INDIVIDUAL_REQUEST_TIMEOUT) as cs:
            try:
                stream = await self.host.new_stream(peer, protocol)
                try:
                    await stream.write(payload)
                    await stream.close_write()
                    return await _read_to_eof(stream, max_response)
                finally:
                    with trio.CancelScope(shield=True):
                        try:
                            await stream.close()
                        except Exception:
                            log.debug("closing %s stream to %s failed", protocol, peer)
            except (HostError, ReqRespError) as e:
                self._stats["failures"] += 1
                raise ReqRespError(str(e)) from e
            except Exception as e:
                self._stats["failures"] += 1
                raise ReqRespError(f"{protocol} to {peer} failed: {e!r}") from e
        assert cs.cancelled_caught
        self._stats["failures"] += 1
        raise ReqRespError(f"{protocol} to {peer} timed out")

    async def ping(self, peer: str) -> bool:
        try:
            return await self.request(peer, PING_PROTOCOL, b"ping") == b"pong"
        except ReqRespError:
            return False

    async def request_tx(self, tx_hash: bytes, peers: Sequence[str] | None = None) -> Tx | None:
        """Ask peers one after another (2 s each, 4 s overall) for a tx; validate the hash."""
        candidates = list(peers) if peers is not None else self.host.connected_peers()
        with trio.move_on_after(OVERALL_REQUEST_TIMEOUT):
            for peer in candidates:
                try:
                    raw = await self.request(peer, TX_PROTOCOL, tx_hash)
                except ReqRespError as e:
                    log.debug("tx request to %s failed: %s", peer, e)
                    self.scoring.penalize(peer, PeerErrorSeverity.HIGH_TOLERANCE)
                    continue
                if not raw:
                    continue
                try:
                    tx = Tx.from_bytes(raw)
                    ok = tx.tx_hash() == tx_hash
                except DecodeError:
                    ok = False
                except Exception as e:  # a response our decoder did not foresee: that peer's fault only
                    log.warning("tx response from %s failed to decode: %r", peer, e)
                    ok = False
                if not ok:
                    self.scoring.penalize(peer, PeerErrorSeverity.MID_TOLERANCE)
                    continue
                self.tx_pool.add_tx(tx, raw)
                return tx
        return None

    def statistics(self) -> dict[str, object]:
        return dict(self._stats)
