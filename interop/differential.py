"""Differential fuzz of our gossip verdicts against Aztec v0.63.1's own decoders.

`DecoderOracle` keeps ONE node process (`interop/js/decode_server.mjs`) and feeds it batches over
stdin; `Mutator` derives inputs from valid quotes, txs, proposals and attestations (bit flips, byte
sets, truncation, extension, length-field edits, field elements >= the BN254 modulus, fee edits,
splices); `run_differential` decodes every input with both and checks the one property the gossip
verdicts promise: **we never REJECT an input v0.63.1's decoder accepts**. It also checks that our
validators are total (no exception) and that `p2p.wire.compat` agrees with v0.63.1 both ways.

Used by `interop/test_decoder_differential.py` (CI budget) and `bench/decoder_differential.py`
(>= 100k mutations, prints the table).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.aztec.constants import HEADER_LENGTH
from core.aztec.serialization import FR_MODULUS
from p2p.validation import (
    Accept,
    Ignore,
    QuoteValidationContext,
    Reject,
    TxValidationContext,
    validate_block_attestation,
    validate_block_proposal,
    validate_quote,
    validate_tx,
)
from p2p.wire import compat
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of

REPO = Path(__file__).resolve().parent.parent
JS_DIR = REPO / "interop" / "js"
VECTORS = REPO.parent / "shared" / "interop" / "tx-vectors.json"
SHARED_VECTORS = Path("/work/shared/interop/tx-vectors.json")

CHAIN_ID = 31337
TX_CHAIN_ID = 0  # the tx vectors are 0.63.1 mock txs, built with chain id 0
ROLLUP = bytes.fromhex("5fc8d32690cc91d4c39d9d3abcbd16989f875707")
KINDS = ("quote", "tx", "proposal", "attestation")


class OracleError(RuntimeError):
    pass


class DecoderOracle:
    """One long-lived `node decode_server.mjs`; `decode(batch)` -> per input (ok, extra_ok)."""

    def __init__(self, js_dir: Path = JS_DIR) -> None:
        node = shutil.which("node")
        if node is None:
            raise OracleError("node is not on PATH")
        if not (js_dir / "node_modules" / "@aztec" / "circuit-types").is_dir():
            raise OracleError(f"@aztec/circuit-types is not installed under {js_dir}/node_modules")
        self.proc = subprocess.Popen(
            [node, "decode_server.mjs"],
            cwd=js_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def decode(self, batch: Sequence[tuple[str, bytes]]) -> list[tuple[bool, bool]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([[k, d.hex()] for k, d in batch]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise OracleError(f"decode server exited ({self.proc.poll()})")
        out = json.loads(line)
        if not isinstance(out, list) or len(out) != len(batch):
            raise OracleError(f"decode server answered {str(out)[:200]}")
        return [(bool(r["ok"]), bool(r.get("extra", False))) for r in out]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> DecoderOracle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- seeds --------------------------------------------------------------------------------------
def _load_vectors() -> dict[str, Any]:
    for p in (VECTORS, SHARED_VECTORS):
        if p.is_file():
            return dict(json.loads(p.read_text()))
    raise OracleError("tx-vectors.json not found under ../shared/interop")


def seed_inputs(rng: random.Random) -> dict[str, list[bytes]]:
    """Valid messages per kind: signed quotes (ours, for CHAIN_ID/ROLLUP and a few for another
    rollup), the tx and consensus vectors made with the 0.63.1 npm packages."""
    quotes = []
    for i in range(16):
        key = rng.randbytes(32)
        payload = EpochProofQuotePayload(
            epoch_to_prove=rng.choice([0, 1, 5, 2**64]),
            valid_until_slot=rng.choice([10, 100, 2**255]),
            bond_amount=rng.choice([1000, 2000, 10**21]),
            prover=address_of(key),
            basis_point_fee=rng.randrange(0, 10_001),
        )
        rollup = ROLLUP if i % 4 else bytes(20)
        quotes.append(EpochProofQuote.new(payload, key, CHAIN_ID, rollup).to_bytes())
    vec = _load_vectors()
    txs = [bytes.fromhex(t["hex"]) for t in vec["txs"]]
    proposals = [bytes.fromhex(c["hex"]) for c in vec["consensus"] if c["kind"] == "proposal"]
    attestations = [bytes.fromhex(c["hex"]) for c in vec["consensus"] if c["kind"] == "attestation"]
    return {"quote": quotes, "tx": txs, "proposal": proposals, "attestation": attestations}


# ---- mutations ----------------------------------------------------------------------------------
def _length_field_offsets(kind: str, data: bytes) -> list[int]:
    """Offsets of the u32 length/count fields of a valid message (where length edits bite)."""
    if kind in ("proposal", "attestation"):
        return [HEADER_LENGTH + 32]
    if kind != "tx" or not data:
        return []
    out: list[int] = []
    pos = compat.TX_DATA_SIZE_FOR_PUBLIC if data[0] else compat.TX_DATA_SIZE_FOR_ROLLUP

    def u32(at: int) -> int:
        return int.from_bytes(data[at : at + 4], "big")

    try:
        for _ in range(4):
            out.append(pos)
            pos += 4 + u32(pos)
        for _ in range(4):
            out.append(pos)
            end = pos + 4 + u32(pos)
            p = pos + 4
            while p < end:
                out.append(p)
                fend = p + 4 + u32(p)
                q = p + 4
                while q < fend:
                    out.append(q)
                    q += 4 + u32(q)
                p = fend
            pos = end
        out.append(pos)
        n = u32(pos)
        pos += 4
        for _ in range(n + 1):
            out.append(pos + 69)
            pos += 73 + 32 * u32(pos + 69)
    except (IndexError, ValueError):
        pass
    return [o for o in out if o + 4 <= len(data)]


@dataclass
class Mutator:
    rng: random.Random
    seeds: dict[str, list[bytes]]
    _lengths: dict[tuple[str, int], list[int]] = field(default_factory=dict)

    OPS: tuple[str, ...] = (
        "bitflip",
        "byteset",
        "truncate",
        "extend",
        "length",
        "field_ge_modulus",
        "splice",
        "fee",
        "header_hash_byte",
        "multi",
    )

    def lengths(self, kind: str, i: int) -> list[int]:
        key = (kind, i)
        if key not in self._lengths:
            self._lengths[key] = _length_field_offsets(kind, self.seeds[kind][i])
        return self._lengths[key]

    def mutate(self, kind: str) -> tuple[str, bytes]:
        rng = self.rng
        i = rng.randrange(len(self.seeds[kind]))
        base = self.seeds[kind][i]
        op = rng.choice(self.OPS)
        if op == "multi":
            data = base
            for _ in range(rng.randint(2, 4)):
                data = self._apply(rng.choice(self.OPS[:-1]), kind, i, data)
            return op, data
        return op, self._apply(op, kind, i, base)

    def _apply(self, op: str, kind: str, i: int, data: bytes) -> bytes:
        rng = self.rng
        b = bytearray(data)
        n = len(b)
        if n == 0:
            return bytes(rng.randbytes(rng.randint(0, 8)))
        if op == "bitflip":
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(n)
                b[pos] ^= 1 << rng.randrange(8)
            return bytes(b)
        if op == "byteset":
            pos = rng.randrange(n)
            b[pos] = rng.choice([0, 1, 2, 0x7F, 0x80, 0xFF, rng.randrange(256)])
            return bytes(b)
        if op == "truncate":
            return bytes(b[: rng.randrange(n)])
        if op == "extend":
            return bytes(b) + rng.randbytes(rng.choice([1, 4, 32, rng.randint(1, 64)]))
        if op == "length":
            offs = self.lengths(kind, i) if bytes(b) == self.seeds[kind][i] else []
            pos = rng.choice(offs) if offs else rng.randrange(max(1, n - 3))
            cur = int.from_bytes(b[pos : pos + 4], "big")
            new = rng.choice([0, 1, cur + 1, max(cur - 1, 0), cur + 32, 0xFFFFFFFF, rng.randrange(2**32)])
            b[pos : pos + 4] = (new % 2**32).to_bytes(4, "big")
            return bytes(b[:n])
        if op == "field_ge_modulus":
            if n < 32:
                return bytes(b)
            pos = rng.randrange(0, n - 31)
            if rng.random() < 0.7:
                pos -= pos % 32 if kind != "tx" else (pos - 1) % 32  # tx data words start at offset 1
                pos = max(pos, 0)
            val = rng.choice([FR_MODULUS, FR_MODULUS + 1, 2**256 - 1, rng.randrange(FR_MODULUS, 2**256)])
            b[pos : pos + 32] = val.to_bytes(32, "big")
            return bytes(b)
        if op == "splice":
            other = rng.choice(self.seeds[rng.choice(KINDS)])
            cut = rng.randrange(n + 1)
            cut2 = rng.randrange(len(other) + 1)
            return bytes(b[:cut]) + other[cut2:]
        if op == "fee":
            if kind == "quote" and n >= 120:
                fee = rng.choice([10_000, 10_001, 65_535, 0xFFFFFFFF, rng.randrange(2**32)])
                b[116:120] = fee.to_bytes(4, "big")
            return bytes(b)
        if op == "header_hash_byte":
            base = 1 if kind == "tx" else 0
            if kind != "quote" and n > base + 140:
                b[base + rng.choice([68, 100, 132])] = rng.randrange(1, 256)
            return bytes(b)
        return bytes(b)


# ---- the run ------------------------------------------------------------------------------------
def our_verdict(kind: str, data: bytes) -> str:
    """'accept' / 'ignore' / 'reject' / 'exception' from our gossip validators."""
    qctx = QuoteValidationContext(CHAIN_ID, ROLLUP, current_slot=lambda: 20)
    tctx = TxValidationContext(TX_CHAIN_ID)
    fns: dict[str, Callable[[bytes], object]] = {
        "quote": lambda d: validate_quote(d, qctx),
        "tx": lambda d: validate_tx(d, tctx),
        "proposal": validate_block_proposal,
        "attestation": validate_block_attestation,
    }
    try:
        v = fns[kind](data)
    except Exception:
        return "exception"
    if isinstance(v, Accept):
        return "accept"
    if isinstance(v, Ignore):
        return "internal" if v.reason.startswith("internal error") else "ignore"
    assert isinstance(v, Reject)
    return "reject"


_COMPAT: dict[str, Callable[[bytes], str | None]] = {
    "quote": compat.quote_error,
    "tx": compat.tx_error,
    "proposal": compat.block_proposal_error,
    "attestation": compat.block_attestation_error,
}


@dataclass
class DiffResult:
    mutations: int = 0
    table: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (kind, aztec, ours)
    ops: Counter[tuple[str, bool]] = field(default_factory=Counter)  # (op, aztec ok)
    false_rejects: list[tuple[str, str, bytes]] = field(default_factory=list)  # v0.63.1 accepts, we reject
    compat_mismatches: list[tuple[str, str, bytes, bool]] = field(default_factory=list)
    exceptions: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def false_reject_count(self) -> int:
        return sum(n for (_, az, ours), n in self.table.items() if az == "accepts" and ours == "reject")


def run_differential(
    oracle: DecoderOracle,
    *,
    mutations: int,
    seed: int,
    batch_size: int = 500,
    weights: dict[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> DiffResult:
    rng = random.Random(seed)
    seeds = seed_inputs(rng)
    mut = Mutator(rng, seeds)
    w = weights or {"quote": 55, "tx": 15, "proposal": 15, "attestation": 15}
    kinds, kw = list(w), list(w.values())
    res = DiffResult()
    # the unmutated seeds go first: all must be accepted by both
    pending: list[tuple[str, str, bytes]] = [(k, "seed", d) for k in KINDS for d in seeds[k]]
    while res.mutations < mutations or pending:
        while len(pending) < batch_size and res.mutations < mutations:
            kind = rng.choices(kinds, kw)[0]
            op, data = mut.mutate(kind)
            pending.append((kind, op, data))
            res.mutations += 1
        answers = oracle.decode([(k, d) for k, _, d in pending])
        for (kind, op, data), (ok, _extra) in zip(pending, answers, strict=True):
            ours = our_verdict(kind, data)
            if ours == "exception" or ours == "internal":
                res.exceptions.append((kind, data))
            res.table[(kind, "accepts" if ok else "rejects", ours)] += 1
            res.ops[(op, ok)] += 1
            if ok and ours == "reject" and len(res.false_rejects) < 20:
                res.false_rejects.append((kind, op, data))
            compat_ok = _COMPAT[kind](data) is None
            if compat_ok != ok and len(res.compat_mismatches) < 20:
                res.compat_mismatches.append((kind, op, data, ok))
        pending = []
        if progress is not None:
            progress(res.mutations)
    return res


def format_table(res: DiffResult) -> str:
    lines = [
        f"mutations: {res.mutations}",
        f"{'kind':<12} {'v0.63.1':<8} {'accept':>8} {'ignore':>8} {'reject':>8} {'exception':>9}",
    ]
    for kind in KINDS:
        for az in ("accepts", "rejects"):
            row = [res.table[(kind, az, o)] for o in ("accept", "ignore", "reject")]
            exc = res.table[(kind, az, "exception")] + res.table[(kind, az, "internal")]
            lines.append(f"{kind:<12} {az:<8} {row[0]:>8} {row[1]:>8} {row[2]:>8} {exc:>9}")
    lines.append(f"accepted by v0.63.1 but REJECTed by us: {res.false_reject_count}")
    lines.append(f"our validators raised / internal errors: {len(res.exceptions)}")
    lines.append(f"p2p.wire.compat disagreeing with v0.63.1 (first 20 kept): {len(res.compat_mismatches)}")
    return "\n".join(lines)
