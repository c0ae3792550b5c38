"""L1->L2 messages: the Inbox leaf and the per-block inHash (height-4 sha256ToField tree), sans-IO."""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi.abi import encode as abi_encode

from core.aztec.constants import NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP
from core.aztec.hashing import sha256_merkle_root, sha256_to_field


class TooManyMessagesError(ValueError):
    """More than 16 L1->L2 messages for one block."""


def padded_messages(messages: Sequence[bytes]) -> list[bytes]:
    if len(messages) > NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP:
        raise TooManyMessagesError(f"{len(messages)} L1->L2 messages exceed {NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP}")
    return list(messages) + [bytes(32)] * (NUMBER_OF_L1_L2_MESSAGES_PER_ROLLUP - len(messages))


def in_hash(messages: Sequence[bytes]) -> bytes:
    """Inbox root / parity sha root of the block's messages (zero padded to 16)."""
    leaves = [int.from_bytes(m, "big") for m in padded_messages(messages)]
    return sha256_merkle_root(leaves).to_bytes(32, "big")


def inbox_leaf(
    sender: bytes, chain_id: int, recipient: bytes, version: int, content: bytes, secret_hash: bytes, index: int
) -> bytes:
    """sha256ToField(abi.encode(sender, chainId, recipient.actor, recipient.version, content, secretHash, index))."""
    pre = abi_encode(
        ["address", "uint256", "bytes32", "uint256", "bytes32", "bytes32", "uint256"],
        [sender, chain_id, recipient, version, content, secret_hash, index],
    )
    return sha256_to_field(pre)
