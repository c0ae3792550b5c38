"""Properties of the gossip verdicts (hypothesis): Reject exactly when v0.63.1's decoder would throw
(as modelled by p2p.wire.compat, itself held against the npm decoders in
interop/test_decoder_differential.py), never an internal error, and our strict codecs never accept
what the v0.63.1 model refuses (so a canonical message is never Rejected)."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from core.aztec.serialization import DecodeError
from p2p.validation import (
    Ignore,
    Reject,
    validate_block_attestation,
    validate_block_proposal,
    validate_quote,
    validate_tx,
)
from p2p.wire import compat
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.quote import EpochProofQuote
from p2p.wire.tx import Tx
from tests.p2p.test_wire_fuzz import CONSENSUS_SEEDS, QCTX, QUOTE_SEED, SETTINGS, TCTX, TX_SEEDS, mutated

VALIDATE: dict[str, Callable[[bytes], object]] = {
    "quote": lambda d: validate_quote(d, QCTX),
    "tx": lambda d: validate_tx(d, TCTX),
    "proposal": validate_block_proposal,
    "attestation": validate_block_attestation,
}
MODEL: dict[str, Callable[[bytes], str | None]] = {
    "quote": compat.quote_error,
    "tx": compat.tx_error,
    "proposal": compat.block_proposal_error,
    "attestation": compat.block_attestation_error,
}
STRICT: dict[str, Callable[[bytes], object]] = {
    "quote": EpochProofQuote.from_bytes,
    "tx": Tx.from_bytes,
    "proposal": BlockProposal.from_bytes,
    "attestation": BlockAttestation.from_bytes,
}
SEEDS = {"quote": [QUOTE_SEED], "tx": TX_SEEDS, "proposal": CONSENSUS_SEEDS[:2], "attestation": CONSENSUS_SEEDS[2:]}


@st.composite
def kind_and_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(SEEDS)))
    return kind, draw(st.one_of(st.binary(max_size=800), mutated(SEEDS[kind])))


@SETTINGS
@given(kind_and_bytes())
def test_reject_iff_v0631_decoder_throws(case: tuple[str, bytes]) -> None:
    kind, data = case
    verdict = VALIDATE[kind](data)
    assert not (isinstance(verdict, Ignore) and verdict.reason.startswith("internal error")), verdict
    assert isinstance(verdict, Reject) == (MODEL[kind](data) is not None), (verdict, MODEL[kind](data))


@SETTINGS
@given(kind_and_bytes())
def test_strict_codecs_accept_only_what_v0631_accepts(case: tuple[str, bytes]) -> None:
    kind, data = case
    try:
        STRICT[kind](data)
    except DecodeError:
        return
    assert MODEL[kind](data) is None
