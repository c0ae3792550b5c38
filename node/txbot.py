"""TxBot: builds valid v0.63.1 Tx wire objects and sends them through a P2PClient at a fixed rate.

The txs are what a private kernel tail would output for a trivial call: `isForPublic = 0` (or 1 with
enqueued public calls), the tx context's chain id and version, one unique first nullifier (the tx
hash), optional note hashes, an empty ClientIVC proof and no logs. Nullifiers are unique per bot
(random 16-byte prefix + counter), so every tx hash differs.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Final, Protocol

import trio

from p2p.wire.tx import (
    ACC_NULLIFIERS_OFFSET,
    ACC_PUBLIC_CALL_REQUESTS_OFFSET,
    ACC_PUBLIC_SIZE,
    DATA_SIZE_FOR_PUBLIC,
    DATA_SIZE_FOR_ROLLUP,
    OFF_ACCUMULATED,
    OFF_CHAIN_ID,
    OFF_VERSION,
    CallContext,
    PublicExecutionRequest,
    Tx,
)

log = logging.getLogger("node.txbot")
FIELD_LIMIT: Final = 1 << 248  # keep values well below the BN254 modulus


class TxSink(Protocol):
    async def send_tx(self, tx: Tx) -> None: ...


def make_tx(
    nullifier: int,
    *,
    chain_id: int,
    version: int = 1,
    note_hashes: tuple[int, ...] = (),
    public_calls: int = 0,
    contract: int = 0x1234,
) -> Tx:
    """A private-only tx (public_calls = 0) or one with `public_calls` enqueued calls (revertible)."""
    if not 0 < nullifier < FIELD_LIMIT:
        raise ValueError("nullifier must be a non-zero field element")
    for_public = public_calls > 0
    data = bytearray(DATA_SIZE_FOR_PUBLIC if for_public else DATA_SIZE_FOR_ROLLUP)
    data[0] = 1 if for_public else 0
    data[OFF_CHAIN_ID : OFF_CHAIN_ID + 32] = chain_id.to_bytes(32, "big")
    data[OFF_VERSION : OFF_VERSION + 32] = version.to_bytes(32, "big")
    acc = OFF_ACCUMULATED + (ACC_PUBLIC_SIZE if for_public else 0)  # revertible data for public txs
    for i, h in enumerate(note_hashes[:64]):
        data[acc + 32 * i : acc + 32 * (i + 1)] = h.to_bytes(32, "big")
    nul = OFF_ACCUMULATED + ACC_NULLIFIERS_OFFSET  # the first (non-revertible) nullifier = tx hash
    data[nul : nul + 32] = nullifier.to_bytes(32, "big")
    calls = []
    for i in range(public_calls):
        ctx = CallContext(0, contract, (0x11223344 + i).to_bytes(4, "big"), False)
        calls.append(PublicExecutionRequest(ctx, (nullifier, i)))
        off = acc + ACC_PUBLIC_CALL_REQUESTS_OFFSET + 101 * i
        data[off : off + 69] = ctx.to_bytes()
        data[off + 69 : off + 101] = (i + 1).to_bytes(32, "big")  # argsHash (not checked without an AVM)
    return Tx(bytes(data), (b"", b"", b"", b""), (), (), (), (), tuple(calls), PublicExecutionRequest.empty())


class TxBot:
    """`TxBot(sink, chain_id, rate_per_second=1.0, public_call_every=0)`; sink = a P2PClient."""

    def __init__(self, sink: TxSink, *, chain_id: int, version: int = 1, rate_per_second: float = 1.0,
                 public_call_every: int = 0, max_txs: int | None = None) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate must be positive")
        self.sink = sink
        self.chain_id = chain_id
        self.version = version
        self.interval = 1.0 / rate_per_second
        self.public_call_every = public_call_every
        self.max_txs = max_txs
        self._prefix = int.from_bytes(os.urandom(15), "big") << 64
        self._counter = 0
        self._stats = {"sent": 0, "errors": 0}

    def next_tx(self) -> Tx:
        self._counter += 1
        public = 1 if self.public_call_every and self._counter % self.public_call_every == 0 else 0
        n = self._prefix | self._counter
        return make_tx(n, chain_id=self.chain_id, version=self.version, note_hashes=(n + 1,), public_calls=public)

    def statistics(self) -> dict[str, Any]:
        return dict(self._stats)

    async def run(self, *, task_status: trio.TaskStatus[TxBot] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started(self)
        while self.max_txs is None or self._stats["sent"] < self.max_txs:
            tx = self.next_tx()
            try:
                await self.sink.send_tx(tx)
                self._stats["sent"] += 1
            except Exception as e:  # a sink error (e.g. p2p not ready) must not kill the bot
                self._stats["errors"] += 1
                log.warning("txbot send failed: %s", e)
            await trio.sleep(self.interval)
