"""Typed L1 errors and decoding of Solidity revert data by name from the v0.63.1 ABIs (sans-IO)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from node.l1.artifacts import Abi, abi_input_types, load_artifact, signature_of

ERROR_STRING_SELECTOR: Final = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR: Final = bytes.fromhex("4e487b71")  # Panic(uint256)

# Contracts whose custom errors can surface from a Rollup call (TxsDecoder and Outbox errors are not
# in the Rollup ABI).
ERROR_SOURCES: Final = (
    "Rollup",
    "TxsDecoder",
    "Outbox",
    "Inbox",
    "ProofCommitmentEscrow",
    "TestERC20",
    "Registry",
    "FeeJuicePortal",
    "RewardDistributor",
)


class L1Error(Exception):
    """Any failure talking to L1."""


class L1TransientError(L1Error):
    """A transport-level failure (connection refused/reset, timeout, 5xx) worth retrying."""


class L1TransactionError(L1Error):
    """A transaction could not be sent or was not mined in time."""


@dataclass(frozen=True, slots=True)
class DecodedRevert:
    name: str  # e.g. "Rollup__NoEpochToProve", "Error", "Panic", or "" when unknown/empty
    args: tuple[Any, ...]
    data: bytes

    def __str__(self) -> str:
        if not self.name:
            return f"revert 0x{self.data.hex()}" if self.data else "revert without data"
        return f"{self.name}({', '.join(_fmt(a) for a in self.args)})"


def _fmt(a: Any) -> str:
    if isinstance(a, bytes):
        return "0x" + a.hex()
    return repr(a)


class L1RevertError(L1Error):
    """A call or transaction reverted; `name` is the decoded custom error (or "" if unknown)."""

    def __init__(self, revert: DecodedRevert, *, context: str = "", tx_hash: bytes | None = None) -> None:
        self.revert = revert
        self.tx_hash = tx_hash
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}reverted with {revert}")

    @property
    def name(self) -> str:
        return self.revert.name

    @property
    def args_(self) -> tuple[Any, ...]:
        return self.revert.args


class ErrorDecoder:
    """Maps 4-byte selectors to ABI error entries from a set of ABIs."""

    def __init__(self, abis: Iterable[Abi]) -> None:
        self._by_selector: dict[bytes, dict[str, Any]] = {}
        for abi in abis:
            for entry in abi:
                if entry.get("type") == "error":
                    self._by_selector.setdefault(keccak(text=signature_of(entry))[:4], entry)

    def names(self) -> set[str]:
        return {e["name"] for e in self._by_selector.values()}

    def selector_of(self, name: str) -> bytes:
        for sel, entry in self._by_selector.items():
            if entry["name"] == name:
                return sel
        raise KeyError(name)

    def decode(self, data: bytes) -> DecodedRevert:
        if len(data) < 4:
            return DecodedRevert("", (), data)
        sel, body = data[:4], data[4:]
        try:
            if sel == ERROR_STRING_SELECTOR:
                return DecodedRevert("Error", tuple(abi_decode(["string"], body)), data)
            if sel == PANIC_SELECTOR:
                return DecodedRevert("Panic", tuple(abi_decode(["uint256"], body)), data)
            entry = self._by_selector.get(sel)
            if entry is None:
                return DecodedRevert("", (), data)
            return DecodedRevert(entry["name"], tuple(abi_decode(abi_input_types(entry), body)), data)
        except (DecodingError, ValueError, OverflowError):
            return DecodedRevert("", (), data)


@lru_cache(maxsize=8)
def _aztec_decoder(node_modules: Path | None) -> ErrorDecoder:
    return ErrorDecoder(load_artifact(name, node_modules).abi for name in ERROR_SOURCES)


def aztec_error_decoder(node_modules: Path | str | None = None) -> ErrorDecoder:
    """Decoder over every v0.63.1 contract ABI our node can hit."""
    return _aztec_decoder(Path(node_modules) if node_modules is not None else None)


def revert_data_from_exception(exc: BaseException) -> bytes | None:
    """Revert bytes carried by a web3 exception (ContractLogicError/ContractCustomError/RPC error), if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if data is None and exc.args:
        first = exc.args[0]
        if isinstance(first, dict):
            data = first.get("data")
            if isinstance(data, dict):
                data = data.get("data")
        elif isinstance(first, tuple) and len(first) == 2:  # (message, data)
            data = first[1]
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        h = data[2:] if data.startswith("0x") else data
        try:
            return bytes.fromhex(h)
        except ValueError:
            return None
    return None
