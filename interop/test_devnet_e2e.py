"""End to end on the real v0.63.1 contracts: the devnet (anvil, boot node, 3 sequencers, a prover node
with broker and agents, a tx bot; every node its own process) runs until

1. two consecutive epochs are quoted over gossip, claimed on L1 with the prover's quote
   (proposeAndClaim / claimEpochProofRight) and proven on L1 (submitEpochRootProof), and
2. with a prover node that has no agents: it claims an epoch, never proves it, the chain is pruned
   after the deadline and its bond stays locked in the escrow ("slashed per the contract").
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio

from node.devnet import ANVIL_KEYS, FIRST_SEQUENCER, Devnet, DevnetConfig
from node.devnet_status import L1Status, RollupReader
from node.l1.client import L1Client
from p2p.wire.quote import address_of

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(1200)]  # two 420 s phases + start-up


def free_port_range(n: int) -> int:
    """A base port with n consecutive free TCP+UDP ports on 127.0.0.1."""
    for base in range(41000, 60000, 137):
        socks: list[socket.socket] = []
        try:
            for p in range(base, base + n):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


def devnet_config(tmp_path: Path, agents: int) -> DevnetConfig:
    return DevnetConfig(
        data_dir=tmp_path / "devnet",
        slot_duration=6,
        epoch_duration=4,
        claim_window=2,
        sequencers=3,
        agents=agents,
        base_port=free_port_range(130),
        tx_per_slot=2,
        quote_fee_bps=100,
        quote_bond=1000,
    )


def prover_address(cfg: DevnetConfig) -> str:
    return "0x" + address_of(bytes.fromhex(ANVIL_KEYS[FIRST_SEQUENCER + cfg.sequencers][2:])).hex()


async def test_two_consecutive_epochs_quoted_claimed_proven(tmp_path: Path) -> None:
    cfg = devnet_config(tmp_path, agents=4)
    prover = prover_address(cfg).lower()
    lines: list[str] = []
    claimed_by_prover: set[int] = set()
    proven: set[int] = set()
    async with trio.open_nursery() as nursery:
        info = await nursery.start(Devnet(cfg, out=lines.append).run)
        reader = await trio.to_thread.run_sync(RollupReader, info.l1_url, info.addresses.rollup)
        with trio.fail_after(420):
            while True:
                st: L1Status = await trio.to_thread.run_sync(reader.status)
                if st.has_claim and st.claim_prover.lower() == prover:
                    claimed_by_prover.add(st.claim_epoch)
                if st.proven and st.proven_epoch in claimed_by_prover:
                    proven.add(st.proven_epoch)
                if any(e in proven and e + 1 in proven for e in proven):
                    break
                await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    assert any(e + 1 in proven for e in proven), "\n".join(lines[-40:])


async def test_claimant_that_never_proves_loses_its_bond(tmp_path: Path) -> None:
    cfg = devnet_config(tmp_path, agents=0)
    prover = prover_address(cfg)
    lines: list[str] = []
    async with trio.open_nursery() as nursery:
        info = await nursery.start(Devnet(cfg, out=lines.append).run)
        reader = await trio.to_thread.run_sync(RollupReader, info.l1_url, info.addresses.rollup)
        client = await L1Client.connect(info.l1_url, info.addresses.rollup)
        claimed: L1Status | None = None
        with trio.fail_after(420):
            while claimed is None:
                st = await trio.to_thread.run_sync(reader.status)
                if st.has_claim and st.claim_prover.lower() == prover.lower():
                    claimed = st
                await trio.sleep(0.5)
            highest = claimed.pending
            while True:  # the deadline (end of the next epoch) passes; a proposal or prune() prunes
                st = await trio.to_thread.run_sync(reader.status)
                # a proposal prunes and re-proposes in one transaction, so the pending tip may go
                # straight from the old tip to proven + 1: a drop below the highest tip seen is the prune
                pruned = st.pending <= claimed.proven or st.pending < highest
                highest = max(highest, st.pending)
                if pruned and st.slot >= (claimed.claim_epoch + 2) * cfg.epoch_duration:
                    break
                await trio.sleep(0.5)
            assert st.proven == claimed.proven  # never proven
            # The bond was staked by the claim and never unstaked: whatever the BondManager deposits later,
            # the escrow holds `bond` more tokens than the prover's withdrawable deposit, for good.
            await trio.sleep(cfg.slot_duration)
            balance = await client.token_balance(client.addresses.proof_commitment_escrow)
            deposit = await client.escrow_deposits(prover)
            assert balance - deposit == claimed.claim_bond
        nursery.cancel_scope.cancel()
    assert any("PRUNED" in line for line in lines), "\n".join(lines[-40:])
