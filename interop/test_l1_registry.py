"""REGISTRY_CONTRACT_ADDRESS: with no ROLLUP_CONTRACT_ADDRESS the node follows the Registry's canonical
rollup (Aztec v0.63.1 Registry on anvil)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
from web3 import Web3

from node.components import Context
from node.config import ConfigError, load_config
from node.l1.anvil import ANVIL_DEV_KEYS, AnvilProcess
from node.l1.deploy import deploy_l1_contracts_report
from node.startup import L1Connection

pytestmark = pytest.mark.interop


async def test_node_reads_the_rollup_from_the_registry(make_anvil: Callable[..., AnvilProcess]) -> None:
    anvil = make_anvil(31337)
    report = await trio.to_thread.run_sync(
        lambda: deploy_l1_contracts_report(Web3(Web3.HTTPProvider(anvil.url)), ANVIL_DEV_KEYS[0], register_rollup=True)
    )
    env = {"ETHEREUM_HOST": anvil.url, "REGISTRY_CONTRACT_ADDRESS": report.addresses.registry}
    async with trio.open_nursery() as nursery:
        rollup = await nursery.start(L1Connection(Context(load_config(env), roles={"archiver"})).run)
        assert str(rollup).lower() == report.addresses.rollup.lower()
        nursery.cancel_scope.cancel()


async def test_registry_without_a_rollup_is_a_named_error(deploy_l1: Callable[..., Any]) -> None:
    chain = deploy_l1()  # the default deploy does not register its rollup: getRollup() is 0x...dead
    env = {"ETHEREUM_HOST": chain.anvil.url, "REGISTRY_CONTRACT_ADDRESS": chain.addresses.registry}
    with pytest.RaisesGroup(pytest.RaisesExc(ConfigError, match="REGISTRY_CONTRACT_ADDRESS: Registry .* no rollup")):
        async with trio.open_nursery() as nursery:
            await nursery.start(L1Connection(Context(load_config(env), roles={"archiver"})).run)
