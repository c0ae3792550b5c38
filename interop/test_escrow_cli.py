"""`python -m node escrow` on anvil: deposit (BondManager), `withdraw --amount` (startWithdraw), an early
`--execute` refused with the time it becomes possible, the escrow's WITHDRAW_DELAY passed on anvil
(evm_increaseTime + evm_mine), `withdraw --execute` (executeWithdraw) and the balances after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import trio

from node.l1.anvil import ANVIL_DEV_KEYS
from node.l1.client import L1Client
from node.l1.ports import L1EscrowAdapter
from node.l1.rpc import SyncRpc
from node.prover_node.bond import BondManager
from p2p.wire.quote import address_of
from tests.conftest import REPO

pytestmark = pytest.mark.interop


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node", "escrow", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)


def test_escrow_withdraw_start_wait_execute(deploy_l1: Callable[..., Any]) -> None:
    chain = deploy_l1()
    key = ANVIL_DEV_KEYS[5]
    prover = address_of(bytes.fromhex(key[2:]))
    client = L1Client(SyncRpc(chain.w3), chain.addresses).with_signer(key)
    bond = BondManager(L1EscrowAdapter(client), prover, minimum=1000, target=5000, allow_mint=True)
    assert trio.run(bond.ensure_bond) == 5000
    env = {**os.environ, "PYTHONPATH": str(REPO), "ETHEREUM_HOST": chain.anvil.url,
           "ROLLUP_CONTRACT_ADDRESS": chain.addresses.rollup, "PROVER_PUBLISHER_PRIVATE_KEY": key}

    before = _cli(env, "balance", "--json")
    assert before.returncode == 0, before.stderr
    b = json.loads(before.stdout)
    assert b["deposit"] == "5000" and b["withdrawal"] is None and b["token_balance"] == "0"
    delay = b["withdraw_delay"]
    assert delay > 0

    too_much = _cli(env, "withdraw", "--amount", "6000")
    assert too_much.returncode == 2 and "more than the deposit 5000" in too_much.stderr

    started = _cli(env, "withdraw", "--amount", "3000", "--json")
    assert started.returncode == 0, started.stderr
    s = json.loads(started.stdout)
    assert s["withdrawal"]["amount"] == "3000" and s["tx"].startswith("0x")
    now = chain.w3.eth.get_block("latest")["timestamp"]
    assert s["withdrawal"]["executable_at"] >= now + delay - 1

    early = _cli(env, "withdraw", "--execute")
    assert early.returncode == 2 and "executable at" in early.stderr, early.stderr
    assert trio.run(client.escrow_deposits, prover) == 5000

    chain.w3.provider.make_request("evm_increaseTime", [delay + 1])
    chain.w3.provider.make_request("evm_mine", [])
    done = _cli(env, "withdraw", "--execute")
    assert done.returncode == 0, done.stderr
    assert "withdrew 3000" in done.stdout and "deposit 2000, token balance 3000" in done.stdout
    assert trio.run(client.escrow_deposits, prover) == 2000
    assert trio.run(client.token_balance, prover) == 3000
    assert trio.run(client.escrow_withdrawal, prover)[0] == 0
    again = _cli(env, "withdraw", "--execute")
    assert again.returncode == 2 and "no withdrawal pending" in again.stderr
