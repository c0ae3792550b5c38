"""What the devnet console shows: L1 events of the rollup as they happen, and what the nodes decided.

`L1Status` is read from the Rollup (tips, the pending tip's archive, proofClaim, current slot/epoch);
`describe_changes` is a pure function from (previous, current) to console lines: blocks, slots that
passed without a block, claims (who, fee, bond), proofs with their time against the deadline, prunes
(in the archivers' words: "pruned from A to B"). `console_line` picks the lines of the children's logs
an operator wants on the console: quotes sent and chosen (who, fee, bond, why not), proposals with
their tx counts, slots a proposer failed and why, epoch proof progress, prunes as the archiver saw them.
Both are pure, so they are tested without a chain.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from node.l1 import artifacts as art
from node.l1.errors import L1Error
from node.l1.reachability import CameBack, L1Reachability, WentDown
from node.l1.rpc import SyncRpc, decode_output, encode_call


@dataclass(frozen=True, slots=True)
class L1Status:
    slot: int
    epoch: int
    pending: int
    proven: int
    claim_epoch: int
    claim_prover: str  # 0x0 when there is no claim
    claim_bond: int
    claim_fee_bps: int
    epoch_duration: int
    proven_epoch: int  # epoch of the proven tip's block, -1 at genesis
    pending_archive: str = ""  # archive root of the pending tip (a prune + re-proposal changes it)
    pending_slot: int = -1  # slot of the pending tip

    @property
    def has_claim(self) -> bool:
        return int(self.claim_prover, 16) != 0


@dataclass
class ConsoleMemory:
    """What describe_changes remembers across polls: the slot each claim was first seen in (claims of
    proven epochs are forgotten) and the slots of the last blocks seen (the last 64 slots)."""

    claimed_at: dict[int, int] | None = None
    block_slots: set[int] | None = None

    def claims(self) -> dict[int, int]:
        if self.claimed_at is None:
            self.claimed_at = {}
        return self.claimed_at

    def blocks(self) -> set[int]:
        if self.block_slots is None:
            self.block_slots = set()
        return self.block_slots


def describe_changes(prev: L1Status | None, cur: L1Status, memory: ConsoleMemory | None = None) -> list[str]:
    mem = memory if memory is not None else ConsoleMemory()
    out: list[str] = []
    if prev is None:
        mem.blocks().add(cur.slot)  # no "no block" line for the slot we start in
        return [f"[l1] slot {cur.slot} epoch {cur.epoch}: pending {cur.pending}, proven {cur.proven}"]
    if cur.pending_slot >= 0 and (cur.pending != prev.pending or cur.pending_archive != prev.pending_archive):
        mem.blocks().add(cur.pending_slot)
    pruned = cur.pending < prev.pending or (
        cur.pending == prev.pending and cur.pending > cur.proven and bool(prev.pending_archive)
        and cur.pending_archive != prev.pending_archive)
    if pruned:
        why = ""
        if prev.has_claim and prev.claim_epoch > prev.proven_epoch:
            why = f"; epoch {prev.claim_epoch} claimed by {prev.claim_prover} was not proven in time"
        out.append(f"[l1] PRUNED: L2 chain pruned from {prev.pending} to {cur.proven} (blocks {cur.proven + 1}-"
                   f"{prev.pending} rolled back{why})")
        if cur.pending > cur.proven:
            out.append(f"[l1] block {cur.pending} proposed on the proven chain (slot {cur.slot}, epoch {cur.epoch})")
    elif cur.pending > prev.pending:
        out.append(f"[l1] block {cur.pending} proposed (slot {cur.slot}, epoch {cur.epoch})")
    if cur.slot > prev.slot:
        for k in range(max(prev.slot, cur.slot - 8), cur.slot):
            if k not in mem.blocks():
                out.append(f"[l1] slot {k}: no block proposed")
        mem.block_slots = {k for k in mem.blocks() if k >= cur.slot - 64}
    new_claim = (cur.claim_epoch, cur.claim_prover) != (prev.claim_epoch, prev.claim_prover)
    if cur.has_claim and (not prev.has_claim or new_claim):
        mem.claims()[cur.claim_epoch] = cur.slot
        deadline = (cur.claim_epoch + 2) * cur.epoch_duration
        out.append(
            f"[l1] epoch {cur.claim_epoch} CLAIMED: prover {cur.claim_prover}, fee {cur.claim_fee_bps} bps, "
            f"bond {cur.claim_bond}; proof due before slot {deadline}"
        )
    if cur.proven > prev.proven:
        e = cur.proven_epoch
        deadline = (e + 2) * cur.epoch_duration
        since = mem.claims().pop(e, None)
        took = f"proven {cur.slot - since} slots after the claim, " if since is not None else ""
        out.append(
            f"[l1] epoch {e} PROVEN: blocks {prev.proven + 1}-{cur.proven} (proven tip {cur.proven}); "
            f"{took}{deadline - cur.slot} slots before the deadline (slot {deadline})"
        )
        for old in [k for k in mem.claims() if k < e]:
            del mem.claims()[old]
    return out


_TEXT_LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<level>[A-Z]+)\s+(?P<logger>[\w.]+): (?P<msg>.*)$")
_SHOWN: dict[str, tuple[str, ...]] = {  # logger -> message starts shown on the console
    "node.sequencer": ("proposed block", "slot "),
    "node.prover_node": ("sent quote", "our quote", "no quote", "epoch proven"),
    "node.prover_node.epoch_job": ("proving epoch", "epoch proof progress", "submitted epoch proof"),
    "node.archiver": ("L2 chain pruned",),
}


def console_line(child: str, line: str) -> str | None:
    """The console line for one line of a child's log (text format), None to keep it in the log file
    only: warnings and errors, and the decisions listed in _SHOWN (without the time stamp)."""
    m = _TEXT_LINE.match(line)
    if m is None:
        return None
    if m["level"] in ("WARNING", "ERROR", "CRITICAL"):
        return f"[{child}] {line}"
    starts = _SHOWN.get(m["logger"])
    if starts is not None and m["msg"].startswith(starts):
        return f"[{child}] {m['msg']}"
    return None


class RollupReader:
    def __init__(self, url: str, rollup: str) -> None:
        self.rpc = SyncRpc.from_url(url)
        self.rollup = rollup
        self.abi = art.load_artifact("Rollup").abi
        self.epoch_duration = int(self._view("EPOCH_DURATION"))

    def _view(self, fn: str, *args: object) -> Any:
        out = decode_output(self.abi, fn, len(args), self.rpc.call(self.rollup, encode_call(self.abi, fn, args)))
        return out[0] if len(out) == 1 else out

    def status(self) -> L1Status:
        tips = self._view("tips")
        claim = self._view("proofClaim")
        slot = int(self._view("getCurrentSlot"))
        assert isinstance(tips, tuple) and isinstance(claim, tuple)
        # proofClaim: (epochToProve, basisPointFee, bondAmount, bondProvider, proposerClaimant)
        proven = int(tips[1])
        proven_epoch = int(self._view("getEpochForBlock", proven)) if proven else -1
        tip = self._view("blocks", int(tips[0]))  # (archive, blockHash, slotNumber)
        return L1Status(
            slot,
            slot // self.epoch_duration,
            int(tips[0]),
            proven,
            int(claim[0]),
            str(claim[3]),
            int(claim[2]),
            int(claim[1]),
            self.epoch_duration,
            proven_epoch,
            "0x" + bytes(tip[0]).hex(),
            int(tip[2]),
        )


async def watch_l1(url: str, rollup: str, out: Callable[[str], None], interval: float = 1.0) -> None:
    """Print what changes on L1; an L1 that stops answering is one line when it stops and one when it
    answers again (not a line per poll), and the watch goes on."""
    reach = L1Reachability()
    reader: RollupReader | None = None
    prev: L1Status | None = None
    memory = ConsoleMemory()
    while True:
        began, began_wall = trio.current_time(), time.time()
        try:
            if reader is None:
                reader = await trio.to_thread.run_sync(RollupReader, url, rollup, abandon_on_cancel=True)
            cur = await trio.to_thread.run_sync(reader.status, abandon_on_cancel=True)
        except L1Error as e:
            if isinstance(reach.failure(str(e), now=began, wall=began_wall), WentDown):
                out(f"[devnet] L1 down since {time.strftime('%H:%M:%S', time.gmtime(began_wall))} UTC: {e}")
        else:
            change = reach.success(now=trio.current_time(), wall=time.time())
            if isinstance(change, CameBack):
                out(f"[devnet] L1 back after {change.down_for:.1f}s")
            for line in describe_changes(prev, cur, memory):
                out(line)
            prev = cur
        await trio.sleep(interval)
