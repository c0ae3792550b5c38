"""Packaging an operator and an embedder can rely on.

- The dependency list is honest: every third-party module node/, p2p/ and proving/ import is declared
  in pyproject's `dependencies`, and every declared dependency is imported; what tests/, interop/ and
  bench/ import is declared there or in the `dev` extra.
- A wheel built from the checkout, installed (non-editable) into a fresh venv, runs from outside the
  checkout: `aztec-py-node --help` / `--version`, bootnodes.toml from the package, the L1 artifacts via
  AZTEC_NODE_MODULES, and the P2PClient example of p2p/README.md.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from node import __version__
from tests.conftest import REPO

FIRST_PARTY = {"core", "node", "p2p", "proving", "tests", "bench"}  # bench/, tests/: the checkout's own
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _dist_name(requirement: str) -> str:
    name = re.split(r"[\[=<>!~; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_dists(*folders: str) -> dict[str, set[str]]:
    """Distribution name -> files importing it, for the third-party imports under `folders`."""
    by_module: dict[str, set[str]] = {}
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                        by_module.setdefault(name, set()).add(str(path.relative_to(REPO)))
    dists = importlib.metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    for module, files in by_module.items():
        for dist in _providers(module, dists):
            out.setdefault(_dist_name(dist), set()).update(files)
    return out


def _providers(module: str, dists: dict[str, list[str]]) -> list[str]:
    """Distributions providing `module`; for a namespace package shared by several distributions
    (`google`: protobuf, googleapis-common-protos; `opentelemetry`: api, sdk, exporters, ...), the ones
    holding the deepest part of the imported module's path (opentelemetry.sdk.metrics -> opentelemetry-sdk)."""
    top = module.split(".")[0]
    candidates = dists.get(top, [f"<no distribution provides {top}>"])
    if len(set(candidates)) <= 1 or "." not in module:
        return candidates
    parts = module.split(".")
    best: list[str] = []
    best_depth = 0
    for dist in candidates:
        files = {str(f) for f in importlib.metadata.files(dist) or []}
        depth = next((k for k in range(len(parts), 0, -1)
                      if any(f.startswith("/".join(parts[:k]) + "/") or f == "/".join(parts[:k]) + ".py"
                             for f in files)), 0)
        if depth > best_depth:
            best, best_depth = [dist], depth
        elif depth == best_depth:
            best.append(dist)
    return best or candidates


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_runtime_dependencies_are_exactly_the_imported_ones() -> None:
    declared = {_dist_name(r) for r in PYPROJECT["project"]["dependencies"]}
    imported = _imported_dists("core", "node", "p2p", "proving")
    undeclared = {d: sorted(f)[:3] for d, f in imported.items() if d not in declared}
    assert not undeclared, f"imported but not in pyproject dependencies: {undeclared}"
    unused = declared - imported.keys()
    assert not unused, f"declared in pyproject dependencies but never imported: {sorted(unused)}"


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_test_and_bench_imports_are_declared() -> None:
    declared = {_dist_name(r) for r in PYPROJECT["project"]["dependencies"]}
    declared |= {_dist_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    imported = _imported_dists("tests", "interop", "bench")
    undeclared = {d: sorted(f)[:3] for d, f in imported.items() if d not in declared}
    assert not undeclared, f"imported by tests/bench but not declared (dependencies or dev): {undeclared}"


def test_lock_pins_every_declared_dependency() -> None:
    lock = {_dist_name(line): line.split("==")[1] for line in (REPO / "requirements.lock").read_text().split()}
    for req in PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["dev"]:
        name, version = _dist_name(req), req.split("==")[1]
        assert lock.get(name) == version, f"{req}: requirements.lock has {lock.get(name)}"


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_installs_into_a_fresh_venv_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    # build from a copy (setuptools writes build/ and *.egg-info next to the sources), no network:
    # the build backend is the setuptools pinned in requirements.lock
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    for pkg in ("core", "node", "p2p", "proving"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AZTEC_NODE_MODULES", "PYTHONHOME")}
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(src)]
    _run(build, tmp_path, env, 300)
    (wheel,) = dist.glob("aztec_py_node-*.whl")

    # a fresh venv; the pinned dependencies come from this test's own environment (a .pth line, so no
    # download), the project itself only from the wheel
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    py = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([str(py), "-c", purelib], tmp_path, env).strip())
    (site / "shared-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([*pip, "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)], tmp_path, env, 300)

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(py), "-c", "import core.http, node, p2p, proving; print(node.__file__, p2p.__file__)"], work, env)
    assert str(site) in where and str(REPO) not in where, where
    script = venv / "bin" / "aztec-py-node"
    assert "--p2p-bootstrap" in _run([str(script), "--help"], work, env)
    assert _run([str(script), "--version"], work, env).split()[:2] == ["aztec-py-node", __version__]
    for pkg in ("core", "node", "p2p", "proving"):
        assert (site / pkg / "py.typed").is_file()

    # package data and the npm packages through the documented setting
    probe = (
        "from p2p.bootnodes import load_bootnodes_toml; print(sorted(load_bootnodes_toml()))\n"
        "from node.l1 import artifacts as art\n"
        "try:\n    art.load_artifact('Rollup')\nexcept art.ArtifactsError as e:\n    print('missing:', e)\n"
        "import sys; art.use_node_modules(__import__('pathlib').Path(sys.argv[1]))\n"
        "print('abi entries', len(art.load_artifact('Rollup').abi))\n"
    )
    out = _run([str(py), "-c", probe, str(REPO / "interop" / "js" / "node_modules")], work, env)
    assert "'local'" in out and "missing:" in out and "AZTEC_NODE_MODULES" in out, out
    if (REPO / "interop" / "js" / "node_modules" / "@aztec" / "l1-artifacts").is_dir():
        assert re.search(r"abi entries [1-9]\d*", out), out

    # the embedding example of p2p/README.md, verbatim
    example = re.search(r"```python\n(.*?)```", (REPO / "p2p" / "README.md").read_text(), re.S)
    assert example is not None
    (work / "example.py").write_text(example.group(1))
    out = _run([str(py), "example.py"], work, env)
    assert out.startswith("16Uiu2") and "EpochProofQuote(" in out and "'quote_pool'" in out, out
