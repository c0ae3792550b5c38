"""The prover node's BondManager driving the real v0.63.1 escrow through node.l1.ports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from node.l1.anvil import ANVIL_DEV_KEYS
from node.l1.client import L1Client
from node.l1.ports import L1EscrowAdapter
from node.l1.rpc import SyncRpc
from node.prover_node.bond import BondManager, EscrowPort, InsufficientTokens
from p2p.wire.quote import address_of

pytestmark = pytest.mark.interop


async def test_bond_manager_on_anvil(deploy_l1: Callable[..., Any]) -> None:
    chain = deploy_l1()
    key = ANVIL_DEV_KEYS[4]
    prover = address_of(bytes.fromhex(key[2:]))
    client = L1Client(SyncRpc(chain.w3), chain.addresses).with_signer(key)
    port: EscrowPort = L1EscrowAdapter(client)
    strict = BondManager(port, prover, minimum=1000, target=5000, allow_mint=False)
    with pytest.raises(InsufficientTokens):
        await strict.ensure_bond()
    bm = BondManager(port, prover, minimum=1000, target=5000, allow_mint=True)
    assert await bm.ensure_bond() == 5000
    assert await client.escrow_deposits(prover) == 5000
    assert await bm.ensure_bond(required=4000) == 0
    assert await bm.ensure_bond(required=8000) == 3000  # tops up to max(target, required)
    assert await client.escrow_deposits(prover) == 8000
    assert await client.token_balance(prover) == 0
