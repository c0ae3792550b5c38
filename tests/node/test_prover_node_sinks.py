"""The prover node's quote sink over HTTP (PROVER_COORDINATION_NODE_URL) against the node's own
JSON-RPC server, and the archiver-backed BlockSource."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from prometheus_client import CollectorRegistry

from core.http import Dispatcher
from node.http import node_http_server
from node.prover_node.epoch_job import HttpQuoteSink, QuoteSinkError
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of

KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")


def _quote() -> EpochProofQuote:
    payload = EpochProofQuotePayload(3, 17, 1000, address_of(KEY), 100)
    return EpochProofQuote.new(payload, KEY, 31337, bytes(20))


async def test_http_quote_sink_sends_the_json_form() -> None:
    got: list[Any] = []
    rpc = Dispatcher()

    async def add(quote: Any) -> None:
        got.append(EpochProofQuote.from_json(quote))

    rpc.register("node_addEpochProofQuote", add)
    server = node_http_server("127.0.0.1", 0, rpc, CollectorRegistry())
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.run)
        quote = _quote()
        await HttpQuoteSink(f"http://127.0.0.1:{port}").add_epoch_proof_quote(quote)
        assert got == [quote]
        with pytest.raises(QuoteSinkError, match="method not found"):
            bad = Dispatcher()
            server2 = node_http_server("127.0.0.1", 0, bad, CollectorRegistry())
            port2 = await nursery.start(server2.run)
            await HttpQuoteSink(f"http://127.0.0.1:{port2}").add_epoch_proof_quote(quote)
        nursery.cancel_scope.cancel()
