"""The devnet console: L1 changes (blocks, empty slots, claims, proofs against the deadline, prunes in
the archivers' words) and which child log lines reach the console."""

from __future__ import annotations

import logging

from node.devnet_status import ConsoleMemory, L1Status, console_line, describe_changes
from node.logs import TextFormatter

ZERO = "0x0000000000000000000000000000000000000000"
PROVER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


def st(slot: int, pending: int, proven: int, claim: tuple[int, str] = (0, ZERO), proven_epoch: int = -1,
       archive: str = "", pending_slot: int = -1) -> L1Status:
    return L1Status(slot, slot // 4, pending, proven, claim[0], claim[1], 1000 if claim[1] != ZERO else 0,
                    100 if claim[1] != ZERO else 0, 4, proven_epoch, archive or f"0x{pending:02x}",
                    pending_slot if pending_slot >= 0 else slot)


def test_first_line_is_a_summary() -> None:
    assert describe_changes(None, st(5, 4, 0)) == ["[l1] slot 5 epoch 1: pending 4, proven 0"]


def test_block_claim_proof_prune_lines() -> None:
    assert describe_changes(st(5, 4, 0), st(5, 5, 0)) == ["[l1] block 5 proposed (slot 5, epoch 1)"]
    lines = describe_changes(st(5, 4, 0), st(5, 4, 0, (0, PROVER)))
    assert lines == [f"[l1] epoch 0 CLAIMED: prover {PROVER}, fee 100 bps, bond 1000; proof due before slot 8"]
    assert describe_changes(st(5, 4, 0, (0, PROVER)), st(5, 4, 0, (0, PROVER))) == []
    assert describe_changes(st(6, 5, 0), st(6, 5, 3, proven_epoch=0)) == [
        "[l1] epoch 0 PROVEN: blocks 1-3 (proven tip 3); 2 slots before the deadline (slot 8)"]


def test_proof_time_is_measured_from_the_claim() -> None:
    mem = ConsoleMemory()
    describe_changes(st(5, 5, 0), st(5, 5, 0, (0, PROVER)), mem)
    lines = describe_changes(st(7, 7, 0, pending_slot=7), st(7, 7, 3, proven_epoch=0, pending_slot=7), mem)
    assert lines == ["[l1] epoch 0 PROVEN: blocks 1-3 (proven tip 3); proven 2 slots after the claim, "
                     "1 slots before the deadline (slot 8)"]
    assert mem.claims() == {}


def test_prune_is_said_as_the_archivers_say_it() -> None:
    # pending 11 -> proven tip 3 (prune() alone); the claim of epoch 2 was not honoured
    before = st(16, 11, 3, (2, PROVER), proven_epoch=0)
    assert describe_changes(before, st(16, 3, 3, (2, PROVER), proven_epoch=0)) == [
        f"[l1] PRUNED: L2 chain pruned from 11 to 3 (blocks 4-11 rolled back; epoch 2 claimed by {PROVER} was not "
        "proven in time)"]
    # a proposal that prunes and re-proposes in one transaction: pending 11 -> 4 (proven 3 + the new block)
    assert describe_changes(st(16, 11, 3, proven_epoch=0), st(16, 4, 3, proven_epoch=0)) == [
        "[l1] PRUNED: L2 chain pruned from 11 to 3 (blocks 4-11 rolled back)",
        "[l1] block 4 proposed on the proven chain (slot 16, epoch 4)"]
    # the same height with another archive: pruned and re-proposed (the tip height alone would hide it)
    lines = describe_changes(st(16, 4, 3, proven_epoch=0, archive="0xaa"), st(16, 4, 3, proven_epoch=0, archive="0xbb"))
    assert lines[0].startswith("[l1] PRUNED: L2 chain pruned from 4 to 3")


def test_slots_without_a_block() -> None:
    mem = ConsoleMemory()
    describe_changes(None, st(5, 4, 0), mem)
    assert describe_changes(st(5, 4, 0), st(6, 4, 0, pending_slot=5), mem) == []  # slot 5 is where we started
    assert describe_changes(st(6, 4, 0, pending_slot=5), st(7, 4, 0, pending_slot=5), mem) == [
        "[l1] slot 6: no block proposed"]
    lines = describe_changes(st(7, 4, 0, pending_slot=5), st(8, 5, 0, pending_slot=7), mem)
    assert lines == ["[l1] block 5 proposed (slot 8, epoch 2)"]  # block 5 landed in slot 7


def _text(logger: str, level: int, msg: str, **extra: object) -> str:
    rec = logging.LogRecord(logger, level, "f.py", 1, msg, (), None)
    rec.__dict__.update(extra)
    return TextFormatter().format(rec)


def test_console_shows_decisions_and_problems_only() -> None:
    report = "slot 9: 2 quotes for epoch 1, chose 0x90f79bf6 (fee 100 bps, bond 1000)"
    shown = console_line("sequencer-2", _text("node.sequencer", logging.INFO, report))
    assert shown == f"[sequencer-2] {report}"
    assert console_line("sequencer-1", _text("node.sequencer", logging.INFO,
                                             "proposed block 4 in slot 9 with 2 txs (propose, gas 1)")) is not None
    assert console_line("sequencer-1", _text("node.sequencer", logging.INFO,
                                             "slot 10 not proposed: not-enough-attestations (1/3)")) is not None
    line = console_line("prover-node", _text("node.prover_node", logging.INFO, "sent quote", epoch=1, fee_bps=100,
                                             bond=1000))
    assert line is not None and "fee_bps=100" in line and "bond=1000" in line
    progress = _text("node.prover_node.epoch_job", logging.INFO, "epoch proof progress", jobs="10/40", eta_s=3.0)
    assert console_line("prover-node", progress) == "[prover-node] epoch proof progress jobs=10/40 eta_s=3.0"
    assert console_line("prover-node", _text("node.archiver", logging.INFO, "L2 chain pruned from 8 to 4")) == (
        "[prover-node] L2 chain pruned from 8 to 4")
    warn = _text("node.p2p", logging.WARNING, "chain state refresh failed")
    assert console_line("tx-bot", warn) == f"[tx-bot] {warn}"
    assert console_line("tx-bot", _text("node.p2p", logging.INFO, "p2p status", peers=3)) is None
    assert console_line("x", "not a log line") is None
