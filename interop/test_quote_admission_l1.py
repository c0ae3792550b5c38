"""Quote admission with the bond read from the real v0.63.1 ProofCommitmentEscrow on anvil.

`node.l1.escrow_view.L1EscrowView` (cached per L1 block) behind `p2p.pools.quote_admission`, and
the sequencer's `node_addEpochProofQuote` (no --p2p) going through the same admission."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from node.components import Context
from node.config import load_config
from node.l1.anvil import ANVIL_DEV_KEYS
from node.l1.client import L1Client
from node.l1.escrow_view import L1EscrowView
from node.l1.rpc import SyncRpc
from node.roles.network import _sequencer
from p2p.pools.quote_admission import Admission, QuoteAdmission
from p2p.pools.quote_pool import EpochProofQuotePool
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of

pytestmark = pytest.mark.interop

BONDED_KEY = ANVIL_DEV_KEYS[4]
LATE_KEY = ANVIL_DEV_KEYS[5]
STRANGER = bytes([0x42]) * 32


def _k(hexkey: str) -> bytes:
    return bytes.fromhex(hexkey.removeprefix("0x"))


def _quote(key: bytes, chain_id: int, rollup: str, *, bond: int, fee: int = 100, epoch: int = 1) -> EpochProofQuote:
    return EpochProofQuote.new(EpochProofQuotePayload(epoch, 10**6, bond, address_of(key), fee), key, chain_id, rollup)


async def _deposit(client: L1Client, key: str, amount: int) -> None:
    c = client.with_signer(key)
    await c.token_mint(c.address, amount)
    await c.token_approve(c.addresses.proof_commitment_escrow, amount)
    await c.escrow_deposit(amount)


async def test_admission_reads_bond_from_real_escrow(deploy_l1: Callable[..., Any]) -> None:
    chain = deploy_l1()
    client = L1Client(SyncRpc(chain.w3), chain.addresses)
    chain_id, rollup = await client.chain_id(), client.addresses.rollup
    await _deposit(client, BONDED_KEY, 5000)
    view = L1EscrowView(client, block_poll=0.0, lookups_per_block=8)
    assert await view.refresh_min_bond() == 1000  # PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST from the Rollup
    adm = QuoteAdmission(EpochProofQuotePool(), chain_id=chain_id, rollup_address=_k(rollup), escrow=view)
    bonded, late = _k(BONDED_KEY), _k(LATE_KEY)

    honest = _quote(bonded, chain_id, rollup, bond=5000)
    assert (await adm.admit(honest)).outcome is Admission.ADMITTED
    assert view.cached_deposit(address_of(bonded)) == 5000
    assert (await adm.admit(_quote(bonded, chain_id, rollup, bond=5001, fee=1))).outcome is Admission.UNBONDED
    assert (await adm.admit(_quote(bonded, chain_id, rollup, bond=999, fee=2))).outcome is Admission.BOND_BELOW_MINIMUM
    for q in (_quote(bonded, chain_id, "0x" + "22" * 20, bond=5000, fee=3), _quote(bonded, chain_id + 1, rollup,
                                                                                  bond=5000, fee=4)):
        assert (await adm.admit(q)).outcome is Admission.BAD_SIGNATURE  # other rollup / other chain
    # griefing: fee-0 quotes from keys with no deposit never enter; the honest quote stays best
    for i in range(20):
        key = bytes([i + 1]) * 32
        res = await adm.admit(_quote(key, chain_id, rollup, bond=1000, fee=0))
        assert res.outcome in (Admission.UNBONDED, Admission.BOND_UNKNOWN), res  # unknown: over the budget
    assert adm.pool.best_quote(1, current_slot=0) == honest
    # the lookup budget per L1 block holds (8): later unknown provers are BOND_UNKNOWN, no L1 call
    stats = view.statistics()
    assert stats["lookups"] <= 8 and stats["over_budget"] >= 1

    # a deposit lands in a new L1 block: the cache is per block, so the prover is admitted now
    assert (await adm.admit(_quote(late, chain_id, rollup, bond=2000, fee=50))).outcome in (
        Admission.UNBONDED,
        Admission.BOND_UNKNOWN,
    )
    await _deposit(client, LATE_KEY, 2000)
    late_quote = _quote(late, chain_id, rollup, bond=2000, fee=60)
    res = await adm.admit(late_quote)
    assert res.outcome is Admission.ADMITTED, res
    assert adm.pool.best_quote(1, current_slot=0) == late_quote  # fee 60 < 100


async def test_sequencer_http_sink_uses_the_same_admission(deploy_l1: Callable[..., Any]) -> None:
    """node_addEpochProofQuote of a sequencer without --p2p: garbage signatures, unknown provers and
    quotes for another rollup get a JSON-RPC error; a bonded prover's quote is pooled."""
    chain = deploy_l1()
    client = L1Client(SyncRpc(chain.w3), chain.addresses)
    chain_id, rollup = await client.chain_id(), client.addresses.rollup
    await _deposit(client, BONDED_KEY, 5000)
    cfg = load_config({"SEQ_PUBLISHER_PRIVATE_KEY": ANVIL_DEV_KEYS[1], "ROLLUP_CONTRACT_ADDRESS": rollup,
                       "L1_CHAIN_ID": str(chain_id)})
    ctx = Context(cfg, {"sequencer"})
    _sequencer(ctx)
    ctx.l1 = client

    async def call(method: str, *params: Any) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return dict(json.loads(await ctx.rpc.handle_body(json.dumps(body).encode())))

    good = _quote(_k(BONDED_KEY), chain_id, rollup, bond=5000, fee=7)
    garbage = good.to_json()
    garbage["signature"] = "0x" + "11" * 64 + "1b"
    stranger = _quote(STRANGER, chain_id, rollup, bond=5000, fee=0)
    other = _quote(_k(BONDED_KEY), chain_id, "0x" + "22" * 20, bond=5000, fee=0)
    for bad, why in ((garbage, "bad_signature"), (stranger.to_json(), "unbonded"), (other.to_json(), "bad_signature")):
        out = await call("node_addEpochProofQuote", bad)
        assert "error" in out and why in out["error"]["message"], out
    assert "error" not in await call("node_addEpochProofQuote", good.to_json())
    assert "error" not in await call("node_addEpochProofQuote", good.to_json())  # duplicate: fine
    got = await call("node_getEpochProofQuotes", 1)
    assert got["result"] == [good.to_json()]
