"""Block-level pieces of the epoch proof DAG (sans-IO, pure): the wonky trees, critical-path ranks,
the state of one block being proven, its per-leaf tree snapshots and its header (built locally, as
Aztec's ``setBlockCompleted`` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core.aztec.hashing import (
    largest_power_of_two_below,
    sha256_merkle_root,
    sha256_trunc_fields,
    unbalanced_sha256_root,
)
from core.aztec.header import (
    AppendOnlyTreeSnapshot,
    ContentCommitment,
    GlobalVariables,
    Header,
    PartialStateReference,
    StateReference,
)
from core.aztec.tx_effect import EMPTY_TX_EFFECT
from proving.orchestrator.records import EpochProvingError, TxInput
from proving.types import ProvingRequestType

Range = tuple[int, int]


def tree_nodes(n: int) -> dict[Range, Range | None]:
    """Parent map of the wonky tree over ``n >= 2`` leaves (leaf i is the range (i, i+1))."""
    parent: dict[Range, Range | None] = {(0, n): None}
    stack = [(0, n)]
    while stack:
        lo, hi = stack.pop()
        if hi - lo < 2:
            continue
        p = largest_power_of_two_below(hi - lo)
        for child in ((lo, lo + p), (lo + p, hi)):
            parent[child] = (lo, hi)
            stack.append(child)
    return parent


def children(lo: int, hi: int) -> tuple[Range, Range]:
    p = largest_power_of_two_below(hi - lo)
    return (lo, lo + p), (lo + p, hi)


@dataclass
class BlockState:
    index: int
    globals: GlobalVariables
    messages: tuple[int, ...]
    num_leaves: int
    start_state: StateReference
    end_state: StateReference
    expected_header: Header | None
    last_archive: AppendOnlyTreeSnapshot
    archive_path: tuple[int, ...]
    previous_block_hash: int
    txs: list[TxInput] = field(default_factory=list)
    leaf_states: list[PartialStateReference] = field(default_factory=list)
    parent: dict[Range, Range | None] = field(default_factory=dict)
    rank: dict[Range, float] = field(default_factory=dict)
    completed: bool = False
    header: Header | None = None
    new_archive: AppendOnlyTreeSnapshot | None = None
    padding_leaves: int = 0


def ranks(
    tree: dict[Range, Range | None],
    weights: Mapping[ProvingRequestType, float],
    top_type: ProvingRequestType,
    mid_type: ProvingRequestType,
) -> dict[Range, float]:
    """rank(node) = own weight + rank(parent); leaves get the rank of their parent (the caller
    adds the leaf weight)."""
    rank: dict[Range, float] = {}
    for node in sorted(tree, key=lambda r: r[1] - r[0], reverse=True):
        par = tree[node]
        if par is None:
            rank[node] = weights[top_type]
        elif node[1] - node[0] == 1:
            rank[node] = rank[par]
        else:
            rank[node] = weights[mid_type] + rank[par]
    return rank


def leaf_state(block: BlockState, i: int) -> PartialStateReference:
    """Tree snapshots after leaf i (hint from the tx when given; otherwise synthesised between
    the block's start and end states, the last leaf ending exactly at the block's end)."""
    if i == block.num_leaves - 1:
        return block.end_state.partial
    if i < len(block.txs) and block.txs[i].end_state is not None:
        state = block.txs[i].end_state
        assert state is not None
        return state
    s, e = block.start_state.partial, block.end_state.partial
    n = block.num_leaves

    def synth(a: AppendOnlyTreeSnapshot, b: AppendOnlyTreeSnapshot, tree: int) -> AppendOnlyTreeSnapshot:
        nxt = a.next_available_leaf_index + (b.next_available_leaf_index - a.next_available_leaf_index) * (i + 1) // n
        root = sha256_trunc_fields([a.root, b.root, block.globals.block_number, tree, i])
        return AppendOnlyTreeSnapshot(root, nxt)

    return PartialStateReference(
        synth(s.note_hash_tree, e.note_hash_tree, 0),
        synth(s.nullifier_tree, e.nullifier_tree, 1),
        synth(s.public_data_tree, e.public_data_tree, 2),
    )


def build_header(block: BlockState) -> Header:
    """The block's header from its tx effects (padding included); checked against the published one."""
    effects = [tx.effect for tx in block.txs] + [EMPTY_TX_EFFECT] * block.padding_leaves
    header = Header(
        last_archive=block.last_archive,
        content_commitment=ContentCommitment(
            num_txs=block.num_leaves,
            txs_effects_hash=unbalanced_sha256_root([int.from_bytes(e.hash(), "big") for e in effects]),
            in_hash=sha256_merkle_root(block.messages),
            out_hash=unbalanced_sha256_root([int.from_bytes(e.out_hash(), "big") for e in effects]),
        ),
        state=block.end_state,
        global_variables=block.globals,
        total_fees=sum(e.transaction_fee for e in effects),
    )
    if block.expected_header is not None and block.expected_header != header:
        differ = [
            name
            for name in ("last_archive", "content_commitment", "state", "global_variables", "total_fees")
            if getattr(header, name) != getattr(block.expected_header, name)
        ]
        raise EpochProvingError(
            f"Block header mismatch for block {block.globals.block_number}: {', '.join(differ)} differ"
        )
    return header
