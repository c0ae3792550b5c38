"""Simulated circuits (PROVER_REAL_PROOFS=false): compute each circuit's public outputs from its
inputs in Python, make the checks the real circuit makes on them, and return a marked fake proof.

Every function is pure: ``simulate(type, inputs_bytes) -> output_bytes`` is deterministic, so job
ids (content hashes of inputs) are stable across restarts.

What is computed exactly as v0.63.1 does (section 3 of the proving doc): parity sha/converted
roots, tx effects hash, out hashes (sha256Trunc, accumulate), the block header and its Poseidon2
hash, the archive append (sibling path), block merge / root consistency checks and outputs, fee
lists. What is taken from hints (the orchestrator has no world state): the note hash / nullifier /
public data tree snapshots before and after each tx, and the L1->L2 message tree snapshot after
the block's subtree insertion (both come from the published block headers).

A child proof is accepted only if it is a fake proof of an allowed circuit (the VK-tree index
rules of section 1) whose digest matches the public inputs handed over with it.
"""
# size: one simulated circuit per proof type, each a short pure function beside the shared output codecs they use.

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from core.aztec.constants import ARCHIVE_HEIGHT, AZTEC_MAX_EPOCH_DURATION, NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP
from core.aztec.hashing import (
    accumulate,
    poseidon2_merkle_root,
    root_from_sibling_path,
    sha256_merkle_root,
    sha256_trunc,
)
from core.aztec.header import (
    AppendOnlyTreeSnapshot,
    ContentCommitment,
    GlobalVariables,
    Header,
    PartialStateReference,
    StateReference,
)
from core.aztec.tx_effect import EMPTY_TX_EFFECT, TxEffect
from proving.circuits.structs import (
    BaseOrMergeRollupPublicInputs,
    BlockRootOrBlockMergePublicInputs,
    CircuitInputError,
    ConstantRollupData,
    FeeRecipient,
    ParityPublicInputs,
    RootRollupPublicInputs,
    decode,
    encode,
)
from proving.types import ProvingRequestType, canonical_json

T = ProvingRequestType
FAKE_PROOF_MARKER: Final = "aztec-py simulated proof (not a real proof)"
PROOF_LENGTH_IN_FIELDS: Final = {T.PUBLIC_VM: 4291}  # everything else 463


@dataclass(frozen=True, slots=True)
class FakeProof:
    marker: str
    circuit: str
    length_in_fields: int
    digest: int  # sha256Trunc(canonical JSON of [circuit, public inputs]) binds proof to outputs


def fake_proof(circuit: ProvingRequestType, public: Any) -> FakeProof:
    return FakeProof(
        FAKE_PROOF_MARKER, circuit.name, PROOF_LENGTH_IN_FIELDS.get(circuit, 463), _digest(circuit.name, public)
    )


def _digest(circuit: str, public: Any) -> int:
    return sha256_trunc(canonical_json([circuit, encode(public)]))


def verify_child(proof: FakeProof, public: Any, allowed: frozenset[ProvingRequestType], what: str) -> None:
    if proof.marker != FAKE_PROOF_MARKER:
        raise CircuitInputError(f"{what}: not a simulated proof (real proofs need PROVER_REAL_PROOFS)")
    if proof.circuit not in {t.name for t in allowed}:
        raise CircuitInputError(f"{what}: a {proof.circuit} proof is not an allowed child here")
    if proof.digest != _digest(proof.circuit, public):
        raise CircuitInputError(f"{what}: proof does not match its public inputs")


# --- outputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParityOutput:
    public_inputs: ParityPublicInputs
    proof: FakeProof


@dataclass(frozen=True, slots=True)
class BaseOrMergeOutput:
    public_inputs: BaseOrMergeRollupPublicInputs
    proof: FakeProof


@dataclass(frozen=True, slots=True)
class BlockOutput:
    public_inputs: BlockRootOrBlockMergePublicInputs
    proof: FakeProof


@dataclass(frozen=True, slots=True)
class RootOutput:
    public_inputs: RootRollupPublicInputs
    proof: FakeProof


@dataclass(frozen=True, slots=True)
class ProofOnlyOutput:
    """TUBE_PROOF and PUBLIC_VM return a proof and VK only; the fake proof binds the tx hash."""

    tx_hash: int
    proof: FakeProof


