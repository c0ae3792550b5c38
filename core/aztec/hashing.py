"""Pure hashing functions the simulated rollup circuits need (section 3 of the proving doc).

- ``sha256_trunc``: Noir ``sha256_to_field``: 0x00 followed by the first 31 bytes of SHA-256.
- ``accumulate``: sha256_trunc(a as 32 bytes BE || b as 32 bytes BE) (merge / block merge hashes).
- ``poseidon2_hash``: barretenberg's BN254 Poseidon2 sponge (width 4, rate 3, IV = len * 2^64).
- Merkle helpers: balanced trees (sha256 / Poseidon2), the unbalanced ("wonky") sha256 root, and an
  append-only Poseidon2 tree insertion driven by a sibling path (the archive).

All values are Python ints in [0, FR_MODULUS); ``sha256_to_field`` is the bytes form of ``sha256_trunc``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache

from core.aztec.poseidon2_params import (
    FULL_ROUND_CONSTANTS,
    INTERNAL_MATRIX_DIAGONAL,
    PARTIAL_ROUND_CONSTANTS,
)
from core.aztec.serialization import FR_MODULUS, field_bytes, to_field

_P = FR_MODULUS


def sha256_to_field(data: bytes) -> bytes:
    """Aztec's sha256ToField: 0x00 followed by the first 31 bytes of SHA-256(data)."""
    return b"\0" + hashlib.sha256(data).digest()[:31]


def sha256_trunc(data: bytes) -> int:
    """sha256_to_field as a field element."""
    return int.from_bytes(hashlib.sha256(data).digest()[:31], "big")


def accumulate(left: int, right: int) -> int:
    return sha256_trunc(field_bytes(left) + field_bytes(right))


def sha256_trunc_fields(values: Sequence[int]) -> int:
    return sha256_trunc(b"".join(field_bytes(v) for v in values))


# --- Poseidon2 -----------------------------------------------------------------------------------


def _external(s0: int, s1: int, s2: int, s3: int) -> tuple[int, int, int, int]:
    # M_E = [[5,7,1,3],[4,6,1,1],[1,3,5,7],[1,1,4,6]] in barretenberg's addition-chain form.
    t0 = s0 + s1
    t1 = s2 + s3
    t2 = 2 * s1 + t1
    t3 = 2 * s3 + t0
    t4 = 4 * t1 + t3
    t5 = 4 * t0 + t2
    t6 = t3 + t5
    t7 = t2 + t4
    return t6 % _P, t5 % _P, t7 % _P, t4 % _P


def _full_rounds(
    s0: int, s1: int, s2: int, s3: int, constants: Sequence[Sequence[int]]
) -> tuple[int, int, int, int]:
    for c in constants:
        s0, s1, s2, s3 = (
            pow(s0 + c[0], 5, _P),
            pow(s1 + c[1], 5, _P),
            pow(s2 + c[2], 5, _P),
            pow(s3 + c[3], 5, _P),
        )
        s0, s1, s2, s3 = _external(s0, s1, s2, s3)
    return s0, s1, s2, s3


def poseidon2_permutation(state: Sequence[int]) -> tuple[int, int, int, int]:
    if len(state) != 4:
        raise ValueError("Poseidon2 state has 4 elements")
    s0, s1, s2, s3 = _external(state[0], state[1], state[2], state[3])
    d0, d1, d2, d3 = INTERNAL_MATRIX_DIAGONAL
    s0, s1, s2, s3 = _full_rounds(s0, s1, s2, s3, FULL_ROUND_CONSTANTS[:4])
    for c0 in PARTIAL_ROUND_CONSTANTS:
        s0 = pow(s0 + c0, 5, _P)
        total = s0 + s1 + s2 + s3
        s0, s1, s2, s3 = (
            (total + d0 * s0) % _P,
            (total + d1 * s1) % _P,
            (total + d2 * s2) % _P,
            (total + d3 * s3) % _P,
        )
    s0, s1, s2, s3 = _full_rounds(s0, s1, s2, s3, FULL_ROUND_CONSTANTS[4:])
    return s0, s1, s2, s3


