from __future__ import annotations

from node.devnet_status import L1Status, describe_changes

ZERO = "0x0000000000000000000000000000000000000000"
PROVER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


def st(slot: int, pending: int, proven: int, claim: tuple[int, str] = (0, ZERO), proven_epoch: int = -1) -> L1Status:
    return L1Status(slot, slot // 4, pending, proven, claim[0], claim[1], 1000 if claim[1] != ZERO else 0,
                    100 if claim[1] != ZERO else 0, 4, proven_epoch)


def test_first_line_is_a_summary() -> None:
    assert describe_changes(None, st(5, 4, 0)) == ["[l1] slot 5 epoch 1: pending 4, proven 0"]


def test_block_claim_proof_prune_lines() -> None:
    assert describe_changes(st(5, 4, 0), st(6, 5, 0)) == ["[l1] block 5 proposed (slot 6, epoch 1)"]
    lines = describe_changes(st(5, 4, 0), st(5, 4, 0, (0, PROVER)))
    assert lines == [f"[l1] epoch 0 CLAIMED: prover {PROVER}, fee 100 bps, bond 1000"]
    assert describe_changes(st(5, 4, 0, (0, PROVER)), st(5, 4, 0, (0, PROVER))) == []
    assert describe_changes(st(6, 5, 0), st(6, 5, 3, proven_epoch=0)) == [
        "[l1] epoch 0 PROVEN: blocks 1-3 (proven tip 3)"]
    assert describe_changes(st(15, 11, 3), st(16, 3, 3)) == [
        "[l1] PRUNED: pending chain 11 -> 3 (unproven blocks rolled back)"]