@dataclass(frozen=True, slots=True)
class EmptyKernelPublicInputs:
    header_hash: int
    chain_id: int
    version: int
    vk_tree_root: int
    protocol_contract_tree_root: int


@dataclass(frozen=True, slots=True)
class KernelEmptyOutput:
    public_inputs: EmptyKernelPublicInputs
    proof: FakeProof


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BaseParityInputs:
    messages: tuple[int, int, int, int]
    vk_tree_root: int


@dataclass(frozen=True, slots=True)
class RootParityInputs:
    children: tuple[ParityOutput, ParityOutput, ParityOutput, ParityOutput]


@dataclass(frozen=True, slots=True)
class TubeInputs:
    tx_hash: int
    client_ivc_proof: str  # hex of the tx's ClientIvcProof (empty in fake-proof networks)


@dataclass(frozen=True, slots=True)
class AvmInputs:
    tx_hash: int
    transaction_fee: int
    revert_code: int


@dataclass(frozen=True, slots=True)
class PrivateBaseRollupInputs:
    tx_hash: int
    tx: TxEffect
    tube: ProofOnlyOutput | None  # None for padding txs,
    kernel_empty: KernelEmptyOutput | None  # which carry the empty private kernel proof instead
    constants: ConstantRollupData
    start: PartialStateReference
    end: PartialStateReference


@dataclass(frozen=True, slots=True)
class PublicBaseRollupInputs:
    tx_hash: int
    tx: TxEffect
    tube: ProofOnlyOutput
    avm: ProofOnlyOutput
    constants: ConstantRollupData
    start: PartialStateReference
    end: PartialStateReference


@dataclass(frozen=True, slots=True)
class MergeRollupInputs:
    left: BaseOrMergeOutput
    right: BaseOrMergeOutput


@dataclass(frozen=True, slots=True)
class BlockRootRollupInputs:
    left: BaseOrMergeOutput
    right: BaseOrMergeOutput
    parity: ParityOutput
    l1_to_l2_messages: tuple[int, ...]
    start_l1_to_l2: AppendOnlyTreeSnapshot
    new_l1_to_l2: AppendOnlyTreeSnapshot  # hint: the tree after inserting the message subtree (from the header)
    archive_sibling_path: tuple[int, ...]
    previous_block_hash: int
    prover_id: int


@dataclass(frozen=True, slots=True)
class EmptyBlockRootRollupInputs:
    archive: AppendOnlyTreeSnapshot
    block_hash: int
    global_variables: GlobalVariables
    vk_tree_root: int
    protocol_contract_tree_root: int
    prover_id: int


@dataclass(frozen=True, slots=True)
class BlockMergeRollupInputs:
    left: BlockOutput
    right: BlockOutput


@dataclass(frozen=True, slots=True)
class RootRollupInputs:
    left: BlockOutput
    right: BlockOutput
    prover_id: int


@dataclass(frozen=True, slots=True)
class PrivateKernelEmptyInputs:
    header_hash: int
    chain_id: int
    version: int
    vk_tree_root: int
    protocol_contract_tree_root: int


TX_CHILDREN: Final = frozenset({T.MERGE_ROLLUP, T.PRIVATE_BASE_ROLLUP, T.PUBLIC_BASE_ROLLUP})
BLOCK_MERGE_CHILDREN: Final = frozenset({T.BLOCK_ROOT_ROLLUP, T.BLOCK_MERGE_ROLLUP})
ROOT_CHILDREN: Final = frozenset({T.BLOCK_ROOT_ROLLUP, T.BLOCK_MERGE_ROLLUP, T.EMPTY_BLOCK_ROOT_ROLLUP})

