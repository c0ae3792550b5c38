from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from node.l1.rules import ProofClaim, claim_window, escrow_top_up, in_claim_phase
from node.prover_node.bond import BondManager, InsufficientTokens
from node.prover_node.monitor import (
    ChainView,
    MonitorState,
    SendQuote,
    StartProving,
    decide,
)
from node.prover_node.quote_provider import (
    HttpQuoteProvider,
    QuoteParams,
    QuoteProviderError,
    QuoteRequest,
    SimpleQuoteProvider,
    parse_quote_response,
)

ME = b"\x01" * 20
OTHER = b"\x02" * 20


def view(slot: int, epoch_to_prove: int | None = 0, claim: ProofClaim | None = None) -> ChainView:
    return ChainView(current_slot=slot, epoch_duration=4, claim_window=2, pending_block=5, proven_block=0,
                     epoch_to_prove=epoch_to_prove, claim=claim)


def claim(epoch: int, provider: bytes) -> ProofClaim:
    return ProofClaim(epoch, 100, 1000, provider, OTHER)


def test_quote_only_inside_next_epochs_claim_window() -> None:
    s = MonitorState()
    assert decide(view(3), s, ME) == []  # epoch 0 still running
    assert decide(view(4), s, ME) == [SendQuote(0, 5)]  # slot 4 = epoch 1 position 0; window is slots 4-5
    assert decide(view(5), s, ME) == [SendQuote(0, 5)]
    assert decide(view(6), s, ME) == []  # window over
    assert decide(view(8), s, ME) == []  # epoch 2: a claim for 0 would risk a prune
    s.quoted.add(0)
    assert decide(view(4), s, ME) == []  # once per epoch


def test_claimed_by_someone_else_no_quote_no_proving() -> None:
    assert decide(view(5, claim=claim(0, OTHER)), MonitorState(), ME) == []


def test_our_claim_starts_proving_once() -> None:
    c = claim(0, ME)
    s = MonitorState()
    assert decide(view(5, claim=c), s, ME) == [StartProving(0, c)]
    s.proving.add(0)
    assert decide(view(5, claim=c), s, ME) == []


def test_stale_claim_of_proven_epoch_ignored() -> None:
    # claim for epoch 0 remains in storage after epoch 0 is proven; epoch 1 is next
    assert decide(view(8, epoch_to_prove=1, claim=claim(0, ME)), MonitorState(), ME) == [SendQuote(1, 9)]


def test_nothing_to_prove() -> None:
    assert decide(view(9, epoch_to_prove=None), MonitorState(), ME) == []


@given(st.integers(0, 10_000), st.integers(1, 64), st.integers(1, 64))
def test_window_last_slot_is_in_next_epoch_window(epoch: int, duration: int, window: int) -> None:
    """The monitor quotes until the last slot of the rules' claim window (the L1-checked phase)."""
    slots = claim_window(epoch, duration, min(window, duration))
    last = slots[-1]
    assert last // duration == epoch + 1 and last % duration == min(window, duration) - 1
    assert all(in_claim_phase(x, duration, min(window, duration)) for x in slots)
    if window < duration:  # else the next slot opens the following epoch's claim phase
        assert not in_claim_phase(last + 1, duration, window)
    me = b"\x07" * 20
    view = ChainView(last, duration, min(window, duration), 10, 0, epoch, None)
    assert decide(view, MonitorState(), me) == [SendQuote(epoch, last)]
    after = ChainView(last + 1, duration, min(window, duration), 10, 0, epoch, None)
    assert decide(after, MonitorState(), me) == []


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_top_up_reaches_floor_and_target(deposit: int, minimum: int, target: int, required: int) -> None:
    amount = escrow_top_up(deposit, required, min_bond=minimum, target=target)
    floor = max(minimum, required)
    if deposit >= floor:
        assert amount == 0
    else:
        assert deposit + amount == max(target, floor) >= floor
    if target == 0:  # without a target: exactly what is missing (the L1-checked case, interop/test_l1_claim.py)
        assert deposit + amount == max(deposit, floor)


