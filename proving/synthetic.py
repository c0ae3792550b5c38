"""Deterministic synthetic epochs (a chain of consistent blocks with their published headers) for
tests, benches and devnets without an archiver. Not used on the proving path itself."""

from __future__ import annotations

import random
from dataclasses import dataclass

from core.aztec.constants import ARCHIVE_HEIGHT
from core.aztec.hashing import (
    append_with_sibling_path,
    root_from_sibling_path,
    sha256_merkle_root,
    sha256_trunc_fields,
    sibling_path_for_next_leaf,
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
from core.aztec.serialization import FR_MODULUS
from core.aztec.tx_effect import EMPTY_TX_EFFECT, TxEffect
from proving.orchestrator.plan import BlockInput, TxInput


@dataclass(frozen=True)
class SyntheticEpoch:
    epoch_number: int
    previous_archive: AppendOnlyTreeSnapshot
    archive_sibling_path: tuple[int, ...]
    previous_block_hash: int
    blocks: list[BlockInput]
    end_archive: AppendOnlyTreeSnapshot
    chain_id: int
    version: int

    @property
    def total_txs(self) -> int:
        return sum(len(b.txs) for b in self.blocks)


def _field(rng: random.Random) -> int:
    return rng.randrange(1, FR_MODULUS)


def _word(rng: random.Random) -> bytes:
    return _field(rng).to_bytes(32, "big")


def make_tx(rng: random.Random, has_public_calls: bool) -> TxInput:
    tx_hash = _field(rng)
    effect = TxEffect(
        revert_code=0,
        transaction_fee=rng.randrange(1, 10**6),
        note_hashes=tuple(_word(rng) for _ in range(rng.randrange(0, 4))),
        nullifiers=(tx_hash.to_bytes(32, "big"), *(_word(rng) for _ in range(rng.randrange(0, 3)))),
        l2_to_l1_msgs=tuple(_word(rng) for _ in range(rng.randrange(0, 2))),
        public_data_writes=tuple(
            (_word(rng), _word(rng)) for _ in range(rng.randrange(0, 3) if has_public_calls else 0)
        ),
    )
    return TxInput(tx_hash=tx_hash, has_public_calls=has_public_calls, effect=effect)


def make_epoch(
    num_blocks: int,
    txs_per_block: int,
    *,
    public_fraction: float = 0.5,
    epoch_number: int = 1,
    first_block: int = 1,
    seed: int = 0,
    messages_per_block: int = 4,
) -> SyntheticEpoch:
    rng = random.Random(seed)
    chain_id, version = 31337, 1
    # the archive holds one leaf per block before the epoch (block 0 = genesis)
    previous_hashes = [sha256_trunc_fields([seed, n]) for n in range(first_block)]
    path = sibling_path_for_next_leaf(previous_hashes, ARCHIVE_HEIGHT)
    archive = AppendOnlyTreeSnapshot(root_from_sibling_path(0, first_block, path), first_block)
    start_archive, start_path = archive, path
    prev_hash = previous_hashes[-1]
    state = StateReference(
        AppendOnlyTreeSnapshot(_field(rng), 16 * first_block),
        PartialStateReference(
            AppendOnlyTreeSnapshot(_field(rng), 64 * first_block),
            AppendOnlyTreeSnapshot(_field(rng), 64 * (first_block + 1)),
            AppendOnlyTreeSnapshot(_field(rng), 128),
        ),
    )
    blocks: list[BlockInput] = []
    n_public = round(txs_per_block * public_fraction)
    for b in range(num_blocks):
        number = first_block + b
        g = GlobalVariables(
            chain_id=chain_id,
            version=version,
            block_number=number,
            slot_number=number * 2,
            timestamp=1_700_000_000 + 36 * number,
            coinbase=rng.randrange(1, 2**160),
            fee_recipient=_field(rng),
            fee_per_da_gas=0,
            fee_per_l2_gas=rng.randrange(1, 100),
        )
        txs = tuple(make_tx(rng, i < n_public) for i in range(txs_per_block))
        messages = tuple(_field(rng) for _ in range(messages_per_block))
        n_leaves = max(2, len(txs))
        effects = [t.effect for t in txs] + [EMPTY_TX_EFFECT] * (n_leaves - len(txs))
        writes = sum(len(e.public_data_writes) for e in effects)
        partial = state.partial
        end = StateReference(
            AppendOnlyTreeSnapshot(_field(rng), state.l1_to_l2_message_tree.next_available_leaf_index + 16),
            PartialStateReference(
                AppendOnlyTreeSnapshot(_field(rng), partial.note_hash_tree.next_available_leaf_index + 64 * n_leaves),
                AppendOnlyTreeSnapshot(_field(rng), partial.nullifier_tree.next_available_leaf_index + 64 * n_leaves),
                AppendOnlyTreeSnapshot(_field(rng), partial.public_data_tree.next_available_leaf_index + writes),
            ),
        )
        padded = messages + (0,) * (16 - len(messages))
        header = Header(
            last_archive=archive,
            content_commitment=ContentCommitment(
                num_txs=n_leaves,
                txs_effects_hash=unbalanced_sha256_root([int.from_bytes(e.hash(), "big") for e in effects]),
                in_hash=sha256_merkle_root(padded),
                out_hash=unbalanced_sha256_root([int.from_bytes(e.out_hash(), "big") for e in effects]),
            ),
            state=end,
            global_variables=g,
            total_fees=sum(e.transaction_fee for e in effects),
        )
        blocks.append(
            BlockInput(
                global_variables=g,
                l1_to_l2_messages=messages,
                txs=txs,
                start_state=state,
                end_state=end,
                expected_header=header,
            )
        )
        block_hash = header.hash()
        root, path = append_with_sibling_path(block_hash, archive.next_available_leaf_index, path)
        archive = AppendOnlyTreeSnapshot(root, archive.next_available_leaf_index + 1)
        prev_hash = block_hash
        state = end
    del prev_hash
    return SyntheticEpoch(
        epoch_number=epoch_number,
        previous_archive=start_archive,
        archive_sibling_path=start_path,
        previous_block_hash=previous_hashes[-1],
        blocks=blocks,
        end_archive=archive,
        chain_id=chain_id,
        version=version,
    )