INPUT_TYPES: Final[dict[ProvingRequestType, type]] = {
    T.BASE_PARITY: BaseParityInputs,
    T.ROOT_PARITY: RootParityInputs,
    T.TUBE_PROOF: TubeInputs,
    T.PUBLIC_VM: AvmInputs,
    T.PRIVATE_KERNEL_EMPTY: PrivateKernelEmptyInputs,
    T.PRIVATE_BASE_ROLLUP: PrivateBaseRollupInputs,
    T.PUBLIC_BASE_ROLLUP: PublicBaseRollupInputs,
    T.MERGE_ROLLUP: MergeRollupInputs,
    T.BLOCK_ROOT_ROLLUP: BlockRootRollupInputs,
    T.EMPTY_BLOCK_ROOT_ROLLUP: EmptyBlockRootRollupInputs,
    T.BLOCK_MERGE_ROLLUP: BlockMergeRollupInputs,
    T.ROOT_ROLLUP: RootRollupInputs,
}
OUTPUT_TYPES: Final[dict[ProvingRequestType, type]] = {
    T.BASE_PARITY: ParityOutput,
    T.ROOT_PARITY: ParityOutput,
    T.TUBE_PROOF: ProofOnlyOutput,
    T.PUBLIC_VM: ProofOnlyOutput,
    T.PRIVATE_KERNEL_EMPTY: KernelEmptyOutput,
    T.PRIVATE_BASE_ROLLUP: BaseOrMergeOutput,
    T.PUBLIC_BASE_ROLLUP: BaseOrMergeOutput,
    T.MERGE_ROLLUP: BaseOrMergeOutput,
    T.BLOCK_ROOT_ROLLUP: BlockOutput,
    T.EMPTY_BLOCK_ROOT_ROLLUP: BlockOutput,
    T.BLOCK_MERGE_ROLLUP: BlockOutput,
    T.ROOT_ROLLUP: RootOutput,
}


# --- circuits -----------------------------------------------------------------------------------


def base_parity(inp: BaseParityInputs) -> ParityOutput:
    pub = ParityPublicInputs(
        sha_root=sha256_merkle_root(inp.messages),
        converted_root=poseidon2_merkle_root(inp.messages),
        vk_tree_root=inp.vk_tree_root,
    )
    return ParityOutput(pub, fake_proof(T.BASE_PARITY, pub))


def root_parity(inp: RootParityInputs) -> ParityOutput:
    for i, child in enumerate(inp.children):
        verify_child(child.proof, child.public_inputs, frozenset({T.BASE_PARITY}), f"root parity child {i}")
    vk = inp.children[0].public_inputs.vk_tree_root
    if any(c.public_inputs.vk_tree_root != vk for c in inp.children):
        raise CircuitInputError("root parity: children disagree on vk_tree_root")
    pub = ParityPublicInputs(
        sha_root=sha256_merkle_root([c.public_inputs.sha_root for c in inp.children]),
        converted_root=poseidon2_merkle_root([c.public_inputs.converted_root for c in inp.children]),
        vk_tree_root=vk,
    )
    return ParityOutput(pub, fake_proof(T.ROOT_PARITY, pub))


def tube(inp: TubeInputs) -> ProofOnlyOutput:
    return ProofOnlyOutput(inp.tx_hash, fake_proof(T.TUBE_PROOF, inp.tx_hash))


def avm(inp: AvmInputs) -> ProofOnlyOutput:
    return ProofOnlyOutput(inp.tx_hash, fake_proof(T.PUBLIC_VM, inp.tx_hash))


def private_kernel_empty(inp: PrivateKernelEmptyInputs) -> KernelEmptyOutput:
    pub = EmptyKernelPublicInputs(
        inp.header_hash, inp.chain_id, inp.version, inp.vk_tree_root, inp.protocol_contract_tree_root
    )
    return KernelEmptyOutput(pub, fake_proof(T.PRIVATE_KERNEL_EMPTY, pub))


def _base_public(
    proof_type: ProvingRequestType,
    tx: TxEffect,
    constants: ConstantRollupData,
    start: PartialStateReference,
    end: PartialStateReference,
) -> BaseOrMergeOutput:
    if end.note_hash_tree.next_available_leaf_index < start.note_hash_tree.next_available_leaf_index:
        raise CircuitInputError("base rollup: note hash tree shrinks")
    if end.nullifier_tree.next_available_leaf_index < start.nullifier_tree.next_available_leaf_index:
        raise CircuitInputError("base rollup: nullifier tree shrinks")
    pub = BaseOrMergeRollupPublicInputs(
        rollup_type=0,
        num_txs=1,
        constants=constants,
        start=start,
        end=end,
        txs_effects_hash=int.from_bytes(tx.hash(), "big"),
        out_hash=int.from_bytes(tx.out_hash(), "big"),
        accumulated_fees=tx.transaction_fee,
    )
    return BaseOrMergeOutput(pub, fake_proof(proof_type, pub))