def test_monitor_imports_no_web3() -> None:
    """The prover node's decision rule is pure: importing it (and the rules' records it uses) pulls
    in neither web3 nor the L1 client."""
    import subprocess
    import sys

    code = ("import sys, node.prover_node.monitor, node.l1.rules; "
            "bad = [m for m in ('web3', 'eth_abi', 'node.l1.client', 'trio') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


class FakeEscrowChain:
    """In-memory escrow + token with the same semantics as ProofCommitmentEscrow/TestERC20 (the real
    contracts are exercised by the interop tests on anvil)."""

    def __init__(self, balance: int) -> None:
        self.balance, self.deposit, self.allowance, self.minted = balance, 0, 0, 0

    async def escrow_deposit_of(self, prover: bytes) -> int:
        return self.deposit

    async def token_balance_of(self, owner: bytes) -> int:
        return self.balance

    async def token_allowance(self, owner: bytes) -> int:
        return self.allowance

    async def token_approve_escrow(self, amount: int) -> None:
        self.allowance = amount

    async def token_mint(self, amount: int) -> None:
        self.balance += amount
        self.minted += amount

    async def escrow_deposit(self, amount: int) -> None:
        assert self.allowance >= amount and self.balance >= amount
        self.allowance -= amount
        self.balance -= amount
        self.deposit += amount


async def test_bond_manager_tops_up_to_target() -> None:
    chain = FakeEscrowChain(balance=20_000)
    bm = BondManager(chain, ME, minimum=1000, target=5000)
    assert await bm.ensure_bond() == 5000 and chain.deposit == 5000
    assert await bm.ensure_bond() == 0
    chain.deposit = 900  # a claim staked most of it
    assert await bm.ensure_bond() == 4100 and chain.deposit == 5000
    assert await bm.ensure_bond(required=8000) == 3000 and chain.deposit == 8000


async def test_bond_manager_without_tokens_fails_clearly_or_mints() -> None:
    chain = FakeEscrowChain(balance=10)
    with pytest.raises(InsufficientTokens, match="fund 0x"):
        await BondManager(chain, ME, minimum=1000, target=2000).ensure_bond()
    assert chain.deposit == 0
    assert await BondManager(chain, ME, minimum=1000, target=2000, allow_mint=True).ensure_bond() == 2000
    assert chain.minted == 1990


def test_parse_quote_response() -> None:
    assert parse_quote_response({"basisPointFee": 0, "bondAmount": "1000"}) == QuoteParams(0, 1000, None)
    assert parse_quote_response({"basisPointFee": "25", "bondAmount": 5, "validUntilSlot": 9}) == QuoteParams(25, 5, 9)
    for bad in ({"bondAmount": 1}, {"basisPointFee": 1}, {"basisPointFee": 10001, "bondAmount": 1},
                {"basisPointFee": -1, "bondAmount": 1}, {"basisPointFee": True, "bondAmount": 1},
                {"basisPointFee": "x", "bondAmount": 1}, [], "str", None):
        with pytest.raises(QuoteProviderError):
            parse_quote_response(bad)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=15), c, max_size=4),
                    max_leaves=8))
def test_parse_quote_response_never_crashes(obj: Any) -> None:
    try:
        p = parse_quote_response(obj)
    except QuoteProviderError:
        return
    assert 0 <= p.basis_point_fee <= 10_000


async def test_simple_provider() -> None:
    p = SimpleQuoteProvider(250, 2000)
    assert await p.get_quote(QuoteRequest(1, 1, 4, 10, 0)) == QuoteParams(250, 2000)


async def _serve_once(listener: trio.SocketListener, answer: bytes, seen: list[Any]) -> None:
    stream = await listener.accept()
    async with stream:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(4096)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = int(next(line.split(b":")[1] for line in lines if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += await stream.receive_some(4096)
        seen.append(json.loads(body))
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                              + str(len(answer)).encode() + b"\r\nconnection: close\r\n\r\n" + answer)


async def test_http_provider_round_trip_and_missing_field() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    provider = HttpQuoteProvider(f"http://127.0.0.1:{port}/quote")
    req = QuoteRequest(epoch_number=3, from_block=9, to_block=12, tx_count=40, total_fees=2**70)
    seen: list[Any] = []
    async with trio.open_nursery() as n:
        n.start_soon(_serve_once, listeners[0], b'{"basisPointFee": 120, "bondAmount": "5000", "validUntilSlot": 30}',
                     seen)
        assert await provider.get_quote(req) == QuoteParams(120, 5000, 30)
    assert seen == [{"epochNumber": 3, "fromBlock": 9, "toBlock": 12, "txCount": 40, "totalFees": str(2**70)}]
    async with trio.open_nursery() as n:
        n.start_soon(_serve_once, listeners[0], b'{"basisPointFee": 120}', seen)
        with pytest.raises(QuoteProviderError, match="missing required fields"):
            await provider.get_quote(req)
    await listeners[0].aclose()
    with pytest.raises(QuoteProviderError, match="unreachable"):
        await provider.get_quote(req)
