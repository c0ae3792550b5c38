"""Gossip message validation, one pure function per topic (sans-IO).

Each returns `Accept(value)`, `Reject(reason, severity, invalid_delivery)` or `Ignore(reason)`:
- Reject: the message is provably bad. `invalid_delivery` counts a gossipsub invalid delivery
  against the forwarding peer on that topic (-20, fast decay); `severity`, if set, is an Aztec app
  penalty (2/10/50, slow decay).
- Ignore: not useful to us (expired, already proven, duplicate) but not the sender's fault: Aztec
  nodes relay quotes without checking them, so an honest relay must not be punished for these.
Neither is forwarded.

Rules go beyond 0.63's own (which checks nothing on the quote/attestation/proposal topics) while
staying wire compatible. Not checked (documented gaps): ClientIVC proofs, kernel argsHash of
enqueued calls (needs Poseidon2), nullifier-tree double spends (needs world state), committee
membership of proposers/attesters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from p2p.scoring import PeerErrorSeverity
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.quote import MAX_BASIS_POINT_FEE, QUOTE_SIZE, EpochProofQuote
from p2p.wire.serialization import DecodeError
from p2p.wire.tx import Tx

T = TypeVar("T")

MAX_TX_SIZE: Final = 512 * 1024
MAX_BLOCK_PROPOSAL_SIZE: Final = 10 * 1024 * 1024
MAX_BLOCK_ATTESTATION_SIZE: Final = 10 * 1024 * 1024
AZTEC_EPOCH_DURATION: Final = 16  # L2 slots per epoch (default L1 config)


@dataclass(frozen=True, slots=True)
class Accept(Generic[T]):
    value: T


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str
    severity: PeerErrorSeverity | None = PeerErrorSeverity.HIGH_TOLERANCE
    invalid_delivery: bool = True


@dataclass(frozen=True, slots=True)
class Ignore:
    reason: str


Verdict = Accept[T] | Reject | Ignore


# ---- epoch proof quotes ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QuoteValidationContext:
    chain_id: int
    rollup_address: bytes  # 20 bytes: the EIP-712 verifyingContract
    current_slot: Callable[[], int]
    proven_epoch: Callable[[], int | None] = lambda: None
    epoch_duration: int = AZTEC_EPOCH_DURATION
    max_epochs_ahead: int = 2  # quotes for epochs further ahead than this are ignored
    max_epochs_behind: int = 1  # epoch N-1 is the one being claimed during epoch N


def validate_quote(data: bytes, ctx: QuoteValidationContext) -> Verdict[EpochProofQuote]:
    if len(data) != QUOTE_SIZE:
        return Reject(f"quote must be {QUOTE_SIZE} bytes, got {len(data)}")
    try:
        quote = EpochProofQuote.from_bytes(data)
    except DecodeError as e:  # includes basisPointFee > 10000 (payload constructor)
        return Reject(f"undecodable quote: {e}")
    p, sig = quote.payload, quote.signature
    if p.basis_point_fee > MAX_BASIS_POINT_FEE:  # unreachable (constructor), kept as the rule
        return Reject("basisPointFee above 10000")
    if sig.is_empty:
        return Reject("empty signature")
    if sig.v not in (27, 28):
        return Reject(f"signature v must be 27 or 28, got {sig.v}")
    try:
        signer = quote.recover_signer(ctx.chain_id, ctx.rollup_address)
    except DecodeError as e:
        return Reject(f"signature does not recover: {e}")
    if signer != p.prover:
        return Reject(f"signer 0x{signer.hex()} is not the prover 0x{p.prover.hex()}")
    slot = ctx.current_slot()
    if p.valid_until_slot < slot:
        return Ignore(f"expired: validUntilSlot {p.valid_until_slot} < current slot {slot}")
    proven = ctx.proven_epoch()
    if proven is not None and p.epoch_to_prove <= proven:
        return Ignore(f"epoch {p.epoch_to_prove} already proven (proven epoch {proven})")
    epoch = slot // ctx.epoch_duration
    if p.epoch_to_prove + ctx.max_epochs_behind < epoch:
        return Ignore(f"epoch {p.epoch_to_prove} too old (current epoch {epoch})")
    if p.epoch_to_prove > epoch + ctx.max_epochs_ahead:
        return Ignore(f"epoch {p.epoch_to_prove} too far ahead (current epoch {epoch})")
    return Accept(quote)


# ---- txs ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TxValidationContext:
    chain_id: int
    max_tx_size: int = MAX_TX_SIZE
    next_block_number: Callable[[], int | None] = lambda: None


def validate_tx(data: bytes, ctx: TxValidationContext) -> Verdict[Tx]:
    # Aztec: data/metadata failures are gossipsub invalid deliveries (no app penalty).
    if len(data) > ctx.max_tx_size:
        return Reject(f"tx of {len(data)} bytes exceeds {ctx.max_tx_size}", None)
    try:
        tx = Tx.from_bytes(data)
        tx.tx_hash()
    except DecodeError as e:
        return Reject(f"undecodable tx: {e}", None)
    # (1) data: enqueued calls must match the kernel's public call requests (call contexts)
    reqs = tx.public_call_requests()
    calls = tx.enqueued_public_function_calls
    if len(reqs) != len(calls):
        return Reject(f"{len(calls)} enqueued calls but {len(reqs)} kernel call requests", None)
    for i, (req, call) in enumerate(zip(reqs, calls, strict=True)):
        if req.call_context != call.call_context:
            return Reject(f"enqueued call {i} does not match its kernel call request", None)
    td = tx.teardown_call_request()
    if td is None and not tx.public_teardown_function_call.is_empty():
        return Reject("teardown call present without a kernel teardown request", None)
    if td is not None and td.call_context != tx.public_teardown_function_call.call_context:
        return Reject("teardown call does not match the kernel teardown request", None)
    # (2) metadata
    if tx.chain_id != ctx.chain_id:
        return Reject(f"tx chain id {tx.chain_id} != {ctx.chain_id}", None)
    mbn, nbn = tx.max_block_number, ctx.next_block_number()
    if mbn is not None and nbn is not None and mbn < nbn:
        return Reject(f"tx maxBlockNumber {mbn} < next block {nbn}", None)
    # (3) double spend within the tx (HighTolerance, as Aztec)
    ns = tx.nullifiers()
    if len(set(ns)) != len(ns):
        return Reject("duplicate nullifiers within the tx", PeerErrorSeverity.HIGH_TOLERANCE, False)
    return Accept(tx)


# ---- block proposals / attestations -----------------------------------------------------------
def validate_block_proposal(
    data: bytes, max_size: int = MAX_BLOCK_PROPOSAL_SIZE
) -> Verdict[tuple[BlockProposal, bytes]]:
    if len(data) > max_size:
        return Reject(f"proposal of {len(data)} bytes exceeds {max_size}")
    try:
        p = BlockProposal.from_bytes(data)
        sender = p.get_sender()
    except DecodeError as e:
        return Reject(f"invalid block proposal: {e}")
    return Accept((p, sender))


def validate_block_attestation(
    data: bytes, max_size: int = MAX_BLOCK_ATTESTATION_SIZE
) -> Verdict[tuple[BlockAttestation, bytes]]:
    if len(data) > max_size:
        return Reject(f"attestation of {len(data)} bytes exceeds {max_size}")
    try:
        a = BlockAttestation.from_bytes(data)
        sender = a.get_sender()
    except DecodeError as e:
        return Reject(f"invalid block attestation: {e}")
    return Accept((a, sender))