def poseidon2_hash(inputs: Sequence[int]) -> int:
    """barretenberg ``Poseidon2::hash``: sponge, rate 3, capacity element IV = len(inputs) << 64."""
    state = [0, 0, 0, (len(inputs) << 64) % _P]
    cache_: list[int] = []
    for value in inputs:
        to_field(value)
        if len(cache_) == 3:
            for i in range(3):
                state[i] = (state[i] + cache_[i]) % _P
            state = list(poseidon2_permutation(state))
            cache_ = [value]
        else:
            cache_.append(value)
    for i, v in enumerate(cache_):
        state[i] = (state[i] + v) % _P
    return poseidon2_permutation(state)[0]


def poseidon2_hash_with_separator(inputs: Sequence[int], separator: int) -> int:
    return poseidon2_hash([separator, *inputs])


# --- Merkle trees --------------------------------------------------------------------------------


def _check_pow2(n: int) -> None:
    if n == 0 or n & (n - 1):
        raise ValueError(f"a balanced tree needs a power-of-two leaf count, got {n}")


def sha256_merkle_root(leaves: Sequence[int]) -> int:
    _check_pow2(len(leaves))
    level = list(leaves)
    while len(level) > 1:
        level = [accumulate(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def poseidon2_merkle_root(leaves: Sequence[int]) -> int:
    _check_pow2(len(leaves))
    level = list(leaves)
    while len(level) > 1:
        level = [poseidon2_hash([level[i], level[i + 1]]) for i in range(0, len(level), 2)]
    return level[0]


def unbalanced_sha256_root(leaves: Sequence[int]) -> int:
    """computeUnbalancedMerkleRoot with sha256Trunc: left-greedy power-of-two split, odd leaf carried up.

    Empty input hashes to 0 and one leaf is its own root.
    """
    if not leaves:
        return 0
    if len(leaves) == 1:
        return leaves[0]
    p = largest_power_of_two_below(len(leaves))
    return accumulate(unbalanced_sha256_root(leaves[:p]), unbalanced_sha256_root(leaves[p:]))


def largest_power_of_two_below(n: int) -> int:
    """Largest power of two strictly below n (n >= 2): the left subtree size of the wonky tree."""
    if n < 2:
        raise ValueError("a two-input node covers at least 2 leaves")
    p = 1
    while p * 2 < n:
        p *= 2
    return p


@cache
def poseidon2_zero_hashes(height: int) -> tuple[int, ...]:
    """zero[h] = root of an empty subtree of height h (zero[0] = 0)."""
    out = [0]
    for _ in range(height):
        out.append(poseidon2_hash([out[-1], out[-1]]))
    return tuple(out)


def root_from_sibling_path(leaf: int, index: int, path: Sequence[int]) -> int:
    node = leaf
    for h, sibling in enumerate(path):
        node = poseidon2_hash([sibling, node]) if (index >> h) & 1 else poseidon2_hash([node, sibling])
    return node


def append_with_sibling_path(
    leaf: int, index: int, path: Sequence[int]
) -> tuple[int, tuple[int, ...]]:
    """Insert ``leaf`` at ``index`` of an append-only Poseidon2 tree whose empty slot ``index`` has
    sibling path ``path``; return the new root and the sibling path of the (empty) slot ``index + 1``.

    In an append-only tree every right-hand sibling of an empty slot is an empty subtree, which is
    what makes the next path computable from this one.
    """
    height = len(path)
    if index >= 1 << height:
        raise ValueError(f"index {index} does not fit a tree of height {height}")
    zeros = poseidon2_zero_hashes(height)
    ancestors = [leaf]
    node = leaf
    for h, sibling in enumerate(path):
        node = poseidon2_hash([sibling, node]) if (index >> h) & 1 else poseidon2_hash([node, sibling])
        ancestors.append(node)
    nxt = index + 1
    next_path: list[int] = []
    for h in range(height):
        pos = nxt >> h
        if pos & 1 == 0:
            next_path.append(zeros[h])
        elif pos - 1 == index >> h:
            next_path.append(ancestors[h])
        else:
            next_path.append(path[h])
    return node, tuple(next_path)


def sibling_path_for_next_leaf(leaves: Sequence[int], height: int) -> tuple[int, ...]:
    """Sibling path of the first empty slot of an append-only tree holding ``leaves`` (a helper for
    callers that know every leaf, e.g. the archive's block hashes)."""
    path = poseidon2_zero_hashes(height)[:height]
    for i, leaf in enumerate(leaves):
        _, path = append_with_sibling_path(leaf, i, path)
    return path
