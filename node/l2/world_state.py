"""Archive and tree snapshots as the v0.63.1 circuits/world state compute them (sans-IO).

- block hash = `core.aztec.header.Header.hash()` (Poseidon2, separator 28, over the 24 header fields);
- archive = append-only height-29 Poseidon2 tree of block hashes, leaf 0 = the genesis header hash.
  The genesis header (zero lastArchive/content/globals, initial tree snapshots: empty note-hash and
  L1->L2 trees, nullifier and public-data trees prefilled with 128 indexed leaves 0..127) reproduces
  GENESIS_ARCHIVE_ROOT 0x2a05cb8a..., checked in tests;
- note hash tree (height 40): each tx (padding txs included) appends a 64-leaf subtree;
- L1->L2 message tree (height 39): each block appends its 16 (zero-padded) messages.
NOT exact yet: nullifier and public-data (indexed) tree roots. We carry the next leaf index
(+64 per tx for nullifiers) and keep the parent's root; L1 never checks these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache

from core.aztec.constants import (
    ARCHIVE_HEIGHT,
    INITIAL_INDEXED_TREE_SIZE,
    L1_TO_L2_MSG_TREE_HEIGHT,
    NOTE_HASH_TREE_HEIGHT,
    NULLIFIER_TREE_HEIGHT,
    TREE_LEAVES_PER_TX,
)
from core.aztec.hashing import append_with_sibling_path, poseidon2_hash, poseidon2_zero_hashes
from core.aztec.header import AppendOnlyTreeSnapshot, Header, PartialStateReference, StateReference
from core.aztec.messages import padded_messages


def _root_of(leaves: Sequence[int], height: int) -> int:
    zeros = poseidon2_zero_hashes(height)
    level = list(leaves)
    for h in range(height):
        if len(level) % 2:
            level.append(zeros[h])
        level = [poseidon2_hash([level[i], level[i + 1]]) for i in range(0, len(level), 2)]
    return level[0]


def _prefilled_indexed_root(public_data: bool) -> int:
    n = INITIAL_INDEXED_TREE_SIZE
    leaves = []
    for i in range(n):
        nxt = i + 1 if i < n - 1 else 0
        leaves.append(poseidon2_hash([i, 0, nxt, nxt] if public_data else [i, nxt, nxt]))
    return _root_of(leaves, NULLIFIER_TREE_HEIGHT)


@cache
def genesis_header() -> Header:
    state = StateReference(
        AppendOnlyTreeSnapshot(poseidon2_zero_hashes(L1_TO_L2_MSG_TREE_HEIGHT)[-1], 0),
        PartialStateReference(
            note_hash_tree=AppendOnlyTreeSnapshot(poseidon2_zero_hashes(NOTE_HASH_TREE_HEIGHT)[-1], 0),
            nullifier_tree=AppendOnlyTreeSnapshot(_prefilled_indexed_root(False), INITIAL_INDEXED_TREE_SIZE),
            public_data_tree=AppendOnlyTreeSnapshot(_prefilled_indexed_root(True), INITIAL_INDEXED_TREE_SIZE),
        ),
    )
    return replace(Header.empty(), state=state)


@dataclass(frozen=True, slots=True)
class Frontier:
    """An append-only Poseidon2 tree: size and the sibling path of the next empty slot."""

    height: int
    size: int
    path: tuple[int, ...]
    root: int

    @classmethod
    def empty(cls, height: int) -> Frontier:
        zeros = poseidon2_zero_hashes(height)
        return cls(height, 0, tuple(zeros[:height]), zeros[height])

    def append(self, leaves: Sequence[int]) -> Frontier:
        size, path, root = self.size, self.path, self.root
        for leaf in leaves:
            root, path = append_with_sibling_path(leaf, size, path)
            size += 1
        return Frontier(self.height, size, path, root)

    def append_subtree(self, leaves: Sequence[int]) -> Frontier:
        """Append a power-of-two batch as one aligned subtree (what the rollup circuits do per tx)."""
        n = len(leaves)
        k = n.bit_length() - 1
        if n == 0 or n != 1 << k or self.size % n:
            raise ValueError(f"subtree of {n} leaves cannot be appended at size {self.size}")
        zeros = poseidon2_zero_hashes(self.height)
        level = list(leaves)
        for h in range(k):
            level = [
                zeros[h + 1] if level[i] == zeros[h] and level[i + 1] == zeros[h]
                else poseidon2_hash([level[i], level[i + 1]])
                for i in range(0, len(level), 2)
            ]
        index = self.size >> k
        node = level[0]
        ancestors = [node]
        for h in range(k, self.height):
            sib = self.path[h]
            node = poseidon2_hash([sib, node]) if (index >> (h - k)) & 1 else poseidon2_hash([node, sib])
            ancestors.append(node)
        nxt = self.size + n
        path = list(zeros[:k])
        for h in range(k, self.height):
            pos = nxt >> h
            if pos & 1 == 0:
                path.append(zeros[h])
            elif pos - 1 == self.size >> h:
                path.append(ancestors[h - k])
            else:
                path.append(self.path[h])
        return Frontier(self.height, nxt, tuple(path), node)

    def snapshot(self) -> AppendOnlyTreeSnapshot:
        return AppendOnlyTreeSnapshot(self.root, self.size)


@dataclass(frozen=True, slots=True)
class ChainState:
    """World state after a block: what the next block's header is built on."""

    block_number: int
    archive: Frontier
    note_hash_tree: Frontier
    l1_to_l2_tree: Frontier
    nullifier: AppendOnlyTreeSnapshot
    public_data: AppendOnlyTreeSnapshot

    @classmethod
    @cache
    def genesis(cls) -> ChainState:
        g = genesis_header()
        return cls(
            block_number=0,
            archive=Frontier.empty(ARCHIVE_HEIGHT).append([g.hash()]),
            note_hash_tree=Frontier.empty(NOTE_HASH_TREE_HEIGHT),
            l1_to_l2_tree=Frontier.empty(L1_TO_L2_MSG_TREE_HEIGHT),
            nullifier=g.state.partial.nullifier_tree,
            public_data=g.state.partial.public_data_tree,
        )

    def apply(
        self, note_hashes_per_tx: Sequence[Sequence[bytes]], l1_to_l2_messages: Sequence[bytes]
    ) -> ChainState:
        """Trees after a block's txs (padded to >= 2) and messages; the archive is appended separately."""
        txs = list(note_hashes_per_tx) + [[]] * max(0, 2 - len(note_hashes_per_tx))
        notes = self.note_hash_tree
        for hashes in txs:
            leaves = [int.from_bytes(h, "big") for h in hashes]
            notes = notes.append_subtree(leaves + [0] * (TREE_LEAVES_PER_TX - len(leaves)))
        msgs = self.l1_to_l2_tree.append_subtree([int.from_bytes(m, "big") for m in padded_messages(l1_to_l2_messages)])
        nullifier = AppendOnlyTreeSnapshot(self.nullifier.root, self.nullifier.next_available_leaf_index
                                           + TREE_LEAVES_PER_TX * len(txs))
        return replace(self, note_hash_tree=notes, l1_to_l2_tree=msgs, nullifier=nullifier)

    def with_block(self, block_number: int, hash_: int) -> ChainState:
        return replace(self, block_number=block_number, archive=self.archive.append([hash_]))
