"""Aztec v0.63.1 L1 contract artifacts (ABI, bytecode, link references) from `@aztec/l1-artifacts`.

The npm package ships each contract as `dest/<Name>Abi.js` (`export const <Name>Abi = [...]`, JSON
inside) and `dest/<Name>Bytecode.js` (`export const <Name>Bytecode = "0x..."` and
`export const <Name>LinkReferences = {...}`). We read those files as text; nothing is executed.
Aztec's code is never committed here: the package is installed by `scripts/bootstrap.sh`.

Where the npm packages are (the `node_modules` folder holding @aztec/l1-artifacts and anvil): a path
passed explicitly, else the one the node was configured with (AZTEC_NODE_MODULES, see node/config.py;
`use_node_modules`), else `interop/js/node_modules` of the checkout this module runs from (a source
checkout; an installed wheel has none, so an operator sets AZTEC_NODE_MODULES).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from eth_utils.crypto import keccak

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_NODE_MODULES: Final = REPO_ROOT / "interop" / "js" / "node_modules"
NODE_MODULES_ENV: Final = "AZTEC_NODE_MODULES"
ARTIFACTS_PACKAGE: Final = "@aztec/l1-artifacts"
ARTIFACTS_VERSION: Final = "0.63.1"

Abi = list[dict[str, Any]]


class ArtifactsError(Exception):
    """The artifacts package is missing, of the wrong version, or a file cannot be parsed."""


@dataclass(frozen=True, slots=True)
class LinkReference:
    source: str  # e.g. "src/core/libraries/TxsDecoder.sol"
    library: str  # e.g. "TxsDecoder"
    start: int  # byte offset into the creation bytecode
    length: int  # always 20


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: Abi
    bytecode: bytes  # creation code, with zeroed placeholders where libraries must be linked
    link_references: tuple[LinkReference, ...] = ()
    _errors: dict[bytes, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def libraries(self) -> frozenset[str]:
        return frozenset(r.library for r in self.link_references)

    def linked_bytecode(self, libraries: dict[str, bytes | str]) -> bytes:
        """Creation code with every library placeholder replaced by the given 20-byte address."""
        missing = self.libraries - libraries.keys()
        if missing:
            raise ArtifactsError(f"{self.name} needs libraries {sorted(missing)} linked")
        return link_bytecode(self.bytecode, self.link_references, libraries)

    def error_by_selector(self, selector: bytes) -> dict[str, Any] | None:
        """The ABI `error` entry whose 4-byte selector matches, if any."""
        if not self._errors:
            for entry in self.abi:
                if entry.get("type") == "error":
                    self._errors[keccak(text=signature_of(entry))[:4]] = entry
        return self._errors.get(selector)


def _canonical_type(param: dict[str, Any]) -> str:
    t: str = param["type"]
    if t.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){t[5:]}"
    return t


def signature_of(entry: dict[str, Any]) -> str:
    """Canonical `name(type,...)` of an ABI function/error/event entry."""
    return f"{entry['name']}({','.join(_canonical_type(p) for p in entry.get('inputs', []))})"


def abi_input_types(entry: dict[str, Any]) -> list[str]:
    return [_canonical_type(p) for p in entry.get("inputs", [])]


def _address_bytes(addr: bytes | str) -> bytes:
    if isinstance(addr, str):
        addr = bytes.fromhex(addr.removeprefix("0x"))
    if len(addr) != 20:
        raise ArtifactsError(f"library address must be 20 bytes, got {len(addr)}")
    return addr


def link_bytecode(code: bytes, refs: tuple[LinkReference, ...], libraries: dict[str, bytes | str]) -> bytes:
    out = bytearray(code)
    for ref in refs:
        if ref.start + ref.length > len(out) or ref.length != 20:
            raise ArtifactsError(f"bad link reference {ref}")
        out[ref.start : ref.start + ref.length] = _address_bytes(libraries[ref.library])
    return bytes(out)


_configured_node_modules: Path | None = None


def use_node_modules(node_modules: Path | None) -> None:
    """Set the process-wide node_modules (the node calls this with its AZTEC_NODE_MODULES at start-up)."""
    global _configured_node_modules
    _configured_node_modules = node_modules


def resolve_node_modules(node_modules: Path | str | None = None) -> Path:
    """Explicit path, else the configured AZTEC_NODE_MODULES, else interop/js/node_modules of this checkout."""
    if node_modules is not None:
        return Path(node_modules)
    return _configured_node_modules or DEFAULT_NODE_MODULES


def _package_dir(node_modules: Path | str | None) -> Path:
    nm = resolve_node_modules(node_modules)
    pkg = nm / "@aztec" / "l1-artifacts"
    manifest = pkg / "package.json"
    if not manifest.is_file():
        raise ArtifactsError(
            f"{ARTIFACTS_PACKAGE} is not installed under {nm}; run scripts/bootstrap.sh "
            f"(or set {NODE_MODULES_ENV} to a node_modules holding {ARTIFACTS_PACKAGE}@{ARTIFACTS_VERSION})"
        )
    version = json.loads(manifest.read_text()).get("version")
    if version != ARTIFACTS_VERSION:
        raise ArtifactsError(f"{ARTIFACTS_PACKAGE} at {pkg} is version {version}, need {ARTIFACTS_VERSION}")
    return pkg


def _export(text: str, name: str, path: Path) -> str:
    m = re.search(rf"export const {re.escape(name)} = (.*?);\n", text, re.S)
    if m is None:
        raise ArtifactsError(f"{path} has no export {name}")
    return m.group(1)


@lru_cache(maxsize=64)
def _load(pkg: Path, name: str) -> ContractArtifact:
    abi_path = pkg / "dest" / f"{name}Abi.js"
    code_path = pkg / "dest" / f"{name}Bytecode.js"
    if not abi_path.is_file() or not code_path.is_file():
        raise ArtifactsError(f"no artifact {name} in {pkg}/dest")
    try:
        abi = json.loads(_export(abi_path.read_text(), f"{name}Abi", abi_path))
        code_text = code_path.read_text()
        code_hex: str = json.loads(_export(code_text, f"{name}Bytecode", code_path)).removeprefix("0x")
        raw_refs = json.loads(_export(code_text, f"{name}LinkReferences", code_path))
        refs = tuple(
            LinkReference(source, library, int(r["start"]), int(r["length"]))
            for source, libs in raw_refs.items()
            for library, entries in libs.items()
            for r in entries
        )
        # Unlinked placeholders are `__$<hash>$__` text inside the hex; zero them until linked.
        for ref in refs:
            a, b = 2 * ref.start, 2 * (ref.start + ref.length)
            code_hex = code_hex[:a] + "0" * (b - a) + code_hex[b:]
        bytecode = bytes.fromhex(code_hex)
    except (ValueError, KeyError, TypeError) as e:
        raise ArtifactsError(f"cannot parse artifact {name}: {e}") from e
    return ContractArtifact(name=name, abi=abi, bytecode=bytecode, link_references=refs)


def load_artifact(name: str, node_modules: Path | str | None = None) -> ContractArtifact:
    """Load contract `name` (e.g. "Rollup", "TxsDecoder", "TestERC20")."""
    return _load(_package_dir(node_modules).resolve(), name)


# Contracts our node deploys or talks to.
ROLLUP: Final = "Rollup"
REGISTRY: Final = "Registry"
INBOX: Final = "Inbox"
OUTBOX: Final = "Outbox"
FEE_JUICE_PORTAL: Final = "FeeJuicePortal"
REWARD_DISTRIBUTOR: Final = "RewardDistributor"
TEST_ERC20: Final = "TestERC20"
TXS_DECODER: Final = "TxsDecoder"
PROOF_COMMITMENT_ESCROW: Final = "ProofCommitmentEscrow"
MOCK_VERIFIER: Final = "MockVerifier"
