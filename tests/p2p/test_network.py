"""A local network of our nodes on 127.0.0.1: quotes and txs reach every pool; req/resp works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from p2p.client import P2PClient
from p2p.service import ManualChainState, P2PConfig, P2PService
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of
from p2p.wire.tx import Tx
from tests.conftest import load_shared_vectors

CHAIN_ID = 31337
ROLLUP = bytes.fromhex("22" * 20)
PROVER_KEY = bytes([7]) * 32


def make_quote(epoch: int = 1, fee: int = 250, valid_until: int = 100, key: bytes = PROVER_KEY) -> EpochProofQuote:
    payload = EpochProofQuotePayload(epoch, valid_until, 2000, address_of(key), fee)
    return EpochProofQuote.new(payload, key, CHAIN_ID, ROLLUP)


@asynccontextmanager
async def network(n: int, *, topology: str = "chain") -> AsyncIterator[list[P2PClient]]:
    """n nodes; node i dials node i-1 ("chain") or node 0 ("star") as a static peer."""
    state = ManualChainState(slot=20)  # epoch 1 with 16-slot epochs
    async with trio.open_nursery() as nursery:
        services: list[P2PService] = []
        addrs: list[str] = []
        for i in range(n):
            if i == 0:
                static: tuple[str, ...] = ()
            elif topology == "star":
                static = (addrs[0],)
            else:
                static = (addrs[i - 1],)
            svc = P2PService(
                P2PConfig(chain_id=CHAIN_ID, rollup_address=ROLLUP, static_peers=static), chain_state=state
            )
            info = await nursery.start(svc.run)
            services.append(svc)
            addrs.append(info.listen_addrs[0])
        yield [P2PClient(s) for s in services]
        nursery.cancel_scope.cancel()


async def wait_for(pred: object, limit: float = 20.0, step: float = 0.05) -> None:
    """Poll `pred` (pools and meshes have no change events to wait on)."""
    assert callable(pred)
    with trio.fail_after(limit):
        while not pred():  # noqa: ASYNC110
            await trio.sleep(step)


async def wait_meshed(clients: list[P2PClient], topic: str) -> None:
    await wait_for(lambda: all(c.service.host.topic_peers(topic) for c in clients))


async def test_ten_nodes_quote_and_tx_reach_every_pool() -> None:
    async with network(10) as clients:
        await wait_meshed(clients, "/aztec/epoch_proof_quote/0.1.0")
        # let the mesh form (GRAFTs on heartbeats)
        await wait_for(lambda: all(c.service.host.mesh_peers("/aztec/epoch_proof_quote/0.1.0") for c in clients))
        q = make_quote()
        await clients[5].add_epoch_proof_quote(q)
        await wait_for(lambda: all(c.get_epoch_proof_quotes(1) == [q] for c in clients))
        assert clients[0].best_epoch_proof_quote(1, 20) == q
        raw = bytes.fromhex(load_shared_vectors("tx-vectors.json")["txs"][2]["hex"])
        tx = Tx.from_bytes(raw)
        tx_chain = Tx(
            tx.data[:617] + CHAIN_ID.to_bytes(32, "big") + tx.data[649:], *[getattr(tx, f) for f in Tx.__slots__[1:]]
        )
        await clients[9].send_tx(tx_chain)
        h = tx_chain.tx_hash()
        await wait_for(lambda: all(c.get_tx_status(h) == "pending" for c in clients))
        stats = clients[0].statistics()
        assert stats["quote_pool"]["quotes"] == 1  # type: ignore[index]


async def test_reqresp_tx_and_ping() -> None:
    async with network(2) as (a, b):
        await wait_for(lambda: a.peers() and b.peers())
        assert await a.service.reqresp.ping(b.peer_id)
        raw = bytes.fromhex(load_shared_vectors("tx-vectors.json")["txs"][0]["hex"])
        tx = Tx.from_bytes(raw)
        b.service.tx_pool.add_tx(tx, raw)  # only b has it
        got = await a.get_tx_by_hash(tx.tx_hash())
        assert got is not None and got.to_bytes() == raw
        assert a.get_tx_status(tx.tx_hash()) == "pending"
        assert await a.get_tx_by_hash(bytes(32)) is None


@pytest.mark.parametrize("n", [3])
async def test_invalid_quote_flood_penalised_and_pool_bounded(n: int) -> None:
    async with network(n, topology="star") as clients:
        hub, spammer = clients[0], clients[1]
        await wait_meshed(clients, "/aztec/epoch_proof_quote/0.1.0")
        good = make_quote()
        for i in range(20):
            bad = good.to_bytes()[: 100 + i]  # truncated: v0.63.1's decoder rejects it too
            await spammer.service.publish("/aztec/epoch_proof_quote/0.1.0", bad)
        await wait_for(lambda: hub.service.scoring.is_graylisted(spammer.peer_id))
        assert hub.get_epoch_proof_quotes(1) == []
        # a valid quote from the graylisted peer is now ignored by the hub: once the hub's intake has seen
        # all 20 bad quotes and then this one (its `received` counter), the pool must still be empty
        def received() -> int:
            return hub.statistics()["gossip"]["topics"]["/aztec/epoch_proof_quote/0.1.0"]["received"]  # type: ignore[index,no-any-return]

        await wait_for(lambda: received() >= 20)
        await spammer.add_epoch_proof_quote(make_quote(fee=1))
        await wait_for(lambda: received() >= 21)
        assert hub.get_epoch_proof_quotes(1) == []
        assert hub.statistics()["gossip"]["topics"]["/aztec/epoch_proof_quote/0.1.0"]["graylisted"] >= 1  # type: ignore[index]
