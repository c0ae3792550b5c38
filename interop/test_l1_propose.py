"""Real propose -> claim -> submitEpochRootProof loop on the v0.63.1 Rollup on anvil, with headers and
bodies of the data model (core.aztec) built by node.l1.propose (no storage injection), and
txsEffectsHash checked against TxsDecoder."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from core.aztec.constants import EMPTY_INBOX_ROOT, GENESIS_ARCHIVE_ROOT
from core.aztec.serialization import FR_MODULUS
from core.aztec.tx_effect import EMPTY_TX_EFFECT, Body, TxEffect
from node.l1.anvil import ANVIL_DEV_KEYS
from node.l1.client import L1Client
from node.l1.deploy import RollupConfig
from node.l1.errors import L1RevertError
from node.l1.propose import EpochProofArgs, build_block
from node.l1.rpc import SyncRpc
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of

pytestmark = pytest.mark.interop

CONFIG = RollupConfig(slot_duration=12, epoch_duration=4, target_committee_size=48, claim_window=2)
PROVER_KEY = bytes.fromhex(ANVIL_DEV_KEYS[2][2:])


def _field(rng: random.Random) -> bytes:
    return rng.randrange(1, FR_MODULUS).to_bytes(32, "big")


def _random_effect(rng: random.Random) -> TxEffect:
    return TxEffect(
        revert_code=rng.choice([0, 0, 1]),
        transaction_fee=rng.randrange(2**64),
        note_hashes=tuple(_field(rng) for _ in range(rng.choice([0, 1, 3, 64]))),
        nullifiers=tuple(_field(rng) for _ in range(rng.choice([1, 2, 64]))),
        l2_to_l1_msgs=tuple(_field(rng) for _ in range(rng.choice([0, 1, 2, 3, 8]))),
        public_data_writes=tuple((_field(rng), _field(rng)) for _ in range(rng.choice([0, 1, 5]))),
    )


async def test_txs_effects_hash_matches_txs_decoder(deploy_l1: Callable[..., Any]) -> None:
    chain = deploy_l1(config=CONFIG)
    client = L1Client(SyncRpc(chain.w3), chain.addresses)
    rng = random.Random(1234)
    bodies = [Body(), Body((EMPTY_TX_EFFECT,))]
    bodies += [Body(tuple(_random_effect(rng) for _ in range(n))) for n in (1, 2, 3, 5, 8)]
    for body in bodies:
        assert await client.compute_txs_effects_hash(body.to_bytes()) == body.txs_effects_hash(), len(body.tx_effects)


async def test_propose_claim_prove_loop(deploy_l1: Callable[..., Any]) -> None:
    chain = deploy_l1(config=CONFIG)
    base = L1Client(SyncRpc(chain.w3), chain.addresses)
    sequencer = base.with_signer(ANVIL_DEV_KEYS[1])
    prover = base.with_signer(PROVER_KEY)
    timing = await base.timing()
    chain_id = await base.chain_id()
    rng = random.Random(7)
    gas: dict[str, list[int]] = {}

    stored: dict[int, tuple[bytes, bytes]] = {0: (GENESIS_ARCHIVE_ROOT, b"\0" * 32)}

    async def propose(number: int, slot: int, body: Body | None = None) -> None:
        ts = timing.timestamp_for_slot(slot)
        await base.rpc_request("evm_setNextBlockTimestamp", [ts])
        in_hash = EMPTY_INBOX_ROOT if number == 1 else await base.inbox_root(number)
        archive, block_hash = _field(rng), _field(rng)
        args = build_block(
            chain_id=chain_id, block_number=number, slot_number=slot, timestamp=ts,
            last_archive=stored[number - 1][0], in_hash=in_hash, archive=archive, block_hash=block_hash, body=body,
        )
        receipt = await sequencer.propose(args)
        gas.setdefault(f"propose {len(body.tx_effects) if body else 0} txs", []).append(receipt.gas_used)
        stored[number] = (archive, block_hash)
        assert await base.archive_at(number) == archive

    await propose(1, 1)
    await propose(2, 2, Body((_random_effect(rng), _random_effect(rng))))
    await propose(3, 3)
    assert (await base.tips()).pending_block_number == 3

    # a wrong header is rejected with the expected error (slot 3 already used)
    bad = build_block(
        chain_id=chain_id, block_number=4, slot_number=3, timestamp=timing.timestamp_for_slot(3),
        last_archive=stored[3][0], in_hash=await base.inbox_root(4), archive=_field(rng), block_hash=_field(rng),
    )
    with pytest.raises(L1RevertError) as exc:
        await sequencer.propose(bad)
    assert exc.value.name == "Rollup__SlotAlreadyInChain"

    # prover bond + claim of epoch 0 in slot 4
    await prover.token_mint(prover.address, 20_000)
    await prover.token_approve(chain.addresses.proof_commitment_escrow, 20_000)
    await prover.escrow_deposit(20_000)
    await propose(4, 4)
    payload = EpochProofQuotePayload(0, 1000, 5000, address_of(PROVER_KEY), 123)
    quote = EpochProofQuote.new(payload, PROVER_KEY, chain_id, chain.addresses.rollup)
    gas["claim"] = [(await sequencer.claim_epoch_proof_right(quote)).gas_used]
    assert await base.escrow_deposits(prover.address) == 15_000

    # prove epoch 0 (blocks 1..3) in slot 5, sent by the prover
    await base.rpc_request("evm_setNextBlockTimestamp", [timing.timestamp_for_slot(5)])
    proof = EpochProofArgs(
        epoch_size=3,
        previous_archive=stored[0][0],
        end_archive=stored[3][0],
        previous_block_hash=stored[0][1],
        end_block_hash=stored[3][1],
        end_timestamp=timing.timestamp_for_slot(3),
        out_hash=b"\0" * 32,
        prover_id=bytes.fromhex(prover.address[2:]),
        fees=((b"\0" * 20, 0),) * 3,
        proof=b"\x01" * 64,
    )
    inputs = await base.epoch_proof_public_inputs(proof)
    assert len(inputs) == 92 and inputs[0] == stored[0][0] and inputs[2] == stored[3][0]
    assert int.from_bytes(inputs[1], "big") == 1 and int.from_bytes(inputs[7], "big") == 3
    gas["submitEpochRootProof"] = [(await prover.submit_epoch_root_proof(proof)).gas_used]
    tips = await base.tips()
    assert (tips.pending_block_number, tips.proven_block_number) == (4, 3)
    assert await base.escrow_deposits(prover.address) == 20_000  # bond returned
    print("gas:", gas)
