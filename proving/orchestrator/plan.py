"""EpochProvingPlan: the epoch's proof DAG, sans-IO (events in, :class:`EnqueueJob` actions out).

It follows v0.63.1's ProvingOrchestrator (section 2 and 4 of the proving doc):

- per block: 4 BASE_PARITY -> ROOT_PARITY; per tx: TUBE (every tx) and PUBLIC_VM (one per tx with
  public calls) -> PRIVATE_BASE / PUBLIC_BASE; a left-greedy power-of-two ("wonky") MERGE tree whose
  top two outputs feed the BLOCK_ROOT, which also waits for the root parity and block completion;
- per epoch: the same wonky tree of BLOCK_MERGE over max(2, B) leaves, topped by ROOT_ROLLUP; a
  1-block epoch pads with one EMPTY_BLOCK_ROOT; 0/1-tx blocks declared with 2 txs pad with
  PRIVATE_BASE rollups over one PRIVATE_KERNEL_EMPTY proof.

Every job is emitted the moment its inputs exist (maximum parallelism, streaming as txs and blocks
arrive). Each job carries a priority: minus its "rank" (its own weight plus the heaviest path from
it to the root, weights from the gate table), so that the broker runs the critical path first.

Like Aztec's ``setBlockCompleted``, completing a block builds its header locally from the tx
effects (checked against the published header when given) and appends the block hash to the
archive, so the next block's base rollups can start before this block's proofs are done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

from core.aztec.constants import ARCHIVE_HEIGHT, NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP
from core.aztec.hashing import append_with_sibling_path, root_from_sibling_path
from core.aztec.header import AppendOnlyTreeSnapshot, GlobalVariables, Header, PartialStateReference, StateReference
from core.aztec.tx_effect import EMPTY_TX_EFFECT
from proving.circuits.simulate import (
    AvmInputs,
    BaseOrMergeOutput,
    BaseParityInputs,
    BlockMergeRollupInputs,
    BlockOutput,
    BlockRootRollupInputs,
    EmptyBlockRootRollupInputs,
    KernelEmptyOutput,
    MergeRollupInputs,
    ParityOutput,
    PrivateBaseRollupInputs,
    PrivateKernelEmptyInputs,
    ProofOnlyOutput,
    PublicBaseRollupInputs,
    RootOutput,
    RootParityInputs,
    RootRollupInputs,
    TubeInputs,
    encode_inputs,
)
from proving.circuits.structs import ConstantRollupData
from proving.circuits.timing import GATES_MILLIONS
from proving.orchestrator.blocks import BlockState, Range, build_header, children, leaf_state, ranks, tree_nodes
from proving.orchestrator.records import (
    BlockInput,
    EnqueueJob,
    EpochProvingError,
    EpochStart,
    PlanStatistics,
    TxInput,
)
from proving.types import ProvingRequestType

# the records live in .records, the block-level pieces in .blocks; users import them from here too
__all__ = ["BlockInput", "EnqueueJob", "EpochProvingError", "EpochProvingPlan", "EpochStart", "PlanStatistics"]
__all__ += ["PriorityMode", "TxInput", "tree_nodes"]

T = ProvingRequestType
PriorityMode = Literal["critical-path", "aztec"]
MAX_BLOCKS_PER_EPOCH: Final = 1024
MAX_TXS_PER_BLOCK: Final = 1 << 16


class EpochProvingPlan:
    def __init__(self, start: EpochStart, *, priority_mode: PriorityMode = "critical-path") -> None:
        if not 1 <= start.total_blocks <= MAX_BLOCKS_PER_EPOCH:
            raise EpochProvingError(f"total_blocks must be in [1, {MAX_BLOCKS_PER_EPOCH}]")
        if len(start.archive_sibling_path) != ARCHIVE_HEIGHT:
            raise EpochProvingError(f"archive sibling path must have {ARCHIVE_HEIGHT} entries")
        if root_from_sibling_path(0, start.previous_archive.next_available_leaf_index, start.archive_sibling_path) != (
            start.previous_archive.root
        ):
            raise EpochProvingError("archive sibling path does not match the previous archive")
        self.start = start
        self.priority_mode: PriorityMode = priority_mode
        self.weights = dict(GATES_MILLIONS)
        self._outputs: dict[str, Any] = {}
        self._emitted: dict[str, EnqueueJob] = {}
        self._actions: list[EnqueueJob] = []
        self._blocks: list[BlockState] = []
        self._archive = start.previous_archive
        self._archive_path = start.archive_sibling_path
        self._last_block_hash = start.previous_block_hash
        self.block_leaves = max(2, start.total_blocks)
        self._block_tree = tree_nodes(self.block_leaves)
        self._block_rank = ranks(self._block_tree, self.weights, T.ROOT_ROLLUP, T.BLOCK_MERGE_ROLLUP)
        self._kernel_empty_needed = False
        self.finalised = False
        self.result: RootOutput | None = None

    # ------------------------------------------------------------------ helpers

    def _priority(self, rank: float) -> int:
        return 0 if self.priority_mode == "aztec" else -round(rank * 1000)

    def _job_epoch(self, block: BlockState | None) -> int:
        if self.priority_mode == "aztec" and block is not None:
            return block.globals.block_number  # Aztec passes the block number for block-level jobs
        return self.start.epoch_number

    def _emit(self, key: str, ptype: ProvingRequestType, inputs: Any, rank: float, block: BlockState | None) -> None:
        if key in self._emitted:
            return
        job = EnqueueJob(key, ptype, encode_inputs(inputs), self._job_epoch(block), self._priority(rank))
        self._emitted[key] = job
        self._actions.append(job)

    def take_actions(self) -> list[EnqueueJob]:
        out, self._actions = self._actions, []
        return out

    def output(self, key: str) -> Any:
        return self._outputs.get(key)

    @property
    def done(self) -> bool:
        return self.result is not None

    # ------------------------------------------------------------------ blocks

    def start_block(
        self,
        global_variables: GlobalVariables,
        l1_to_l2_messages: Sequence[int],
        num_txs: int,
        start_state: StateReference,
        end_state: StateReference,
        expected_header: Header | None = None,
    ) -> None:
        if self._blocks and not self._blocks[-1].completed:
            raise EpochProvingError("previous block not completed")
        if len(self._blocks) >= self.start.total_blocks:
            raise EpochProvingError(f"epoch already has {self.start.total_blocks} blocks")
        if self.finalised:
            raise EpochProvingError("epoch already finalised")
        if num_txs < 2:
            raise EpochProvingError("a block is declared with at least 2 txs (padding included)")
        if num_txs > MAX_TXS_PER_BLOCK:
            raise EpochProvingError("too many txs in one block")
        if len(l1_to_l2_messages) > NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP:
            raise EpochProvingError(f"more than {NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP} L1->L2 messages")
        messages = tuple(l1_to_l2_messages) + (0,) * (NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP - len(l1_to_l2_messages))
        index = len(self._blocks)
        block = BlockState(
            index=index,
            globals=global_variables,
            messages=messages,
            num_leaves=num_txs,
            start_state=start_state,
            end_state=end_state,
            expected_header=expected_header,
            last_archive=self._archive,
            archive_path=self._archive_path,
            previous_block_hash=self._last_block_hash,
        )
        block.parent = tree_nodes(num_txs)
        block_root_rank = self._block_rank[(index, index + 1)] + self.weights[T.BLOCK_ROOT_ROLLUP]
        block.rank = ranks(block.parent, self.weights, T.BLOCK_ROOT_ROLLUP, T.MERGE_ROLLUP)
        # shift: the tx tree's top is the block root, whose rank includes the block tree above it
        shift = block_root_rank - block.rank[(0, num_txs)]
        block.rank = {k: v + shift for k, v in block.rank.items()}
        self._blocks.append(block)
        parity_rank = block_root_rank + self.weights[T.ROOT_PARITY]
        for j in range(4):
            self._emit(
                f"b{index}:base-parity:{j}",
                T.BASE_PARITY,
                BaseParityInputs(
                    messages=messages[4 * j : 4 * j + 4],  # type: ignore[arg-type]
                    vk_tree_root=self.start.vk_tree_root,
                ),
                parity_rank + self.weights[T.BASE_PARITY],
                block,
            )

    def _current(self) -> BlockState:
        if not self._blocks or self._blocks[-1].completed:
            raise EpochProvingError("no block in progress")
        return self._blocks[-1]

    def add_tx(self, tx: TxInput) -> None:
        block = self._current()
        if len(block.txs) >= block.num_leaves:
            raise EpochProvingError(f"block already has its {block.num_leaves} txs")
        i = len(block.txs)
        block.txs.append(tx)
        block.leaf_states.append(leaf_state(block, i))
        base_rank = block.rank[(i, i + 1)]
        base_type = T.PUBLIC_BASE_ROLLUP if tx.has_public_calls else T.PRIVATE_BASE_ROLLUP
        leaf_rank = base_rank + self.weights[base_type]
        self._emit(
            f"b{block.index}:tube:{i}",
            T.TUBE_PROOF,
            TubeInputs(tx.tx_hash, tx.client_ivc_proof),
            leaf_rank + self.weights[T.TUBE_PROOF],
            block,
        )
        if tx.has_public_calls:
            self._emit(
                f"b{block.index}:avm:{i}",
                T.PUBLIC_VM,
                AvmInputs(tx.tx_hash, tx.effect.transaction_fee, tx.effect.revert_code),
                leaf_rank + self.weights[T.PUBLIC_VM],
                block,
            )

    def complete_block(self) -> Header:
        """setBlockCompleted: pad, build the header from the tx effects, compare with the published
        one, append it to the archive; may trigger padding bases and the block root."""
        block = self._current()
        real = len(block.txs)
        if real < block.num_leaves:
            if block.num_leaves != 2:
                raise EpochProvingError(
                    f"block {block.globals.block_number} declared {block.num_leaves} txs, got {real}"
                )
            block.padding_leaves = 2 - real
            self._kernel_empty_needed = True
            for i in range(real, 2):
                block.leaf_states.append(leaf_state(block, i))
        header = build_header(block)
        block_hash = header.hash()
        index = self._archive.next_available_leaf_index
        root, next_path = append_with_sibling_path(block_hash, index, self._archive_path)
        block.header = header
        block.new_archive = AppendOnlyTreeSnapshot(root, self._archive.next_available_leaf_index + 1)
        block.completed = True
        self._archive, self._archive_path = block.new_archive, next_path
        self._last_block_hash = block_hash
        if block.padding_leaves:
            self._emit_kernel_empty(block)
        self._progress_block(block)
        return header

    def _emit_kernel_empty(self, block: BlockState) -> None:
        g = block.globals
        self._emit(
            "epoch:private-kernel-empty",
            T.PRIVATE_KERNEL_EMPTY,
            PrivateKernelEmptyInputs(
                header_hash=block.previous_block_hash,
                chain_id=g.chain_id,
                version=g.version,
                vk_tree_root=self.start.vk_tree_root,
                protocol_contract_tree_root=self.start.protocol_contract_tree_root,
            ),
            max(b.rank[(0, 1)] for b in self._blocks) + 10,
            None,
        )

    def finalise(self) -> None:
        """finaliseEpoch: pad a 1-block epoch with an empty block root; the root rollup follows."""
        if self.finalised:
            return
        if not self._blocks or not self._blocks[-1].completed:
            raise EpochProvingError("finalise needs every started block completed")
        self.finalised = True
        missing = self.block_leaves - len(self._blocks)
        if missing > 0:
            last = self._blocks[-1]
            assert last.header is not None and last.new_archive is not None
            self._emit(
                "epoch:empty-block-root",
                T.EMPTY_BLOCK_ROOT_ROLLUP,
                EmptyBlockRootRollupInputs(
                    archive=last.new_archive,
                    block_hash=last.header.hash(),
                    global_variables=last.globals,
                    vk_tree_root=self.start.vk_tree_root,
                    protocol_contract_tree_root=self.start.protocol_contract_tree_root,
                    prover_id=self.start.prover_id,
                ),
                self._block_rank[(self.block_leaves - 1, self.block_leaves)] + self.weights[T.EMPTY_BLOCK_ROOT_ROLLUP],
                None,
            )

    # ------------------------------------------------------------------ results

    def on_result(self, key: str, output: Any) -> None:
        if key not in self._emitted:
            raise EpochProvingError(f"result for a job this plan never emitted: {key}")
        if key in self._outputs:
            raise EpochProvingError(f"result for {key} applied twice")
        self._outputs[key] = output
        scope, kind, *rest = key.split(":")
        if scope == "epoch":
            if kind == "private-kernel-empty":
                for block in self._blocks:
                    if block.padding_leaves:
                        self._progress_block(block)
            elif kind == "empty-block-root":
                for lo in range(len(self._blocks), self.block_leaves):
                    self._progress_block_tree((lo, lo + 1))
            elif kind == "block-merge":
                lo, hi = (int(x) for x in rest[0].split("-"))
                self._progress_block_tree((lo, hi))
            elif kind == "root":
                assert isinstance(output, RootOutput)
                self.result = output
            return
        block = self._blocks[int(scope[1:])]
        if kind in ("base-parity", "root-parity"):
            self._progress_parity(block)
        elif kind in ("tube", "avm"):
            self._try_base(block, int(rest[0]))
        elif kind in ("base", "merge"):
            lo, hi = (int(x) for x in rest[0].split("-"))
            parent = block.parent[(lo, hi)]
            assert parent is not None
            self._try_tx_node(block, parent)
        elif kind == "block-root":
            assert isinstance(output, BlockOutput)
            assert block.header is not None
            pub = output.public_inputs
            if pub.end_block_hash != block.header.hash() or pub.new_archive != block.new_archive:
                raise EpochProvingError(
                    f"block root of block {block.globals.block_number} does not match the header built locally"
                )
            self._progress_block_tree((block.index, block.index + 1))

    def _progress_parity(self, block: BlockState) -> None:
        outs = [self._outputs.get(f"b{block.index}:base-parity:{j}") for j in range(4)]
        if all(o is not None for o in outs):
            children = tuple(o for o in outs if isinstance(o, ParityOutput))
            assert len(children) == 4
            self._emit(
                f"b{block.index}:root-parity",
                T.ROOT_PARITY,
                RootParityInputs(children),
                block.rank[(0, block.num_leaves)] + self.weights[T.ROOT_PARITY],
                block,
            )
        if f"b{block.index}:root-parity" in self._outputs:
            self._try_tx_node(block, (0, block.num_leaves))

    def _progress_block(self, block: BlockState) -> None:
        for i in range(len(block.txs), len(block.txs) + block.padding_leaves):
            self._try_base(block, i)
        self._try_tx_node(block, (0, block.num_leaves))

    def _constants(self, block: BlockState) -> ConstantRollupData:
        return ConstantRollupData(
            last_archive=block.last_archive,
            vk_tree_root=self.start.vk_tree_root,
            protocol_contract_tree_root=self.start.protocol_contract_tree_root,
            global_variables=block.globals,
        )

    def _leaf_start(self, block: BlockState, i: int) -> PartialStateReference:
        return block.start_state.partial if i == 0 else block.leaf_states[i - 1]

    def _try_base(self, block: BlockState, i: int) -> None:
        key = f"b{block.index}:base:{i}-{i + 1}"
        if key in self._emitted:
            return
        if i >= len(block.txs):
            self._try_padding_base(block, i, key)
            return
        tx = block.txs[i]
        tube = self._outputs.get(f"b{block.index}:tube:{i}")
        if not isinstance(tube, ProofOnlyOutput):
            return
        rank = block.rank[(i, i + 1)]
        constants, start, end = self._constants(block), self._leaf_start(block, i), block.leaf_states[i]
        if not tx.has_public_calls:
            inputs = PrivateBaseRollupInputs(tx.tx_hash, tx.effect, tube, None, constants, start, end)
            self._emit(key, T.PRIVATE_BASE_ROLLUP, inputs, rank + self.weights[T.PRIVATE_BASE_ROLLUP], block)
            return
        avm = self._outputs.get(f"b{block.index}:avm:{i}")
        if not isinstance(avm, ProofOnlyOutput):
            return
        public = PublicBaseRollupInputs(tx.tx_hash, tx.effect, tube, avm, constants, start, end)
        self._emit(key, T.PUBLIC_BASE_ROLLUP, public, rank + self.weights[T.PUBLIC_BASE_ROLLUP], block)

    def _try_padding_base(self, block: BlockState, i: int, key: str) -> None:
        """A padding leaf: a private base rollup over the epoch's PRIVATE_KERNEL_EMPTY proof."""
        kernel = self._outputs.get("epoch:private-kernel-empty")
        if not isinstance(kernel, KernelEmptyOutput):
            return
        inputs = PrivateBaseRollupInputs(
            tx_hash=0,
            tx=EMPTY_TX_EFFECT,
            tube=None,
            kernel_empty=kernel,
            constants=self._constants(block),
            start=self._leaf_start(block, i),
            end=block.leaf_states[i],
        )
        rank = block.rank[(i, i + 1)] + self.weights[T.PRIVATE_BASE_ROLLUP]
        self._emit(key, T.PRIVATE_BASE_ROLLUP, inputs, rank, block)

    def _tx_node_key(self, block: BlockState, node: Range) -> str:
        lo, hi = node
        if hi - lo == 1:
            return f"b{block.index}:base:{lo}-{hi}"
        if node == (0, block.num_leaves):
            return f"b{block.index}:block-root"
        return f"b{block.index}:merge:{lo}-{hi}"

    def _try_tx_node(self, block: BlockState, node: Range) -> None:
        key = self._tx_node_key(block, node)
        if key in self._emitted:
            return
        left_r, right_r = children(*node)
        left = self._outputs.get(self._tx_node_key(block, left_r))
        right = self._outputs.get(self._tx_node_key(block, right_r))
        if not isinstance(left, BaseOrMergeOutput) or not isinstance(right, BaseOrMergeOutput):
            return
        rank = block.rank[node]
        if node != (0, block.num_leaves):
            self._emit(key, T.MERGE_ROLLUP, MergeRollupInputs(left, right), rank, block)
            return
        parity = self._outputs.get(f"b{block.index}:root-parity")
        if not isinstance(parity, ParityOutput) or not block.completed:
            return
        self._emit(
            key,
            T.BLOCK_ROOT_ROLLUP,
            BlockRootRollupInputs(
                left=left,
                right=right,
                parity=parity,
                l1_to_l2_messages=block.messages,
                start_l1_to_l2=block.start_state.l1_to_l2_message_tree,
                new_l1_to_l2=block.end_state.l1_to_l2_message_tree,
                archive_sibling_path=block.archive_path,
                previous_block_hash=block.previous_block_hash,
                prover_id=self.start.prover_id,
            ),
            rank,
            block,
        )

    def _block_node_key(self, node: Range) -> str:
        lo, hi = node
        if hi - lo == 1:
            if lo < len(self._blocks) and lo < self.start.total_blocks:
                return f"b{lo}:block-root"
            return "epoch:empty-block-root"
        if node == (0, self.block_leaves):
            return "epoch:root"
        return f"epoch:block-merge:{lo}-{hi}"

    def _progress_block_tree(self, node: Range) -> None:
        parent = self._block_tree[node]
        if parent is None:
            return
        key = self._block_node_key(parent)
        if key in self._emitted:
            return
        left_r, right_r = children(*parent)
        left = self._outputs.get(self._block_node_key(left_r))
        right = self._outputs.get(self._block_node_key(right_r))
        if not isinstance(left, BlockOutput) or not isinstance(right, BlockOutput):
            return
        rank = self._block_rank[parent]
        if parent == (0, self.block_leaves):
            self._emit(key, T.ROOT_ROLLUP, RootRollupInputs(left, right, self.start.prover_id), rank, None)
        else:
            self._emit(key, T.BLOCK_MERGE_ROLLUP, BlockMergeRollupInputs(left, right), rank, None)

    # ------------------------------------------------------------------ introspection

    def emitted(self) -> dict[str, EnqueueJob]:
        return dict(self._emitted)

    def statistics(self) -> PlanStatistics:
        by_type: dict[str, int] = {}
        for job in self._emitted.values():
            by_type[job.type.name] = by_type.get(job.type.name, 0) + 1
        return PlanStatistics(
            emitted=len(self._emitted),
            completed=len(self._outputs),
            by_type=by_type,
            blocks_started=len(self._blocks),
            blocks_completed=sum(1 for b in self._blocks if b.completed),
            done=self.done,
        )
