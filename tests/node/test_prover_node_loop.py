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
    node.bond.on_deposit = node.metrics.escrow_deposit.set
    async with trio.open_nursery() as n:
        await n.start(node.run)
        assert escrow.deposit == 6000  # ensure_bond on start
        assert node.metrics.registry.get_sample_value("aztec_prover_escrow_deposit_tokens") == 6000
        await trio.sleep(SLOT * 4 * 4 - 1)  # until just before epoch 3 completes
        n.cancel_scope.cancel()
    assert [q.payload.epoch_to_prove for q in sink.quotes] == [0, 1, 2]
    assert all(q.payload.valid_until_slot == (q.payload.epoch_to_prove + 1) * 4 + 1 for q in sink.quotes)
    assert prover.calls == [0, 1, 2]
    assert node.stats.epochs_proven == 3
    reg = node.metrics.registry
    assert reg.get_sample_value("aztec_prover_quotes_sent_total") == 3
    assert reg.get_sample_value("aztec_prover_quotes_claimed_total") == 3
    assert reg.get_sample_value("aztec_prover_epochs_started_total") == 3
    assert reg.get_sample_value("aztec_prover_epochs_total", {"result": "proven"}) == 3
    assert reg.get_sample_value("aztec_prover_quotes_lost_total", {"reason": "other_prover"}) == 0
    # the live view's quote history: every quote we sent, and that it was claimed (ours)
    assert [(q["epoch"], q["fee_bps"], q["bond"], q["outcome"]) for q in node.quotes] == [
        (0, 150, 2000, "claimed"), (1, 150, 2000, "claimed"), (2, 150, 2000, "claimed")]
    assert node.last_view is not None and node.last_view.proven_block > 0


async def test_quote_lost_to_another_prover_and_missed_deadline(autojump_clock: trio.testing.MockClock) -> None:
    """Another prover's claim for our epoch counts as lost; a proving job that runs out of time as missed."""
    from node.prover_node.node import DeadlineMissed

    chain = Chain()

    class OtherWins(Sink):
        async def add_epoch_proof_quote(self, quote: EpochProofQuote) -> None:
            await super().add_epoch_proof_quote(quote)
            if quote.payload.epoch_to_prove == 0:  # someone else's quote for epoch 0 was claimed
                p = quote.payload
                self.chain.claim = ProofClaim(0, p.basis_point_fee - 1, p.bond_amount, b"\x05" * 20, b"\x09" * 20)

    class Late(Prover):
        async def prove_and_publish(self, epoch: int, claim: ProofClaim) -> None:
            self.calls.append(epoch)
            raise DeadlineMissed(f"epoch {epoch}: too late")

    prover = Late(chain)
    node, _ = make(chain, prover, FakeEscrowChain(balance=100_000))
    node.quote_sink = OtherWins(chain)
    async with trio.open_nursery() as n:
        await n.start(node.run)
        await trio.sleep(SLOT * 4 * 2 + 1)
        chain.claim = None  # epoch 0 stays unproven; our epoch-0 quote was decided already
        chain.proven_epochs = 1
        await trio.sleep(SLOT * 4 * 1)
        n.cancel_scope.cancel()
    reg = node.metrics.registry
    assert reg.get_sample_value("aztec_prover_quotes_lost_total", {"reason": "other_prover"}) == 1
    assert (reg.get_sample_value("aztec_prover_quotes_claimed_total") or 0) >= 1  # epoch 1: ours
    assert reg.get_sample_value("aztec_prover_epochs_total", {"result": "missed"}) == 1  # not retried: too late
    assert prover.calls == [1]
    assert reg.get_sample_value("aztec_prover_epochs_total", {"result": "proven"}) == 0


def test_a_quote_claimed_by_someone_else_is_lost() -> None:
    node, _ = make(Chain(), Prover(Chain()), FakeEscrowChain(balance=0))
    node.quotes.append({"epoch": 4, "fee_bps": 150, "bond": 2000, "outcome": "sent"})
    other = bytes.fromhex("99" * 20)
    view = ChainView(21, 4, 2, 20, 16, 4, ProofClaim(4, 90, 3000, other, other))
    node._note_claim(view)
    assert node.quotes[-1]["outcome"] == "lost" and node.quotes[-1]["claimed_by"] == "0x" + "99" * 20


async def test_failed_proving_is_retried(autojump_clock: trio.testing.MockClock) -> None:
    chain = Chain()
    prover = Prover(chain, fail_first=True)
    node, _ = make(chain, prover, FakeEscrowChain(balance=100_000))
    async with trio.open_nursery() as n:
        await n.start(node.run)
        await trio.sleep(SLOT * 4 * 2)
        n.cancel_scope.cancel()
    assert prover.calls[:2] == [0, 0] and node.stats.epochs_failed == 1 and node.stats.epochs_proven >= 1
