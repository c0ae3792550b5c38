"""node.l1 plumbing without npm: artifact parsing/linking, ABI helpers, revert decoding, retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from node.l1.artifacts import (
    ArtifactsError,
    LinkReference,
    load_artifact,
    signature_of,
)
from node.l1.client import RetryPolicy, call_with_retry
from node.l1.errors import ErrorDecoder, L1TransientError, revert_data_from_exception
from node.l1.rpc import decode_output, encode_call, encode_constructor

ABI = [
    {"type": "constructor", "inputs": [{"name": "a", "type": "address"}, {"name": "n", "type": "uint256"}]},
    {
        "type": "function",
        "name": "quoteToDigest",
        "inputs": [
            {
                "name": "_quote",
                "type": "tuple",
                "components": [
                    {"name": "epochToProve", "type": "uint256"},
                    {"name": "validUntilSlot", "type": "uint256"},
                    {"name": "bondAmount", "type": "uint256"},
                    {"name": "prover", "type": "address"},
                    {"name": "basisPointFee", "type": "uint32"},
                ],
            }
        ],
        "outputs": [{"name": "", "type": "bytes32"}],
    },
    {
        "type": "function",
        "name": "tips",
        "inputs": [],
        "outputs": [{"name": "p", "type": "uint256"}, {"name": "q", "type": "uint256"}],
    },
    {
        "type": "error",
        "name": "Rollup__QuoteExpired",
        "inputs": [{"name": "currentSlot", "type": "uint256"}, {"name": "validUntilSlot", "type": "uint256"}],
    },
    {"type": "error", "name": "Rollup__NoEpochToProve", "inputs": []},
]


def _fake_package(root: Path, version: str = "0.63.1") -> Path:
    pkg = root / "@aztec" / "l1-artifacts"
    (pkg / "dest").mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": "@aztec/l1-artifacts", "version": version}))
    (pkg / "dest" / "ThingAbi.js").write_text(f"/**\n * Thing ABI.\n */\nexport const ThingAbi = {json.dumps(ABI)};\n")
    code = "0x6000" + "__$0123456789abcdef0123456789abcdef01$__" + "6001"
    refs = {"src/Lib.sol": {"Lib": [{"start": 2, "length": 20}]}}
    (pkg / "dest" / "ThingBytecode.js").write_text(
        f'export const ThingBytecode = "{code}";\nexport const ThingLinkReferences = {json.dumps(refs)};\n'
    )
    return root


def test_missing_package_tells_to_bootstrap(tmp_path: Path) -> None:
    with pytest.raises(ArtifactsError, match=r"scripts/bootstrap\.sh"):
        load_artifact("Rollup", tmp_path)


def test_wrong_version_rejected(tmp_path: Path) -> None:
    with pytest.raises(ArtifactsError, match=r"need 0\.63\.1"):
        load_artifact("Thing", _fake_package(tmp_path, "0.64.0"))


def test_parse_and_link(tmp_path: Path) -> None:
    art = load_artifact("Thing", _fake_package(tmp_path))
    assert art.abi == ABI
    assert art.link_references == (LinkReference("src/Lib.sol", "Lib", 2, 20),)
    assert art.bytecode == bytes.fromhex("6000" + "00" * 20 + "6001")
    lib = bytes(range(20))
    assert art.linked_bytecode({"Lib": "0x" + lib.hex()}) == bytes.fromhex("6000") + lib + bytes.fromhex("6001")
    with pytest.raises(ArtifactsError, match="needs libraries"):
        art.linked_bytecode({})
    with pytest.raises(ArtifactsError, match="no artifact"):
        load_artifact("Nope", tmp_path)
    assert art.error_by_selector(keccak(text="Rollup__NoEpochToProve()")[:4]) == ABI[-1]


def test_signatures_and_encoding() -> None:
    assert signature_of(ABI[1]) == "quoteToDigest((uint256,uint256,uint256,address,uint32))"
    q = (1, 2, 3, "0x" + "11" * 20, 4)
    data = encode_call(ABI, "quoteToDigest", [q])
    assert data[:4] == keccak(text=signature_of(ABI[1]))[:4]
    assert data[4:] == abi_encode(["(uint256,uint256,uint256,address,uint32)"], [q])
    assert decode_output(ABI, "tips", 0, abi_encode(["uint256", "uint256"], [7, 5])) == (7, 5)
    assert encode_constructor(ABI, b"\x60", ["0x" + "22" * 20, 9]) == b"\x60" + abi_encode(
        ["address", "uint256"], ["0x" + "22" * 20, 9]
    )
    with pytest.raises(KeyError):
        encode_call(ABI, "nope", [])


@given(st.integers(0, 2**256 - 1), st.integers(0, 2**256 - 1))
def test_revert_decoding(a: int, b: int) -> None:
    dec = ErrorDecoder([ABI])
    sel = keccak(text="Rollup__QuoteExpired(uint256,uint256)")[:4]
    r = dec.decode(sel + abi_encode(["uint256", "uint256"], [a, b]))
    assert (r.name, r.args) == ("Rollup__QuoteExpired", (a, b))
    assert str(r) == f"Rollup__QuoteExpired({a!r}, {b!r})"


def test_revert_decoding_edge_cases() -> None:
    dec = ErrorDecoder([ABI])
    assert dec.decode(b"").name == ""
    assert dec.decode(b"\xde\xad\xbe\xef").name == ""
    assert dec.decode(keccak(text="Rollup__QuoteExpired(uint256,uint256)")[:4] + b"\x01").name == ""  # truncated
    err = bytes.fromhex("08c379a0") + abi_encode(["string"], ["boom"])
    assert (dec.decode(err).name, dec.decode(err).args) == ("Error", ("boom",))
    panic = bytes.fromhex("4e487b71") + abi_encode(["uint256"], [0x32])
    assert (dec.decode(panic).name, dec.decode(panic).args) == ("Panic", (0x32,))
    assert dec.selector_of("Rollup__NoEpochToProve") == keccak(text="Rollup__NoEpochToProve()")[:4]

    class Exc(Exception):
        def __init__(self, data: object) -> None:
            super().__init__("x")
            self.data = data

    assert revert_data_from_exception(Exc("0x1234")) == b"\x12\x34"
    assert revert_data_from_exception(Exc({"data": "0xabcd"})) == b"\xab\xcd"
    assert revert_data_from_exception(ValueError({"code": 3, "data": "0x01"})) == b"\x01"
    assert revert_data_from_exception(ValueError("plain")) is None


async def test_retry_backoff_on_transient_errors(autojump_clock: trio.testing.MockClock) -> None:
    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise L1TransientError("connection refused")
        return 42

    seen: list[tuple[int, float]] = []
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=10.0)
    start = trio.current_time()
    assert await call_with_retry(flaky, policy, lambda n, e: seen.append((n, trio.current_time()))) == 42
    assert [n for n, _ in seen] == [1, 2]
    assert seen[1][1] - seen[0][1] == pytest.approx(1.0)  # slept 1 s after the first failure
    assert trio.current_time() - start == pytest.approx(3.0)  # 1 s + 2 s of backoff

    def always() -> int:
        raise L1TransientError("down")

    with pytest.raises(L1TransientError):
        await call_with_retry(always, RetryPolicy(attempts=3, base_delay=0.5))
    assert [RetryPolicy(base_delay=1, max_delay=5).delay(i) for i in range(5)] == [1, 2, 4, 5, 5]
