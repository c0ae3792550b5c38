"""core/ is the bottom layer, and the whole layer order holds, read from every import (module level
and inside functions):

    core/  <-  p2p/, proving/  <-  node/

core/ imports none of node/, p2p/, proving/; p2p/ and proving/ import core/ but neither each other
nor node/. A violation names the file, the line and the imported module."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

LAYERS = ("core", "p2p", "proving", "node")
FORBIDDEN: dict[str, frozenset[str]] = {
    "core": frozenset({"node", "p2p", "proving"}),
    "p2p": frozenset({"node", "proving"}),
    "proving": frozenset({"node", "p2p"}),
    "node": frozenset(),
}


def imported_packages(source: str) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in `source`."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def violations(layer: str, path: str, source: str) -> list[str]:
    return [
        f"{path}:{line} imports {module}"
        for line, module in imported_packages(source)
        if module.split(".")[0] in FORBIDDEN[layer]
    ]


def test_layer_order_holds() -> None:
    problems: list[str] = []
    for layer in LAYERS:
        files = sorted((REPO / layer).rglob("*.py"))
        assert files, f"no python files under {layer}/"
        for path in files:
            rel = str(path.relative_to(REPO))
            problems += violations(layer, rel, path.read_text())
    assert not problems, "layer order broken (core <- p2p, proving <- node):\n" + "\n".join(problems)


def test_core_is_used_by_both_middle_layers() -> None:
    """p2p/ and proving/ take the shared data model from core/ (not a copy of their own)."""
    for layer in ("p2p", "proving", "node"):
        modules = {m for p in (REPO / layer).rglob("*.py") for _, m in imported_packages(p.read_text())}
        assert any(m == "core" or m.startswith("core.") for m in modules), f"{layer}/ does not import core/"


def test_the_check_sees_a_violation() -> None:
    src = "import os\nfrom p2p.wire.quote import X\n\ndef f():\n    from node.config import Y\n"
    assert violations("proving", "x.py", src) == ["x.py:2 imports p2p.wire.quote", "x.py:5 imports node.config"]
    assert violations("node", "x.py", src) == []
    assert violations("core", "x.py", "import proving.types\n") == ["x.py:1 imports proving.types"]


def test_no_module_left_where_core_now_holds_it() -> None:
    """The copies that core/aztec replaced stay deleted (one codec per structure)."""
    gone = [
        Path("p2p/wire/header.py"),
        Path("p2p/wire/serialization.py"),
        Path("proving/circuits/hashing.py"),
        Path("proving/circuits/poseidon2_params.py"),
        Path("node/l2/tx_effect.py"),
        Path("node/l2/messages.py"),
        Path("node/constants.py"),
    ]
    assert [str(p) for p in gone if (REPO / p).exists()] == []
