"""What the devnet console shows: L1 events of the rollup, as they happen.

`L1Status` is read from the Rollup (tips, proofClaim, current slot/epoch); `describe_changes` is a
pure function from (previous, current) to console lines, so it is tested without a chain.
"""

from __future__ import annotations

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

    @property
    def has_claim(self) -> bool:
        return int(self.claim_prover, 16) != 0


def describe_changes(prev: L1Status | None, cur: L1Status) -> list[str]:
    out: list[str] = []
    if prev is None:
        return [f"[l1] slot {cur.slot} epoch {cur.epoch}: pending {cur.pending}, proven {cur.proven}"]
    if cur.pending < prev.pending:
        out.append(f"[l1] PRUNED: pending chain {prev.pending} -> {cur.pending} (unproven blocks rolled back)")
    elif cur.pending > prev.pending:
        out.append(f"[l1] block {cur.pending} proposed (slot {cur.slot}, epoch {cur.epoch})")
    new_claim = (cur.claim_epoch, cur.claim_prover) != (prev.claim_epoch, prev.claim_prover)
    if cur.has_claim and (not prev.has_claim or new_claim):
        out.append(
            f"[l1] epoch {cur.claim_epoch} CLAIMED: prover {cur.claim_prover}, fee {cur.claim_fee_bps} bps, "
            f"bond {cur.claim_bond}"
        )
    if cur.proven > prev.proven:
        out.append(
            f"[l1] epoch {cur.proven_epoch} PROVEN: blocks {prev.proven + 1}-{cur.proven} (proven tip {cur.proven})"
        )
    return out


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
        )


async def watch_l1(url: str, rollup: str, out: Callable[[str], None], interval: float = 1.0) -> None:
    """Print what changes on L1; an L1 that stops answering is one line when it stops and one when it
    answers again (not a line per poll), and the watch goes on."""
    reach = L1Reachability()
    reader: RollupReader | None = None
    prev: L1Status | None = None
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
            for line in describe_changes(prev, cur):
                out(line)
            prev = cur
        await trio.sleep(interval)
