"""Sequencer/TxBot/Archiver pieces that need no L1: attestation ordering, thresholds, in-process
sources, TxBot rate and uniqueness (MockClock), propose calldata decoding and the sqlite store."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from eth_abi.abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from core.aztec.serialization import keccak256
from core.aztec.tx_effect import Body
from node.archiver import ArchiverError, BlockStore, ProposeCalldataDecoder
from node.l2.block import BlockGlobals, build_block
from node.l2.world_state import ChainState
from node.sequencer.sequencer import (
    LocalAttestors,
    MemorySources,
    needed_attestations,
    signatures_in_committee_order,
)
from node.txbot import TxBot, make_tx
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.quote import address_of
from p2p.wire.tx import Tx

KEYS = [bytes([i]) * 32 for i in (1, 2, 3)]


def test_needed_attestations() -> None:
    assert [needed_attestations(n) for n in (0, 1, 2, 3, 4, 48)] == [0, 1, 2, 3, 3, 33]


async def test_signatures_follow_committee_order_with_empty_entries() -> None:
    block, _ = build_block(ChainState.genesis(), BlockGlobals(31337, 1, 1, 100), Body())
    proposal = BlockProposal.create(block.header, int.from_bytes(block.archive, "big"), (), KEYS[0])
    committee = [address_of(k) for k in reversed(KEYS)] + [b"\x09" * 20]
    got = await LocalAttestors(KEYS[:2]).collect(proposal, committee, 3, 0.0)
    sigs = signatures_in_committee_order(committee, got)
    assert [s[0] for s in sigs] == [True, False, False, True]
    for member, (_empty, v, r, s) in zip(committee[1:3], sigs[1:3], strict=True):
        assert got[member].get_sender() == member and v in (27, 28) and r and s


def test_memory_sources() -> None:
    src = MemorySources()
    txs = [make_tx(i, chain_id=1) for i in (5, 6, 7)]
    for t in txs:
        src.add_tx(t)
    assert src.get_pending_txs(2) == txs[:2]
    src.mark_txs_as_mined([txs[0].tx_hash()], 1)
    assert src.get_pending_txs(5) == txs[1:]


class _Sink:
    def __init__(self) -> None:
        self.txs: list[Tx] = []

    async def send_tx(self, tx: Tx) -> None:
        self.txs.append(Tx.from_bytes(tx.to_bytes()))


async def test_txbot_rate_and_unique_hashes(autojump_clock: trio.testing.MockClock) -> None:
    sink = _Sink()
    bot = TxBot(sink, chain_id=31337, rate_per_second=2.0, public_call_every=3, max_txs=9)
    t0 = trio.current_time()
    await bot.run()
    assert len(sink.txs) == 9 and trio.current_time() - t0 == pytest.approx(4.5)
    assert len({t.tx_hash() for t in sink.txs}) == 9
    assert sum(t.is_for_public for t in sink.txs) == 3
    assert all(t.chain_id == 31337 and t.version == 1 for t in sink.txs)


def _propose_calldata(block_bytes: tuple[bytes, bytes, bytes, list[bytes], bytes]) -> bytes:
    header, archive, bh, hashes, body = block_bytes
    types = ["bytes", "bytes32", "bytes32", "bytes32[]", "(bool,uint8,bytes32,bytes32)[]", "bytes"]
    sel = keccak256(f"propose({','.join(types)})".encode())[:4]
    return sel + abi_encode(types, [header, archive, bh, hashes, [], body])


def test_calldata_decoder_and_store(tmp_path: Path) -> None:
    block, _ = build_block(ChainState.genesis(), BlockGlobals(31337, 1, 1, 100), Body())
    data = _propose_calldata((block.header.to_bytes(), block.archive, block.block_hash, [], block.body.to_bytes()))
    dec = ProposeCalldataDecoder()
    got = dec.decode(data, 7)
    assert got.same_content(block) and got.l1_block_number == 7
    with pytest.raises(ArchiverError):
        dec.decode(b"\x00\x01\x02\x03" + data[4:])
    with pytest.raises(ArchiverError):
        dec.decode(data[:100])
    store = BlockStore(tmp_path / "a.sqlite")
    store.put_block(got)
    store.put_messages([(2, 0, b"\x01" * 32)])
    store.set_meta("proven", 3)
    store.close()
    again = BlockStore(tmp_path / "a.sqlite")
    assert again.blocks()[0].same_content(block)
    assert again.messages() == [(2, 0, b"\x01" * 32)] and again.get_meta("proven") == 3
    again.delete_blocks_above(0)
    assert again.blocks() == []


_DECODER = ProposeCalldataDecoder()
_SELECTOR = keccak256(b"propose(bytes,bytes32,bytes32,bytes32[],(bool,uint8,bytes32,bytes32)[],bytes)")[:4]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_calldata_decoder_fuzz_clear_error(junk: bytes) -> None:
    try:
        _DECODER.decode(_SELECTOR + junk)
    except ArchiverError as e:
        assert str(e)
