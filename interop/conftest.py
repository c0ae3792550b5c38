"""Shared fixtures for interop tests: the npm reference packages, node scripts, and one anvil + v0.63.1
deployment per session (deploying takes seconds; tests that change chain state use their own)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from node.l1.anvil import ANVIL_DEV_KEYS, AnvilProcess
from node.l1.deploy import DeployReport, L1ContractAddresses, RollupConfig, deploy_l1_contracts_report
from tests.conftest import register_hypothesis_profiles

register_hypothesis_profiles()  # the same `ci` / `dev` / `fast` profiles as tests/

REPO = Path(__file__).resolve().parent.parent
JS_DIR = REPO / "interop" / "js"
NODE_MODULES = JS_DIR / "node_modules"

ANVIL_KEYS = ANVIL_DEV_KEYS


def _need_node_modules() -> None:
    if not (NODE_MODULES / "@aztec" / "circuit-types").is_dir():
        pytest.skip(f"npm packages not installed at {NODE_MODULES} (run scripts/bootstrap.sh)")


@pytest.fixture(scope="session")
def node_modules() -> Path:
    _need_node_modules()
    return NODE_MODULES


@pytest.fixture(scope="session")
def run_js(node_modules: Path) -> Callable[[str, Any], Any]:
    """Run `interop/js/<script>` with JSON on stdin (cwd interop/js) and return its JSON stdout."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")

    def run(script: str, request: Any) -> Any:
        proc = subprocess.run(
            [node, script],
            cwd=JS_DIR,
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"{script} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
        return json.loads(proc.stdout)

    return run


@pytest.fixture(scope="session")
def make_anvil(node_modules: Path) -> Iterator[Callable[..., AnvilProcess]]:
    """Factory for anvils on 127.0.0.1 (port chosen by anvil); all are closed at session end."""
    started: list[AnvilProcess] = []

    def make(chain_id: int = 31337, **options: object) -> AnvilProcess:
        a = AnvilProcess(chain_id=chain_id, node_modules=node_modules, **options)
        started.append(a)
        return a

    yield make
    for a in started:
        a.close()


@dataclass(frozen=True)
class L1Session:
    anvil: AnvilProcess
    w3: Web3
    report: DeployReport

    @property
    def addresses(self) -> L1ContractAddresses:
        return self.report.addresses


@pytest.fixture(scope="session")
def deploy_l1(make_anvil: Callable[..., AnvilProcess]) -> Callable[..., L1Session]:
    """Factory: a fresh anvil with the v0.63.1 contracts deployed (about 0.2 s)."""

    def deploy(
        chain_id: int = 31337,
        config: RollupConfig | None = None,
        validators: tuple[str, ...] = (),
        **options: object,
    ) -> L1Session:
        anvil = make_anvil(chain_id, **options)
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        report = deploy_l1_contracts_report(w3, ANVIL_KEYS[0], config or RollupConfig(), validators)
        return L1Session(anvil, w3, report)

    return deploy


@pytest.fixture(scope="session")
def l1_session(deploy_l1: Callable[..., L1Session]) -> L1Session:
    """One anvil (chain 31337) with the contracts deployed with the default config.

    For read-only use (eth_call) only; tests that mine or move time deploy their own."""
    return deploy_l1(31337)
