"""The plain records the epoch proving plan takes and gives (inputs, actions, statistics)."""

from __future__ import annotations

from dataclasses import dataclass

from core.aztec.header import AppendOnlyTreeSnapshot, GlobalVariables, Header, PartialStateReference, StateReference
from core.aztec.tx_effect import TxEffect
from proving.types import ProvingRequestType


class EpochProvingError(RuntimeError):
    """The epoch cannot be proven (bad call order, header mismatch, a circuit check failed)."""


@dataclass(frozen=True, slots=True)
class TxInput:
    """A processed tx, as the prover node hands it over."""

    tx_hash: int
    has_public_calls: bool
    effect: TxEffect
    client_ivc_proof: str = ""
    end_state: PartialStateReference | None = None  # tree snapshots after the tx, if known


@dataclass(frozen=True, slots=True)
class BlockInput:
    """Everything ``add_block`` needs. ``start_state`` is the previous header's state,
    ``end_state`` this block's published header state (the simulation takes tree snapshots from
    these hints); ``expected_header`` (the published header) is compared with the one built."""

    global_variables: GlobalVariables
    l1_to_l2_messages: tuple[int, ...]
    txs: tuple[TxInput, ...]
    start_state: StateReference
    end_state: StateReference
    expected_header: Header | None = None
    num_txs: int | None = None  # declared tx count (default max(2, len(txs)))


@dataclass(frozen=True, slots=True)
class EpochStart:
    epoch_number: int
    total_blocks: int
    previous_archive: AppendOnlyTreeSnapshot  # the archive before the epoch's first block
    archive_sibling_path: tuple[int, ...]  # of the empty slot previous_archive.next_available_leaf_index
    previous_block_hash: int  # hash of the last block before the epoch
    vk_tree_root: int
    protocol_contract_tree_root: int
    prover_id: int
    chain_id: int = 0
    version: int = 0


@dataclass(frozen=True, slots=True)
class EnqueueJob:
    key: str
    type: ProvingRequestType
    inputs: bytes
    epoch_number: int
    priority: int


@dataclass(frozen=True, slots=True)
class PlanStatistics:
    emitted: int
    completed: int
    by_type: dict[str, int]
    blocks_started: int
    blocks_completed: int
    done: bool
