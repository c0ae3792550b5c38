"""The epoch job's conversion: blocks built by node/l2 (what the sequencer publishes) proven by the
orchestrator over a real in-process broker and agents; the rebuilt headers and the root public
inputs must match what the blocks carry."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from prometheus_client import CollectorRegistry

from core.aztec.tx_effect import Body, LogSection, TxEffect
from node.l2.block import BlockGlobals, L2Block, build_block, replay_block
from node.l2.world_state import ChainState
from node.prover_node.epoch_job import epoch_inputs, proof_args
from proving.agent import AgentPool
from proving.broker.core import ProvingBroker
from proving.circuits.structs import decode, encode
from proving.orchestrator.prover import EpochProver
from proving.proof_store import InlineProofStore


def _h(i: int) -> bytes:
    return (i * 7919 + 12345).to_bytes(32, "big")


def _effect(i: int) -> TxEffect:
    return TxEffect.with_computed_lengths(
        transaction_fee=1000 + i,
        note_hashes=tuple(_h(100 * i + k) for k in range(i % 3)),
        nullifiers=(_h(10_000 + i), _h(20_000 + i)),
        l2_to_l1_msgs=tuple(_h(30_000 + 10 * i + k) for k in range(i % 4)),
        unencrypted_logs=LogSection(((b"\x01" * 32 + b"hello",),)) if i % 2 else LogSection(),
    )


class FakeArchiver:
    def __init__(self, blocks: list[L2Block], messages: dict[int, list[bytes]]) -> None:
        self.blocks = {b.number: b for b in blocks}
        self.messages = messages

    def get_blocks_for_epoch(self, epoch: int, epoch_duration: int) -> list[L2Block]:
        return [b for _, b in sorted(self.blocks.items()) if b.slot // epoch_duration == epoch]

    def get_block(self, n: int) -> L2Block | None:
        return self.blocks.get(n)

    def block_number(self) -> int:
        return max(self.blocks)

    def get_l1_to_l2_messages(self, n: int) -> list[bytes]:
        return self.messages.get(n, [])

    def chain_state(self, n: int) -> ChainState:
        state = ChainState.genesis()
        for k in range(1, n + 1):
            state = replay_block(state, self.blocks[k], self.get_l1_to_l2_messages(k))
        return state


def _chain(n_blocks: int) -> tuple[list[L2Block], dict[int, list[bytes]]]:
    state = ChainState.genesis()
    blocks, messages = [], {}
    for n in range(1, n_blocks + 1):
        txs = tuple(_effect(10 * n + i) for i in range(n % 4))
        msgs = [_h(500 + n)] if n % 2 == 0 else []
        messages[n] = msgs
        g = BlockGlobals(31337, n, 2 * n, 1_700_000_000 + 12 * n, coinbase=bytes([n]) * 20)
        block, state = build_block(state, g, Body(txs), msgs)
        blocks.append(block)
    return blocks, messages


def test_tx_effects_cross_the_proving_json_codec_unchanged() -> None:
    """The archiver's tx effects go to the circuits in the one model: JSON round trip, same hash; with
    the logs replaced by their section hashes (what the circuits read) the hash stays and the JSON
    no longer grows with the logs."""
    big_logs = LogSection(((b"\x02" * 32 + bytes(20_000),),))
    for i in range(6):
        e = _effect(i)
        back = decode(TxEffect, json.loads(json.dumps(encode(e))))
        assert back == e and back.hash() == e.hash() and back.to_bytes() == e.to_bytes()
        e = TxEffect.with_computed_lengths(nullifiers=e.nullifiers, contract_class_logs=big_logs)
        hashed = e.with_hashed_logs()
        text = json.dumps(encode(hashed))
        assert hashed.hash() == e.hash() and len(text) < 2_000 < len(json.dumps(encode(e)))
        assert decode(TxEffect, json.loads(text)).hash() == e.hash()
        with pytest.raises(ValueError, match="no wire form"):
            hashed.to_bytes()


async def _prove(archiver: FakeArchiver, epoch: int, blocks: list[L2Block]) -> Any:
    inputs = epoch_inputs(archiver, epoch, blocks)
    broker = ProvingBroker(None, registry=CollectorRegistry())
    async with trio.open_nursery() as nursery:
        await nursery.start(broker.run)
        await nursery.start(AgentPool(broker, 2).run)
        prover = EpochProver(broker, InlineProofStore(), prover_id=42, vk_tree_root=0)
        await nursery.start(prover.run)
        await prover.start_epoch(
            epoch, len(inputs.blocks), previous_archive=inputs.previous_archive,
            archive_sibling_path=inputs.archive_sibling_path, previous_block_hash=inputs.previous_block_hash,
            chain_id=inputs.chain_id, version=inputs.version,
        )
        for b in inputs.blocks:
            await prover.add_block(b)
        result = await prover.finalise()
        nursery.cancel_scope.cancel()
    return inputs, result


async def test_archiver_blocks_prove_to_the_published_archives() -> None:
    blocks, messages = _chain(7)
    archiver = FakeArchiver(blocks, messages)
    for epoch in (0, 1, 3):  # epoch duration 4 slots, 2 slots per block: blocks 1 / 2-3 / 6-7
        eb = archiver.get_blocks_for_epoch(epoch, 4)
        inputs, result = await _prove(archiver, epoch, eb)
        args = proof_args(result, inputs.from_block, inputs.to_block)
        first = eb[0].number
        prev_archive = archiver.chain_state(first - 1).archive.root.to_bytes(32, "big")
        assert args.previous_archive == prev_archive
        assert args.end_archive == eb[-1].archive
        assert args.end_block_hash == eb[-1].block_hash
        if first > 1:
            assert args.previous_block_hash == archiver.blocks[first - 1].block_hash
        assert args.epoch_size == len(eb)
        assert [f[1] for f in args.fees] == [b.header.total_fees for b in eb]
        assert result.public_inputs.end_block_number == eb[-1].number