def private_base_rollup(inp: PrivateBaseRollupInputs) -> BaseOrMergeOutput:
    if inp.tube is not None:
        verify_child(inp.tube.proof, inp.tube.tx_hash, frozenset({T.TUBE_PROOF}), "private base tube")
        if inp.tube.tx_hash != inp.tx_hash:
            raise CircuitInputError("private base: tube proof is for another tx")
    elif inp.kernel_empty is not None:
        k = inp.kernel_empty
        verify_child(k.proof, k.public_inputs, frozenset({T.PRIVATE_KERNEL_EMPTY}), "padding kernel")
        if inp.tx != EMPTY_TX_EFFECT:
            raise CircuitInputError("private base: a padding tx must have an empty effect")
        g = inp.constants.global_variables
        if (k.public_inputs.chain_id, k.public_inputs.version) != (g.chain_id, g.version):
            raise CircuitInputError("private base: kernel chain id / version mismatch")
    else:
        raise CircuitInputError("private base: needs a tube proof or the empty kernel proof")
    if inp.kernel_empty is not None and inp.tube is not None:
        raise CircuitInputError("private base: tube and empty kernel are exclusive")
    return _base_public(T.PRIVATE_BASE_ROLLUP, inp.tx, inp.constants, inp.start, inp.end)


def public_base_rollup(inp: PublicBaseRollupInputs) -> BaseOrMergeOutput:
    verify_child(inp.tube.proof, inp.tube.tx_hash, frozenset({T.TUBE_PROOF}), "public base tube")
    # v0.63.1 does not verify the AVM proof in the public base (TODO #8470); a failed AVM job is
    # replaced by an empty proof, so only the binding to the tx is checked.
    if inp.tube.tx_hash != inp.tx_hash or inp.avm.tx_hash != inp.tx_hash:
        raise CircuitInputError("public base: tube / AVM proof is for another tx")
    return _base_public(T.PUBLIC_BASE_ROLLUP, inp.tx, inp.constants, inp.start, inp.end)


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _check_tx_children(left: BaseOrMergeOutput, right: BaseOrMergeOutput, what: str) -> None:
    verify_child(left.proof, left.public_inputs, TX_CHILDREN, f"{what} left")
    verify_child(right.proof, right.public_inputs, TX_CHILDREN, f"{what} right")
    lp, rp = left.public_inputs, right.public_inputs
    if lp.constants != rp.constants:
        raise CircuitInputError(f"{what}: children have different constants")
    if lp.end != rp.start:
        raise CircuitInputError(f"{what}: left end state != right start state")
    if lp.rollup_type == 1:
        if not _is_pow2(lp.num_txs) or lp.num_txs < rp.num_txs:
            raise CircuitInputError(f"{what}: tree not filled greedily from the left")
    elif rp.rollup_type != 0:
        raise CircuitInputError(f"{what}: a base left child needs a base right child")


def merge_rollup(inp: MergeRollupInputs) -> BaseOrMergeOutput:
    _check_tx_children(inp.left, inp.right, "merge")
    lp, rp = inp.left.public_inputs, inp.right.public_inputs
    pub = BaseOrMergeRollupPublicInputs(
        rollup_type=1,
        num_txs=lp.num_txs + rp.num_txs,
        constants=lp.constants,
        start=lp.start,
        end=rp.end,
        txs_effects_hash=accumulate(lp.txs_effects_hash, rp.txs_effects_hash),
        out_hash=accumulate(lp.out_hash, rp.out_hash),
        accumulated_fees=lp.accumulated_fees + rp.accumulated_fees,
    )
    return BaseOrMergeOutput(pub, fake_proof(T.MERGE_ROLLUP, pub))


def block_root_header(inp: BlockRootRollupInputs) -> Header:
    """The header the block root builds (also used by the orchestrator to compare with L1's)."""
    lp, rp = inp.left.public_inputs, inp.right.public_inputs
    return Header(
        last_archive=lp.constants.last_archive,
        content_commitment=ContentCommitment(
            num_txs=lp.num_txs + rp.num_txs,
            txs_effects_hash=accumulate(lp.txs_effects_hash, rp.txs_effects_hash),
            in_hash=inp.parity.public_inputs.sha_root,
            out_hash=accumulate(lp.out_hash, rp.out_hash),
        ),
        state=StateReference(inp.new_l1_to_l2, rp.end),
        global_variables=lp.constants.global_variables,
        total_fees=lp.accumulated_fees + rp.accumulated_fees,
    )


