"""L2Block = header + archive + blockHash + body + txHashes, and building a block on a ChainState."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from core.aztec.constants import ROLLUP_VERSION
from core.aztec.header import ContentCommitment, GlobalVariables, Header, PartialStateReference, StateReference
from core.aztec.messages import in_hash
from core.aztec.serialization import DecodeError
from core.aztec.tx_effect import Body, BodyDecodeError
from node.l2.world_state import ChainState


@dataclass(frozen=True, slots=True)
class L2Block:
    header: Header
    archive: bytes  # 32, the archive root after this block
    block_hash: bytes  # 32
    body: Body
    tx_hashes: tuple[bytes, ...]
    l1_block_number: int = 0  # where the archiver saw it (0 when built locally)

    @property
    def number(self) -> int:
        return self.header.global_variables.block_number

    @property
    def slot(self) -> int:
        return self.header.global_variables.slot_number

    def same_content(self, other: L2Block) -> bool:
        return (self.header, self.archive, self.block_hash, self.body.to_bytes(), self.tx_hashes) == (
            other.header, other.archive, other.block_hash, other.body.to_bytes(), other.tx_hashes)

    def to_json(self) -> dict[str, Any]:
        return {
            "header": self.header.to_bytes().hex(),
            "archive": self.archive.hex(),
            "blockHash": self.block_hash.hex(),
            "body": self.body.to_bytes().hex(),
            "txHashes": [h.hex() for h in self.tx_hashes],
            "l1BlockNumber": self.l1_block_number,
        }

    @classmethod
    def from_json(cls, obj: Any) -> L2Block:
        try:
            return cls(
                Header.from_bytes(bytes.fromhex(obj["header"])),
                bytes.fromhex(obj["archive"]),
                bytes.fromhex(obj["blockHash"]),
                Body.from_bytes(bytes.fromhex(obj["body"])),
                tuple(bytes.fromhex(h) for h in obj["txHashes"]),
                int(obj.get("l1BlockNumber", 0)),
            )
        except (KeyError, TypeError, ValueError, DecodeError) as e:
            raise BodyDecodeError(f"stored block does not decode: {e!r}") from e

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class BlockGlobals:
    chain_id: int
    block_number: int
    slot_number: int
    timestamp: int
    coinbase: bytes = bytes(20)
    fee_recipient: int = 0
    fee_per_da_gas: int = 0
    fee_per_l2_gas: int = 0
    version: int = ROLLUP_VERSION

    def to_global_variables(self) -> GlobalVariables:
        return GlobalVariables(self.chain_id, self.version, self.block_number, self.slot_number, self.timestamp,
                               int.from_bytes(self.coinbase, "big"), self.fee_recipient, self.fee_per_da_gas,
                               self.fee_per_l2_gas)


def build_block(
    parent: ChainState,
    globals_: BlockGlobals,
    body: Body,
    l1_to_l2_messages: Sequence[bytes] = (),
    *,
    in_hash_override: bytes | None = None,
) -> tuple[L2Block, ChainState]:
    """Header, block hash and archive for `body` on top of `parent`; returns the block and the new state.

    `in_hash_override` is the Inbox root read from L1 when the messages themselves are unknown."""
    if globals_.block_number != parent.block_number + 1:
        raise ValueError(f"block {globals_.block_number} does not follow {parent.block_number}")
    state = parent.apply([t.note_hashes for t in body.tx_effects], l1_to_l2_messages)
    header = Header(
        last_archive=parent.archive.snapshot(),
        content_commitment=ContentCommitment(
            body.num_txs_including_padded,
            int.from_bytes(body.txs_effects_hash(), "big"),
            int.from_bytes(in_hash_override if in_hash_override is not None else in_hash(l1_to_l2_messages), "big"),
            int.from_bytes(body.out_hash(), "big"),
        ),
        state=StateReference(
            state.l1_to_l2_tree.snapshot(),
            PartialStateReference(state.note_hash_tree.snapshot(), state.nullifier, state.public_data),
        ),
        global_variables=globals_.to_global_variables(),
        total_fees=sum(t.transaction_fee for t in body.tx_effects),
    )
    h = header.hash()
    state = state.with_block(globals_.block_number, h)
    block = L2Block(header, state.archive.root.to_bytes(32, "big"), h.to_bytes(32, "big"), body, body.tx_hashes())
    return block, state


def replay_block(parent: ChainState, block: L2Block, l1_to_l2_messages: Sequence[bytes] = ()) -> ChainState:
    """State after an already-published block (uses its own block hash, so foreign blocks replay too)."""
    state = parent.apply([t.note_hashes for t in block.body.tx_effects], l1_to_l2_messages)
    return replace(state.with_block(block.number, int.from_bytes(block.block_hash, "big")))
