"""A p2p Tx (v0.63.1 wire form) as the TxEffect Aztec's sequencer would put in a block, without an AVM.

Private-only txs (`makeProcessedTxFromPrivateOnlyTx`): note hashes, nullifiers, siloed L2->L1 messages
and the four log preimage lengths come from the kernel's CombinedAccumulatedData; the logs are the
tx's own; fee = gasUsed . gasFees. Txs with public calls: we cannot execute public bytecode, so the
effect is the private part only (non-revertible then revertible accumulated data) with log lengths
recomputed from the logs (as `makeProcessedTxFromTxWithPublicCalls` does); public data writes are
empty and revertCode is OK.

Offsets into CombinedAccumulatedData (15012 bytes, circuits.js 0.63.1): noteHashes 64x32 @0,
nullifiers 64x32 @2048, l2ToL1Msgs 8 x ScopedL2ToL1Message(recipient 20 | content 32 | counter u32 |
contract 32) @4096, log hashes @4800..10852, four preimage lengths @10852, publicDataWrites 63x64 @10980.
PrivateToPublicAccumulatedData (13284 bytes) shares the first three arrays.
"""

from __future__ import annotations

from typing import Final

from core.aztec.hashing import sha256_to_field
from core.aztec.tx_effect import LogSection, TxEffect
from p2p.wire.tx import OFF_ACCUMULATED, OFF_GAS_USED, Tx

ACC_NOTE_HASHES: Final = 0
ACC_NULLIFIERS: Final = 2048
ACC_L2_TO_L1: Final = 4096
SCOPED_L2_TO_L1_SIZE: Final = 88
ACC_LOG_LENGTHS: Final = 10852
PRIVATE_TO_PUBLIC_SIZE: Final = 13284


def silo_l2_to_l1_message(contract: bytes, recipient: bytes, content: bytes, version: int, chain_id: int) -> bytes:
    """siloL2ToL1Message: 0 for an empty contract, else sha256ToField(contract|version|recipient32|chainId|content)."""
    if not any(contract):
        return bytes(32)
    pre = contract + version.to_bytes(32, "big") + recipient.rjust(32, b"\0") + chain_id.to_bytes(32, "big") + content
    return sha256_to_field(pre)


def _words(data: bytes, off: int, n: int) -> list[bytes]:
    return [data[off + 32 * i : off + 32 * (i + 1)] for i in range(n)]


def _acc(tx: Tx) -> list[int]:
    return [OFF_ACCUMULATED, OFF_ACCUMULATED + PRIVATE_TO_PUBLIC_SIZE] if tx.is_for_public else [OFF_ACCUMULATED]


def gas_used(tx: Tx) -> tuple[int, int]:
    d = tx.data
    da = int.from_bytes(d[OFF_GAS_USED : OFF_GAS_USED + 4], "big")
    return da, int.from_bytes(d[OFF_GAS_USED + 4 : OFF_GAS_USED + 8], "big")


def tx_to_effect(tx: Tx, *, fee_per_da_gas: int = 0, fee_per_l2_gas: int = 0) -> TxEffect:
    d = tx.data
    notes: list[bytes] = []
    nulls: list[bytes] = []
    msgs: list[bytes] = []
    for base in _acc(tx):
        notes += [w for w in _words(d, base + ACC_NOTE_HASHES, 64) if any(w)]
        nulls += [w for w in _words(d, base + ACC_NULLIFIERS, 64) if any(w)]
        for i in range(8):
            o = base + ACC_L2_TO_L1 + SCOPED_L2_TO_L1_SIZE * i
            recipient, content, contract = d[o : o + 20], d[o + 20 : o + 52], d[o + 56 : o + 88]
            siloed = silo_l2_to_l1_message(contract, recipient, content, tx.version, tx.chain_id)
            if any(siloed):
                msgs.append(siloed)
    da, l2 = gas_used(tx)
    sections = {
        "note_encrypted_logs": LogSection.from_function_logs(tx.note_encrypted_logs),
        "encrypted_logs": LogSection.from_function_logs(tx.encrypted_logs),
        "unencrypted_logs": LogSection.from_function_logs(tx.unencrypted_logs),
        "contract_class_logs": LogSection.from_function_logs(tx.contract_class_logs),
    }
    if tx.is_for_public:
        return TxEffect.with_computed_lengths(
            transaction_fee=da * fee_per_da_gas + l2 * fee_per_l2_gas,
            note_hashes=tuple(notes[:64]), nullifiers=tuple(nulls[:64]), l2_to_l1_msgs=tuple(msgs[:8]), **sections,
        )
    l0, l1, l2_, l3 = (int.from_bytes(w, "big") for w in _words(d, OFF_ACCUMULATED + ACC_LOG_LENGTHS, 4))
    return TxEffect(
        0, da * fee_per_da_gas + l2 * fee_per_l2_gas, tuple(notes), tuple(nulls), tuple(msgs), (), l0, l1, l2_, l3,
        sections["note_encrypted_logs"], sections["encrypted_logs"], sections["unencrypted_logs"],
        sections["contract_class_logs"],
    )