def block_root_rollup(inp: BlockRootRollupInputs) -> BlockOutput:
    _check_tx_children(inp.left, inp.right, "block root")
    verify_child(inp.parity.proof, inp.parity.public_inputs, frozenset({T.ROOT_PARITY}), "block root parity")
    lp = inp.left.public_inputs
    const = lp.constants
    if inp.parity.public_inputs.vk_tree_root != const.vk_tree_root:
        raise CircuitInputError("block root: parity vk_tree_root differs from the constants")
    if len(inp.l1_to_l2_messages) != NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP:
        raise CircuitInputError("block root: needs exactly 16 (padded) L1->L2 messages")
    if sha256_merkle_root(inp.l1_to_l2_messages) != inp.parity.public_inputs.sha_root:
        raise CircuitInputError("block root: parity sha root does not match the messages")
    if poseidon2_merkle_root(inp.l1_to_l2_messages) != inp.parity.public_inputs.converted_root:
        raise CircuitInputError("block root: parity converted root does not match the messages")
    grown = inp.start_l1_to_l2.next_available_leaf_index + NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP
    if inp.new_l1_to_l2.next_available_leaf_index != grown:
        raise CircuitInputError("block root: L1->L2 tree must grow by one 16-message subtree")
    if len(inp.archive_sibling_path) != ARCHIVE_HEIGHT:
        raise CircuitInputError(f"block root: archive sibling path must have {ARCHIVE_HEIGHT} entries")
    index = const.last_archive.next_available_leaf_index
    if root_from_sibling_path(0, index, inp.archive_sibling_path) != const.last_archive.root:
        raise CircuitInputError("block root: archive sibling path does not match lastArchive")
    header = block_root_header(inp)
    block_hash = header.hash()
    new_archive = AppendOnlyTreeSnapshot(root_from_sibling_path(block_hash, index, inp.archive_sibling_path), index + 1)
    g = const.global_variables
    pub = BlockRootOrBlockMergePublicInputs(
        previous_archive=const.last_archive,
        new_archive=new_archive,
        previous_block_hash=inp.previous_block_hash,
        end_block_hash=block_hash,
        start_global_variables=g,
        end_global_variables=g,
        out_hash=header.content_commitment.out_hash,
        fees=(FeeRecipient(g.coinbase, header.total_fees),),
        vk_tree_root=const.vk_tree_root,
        protocol_contract_tree_root=const.protocol_contract_tree_root,
        prover_id=inp.prover_id,
    )
    return BlockOutput(pub, fake_proof(T.BLOCK_ROOT_ROLLUP, pub))


def empty_block_root_rollup(inp: EmptyBlockRootRollupInputs) -> BlockOutput:
    pub = BlockRootOrBlockMergePublicInputs(
        previous_archive=inp.archive,
        new_archive=inp.archive,
        previous_block_hash=inp.block_hash,
        end_block_hash=inp.block_hash,
        start_global_variables=inp.global_variables,
        end_global_variables=inp.global_variables,
        out_hash=0,
        fees=(),
        vk_tree_root=inp.vk_tree_root,
        protocol_contract_tree_root=inp.protocol_contract_tree_root,
        prover_id=inp.prover_id,
    )
    return BlockOutput(pub, fake_proof(T.EMPTY_BLOCK_ROOT_ROLLUP, pub))


def _merge_blocks(
    left: BlockOutput, right: BlockOutput, allowed: frozenset[ProvingRequestType], what: str
) -> tuple[int, tuple[FeeRecipient, ...]]:
    verify_child(left.proof, left.public_inputs, frozenset(allowed - {T.EMPTY_BLOCK_ROOT_ROLLUP}), f"{what} left")
    verify_child(right.proof, right.public_inputs, allowed, f"{what} right")
    lp, rp = left.public_inputs, right.public_inputs
    if lp.new_archive != rp.previous_archive:
        raise CircuitInputError(f"{what}: left new archive != right previous archive")
    if lp.end_block_hash != rp.previous_block_hash:
        raise CircuitInputError(f"{what}: left end block hash != right previous block hash")
    le, rs = lp.end_global_variables, rp.start_global_variables
    if (le.chain_id, le.version) != (rs.chain_id, rs.version):
        raise CircuitInputError(f"{what}: chain id / version differ")
    if (lp.vk_tree_root, lp.protocol_contract_tree_root) != (rp.vk_tree_root, rp.protocol_contract_tree_root):
        raise CircuitInputError(f"{what}: vk tree / protocol contract tree roots differ")
    padding = rp.is_padding()
    if padding:
        if (rs.block_number, rs.timestamp) != (le.block_number, le.timestamp):
            raise CircuitInputError(f"{what}: padding block must repeat the last block number and timestamp")
        out_hash = lp.out_hash
    else:
        if rs.block_number != le.block_number + 1:
            raise CircuitInputError(f"{what}: block numbers are not consecutive")
        if rs.timestamp <= le.timestamp:
            raise CircuitInputError(f"{what}: timestamps do not increase")
        out_hash = accumulate(lp.out_hash, rp.out_hash)
    fees = tuple(f for f in (*lp.fees, *rp.fees) if f != FeeRecipient(0, 0))
    if len(fees) > AZTEC_MAX_EPOCH_DURATION:
        raise CircuitInputError(f"{what}: more than {AZTEC_MAX_EPOCH_DURATION} fee entries")
    return out_hash, fees


