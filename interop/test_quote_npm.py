"""Our EpochProofQuote against @aztec/circuit-types@0.63.1 itself, on inputs drawn at test time.

One node run (interop/js/quote_vectors.mjs) signs and encodes every generated quote with Aztec's
code and decodes every buffer we produce, so both directions are checked byte for byte. Set
QUOTE_INTEROP_SEED to replay a failing draw (the seed is in every assertion message)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from core.aztec.serialization import DecodeError
from p2p.wire.quote import (
    EPOCH_PROOF_QUOTE_TOPIC,
    SECP256K1_N,
    EpochProofQuote,
    EpochProofQuotePayload,
    QuoteError,
    Signature,
    address_of,
    checksum_address,
)

pytestmark = pytest.mark.interop

U256_MAX = 2**256 - 1
N_RANDOM = 50


def _hex(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def _draw_inputs(rng: random.Random) -> list[dict[str, Any]]:
    def key() -> int:
        return rng.randrange(1, SECP256K1_N)

    def u256() -> int:
        return rng.choice([0, 1, U256_MAX, rng.randrange(0, 2**16), rng.randrange(0, 2**64), rng.randrange(0, 2**256)])

    def chain() -> int:
        return rng.choice([1, 31337, 11155111, 2**53 - 1, rng.randrange(1, 2**32)])

    def rollup() -> str:
        return rng.choice(["0x" + "00" * 20, "0x" + "ff" * 20, "0x" + rng.randbytes(20).hex()])

    cases: list[dict[str, Any]] = [
        # edges: smallest/largest key, all-zero and all-max fields, fee bounds
        dict(k=1, e=0, v=0, b=0, f=0, c=31337, r="0x" + "00" * 20),
        dict(k=SECP256K1_N - 1, e=U256_MAX, v=U256_MAX, b=U256_MAX, f=10_000, c=1, r="0x" + "ff" * 20),
        dict(k=2, e=1, v=1, b=1000, f=1, c=11155111, r="0x5FC8d32690cc91D4c39d9d3abcBD16989F875707"),
        dict(k=0x0101010101010101010101010101010101010101010101010101010101010101, e=5, v=100, b=2000, f=250,
             c=31337, r="0x2222222222222222222222222222222222222222"),
    ]
    for _ in range(N_RANDOM):
        cases.append(dict(k=key(), e=u256(), v=u256(), b=u256(), f=rng.choice([0, 10_000, rng.randrange(0, 10_001)]),
                          c=chain(), r=rollup()))
    return [
        {
            "privateKey": "0x" + c["k"].to_bytes(32, "big").hex(),
            "epochToProve": str(c["e"]),
            "validUntilSlot": str(c["v"]),
            "bondAmount": str(c["b"]),
            "basisPointFee": c["f"],
            "chainId": c["c"],
            "rollupAddress": c["r"],
        }
        for c in cases
    ]


def _ours(inp: dict[str, Any]) -> EpochProofQuote:
    key = _hex(inp["privateKey"])
    payload = EpochProofQuotePayload(
        epoch_to_prove=int(inp["epochToProve"]),
        valid_until_slot=int(inp["validUntilSlot"]),
        bond_amount=int(inp["bondAmount"]),
        prover=address_of(key),
        basis_point_fee=int(inp["basisPointFee"]),
    )
    return EpochProofQuote.new(payload, key, int(inp["chainId"]), inp["rollupAddress"])


def _malleate(q: EpochProofQuote) -> EpochProofQuote:
    """Same quote, high-s twin of the signature (valid on L1 and in TS recoverAddress)."""
    s = q.signature
    return EpochProofQuote(q.payload, Signature(r=s.r, s=SECP256K1_N - s.s, v=55 - s.v))


@pytest.fixture(scope="module")
def run(run_js: Callable[[str, Any], Any]) -> tuple[int, list[dict[str, Any]], list[EpochProofQuote], Any, Any]:
    seed = int(os.environ.get("QUOTE_INTEROP_SEED", random.SystemRandom().randrange(2**32)))
    inputs = _draw_inputs(random.Random(seed))
    ours = [_ours(i) for i in inputs]
    bad_fee = bytearray(ours[0].to_bytes())
    bad_fee[116:120] = b"\xff\xff\xff\xff"
    decode = [
        {"quoteBuffer": "0x" + q.to_bytes().hex(), "chainId": i["chainId"], "rollupAddress": i["rollupAddress"]}
        for q, i in zip(ours, inputs, strict=True)
    ]
    decode += [
        {"quoteBuffer": "0x" + _malleate(q).to_bytes().hex(), "chainId": i["chainId"],
         "rollupAddress": i["rollupAddress"]}
        for q, i in zip(ours[:5], inputs[:5], strict=True)
    ]
    extra = [bytes(bad_fee), ours[1].to_bytes()[:187], ours[1].to_bytes()[:120], b"", ours[2].to_bytes() + b"\x00\x01"]
    decode += [{"quoteBuffer": "0x" + b.hex(), "chainId": 1, "rollupAddress": "0x" + "11" * 20} for b in extra]
    result = run_js("quote_vectors.mjs", {"make": inputs, "decode": decode})
    return seed, inputs, ours, result["make"], result["decode"]


def test_their_quotes_equal_ours_byte_for_byte(run: Any) -> None:
    seed, inputs, ours, theirs, _ = run
    assert len(theirs) == len(inputs) >= N_RANDOM
    for inp, q, t in zip(inputs, ours, theirs, strict=True):
        ctx = f"seed={seed} input={inp}"
        assert "error" not in t, ctx + f" js error: {t.get('error')}"
        chain, rollup = int(inp["chainId"]), inp["rollupAddress"]
        assert "0x" + q.payload.prover.hex() == t["prover"], ctx
        assert q.payload.to_bytes() == _hex(t["payloadBuffer"]), ctx
        assert q.digest(chain, rollup) == _hex(t["digest"]), ctx
        assert q.signature.to_bytes() == _hex(t["signatureBuffer"]), ctx
        assert q.to_bytes() == _hex(t["quoteBuffer"]) and len(q.to_bytes()) == 188, ctx
        assert q.p2p_message_identifier() == _hex(t["p2pMessageIdentifier"]), ctx
        assert q.to_json() == t["json"], ctx
        assert t["topic"] == EPOCH_PROOF_QUOTE_TOPIC
        # their bytes and JSON decode in Python to the same quote and signer
        assert EpochProofQuote.from_bytes(_hex(t["quoteBuffer"])) == q, ctx
        assert EpochProofQuote.from_json(t["json"]) == q, ctx
        assert q.recover_signer(chain, rollup) == _hex(t["recovered"]) == q.payload.prover, ctx


def test_our_quotes_decode_in_js(run: Any) -> None:
    seed, inputs, ours, _, decoded = run
    n = len(ours)
    malleated = [_malleate(q) for q in ours[:5]]
    for i, q in enumerate([*ours, *malleated]):
        d = decoded[i]
        inp = inputs[i if i < n else i - n]
        ctx = f"seed={seed} case={i} input={inp}"
        assert d["ok"], ctx + f" js error: {d.get('error')}"
        p, s = q.payload, q.signature
        assert d["fields"] == {
            "epochToProve": str(p.epoch_to_prove),
            "validUntilSlot": str(p.valid_until_slot),
            "bondAmount": str(p.bond_amount),
            "prover": "0x" + p.prover.hex(),
            "basisPointFee": p.basis_point_fee,
            "r": f"0x{s.r:064x}",
            "s": f"0x{s.s:064x}",
            "v": s.v,
            "isEmpty": False,
        }, ctx
        assert _hex(d["reencoded"]) == q.to_bytes(), ctx
        assert d["json"] == q.to_json(), ctx
        assert _hex(d["digest"]) == q.digest(int(inp["chainId"]), inp["rollupAddress"]), ctx
        assert _hex(d["p2pMessageIdentifier"]) == q.p2p_message_identifier(), ctx
        # both sides recover the prover, for the low-s original and the high-s twin alike
        assert _hex(d["recovered"]) == q.recover_signer(int(inp["chainId"]), inp["rollupAddress"]) == p.prover, ctx
    # the high-s twin is a distinct message id for the same quote (documented hazard)
    assert malleated[0].p2p_message_identifier() != ours[0].p2p_message_identifier()


def test_malformed_buffers_fail_alike(run: Any) -> None:
    seed, _, ours, _, decoded = run
    tail = decoded[len(ours) + 5 :]
    bad_fee, trunc187, trunc120, empty, trailing = tail
    raw = bytearray(ours[0].to_bytes())
    raw[116:120] = b"\xff\xff\xff\xff"
    assert not bad_fee["ok"] and bad_fee["error"] == "Invalid basisPointFee 4294967295"
    with pytest.raises(QuoteError, match=r"^Invalid basisPointFee 4294967295$"):
        EpochProofQuote.from_bytes(bytes(raw))
    for case, data in ((trunc187, ours[1].to_bytes()[:187]), (trunc120, ours[1].to_bytes()[:120]), (empty, b"")):
        assert not case["ok"], f"seed={seed}"
        with pytest.raises(DecodeError) as exc:
            EpochProofQuote.from_bytes(data, strict_length=False)
        assert str(exc.value) == case["error"]
    # Aztec ignores trailing bytes; we match that only when asked, and reject by default
    assert trailing["ok"] and _hex(trailing["reencoded"]) == ours[2].to_bytes()
    assert EpochProofQuote.from_bytes(ours[2].to_bytes() + b"\x00\x01", strict_length=False) == ours[2]
    with pytest.raises(QuoteError):
        EpochProofQuote.from_bytes(ours[2].to_bytes() + b"\x00\x01")


def test_l1_tuple_uses_checksummed_prover(run: Any) -> None:
    _, _, ours, _, _ = run
    for q in ours[:5]:
        (quote, sig) = q.to_l1_tuple()
        assert quote[3] == checksum_address(q.payload.prover)
        assert sig == (False, q.signature.v, q.signature.r.to_bytes(32, "big"), q.signature.s.to_bytes(32, "big"))
