"""Protocol constants of Aztec v0.63.1, named as Aztec names them.

Sources: l1-contracts Rollup.sol / ConstantsGen.sol / HeaderLib.sol, yarn-project/ethereum config.ts
defaults, and the measurements in ../shared/notes/aztec-v0.63.1-*.md. Values a deployment can change
(slot/epoch durations, claim window) must be read from the Rollup at run time; these are defaults.
"""

from __future__ import annotations

from typing import Final

# --- L1 timing defaults (yarn-project/ethereum/src/config.ts) ---
ETHEREUM_SLOT_DURATION: Final = 12  # seconds
AZTEC_SLOT_DURATION: Final = 24  # seconds per L2 slot
AZTEC_EPOCH_DURATION: Final = 16  # L2 slots per epoch
AZTEC_TARGET_COMMITTEE_SIZE: Final = 48
AZTEC_EPOCH_PROOF_CLAIM_WINDOW_IN_L2_SLOTS: Final = 13  # Rollup.CLAIM_DURATION_IN_L2_SLOTS

# --- Rollup.sol (0.63.1) ---
PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST: Final = 1000  # bond token base units
MAX_BASIS_POINT_FEE: Final = 10_000  # basisPointFee <= 10000 (100 %)
ROLLUP_VERSION: Final = 1  # header globals.version must equal Rollup.VERSION()
EIP712_DOMAIN_NAME: Final = "Aztec Rollup"
EIP712_DOMAIN_VERSION: Final = "1"

# --- Blocks, header, body (HeaderLib / TxsDecoder / ConstantsGen) ---
HEADER_LENGTH: Final = 616  # bytes of the packed header L1 decodes
GENESIS_ARCHIVE_ROOT: Final = bytes.fromhex("2a05cb8aeefe9b9797f90650eae072f5ab7437807e62f9724ce1900467779860")
# sha256ToField(preimage of one empty tx effect), pads the txs-effects tree to >= 2 leaves
EMPTY_TX_EFFECT_HASH: Final = bytes.fromhex("00c2dece9c9f14c67b8aafabdcb80793f1cffe95a801e15d648fd214a0522ee8")
# txsEffectsHash of a block with 0 txs (or 1 empty tx)
EMPTY_BLOCK_TXS_EFFECTS_HASH: Final = bytes.fromhex("002dcd61493c9a7f3ce4605573ee657e6ced4a3dd10bfb216f44a796b3d585c9")
# Inbox root consumed by block 1 (empty height-4 sha256ToField tree)
EMPTY_INBOX_ROOT: Final = bytes.fromhex("00089a9d421a82c4a25f7acbebe69e638d5b064fa8a60e018793dcb0be53752c")
# outHash of a block without L2->L1 messages (TS builder: unbalanced root of zero tx out hashes)
EMPTY_BLOCK_OUT_HASH: Final = bytes.fromhex("00f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb")
L1_TO_L2_MSG_SUBTREE_HEIGHT: Final = 4  # 16 messages per Inbox tree (per L2 block)
NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP: Final = 16
MAX_NOTE_HASHES_PER_TX: Final = 64
MAX_NULLIFIERS_PER_TX: Final = 64
MAX_L2_TO_L1_MSGS_PER_TX: Final = 8
MAX_TOTAL_PUBLIC_DATA_UPDATE_REQUESTS_PER_TX: Final = 64
MAX_NOTE_ENCRYPTED_LOGS_PER_TX: Final = 64
MAX_ENCRYPTED_LOGS_PER_TX: Final = 8
MAX_UNENCRYPTED_LOGS_PER_TX: Final = 8
MAX_CONTRACT_CLASS_LOGS_PER_TX: Final = 1
TX_EFFECTS_HASH_INPUT_FIELDS: Final = 267  # 8544-byte tx effect preimage / 32 (rounded words)

# --- Epoch proof (Rollup.submitEpochRootProof) ---
EPOCH_PROOF_ARGS_LENGTH: Final = 7  # bytes32[7]
AZTEC_MAX_EPOCH_DURATION: Final = 32  # fees array holds 2 * 32 = 64 words
EPOCH_PROOF_FEES_LENGTH: Final = 2 * AZTEC_MAX_EPOCH_DURATION
AGGREGATION_OBJECT_LENGTH: Final = 16

# --- Circuits and world state (ConstantsGen.sol / constants.nr) ---
GENERATOR_INDEX__BLOCK_HASH: Final = 28  # Poseidon2 separator of the block hash (archive leaf)
HEADER_FIELDS_LENGTH: Final = 24  # Header.toFields()
ROOT_ROLLUP_PUBLIC_INPUTS_LENGTH: Final = 76
ARCHIVE_HEIGHT: Final = 29
NOTE_HASH_TREE_HEIGHT: Final = 40
NULLIFIER_TREE_HEIGHT: Final = 40
PUBLIC_DATA_TREE_HEIGHT: Final = 40
L1_TO_L2_MSG_TREE_HEIGHT: Final = 39
INITIAL_INDEXED_TREE_SIZE: Final = 128  # 2 * MAX_NULLIFIERS_PER_TX prefilled leaves
TREE_LEAVES_PER_TX: Final = 64