def block_merge_rollup(inp: BlockMergeRollupInputs) -> BlockOutput:
    out_hash, fees = _merge_blocks(inp.left, inp.right, BLOCK_MERGE_CHILDREN, "block merge")
    lp, rp = inp.left.public_inputs, inp.right.public_inputs
    pub = BlockRootOrBlockMergePublicInputs(
        previous_archive=lp.previous_archive,
        new_archive=rp.new_archive,
        previous_block_hash=lp.previous_block_hash,
        end_block_hash=rp.end_block_hash,
        start_global_variables=lp.start_global_variables,
        end_global_variables=rp.end_global_variables,
        out_hash=out_hash,
        fees=fees,
        vk_tree_root=lp.vk_tree_root,
        protocol_contract_tree_root=lp.protocol_contract_tree_root,
        prover_id=lp.prover_id,
    )
    return BlockOutput(pub, fake_proof(T.BLOCK_MERGE_ROLLUP, pub))


def root_rollup(inp: RootRollupInputs) -> RootOutput:
    out_hash, fees = _merge_blocks(inp.left, inp.right, ROOT_CHILDREN, "root")
    lp, rp = inp.left.public_inputs, inp.right.public_inputs
    pub = RootRollupPublicInputs(
        previous_archive=lp.previous_archive,
        end_archive=rp.new_archive,
        previous_block_hash=lp.previous_block_hash,
        end_block_hash=rp.end_block_hash,
        end_timestamp=rp.end_global_variables.timestamp,
        end_block_number=rp.end_global_variables.block_number,
        out_hash=out_hash,
        fees=fees,
        vk_tree_root=lp.vk_tree_root,
        protocol_contract_tree_root=lp.protocol_contract_tree_root,
        prover_id=inp.prover_id,
    )
    return RootOutput(pub, fake_proof(T.ROOT_ROLLUP, pub))


CIRCUITS: Final[dict[ProvingRequestType, Callable[[Any], Any]]] = {
    T.BASE_PARITY: base_parity,
    T.ROOT_PARITY: root_parity,
    T.TUBE_PROOF: tube,
    T.PUBLIC_VM: avm,
    T.PRIVATE_KERNEL_EMPTY: private_kernel_empty,
    T.PRIVATE_BASE_ROLLUP: private_base_rollup,
    T.PUBLIC_BASE_ROLLUP: public_base_rollup,
    T.MERGE_ROLLUP: merge_rollup,
    T.BLOCK_ROOT_ROLLUP: block_root_rollup,
    T.EMPTY_BLOCK_ROOT_ROLLUP: empty_block_root_rollup,
    T.BLOCK_MERGE_ROLLUP: block_merge_rollup,
    T.ROOT_ROLLUP: root_rollup,
}


def encode_inputs(inputs: Any) -> bytes:
    return canonical_json(encode(inputs))


def decode_inputs(proof_type: ProvingRequestType, data: bytes) -> Any:
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise CircuitInputError(f"{proof_type.name} inputs are not JSON: {exc}") from None
    return decode(INPUT_TYPES[proof_type], raw)


def decode_output(proof_type: ProvingRequestType, data: bytes) -> Any:
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise CircuitInputError(f"{proof_type.name} output is not JSON: {exc}") from None
    return decode(OUTPUT_TYPES[proof_type], raw)


def simulate(proof_type: ProvingRequestType, inputs: bytes) -> bytes:
    """Run the simulated circuit: inputs bytes -> output bytes (raises CircuitInputError)."""
    return canonical_json(encode(CIRCUITS[proof_type](decode_inputs(proof_type, inputs))))
