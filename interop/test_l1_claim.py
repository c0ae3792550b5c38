"""Claim lifecycle on the real v0.63.1 Rollup on anvil, driven through node.l1.client, with
node.l1.rules predicting every outcome (each revert by name and arguments, prune deadlines).

A pending block is injected with `anvil_setStorageAt` (storage layout measured in the npm-and-l1 note:
slot 8 tips.pendingBlockNumber, slot 15 the `blocks` mapping); the real propose path is separate."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import trio
from eth_utils.crypto import keccak

from node.l1.anvil import ANVIL_DEV_KEYS, Anvil, AnvilInfo
from node.l1.client import L1Client
from node.l1.deploy import RollupConfig, deploy_l1_contracts
from node.l1.errors import L1RevertError
from node.l1.rpc import SyncRpc
from node.l1.rules import ClaimRejection, L1Timing, can_prune_at_slot, check_claim, escrow_top_up
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of

pytestmark = pytest.mark.interop

CONFIG = RollupConfig(slot_duration=12, epoch_duration=4, target_committee_size=48, claim_window=2)
TIPS_SLOT = 8
BLOCKS_MAPPING_SLOT = 15
PROVER_KEY = bytes.fromhex(ANVIL_DEV_KEYS[2][2:])
PROPOSER_KEY = ANVIL_DEV_KEYS[1]


def _word(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


async def inject_block(client: L1Client, number: int, slot: int, archive: bytes, block_hash: bytes) -> None:
    """Make `number` the pending tip with the given stored BlockLog (no propose)."""
    rollup = client.addresses.rollup
    base = int.from_bytes(keccak(number.to_bytes(32, "big") + BLOCKS_MAPPING_SLOT.to_bytes(32, "big")), "big")
    for offset, value in ((0, archive), (1, block_hash), (2, slot.to_bytes(32, "big"))):
        await client.rpc_request("anvil_setStorageAt", [rollup, _word(base + offset), "0x" + value.hex()])
    await client.rpc_request("anvil_setStorageAt", [rollup, _word(TIPS_SLOT), _word(number)])


async def set_next_time(client: L1Client, ts: int) -> None:
    await client.rpc_request("evm_setNextBlockTimestamp", [ts])


def _quote(epoch: int, bond: int, fee: int, valid_until: int, chain: int, rollup: str) -> EpochProofQuote:
    payload = EpochProofQuotePayload(epoch, valid_until, bond, address_of(PROVER_KEY), 0)
    # a fee above 10000 cannot be built through the payload's constructor (same rule as TS); L1 still
    # hashes it, so bypass the check to exercise Rollup__InvalidBasisPointFee
    object.__setattr__(payload, "basis_point_fee", fee)
    return EpochProofQuote.new(payload, PROVER_KEY, chain, rollup)


async def _l1_outcome(client: L1Client, ts: int, q: EpochProofQuote) -> ClaimRejection | None:
    try:
        await client.validate_epoch_proof_right_claim_at_time(ts, q)
    except L1RevertError as e:
        args = tuple(bytes.fromhex(a[2:]) if isinstance(a, str) else a for a in e.args_)
        return ClaimRejection(e.name, args)
    return None


@pytest.fixture
def chain(deploy_l1: Callable[..., Any]) -> Any:
    return deploy_l1(config=CONFIG)


async def test_claim_lifecycle_matches_rules(chain: Any) -> None:
    base = L1Client(SyncRpc(chain.w3), chain.addresses)
    proposer = base.with_signer(PROPOSER_KEY)
    prover = base.with_signer(PROVER_KEY)
    chain_id, rollup = await base.chain_id(), chain.addresses.rollup
    timing = await base.timing()
    assert timing == L1Timing(chain.report.genesis_time, 12, 4, 2)
    assert await base.min_bond_amount() == 1000
    assert await base.epoch_to_prove() is None
    assert await base.claimable_epoch() is None

    # one pending block in slot 1 (epoch 0)
    await inject_block(base, 1, 1, b"\x11" * 32, b"\x22" * 32)
    assert (await base.tips()).pending_block_number == 1
    assert (await base.block(1)).slot_number == 1
    assert await base.epoch_for_block(1) == 0
    assert await base.epoch_to_prove() == 0
    assert await base.claimable_epoch() == 0

    # BondManager: mint, approve, deposit what the rules say is missing
    need = escrow_top_up(await base.escrow_deposits(prover.address), 6000)
    assert need == 6000
    gas: dict[str, int] = {}
    gas["mint"] = (await prover.token_mint(prover.address, 10_000)).gas_used
    gas["approve"] = (await prover.token_approve(chain.addresses.proof_commitment_escrow, need)).gas_used
    gas["deposit"] = (await prover.escrow_deposit(need)).gas_used
    assert await base.escrow_deposits(prover.address) == 6000
    assert await base.token_balance(prover.address) == 4000

    claim_slot = 4  # first slot of epoch 1, inside its claim phase
    ts = timing.timestamp_for_slot(claim_slot)
    good = _quote(0, 5000, 123, claim_slot, chain_id, rollup)
    assert await base.quote_to_digest(good.payload) == good.digest(chain_id, rollup)

    # every claim check, predicted by the rules and confirmed by the Rollup
    cases: list[tuple[str, int, EpochProofQuote]] = [
        ("Rollup__QuoteExpired", ts, _quote(0, 5000, 123, claim_slot - 1, chain_id, rollup)),
        ("Rollup__InvalidBasisPointFee", ts, _quote(0, 5000, 10_001, 99, chain_id, rollup)),
        ("Rollup__NotClaimingCorrectEpoch", ts, _quote(1, 5000, 123, 99, chain_id, rollup)),
        ("Rollup__NotInClaimPhase", timing.timestamp_for_slot(6), _quote(0, 5000, 123, 99, chain_id, rollup)),
        ("Rollup__InsufficientBondAmount", ts, _quote(0, 999, 123, 99, chain_id, rollup)),
        ("Rollup__InsufficientFundsInEscrow", ts, _quote(0, 6001, 123, 99, chain_id, rollup)),
        ("SignatureLib__InvalidSignature", ts, _quote(0, 5000, 123, 99, chain_id + 1, rollup)),
        ("", ts, good),
        ("", timing.timestamp_for_slot(5), _quote(0, 1000, 0, 5, chain_id, rollup)),  # last claim slot
        ("", timing.timestamp_for_slot(1), good),  # same epoch as the block: accepted by L1
    ]
    for expected, at, q in cases:
        ctx = await proposer.claim_context(q.payload.prover, timestamp=at)
        predicted = check_claim(q, ctx, chain_id=chain_id, rollup=rollup)
        actual = await _l1_outcome(proposer, at, q)
        assert predicted == actual, (expected, predicted, actual)
        assert (predicted.error if predicted else "") == expected

    # deadlines: unclaimed epoch 0 is prunable from slot 4 + 2 = 6
    for slot in range(0, 12):
        at = timing.timestamp_for_slot(slot)
        tips = await base.tips()
        predicted_prune = can_prune_at_slot(
            timing, slot, pending_block=tips.pending_block_number, proven_block=tips.proven_block_number,
            oldest_pending_epoch=0, claimed_epoch=None,
        )
        assert await base.can_prune_at(at) == predicted_prune == (slot >= 6), slot

    # the real claim, sent by the proposer (no committee: anyone may claim)
    await set_next_time(base, ts)
    receipt = await proposer.claim_epoch_proof_right(good)
    gas["claimEpochProofRight"] = receipt.gas_used
    claim = await base.proof_claim()
    assert (claim.epoch_to_prove, claim.basis_point_fee, claim.bond_amount) == (0, 123, 5000)
    assert claim.bond_provider == good.payload.prover
    assert claim.proposer_claimant == bytes.fromhex(proposer.address[2:])
    assert await base.escrow_deposits(prover.address) == 1000
    assert await base.claimable_epoch() is None

    # claiming again is predicted and rejected
    ctx = await proposer.claim_context(good.payload.prover, timestamp=ts + 1)
    assert check_claim(good, ctx, chain_id=chain_id, rollup=rollup) == ClaimRejection(
        "Rollup__ProofRightAlreadyClaimed"
    )
    assert await _l1_outcome(proposer, ts + 1, good) == ClaimRejection("Rollup__ProofRightAlreadyClaimed")
    with pytest.raises(L1RevertError) as exc:
        await proposer.claim_epoch_proof_right(good)
    assert exc.value.name == "Rollup__ProofRightAlreadyClaimed"

    # claimed epoch 0 must be proven by the end of epoch 1: prunable from slot 8
    assert timing.proof_deadline(0) == timing.timestamp_for_slot(8) - 1
    for slot in range(4, 12):
        at = timing.timestamp_for_slot(slot)
        predicted_prune = can_prune_at_slot(
            timing, slot, pending_block=1, proven_block=0, oldest_pending_epoch=0, claimed_epoch=0
        )
        assert await base.can_prune_at(at) == predicted_prune == (slot >= 8), slot
    assert await base.can_prune_at(timing.proof_deadline(0)) is False

    # too early to prune: Rollup__NothingToPrune; at slot 8 anyone prunes and the bond stays lost
    with pytest.raises(L1RevertError) as exc:
        await prover.prune()
    assert exc.value.name == "Rollup__NothingToPrune"
    await set_next_time(base, timing.timestamp_for_slot(8))
    gas["prune"] = (await prover.prune()).gas_used
    tips = await base.tips()
    assert (tips.pending_block_number, tips.proven_block_number) == (0, 0)
    assert not (await base.proof_claim()).exists
    assert await base.escrow_deposits(prover.address) == 1000
    print("gas:", gas)
    assert 100_000 < gas["claimEpochProofRight"] < 200_000
    assert gas["prune"] < 60_000
    assert base.statistics()["calls"] > 0


async def test_invalid_proposer_predicted(deploy_l1: Callable[..., Any]) -> None:
    validator = ANVIL_DEV_KEYS[5]
    chain = deploy_l1(config=CONFIG, validators=(address_of(bytes.fromhex(validator[2:])),))
    base = L1Client(SyncRpc(chain.w3), chain.addresses)
    outsider = base.with_signer(PROPOSER_KEY)
    timing = await base.timing()
    chain_id, rollup = await base.chain_id(), chain.addresses.rollup
    await inject_block(base, 1, 1, b"\x11" * 32, b"\x22" * 32)
    assert await base.current_epoch_committee() == [address_of(bytes.fromhex(validator[2:]))]
    ts = timing.timestamp_for_slot(4)
    assert await base.proposer_at(ts) == address_of(bytes.fromhex(validator[2:]))
    q = _quote(0, 5000, 123, 10, chain_id, rollup)
    ctx = await outsider.claim_context(q.payload.prover, timestamp=ts)
    predicted = check_claim(q, ctx, chain_id=chain_id, rollup=rollup)
    assert predicted is not None and predicted.error == "Leonidas__InvalidProposer"
    assert await _l1_outcome(outsider, ts, q) == predicted


async def test_anvil_component_deploy_and_client() -> None:
    anvil = Anvil(chain_id=1337)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            info: AnvilInfo = await nursery.start(anvil.run)
            assert info.url.startswith("http://127.0.0.1:") and info.chain_id == 1337
            addresses = await deploy_l1_contracts(info.url, ANVIL_DEV_KEYS[0], CONFIG)
            client = await L1Client.connect(info.url, addresses.rollup, signer_key=ANVIL_DEV_KEYS[3])
            assert dataclasses.replace(client.addresses, txs_decoder=addresses.txs_decoder) == addresses
            assert await client.chain_id() == 1337
            assert await client.current_slot() == 0 and await client.current_epoch() == 0
            assert (await client.tips()).pending_block_number == 0
            assert await client.current_proposer() == b"\0" * 20
            pid = info.pid
            nursery.cancel_scope.cancel()
    assert anvil.info is None
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)
