"""Gossip message validation, one pure, total function per topic (sans-IO).

Each returns `Accept(value)`, `Reject(reason, severity, invalid_delivery)` or `Ignore(reason)` for
ANY input and never raises (an unexpected exception inside becomes `Ignore("internal error ...")`:
our bug must not cost a peer its score, nor stop the pubsub task that calls us).

Verdicts follow gossipsub's meaning, measured against Aztec v0.63.1, which registers no topic
validators and so forwards every message whose pubsub signature checks out:
- Reject (penalise the forwarder): only bytes v0.63.1's own decoder (`fromBuffer`) throws on
  (`p2p.wire.compat`). An honest v0.63.1 relay would not have produced them, and its own handler
  drops them. `invalid_delivery` counts a gossipsub invalid delivery on the topic (-20, fast decay);
  `severity`, if set, is an Aztec app penalty (2/10/50, slow decay).
- Ignore (drop, not forwarded, no penalty): well-formed messages that are not for us or fail a rule
  v0.63.1 does not apply on receipt: quotes signed for another rollup or chain (indistinguishable
  from a bad quote signature, so both are ignored), expired or out-of-window quotes, encodings
  v0.63.1 accepts and our codecs refuse (field elements >= the BN254 modulus, non-0/1 booleans,
  trailing bytes), txs for another chain, txs whose enqueued calls do not match the kernel, txs
  with repeated nullifiers or without a tx hash, oversize payloads, unrecoverable consensus
  signatures.

Not checked (documented gaps): ClientIVC proofs, kernel argsHash of enqueued calls (needs
Poseidon2), nullifier-tree double spends (needs world state), committee membership of
proposers/attesters. Bond and claimability of quotes are the pool's admission rule
(`p2p.pools.quote_admission`), not a decoding matter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, ParamSpec, TypeVar

from core.aztec.serialization import DecodeError
from p2p.scoring import PeerErrorSeverity
from p2p.wire import compat
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.quote import MAX_BASIS_POINT_FEE, QUOTE_SIZE, EpochProofQuote
from p2p.wire.tx import Tx

T = TypeVar("T")
P = ParamSpec("P")

MAX_TX_SIZE: Final = 512 * 1024
MAX_BLOCK_PROPOSAL_SIZE: Final = 10 * 1024 * 1024
MAX_BLOCK_ATTESTATION_SIZE: Final = 10 * 1024 * 1024
AZTEC_EPOCH_DURATION: Final = 16  # L2 slots per epoch (default L1 config)
INTERNAL_ERROR_PREFIX: Final = "internal error"


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


def total(fn: Callable[P, Verdict[T]]) -> Callable[P, Verdict[T]]:
    """Make a validator total: an exception escaping it becomes an Ignore (our fault, not the peer's)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Verdict[T]:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            return Ignore(f"{INTERNAL_ERROR_PREFIX} in {fn.__name__}: {type(e).__name__}: {e}")

    return wrapper


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


# ---- quote rules that need neither the clock nor L1 state, written once: quote admission
# (p2p/pools/quote_admission.py), the pool and node/l1/rules.check_claim call these.
ZERO_ADDRESS: Final = b"\0" * 20


def quote_signer(quote: EpochProofQuote, chain_id: int, rollup_address: bytes | str) -> bytes | None:
    """SignatureLib.verify's view of the signature: None when it is empty (CannotVerifyEmpty), else
    the address ecrecover yields for the EIP-712 digest (0x0 where ecrecover fails: v not 27/28, no
    point); the quote is signed when that is its prover."""
    if quote.signature.is_empty:
        return None
    try:
        return quote.recover_signer(chain_id, rollup_address)
    except DecodeError:
        return ZERO_ADDRESS


def quote_not_expired(valid_until_slot: int, current_slot: int) -> bool:
    """Rollup__QuoteExpired unless validUntilSlot >= the current slot (inclusive)."""
    return valid_until_slot >= current_slot


def quote_signature_problem(quote: EpochProofQuote, chain_id: int, rollup_address: bytes) -> str | None:
    """Why the quote's EIP-712 signature does not bind its prover to our rollup and chain, or None.

    A quote signed for another rollup or chain recovers to some other address, exactly like a
    corrupted signature, so callers treat every answer here alike (Ignore on gossip)."""
    p = quote.payload
    signer = quote_signer(quote, chain_id, rollup_address)
    if signer is None:
        return "empty signature"
    if signer != p.prover:
        if signer == ZERO_ADDRESS:
            return f"signature does not recover (v {quote.signature.v})"
        return f"signer 0x{signer.hex()} is not the prover 0x{p.prover.hex()} (other rollup/chain or bad signature)"
    return None


@total
def validate_quote(data: bytes, ctx: QuoteValidationContext) -> Verdict[EpochProofQuote]:
    err = compat.quote_error(data)
    if err is not None:
        return Reject(f"undecodable quote: {err}")
    if len(data) != QUOTE_SIZE:
        return Ignore(f"non-canonical quote: {len(data) - QUOTE_SIZE} trailing bytes (v0.63.1 ignores them)")
    try:
        quote = EpochProofQuote.from_bytes(data)
    except DecodeError as e:
        return Ignore(f"non-canonical quote v0.63.1 accepts: {e}")
    p = quote.payload
    if p.basis_point_fee > MAX_BASIS_POINT_FEE:  # unreachable (compat + constructor), kept as the rule
        return Reject("basisPointFee above 10000")
    problem = quote_signature_problem(quote, ctx.chain_id, ctx.rollup_address)
    if problem is not None:
        return Ignore(f"quote not for us: {problem}")
    slot = ctx.current_slot()
    if not quote_not_expired(p.valid_until_slot, slot):
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


@total
def validate_tx(data: bytes, ctx: TxValidationContext) -> Verdict[Tx]:
    # v0.63.1 itself marks data/metadata failures as invalid deliveries, but only after it has
    # forwarded the tx (no topic validator), so an honest v0.63.1 relay sends them on: Ignore.
    if len(data) > ctx.max_tx_size:  # (first: the decodability walk of a 16 MB tx took 2.6 s; review)
        return Ignore(f"tx of {len(data)} bytes exceeds {ctx.max_tx_size}")
    err = compat.tx_error(data)
    if err is not None:
        return Reject(f"undecodable tx: {err}", None)
    try:
        tx = Tx.from_bytes(data)
    except DecodeError as e:
        return Ignore(f"non-canonical tx v0.63.1 accepts: {e}")
    try:
        tx.tx_hash()
        reqs = tx.public_call_requests()
        td = tx.teardown_call_request()
    except DecodeError as e:
        return Ignore(f"tx kernel data unusable: {e}")
    # (1) data: enqueued calls must match the kernel's public call requests (call contexts)
    calls = tx.enqueued_public_function_calls
    if len(reqs) != len(calls):
        return Ignore(f"{len(calls)} enqueued calls but {len(reqs)} kernel call requests")
    for i, (req, call) in enumerate(zip(reqs, calls, strict=True)):
        if req.call_context != call.call_context:
            return Ignore(f"enqueued call {i} does not match its kernel call request")
    if td is None and not tx.public_teardown_function_call.is_empty():
        return Ignore("teardown call present without a kernel teardown request")
    if td is not None and td.call_context != tx.public_teardown_function_call.call_context:
        return Ignore("teardown call does not match the kernel teardown request")
    # (2) metadata
    if tx.chain_id != ctx.chain_id:
        return Ignore(f"tx for another chain: chain id {tx.chain_id} != {ctx.chain_id}")
    mbn, nbn = tx.max_block_number, ctx.next_block_number()
    if mbn is not None and nbn is not None and mbn < nbn:
        return Ignore(f"tx expired: maxBlockNumber {mbn} < next block {nbn}")
    # (3) double spend within the tx
    ns = tx.nullifiers()
    if len(set(ns)) != len(ns):
        return Ignore("duplicate nullifiers within the tx")
    return Accept(tx)


# ---- block proposals / attestations -----------------------------------------------------------
@total
def validate_block_proposal(
    data: bytes, max_size: int = MAX_BLOCK_PROPOSAL_SIZE
) -> Verdict[tuple[BlockProposal, bytes]]:
    err = compat.block_proposal_error(data)
    if err is not None:
        return Reject(f"undecodable block proposal: {err}")
    if len(data) > max_size:
        return Ignore(f"proposal of {len(data)} bytes exceeds {max_size}")
    try:
        p = BlockProposal.from_bytes(data)
    except DecodeError as e:
        return Ignore(f"non-canonical block proposal v0.63.1 accepts: {e}")
    try:
        sender = p.get_sender()
    except DecodeError as e:
        return Ignore(f"block proposal signature does not recover: {e}")
    return Accept((p, sender))


@total
def validate_block_attestation(
    data: bytes, max_size: int = MAX_BLOCK_ATTESTATION_SIZE
) -> Verdict[tuple[BlockAttestation, bytes]]:
    err = compat.block_attestation_error(data)
    if err is not None:
        return Reject(f"undecodable block attestation: {err}")
    if len(data) > max_size:
        return Ignore(f"attestation of {len(data)} bytes exceeds {max_size}")
    try:
        a = BlockAttestation.from_bytes(data)
    except DecodeError as e:
        return Ignore(f"non-canonical block attestation v0.63.1 accepts: {e}")
    try:
        sender = a.get_sender()
    except DecodeError as e:
        return Ignore(f"block attestation signature does not recover: {e}")
    return Accept((a, sender))
