"""Tx, BlockProposal, BlockAttestation and Header against vectors made by Aztec's 0.63.1 packages."""

from __future__ import annotations

from typing import Any

import pytest

from core.aztec.header import HEADER_SIZE, Header
from core.aztec.serialization import DecodeError
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.consensus import ConsensusError, ConsensusPayload
from p2p.wire.quote import address_of
from p2p.wire.tx import Tx
from tests.conftest import load_shared_vectors


def _hex(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def _v() -> dict[str, Any]:
    return load_shared_vectors("tx-vectors.json")  # type: ignore[no-any-return]


@pytest.mark.parametrize("idx", range(3))
def test_tx_roundtrip_and_hash(idx: int) -> None:
    v = _v()["txs"][idx]
    raw = _hex(v["hex"])
    tx = Tx.from_bytes(raw)
    assert len(raw) == v["length"]
    assert tx.to_bytes() == raw
    assert tx.tx_hash() == _hex(v["txHash"])
    assert raw[v["txHashSourceOffset"] : v["txHashSourceOffset"] + 32] == tx.tx_hash()
    assert len(tx.data) == v["dataLength"]
    assert tx.is_for_public == v["isForPublic"]
    calls = v["enqueuedPublicFunctionCalls"]
    assert len(tx.enqueued_public_function_calls) == len(calls)
    for got, want in zip(tx.enqueued_public_function_calls, calls, strict=True):
        assert got.call_context.msg_sender == int(want["msgSender"], 16)
        assert got.call_context.contract_address == int(want["contractAddress"], 16)
        assert got.call_context.function_selector == _hex(want["functionSelector"])
        assert got.args == tuple(int(a, 16) for a in want["args"])
    # the kernel's call requests line up with the enqueued calls (DataTxValidator order)
    reqs = tx.public_call_requests()
    assert [q.call_context for q in reqs] == [c.call_context for c in tx.enqueued_public_function_calls]
    td = v["publicTeardownFunctionCall"]
    if td is None:
        assert tx.public_teardown_function_call.is_empty()
    else:
        assert tx.public_teardown_function_call.call_context.msg_sender == int(td["msgSender"], 16)
    req = tx.teardown_call_request()
    assert (req is None) == tx.public_teardown_function_call.is_empty()
    assert tx.chain_id == 0  # mockTx leaves txContext.chainId at 0


@pytest.mark.parametrize("idx", range(3))
def test_tx_layout_offsets(idx: int) -> None:
    v = _v()["txs"][idx]
    raw = _hex(v["hex"])
    ends = {entry["offset"] + entry["length"] for entry in v["layout"]}
    assert len(raw) in ends
    tx = Tx.from_bytes(raw)
    assert sum(v["logsLengths"].values()) == 16
    assert sum(len(b) + 4 for b in tx.client_ivc_proof) == v["clientIvcProofLength"]


def test_tx_truncated_and_trailing_rejected() -> None:
    raw = _hex(_v()["txs"][2]["hex"])
    for bad in (raw[:-1], raw + b"\0", raw[:100], b""):
        with pytest.raises(DecodeError):
            Tx.from_bytes(bad)


@pytest.mark.parametrize("idx", range(4))
def test_consensus_vectors(idx: int) -> None:
    c = _v()["consensus"][idx]
    raw = _hex(c["hex"])
    cls: type[BlockProposal] | type[BlockAttestation] = BlockProposal if c["kind"] == "proposal" else BlockAttestation
    msg = cls.from_bytes(raw)
    assert msg.to_bytes() == raw and len(raw) == c["length"]
    ds = c["domainSeparator"]
    assert msg.payload.header.to_bytes() == _hex(c["header"]["hex"])
    assert msg.archive == int(c["archive"], 16)
    assert msg.payload.tx_hashes == tuple(_hex(h) for h in c["txHashes"])
    assert msg.payload.payload_to_sign(ds) == _hex(c["payloadToSignHex"])
    assert msg.payload.payload_hash(ds) == _hex(c["payloadHash"])
    assert msg.payload.signed_digest(ds) == _hex(c["signedDigest"])
    assert msg.signature.r == int(c["signature"]["r"], 16)
    assert msg.signature.s == int(c["signature"]["s"], 16)
    assert msg.signature.v == c["signature"]["v"]
    assert msg.signature.to_bytes() == _hex(c["signature"]["hex"])
    assert msg.get_sender() == _hex(c["recoveredSigner"])
    assert msg.p2p_message_identifier() == _hex(c["p2pMessageIdentifier"])
    # re-signing with the vector key reproduces the bytes (RFC 6979)
    key = _hex(c["privateKey"])
    assert address_of(key) == _hex(c["signerAddress"])
    again: BlockProposal | BlockAttestation
    if isinstance(msg, BlockProposal):
        again = BlockProposal.create(msg.payload.header, msg.archive, msg.payload.tx_hashes, key)
    else:
        again = BlockAttestation.create(msg.payload, key)
    assert again.to_bytes() == raw


def test_header_roundtrip_and_size() -> None:
    h = Header.empty()
    assert len(h.to_bytes()) == HEADER_SIZE
    assert Header.from_bytes(h.to_bytes()) == h


def test_consensus_rejects_bad_lengths() -> None:
    c = _v()["consensus"][0]
    raw = _hex(c["hex"])
    for bad in (raw[:-1], raw + b"\0", raw[:719], b""):
        with pytest.raises(DecodeError):
            BlockProposal.from_bytes(bad)
    # a tx-hash count far beyond the buffer is rejected before allocating
    p = ConsensusPayload(Header.empty(), 1, ())
    forged = bytearray(p.to_bytes() + bytes(68))
    forged[HEADER_SIZE + 32 : HEADER_SIZE + 36] = (2**32 - 1).to_bytes(4, "big")
    with pytest.raises(ConsensusError):
        BlockAttestation.from_bytes(bytes(forged))
