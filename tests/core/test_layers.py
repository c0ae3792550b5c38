"""core/ is the bottom layer: it imports nothing from node/, p2p/ or proving/."""

from __future__ import annotations

import ast

from tests.conftest import REPO

UPPER = ("node", "p2p", "proving")


def test_core_imports_no_upper_layer() -> None:
    offenders = []
    files = sorted((REPO / "core").rglob("*.py"))
    assert files
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in UPPER]
    assert offenders == []
