"""The prover node loop on a virtual clock: bond on start, one quote per epoch inside the claim
window, proving exactly once when our quote is claimed, retry after a failed proving attempt."""

from __future__ import annotations

from collections.abc import Sequence

import trio
import trio.testing

from node.l1.rules import ProofClaim
from node.prover_node.bond import BondManager
from node.prover_node.monitor import ChainView
from node.prover_node.node import EpochBlockSummary, ProverNode
from node.prover_node.quote_provider import SimpleQuoteProvider
from p2p.wire.quote import EpochProofQuote, address_of
from tests.node.test_prover_node_logic import FakeEscrowChain

KEY = b"\x07" * 32
ME = address_of(KEY)
ROLLUP = b"\x33" * 20
SLOT = 2.0  # seconds per slot on the virtual clock


class Chain:
    """Epochs of 4 slots, claim window 2; one block per slot; a claim lands when a quote is seen."""

    def __init__(self) -> None:
        self.claim: ProofClaim | None = None
        self.proven_epochs = 0

    def slot(self) -> int:
        return int(trio.current_time() // SLOT)

    async def chain_view(self) -> ChainView:
        slot = self.slot()
        pending = slot  # block n at slot n
        proven = self.proven_epochs * 4 - 1 if self.proven_epochs else 0
        epoch_to_prove = (proven + 1) // 4 if pending > proven else None
        return ChainView(slot, 4, 2, pending, proven, epoch_to_prove, self.claim)


class Blocks:
    async def epoch_block_summaries(self, epoch: int) -> Sequence[EpochBlockSummary]:
        return [EpochBlockSummary(n, 2, 10) for n in range(max(1, epoch * 4), epoch * 4 + 4)]


class Sink:
    def __init__(self, chain: Chain) -> None:
        self.quotes: list[EpochProofQuote] = []
        self.chain = chain

    async def add_epoch_proof_quote(self, quote: EpochProofQuote) -> None:
        assert quote.recover_signer(31337, ROLLUP) == ME
        self.quotes.append(quote)
        p = quote.payload
        self.chain.claim = ProofClaim(p.epoch_to_prove, p.basis_point_fee, p.bond_amount, p.prover, b"\x09" * 20)


class Prover:
    def __init__(self, chain: Chain, fail_first: bool = False) -> None:
        self.chain, self.fail_first, self.calls = chain, fail_first, []  # type: list[int]

    async def prove_and_publish(self, epoch: int, claim: ProofClaim) -> None:
        self.calls.append(epoch)
        await trio.sleep(3)
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("agent crashed")
        self.chain.proven_epochs = epoch + 1


def make(chain: Chain, prover: Prover, escrow: FakeEscrowChain) -> tuple[ProverNode, Sink]:
    sink = Sink(chain)
    node = ProverNode(
        chain=chain, blocks=Blocks(), quote_provider=SimpleQuoteProvider(150, 2000), quote_sink=sink,
        bond=BondManager(escrow, ME, minimum=2000, target=6000), prover=prover, signer_key=KEY,
        prover_address=ME, chain_id=31337, rollup_address=ROLLUP, polling_interval=0.5,
    )
    return node, sink


async def test_three_epochs_quoted_claimed_proven(autojump_clock: trio.testing.MockClock) -> None:
    chain, escrow = Chain(), FakeEscrowChain(balance=100_000)
    prover = Prover(chain)
    node, sink = make(chain, prover, escrow)
    async with trio.open_nursery() as n:
        await n.start(node.run)
        assert escrow.deposit == 6000  # ensure_bond on start
        await trio.sleep(SLOT * 4 * 4 - 1)  # until just before epoch 3 completes
        n.cancel_scope.cancel()
    assert [q.payload.epoch_to_prove for q in sink.quotes] == [0, 1, 2]
    assert all(q.payload.valid_until_slot == (q.payload.epoch_to_prove + 1) * 4 + 1 for q in sink.quotes)
    assert prover.calls == [0, 1, 2]
    assert node.stats.epochs_proven == 3


async def test_failed_proving_is_retried(autojump_clock: trio.testing.MockClock) -> None:
    chain = Chain()
    prover = Prover(chain, fail_first=True)
    node, _ = make(chain, prover, FakeEscrowChain(balance=100_000))
    async with trio.open_nursery() as n:
        await n.start(node.run)
        await trio.sleep(SLOT * 4 * 2)
        n.cancel_scope.cancel()
    assert prover.calls[:2] == [0, 0] and node.stats.epochs_failed == 1 and node.stats.epochs_proven >= 1
