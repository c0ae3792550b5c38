"""Archiver: follows the v0.63.1 Rollup on L1 and keeps the L2 chain (blocks, L1->L2 messages, tips).

Each poll: read `tips()`; if our local tip's archive no longer matches `archiveAt` (or L1's pending tip
is below ours) the chain was pruned: drop blocks above the last matching one and emit a `PruneEvent`.
Then fetch each new block: the `L2BlockProposed(n, archive)` log gives the L1 tx, whose calldata
(`propose` / `proposeAndClaim`, sent by an EOA) holds header, archive, blockHash, txHashes and body.
Inbox `MessageSent(l2BlockNumber indexed, index, hash indexed)` logs give the messages of each block.
Blocks and messages are stored in sqlite (DATA_DIRECTORY/archiver.sqlite, or in memory); a restart
resumes from the store. Subscribers get `NewBlockEvent` / `PruneEvent` on bounded memory channels
(a subscriber that does not keep up loses events: `send_nowait` drops and counts them).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import trio
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from core.aztec.header import Header
from core.aztec.serialization import DecodeError, keccak256
from core.aztec.tx_effect import Body, BodyDecodeError
from node.l1 import artifacts as art
from node.l1.client import L1Client
from node.l1.errors import L1Error
from node.l1.rpc import function_entry
from node.l2.block import L2Block, replay_block
from node.l2.world_state import ChainState

log = logging.getLogger("node.archiver")

L2_BLOCK_PROPOSED_TOPIC: Final = keccak256(b"L2BlockProposed(uint256,bytes32)")
MESSAGE_SENT_TOPIC: Final = keccak256(b"MessageSent(uint256,uint256,bytes32)")
SUBSCRIBER_BUFFER: Final = 256


class ArchiverError(Exception):
    """L1 data that cannot be turned into an L2 block."""


@dataclass(frozen=True, slots=True)
class NewBlockEvent:
    block: L2Block


@dataclass(frozen=True, slots=True)
class PruneEvent:
    new_tip: int  # blocks above this were removed
    old_tip: int


ArchiverEvent = NewBlockEvent | PruneEvent


def _abi_type(p: dict[str, Any]) -> str:
    t: str = p["type"]
    if t.startswith("tuple"):
        return f"({','.join(_abi_type(c) for c in p['components'])}){t[5:]}"
    return t


class ProposeCalldataDecoder:
    """Decodes `propose(...)` / `proposeAndClaim(...)` calldata into an L2Block (sans-IO)."""

    def __init__(self) -> None:
        abi = art.load_artifact(art.ROLLUP).abi
        self._fns: dict[bytes, list[str]] = {}
        for name, nargs in (("propose", 6), ("proposeAndClaim", 7)):
            entry = function_entry(abi, name, nargs)
            types = [_abi_type(i) for i in entry["inputs"]]
            self._fns[keccak256(f"{name}({','.join(types)})".encode())[:4]] = types

    def decode(self, calldata: bytes, l1_block_number: int = 0) -> L2Block:
        types = self._fns.get(calldata[:4])
        if types is None:
            raise ArchiverError(f"calldata selector 0x{calldata[:4].hex()} is not propose/proposeAndClaim")
        try:
            args = abi_decode(types, calldata[4:])
            header = Header.from_bytes(bytes(args[0]))
            body = Body.from_bytes(bytes(args[5]))
        except (DecodeError, DecodingError, ValueError, TypeError) as e:
            raise ArchiverError(f"propose calldata does not decode: {e}") from e
        return L2Block(header, bytes(args[1]), bytes(args[2]), body, tuple(bytes(h) for h in args[3]), l1_block_number)


class BlockStore:
    """sqlite store of blocks and messages (thread-safe; call from worker threads)."""

    def __init__(self, path: Path | None) -> None:
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS blocks (n INTEGER PRIMARY KEY, data TEXT NOT NULL)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS messages (block INTEGER, idx INTEGER, hash BLOB, PRIMARY KEY (block, idx))"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER)")

    def put_block(self, block: L2Block) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO blocks VALUES (?, ?)", (block.number, block.dumps()))

    def delete_blocks_above(self, n: int) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM blocks WHERE n > ?", (n,))

    def blocks(self) -> list[L2Block]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM blocks ORDER BY n").fetchall()
        return [L2Block.from_json(json.loads(r[0])) for r in rows]

    def put_messages(self, rows: Sequence[tuple[int, int, bytes]]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO messages VALUES (?, ?, ?)", rows)

    def messages(self) -> list[tuple[int, int, bytes]]:
        with self._lock:
            return [(int(a), int(b), bytes(c)) for a, b, c in
                    self._db.execute("SELECT block, idx, hash FROM messages ORDER BY block, idx")]

    def get_meta(self, k: str, default: int = 0) -> int:
        with self._lock:
            row = self._db.execute("SELECT v FROM meta WHERE k = ?", (k,)).fetchone()
        return int(row[0]) if row else default

    def set_meta(self, k: str, v: int) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, v))

    def close(self) -> None:
        self._db.close()


class Archiver:
    """`Archiver(l1, data_directory=None, polling_interval=1.0)`; `run()` syncs, then polls."""

    def __init__(self, l1: L1Client, *, data_directory: Path | str | None = None, polling_interval: float = 1.0,
                 from_l1_block: int = 0) -> None:
        self.l1 = l1
        self.polling_interval = polling_interval
        path = Path(data_directory) / "archiver.sqlite" if data_directory else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.store = BlockStore(path)
        self._decoder = ProposeCalldataDecoder()
        self._blocks: dict[int, L2Block] = {b.number: b for b in self.store.blocks()}
        self._messages: dict[int, list[bytes]] = {}
        for n, _i, h in self.store.messages():
            self._messages.setdefault(n, []).append(h)
        self._states: dict[int, ChainState] = {0: ChainState.genesis()}
        self._proven = self.store.get_meta("proven", 0)
        self._msg_from_l1 = self.store.get_meta("messages_l1_block", from_l1_block)
        self._subscribers: list[trio.MemorySendChannel[ArchiverEvent]] = []
        self._stats = {"blocks": 0, "prunes": 0, "dropped_events": 0, "polls": 0, "errors": 0}
        self.synced = trio.Event()

    # ----- API -----
    def get_block(self, n: int) -> L2Block | None:
        return self._blocks.get(n)

    def block_number(self) -> int:
        return max(self._blocks, default=0)

    def proven_block_number(self) -> int:
        return self._proven

    def tips(self) -> tuple[int, int]:
        """(pending, proven) as this archiver has synced them."""
        return self.block_number(), self._proven

    def get_blocks_for_epoch(self, epoch: int, epoch_duration: int) -> list[L2Block]:
        lo, hi = epoch * epoch_duration, (epoch + 1) * epoch_duration
        return [b for n, b in sorted(self._blocks.items()) if lo <= b.slot < hi]

    def get_l1_to_l2_messages(self, block_number: int) -> list[bytes]:
        return list(self._messages.get(block_number, []))

    def chain_state(self, block_number: int) -> ChainState:
        """World state after `block_number` (replayed from genesis on demand)."""
        if block_number in self._states:
            return self._states[block_number]
        if block_number not in self._blocks:
            raise ArchiverError(f"block {block_number} is not synced")
        parent = self.chain_state(block_number - 1)
        state = replay_block(parent, self._blocks[block_number], self.get_l1_to_l2_messages(block_number))
        self._states[block_number] = state
        return state

    def subscribe(self) -> trio.MemoryReceiveChannel[ArchiverEvent]:
        send, recv = trio.open_memory_channel[ArchiverEvent](SUBSCRIBER_BUFFER)
        self._subscribers.append(send)
        return recv

    def statistics(self) -> dict[str, object]:
        return {**self._stats, "tip": self.block_number(), "proven": self._proven}

    # ----- sync -----
    def _emit(self, ev: ArchiverEvent) -> None:
        for s in list(self._subscribers):
            try:
                s.send_nowait(ev)
            except trio.WouldBlock:
                self._stats["dropped_events"] += 1
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self._subscribers.remove(s)

    async def _get_logs(self, address: str, topics: Sequence[bytes], from_block: int) -> list[Any]:
        return await self.l1.get_logs(address, topics, from_block)  # retried; outages wait, not raise

    async def _fetch_block(self, n: int, archive: bytes) -> L2Block:
        logs = await self._get_logs(self.l1.addresses.rollup, [L2_BLOCK_PROPOSED_TOPIC, n.to_bytes(32, "big")], 0)
        for lg in reversed(logs):
            if bytes(lg["topics"][2]) == archive:
                tx = await self.l1.get_transaction(bytes(lg["transactionHash"]))
                block = self._decoder.decode(bytes(tx["input"]), int(lg["blockNumber"]))
                if block.number != n or block.archive != archive:
                    raise ArchiverError(f"calldata of block {n} does not match its L2BlockProposed event")
                return block
        raise ArchiverError(f"no L2BlockProposed event for block {n} with archive 0x{archive.hex()}")

    def _prune_to(self, n: int) -> None:
        old = self.block_number()
        for k in [k for k in self._blocks if k > n]:
            del self._blocks[k]
        for k in [k for k in self._states if k > n]:
            del self._states[k]
        self.store.delete_blocks_above(n)
        self._stats["prunes"] += 1
        log.info("L2 chain pruned from %d to %d", old, n)
        self._emit(PruneEvent(n, old))

    async def _sync_messages(self) -> None:
        logs = await self._get_logs(self.l1.addresses.inbox, [MESSAGE_SENT_TOPIC], self._msg_from_l1)
        rows = []
        last = self._msg_from_l1
        for lg in logs:
            topics = [bytes(t) for t in lg["topics"]]
            n, idx = int.from_bytes(topics[1], "big"), int.from_bytes(bytes(lg["data"])[:32], "big")
            rows.append((n, idx, topics[2]))
            last = max(last, int(lg["blockNumber"]) + 1)
        if rows:
            await trio.to_thread.run_sync(self.store.put_messages, rows)
            for n, _idx, h in rows:
                msgs = self._messages.setdefault(n, [])
                if h not in msgs:
                    msgs.append(h)
        self._msg_from_l1 = last
        self.store.set_meta("messages_l1_block", last)

    async def sync_once(self) -> None:
        self._stats["polls"] += 1
        await self._sync_messages()
        tips = await self.l1.tips()
        # prune detection: walk back until our block matches L1
        n = min(self.block_number(), tips.pending_block_number)
        while n > 0 and self._blocks[n].archive != await self.l1.archive_at(n):
            n -= 1
        if n < self.block_number():
            await trio.to_thread.run_sync(self._prune_to, n)
        for k in range(n + 1, tips.pending_block_number + 1):
            archive = await self.l1.archive_at(k)
            block = await self._fetch_block(k, archive)
            await trio.to_thread.run_sync(self.store.put_block, block)
            self._blocks[k] = block
            self._stats["blocks"] += 1
            self._emit(NewBlockEvent(block))
        if tips.proven_block_number != self._proven:
            self._proven = tips.proven_block_number
            self.store.set_meta("proven", self._proven)

    async def run(self, *, task_status: trio.TaskStatus[Archiver] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await self.sync_once()
            self.synced.set()
            task_status.started(self)
            while True:
                await trio.sleep(self.polling_interval)
                try:
                    await self.sync_once()
                except (ArchiverError, BodyDecodeError, L1Error) as e:  # one bad poll never ends the archiver
                    self._stats["errors"] += 1
                    log.warning("archiver sync failed: %s", e)
        finally:
            for s in self._subscribers:
                s.close()
