"""Gossip interop with a js-libp2p 1.5.0 + gossipsub 13.0.0 peer configured like Aztec 0.63.1.

The js side (`interop/js/gossip_peer.mjs`) decodes what it receives with @aztec/circuit-types@0.63.1
and builds/signs quotes with `EpochProofQuote.new` + `Secp256k1Signer`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from p2p.client import P2PClient
from p2p.service import ManualChainState, P2PConfig, P2PService
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of
from p2p.wire.tx import OFF_CHAIN_ID, Tx
from tests.conftest import load_shared_vectors

pytestmark = pytest.mark.interop

JS_DIR = Path(__file__).resolve().parent / "js"
CHAIN_ID = 31337
ROLLUP = bytes.fromhex("22" * 20)
PY_PROVER_KEY = bytes([7]) * 32
JS_PROVER_KEY = bytes([9]) * 32
QUOTE_TOPIC = "/aztec/epoch_proof_quote/0.1.0"
TX_TOPIC = "/aztec/tx/0.1.0"


def _need_js() -> None:
    if shutil.which("node") is None or not (JS_DIR / "node_modules" / "@chainsafe" / "libp2p-gossipsub").exists():
        pytest.skip("node / interop/js/node_modules not installed (scripts/bootstrap.sh)")


class JsPeer:
    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self._buf = b""
        self.messages: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}

    async def _line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while b"\n" not in self._buf:
            chunk = await self.proc.stdout.receive_some(65536)
            if not chunk:
                raise RuntimeError("js peer exited")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        obj: dict[str, Any] = json.loads(line)
        return obj

    async def next_event(self, kind: str) -> dict[str, Any]:
        while True:
            ev = await self._line()
            if ev["event"] == "message":
                self.messages.append(ev)
            if ev["event"] == "fatal":
                raise RuntimeError(ev["error"])
            if ev["event"] == kind:
                return ev

    async def command(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        await self.proc.stdin.send_all((json.dumps(cmd) + "\n").encode())
        while True:
            ev = await self.next_event("reply")
            if ev.get("cmd") == cmd["cmd"]:
                return ev

    async def wait_message(self, topic: str, limit: float = 15.0) -> dict[str, Any]:
        with trio.fail_after(limit):
            while True:
                for m in self.messages:
                    if m["topic"] == topic:
                        self.messages.remove(m)
                        return m
                await self.next_event("message")


@asynccontextmanager
async def js_peer() -> AsyncIterator[JsPeer]:
    _need_js()
    proc = await trio.lowlevel.open_process(
        ["node", "gossip_peer.mjs"], cwd=JS_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    peer = JsPeer(proc)
    try:
        with trio.fail_after(30):
            peer.info = await peer.next_event("ready")
        yield peer
    finally:
        proc.kill()
        with trio.move_on_after(5):
            await proc.wait()


@asynccontextmanager
async def py_node() -> AsyncIterator[P2PClient]:
    svc = P2PService(P2PConfig(chain_id=CHAIN_ID, rollup_address=ROLLUP), chain_state=ManualChainState(slot=20))
    async with trio.open_nursery() as nursery:
        await nursery.start(svc.run)
        yield P2PClient(svc)
        nursery.cancel_scope.cancel()


def _tx_for_chain() -> tuple[Tx, bytes]:
    raw = bytearray(bytes.fromhex(load_shared_vectors("tx-vectors.json")["txs"][1]["hex"]))
    raw[OFF_CHAIN_ID : OFF_CHAIN_ID + 32] = CHAIN_ID.to_bytes(32, "big")
    return Tx.from_bytes(bytes(raw)), bytes(raw)


async def _wait_subscribed(client: P2PClient, js: JsPeer) -> dict[str, Any]:
    with trio.fail_after(20):
        while True:
            peers = await js.command(cmd="peers")
            if client.service.host.topic_peers(QUOTE_TOPIC) and client.peer_id in peers["topicPeers"][QUOTE_TOPIC]:
                return peers
            await trio.sleep(0.2)


@pytest.mark.parametrize("py_dials", [True, False], ids=["py-dials-js", "js-dials-py"])
async def test_quote_and_tx_both_directions(py_dials: bool) -> None:
    async with js_peer() as js, py_node() as client:
        if py_dials:
            await client.connect(js.info["addrs"][0])
        else:
            reply = await js.command(cmd="dial", addr=client.listen_addrs()[0])
            assert reply["ok"], reply
        peers = await _wait_subscribed(client, js)
        assert {"encryption": "/noise", "multiplexer": "/yamux/1.0.0"} in peers["protocols"]

        # py -> js: a quote signed by us, decoded by @aztec/circuit-types
        payload = EpochProofQuotePayload(1, 100, 2000, address_of(PY_PROVER_KEY), 250)
        quote = EpochProofQuote.new(payload, PY_PROVER_KEY, CHAIN_ID, ROLLUP)
        await client.add_epoch_proof_quote(quote)
        msg = await js.wait_message(QUOTE_TOPIC)
        assert msg["type"] == "signed" and msg["from"] == client.peer_id
        assert bytes.fromhex(msg["hex"]) == quote.to_bytes()
        assert msg["decoded"]["ok"], msg["decoded"]
        assert msg["decoded"]["quote"] == quote.to_json()
        assert msg["decoded"]["id"].removeprefix("0x") == quote.p2p_message_identifier().hex()

        # js -> py: EpochProofQuote.new + Secp256k1Signer on the js side
        reply = await js.command(
            cmd="publish_quote",
            privateKey="0x" + JS_PROVER_KEY.hex(),
            epochToProve="1",
            validUntilSlot="120",
            bondAmount="5000",
            basisPointFee=100,
            chainId=CHAIN_ID,
            rollupAddress="0x" + ROLLUP.hex(),
        )
        assert reply["ok"], reply
        assert client.peer_id in reply["recipients"]
        js_quote = EpochProofQuote.from_bytes(bytes.fromhex(reply["hex"]))
        with trio.fail_after(10):
            while js_quote not in client.get_epoch_proof_quotes(1):  # noqa: ASYNC110
                await trio.sleep(0.05)
        assert js_quote.recover_signer(CHAIN_ID, ROLLUP) == address_of(JS_PROVER_KEY)
        assert client.best_epoch_proof_quote(1, 20) == js_quote  # fee 100 < 250

        # txs both ways
        tx, _raw = _tx_for_chain()
        await client.send_tx(tx)
        txmsg = await js.wait_message(TX_TOPIC)
        assert txmsg["decoded"]["ok"], txmsg["decoded"]
        assert txmsg["decoded"]["txHash"].removeprefix("0x") == tx.tx_hash().hex()
        assert txmsg["decoded"]["reencodedEqual"] is True

        other = bytearray(bytes.fromhex(load_shared_vectors("tx-vectors.json")["txs"][2]["hex"]))
        other[OFF_CHAIN_ID : OFF_CHAIN_ID + 32] = CHAIN_ID.to_bytes(32, "big")
        reply = await js.command(cmd="publish", topic=TX_TOPIC, hex=bytes(other).hex())
        assert reply["ok"], reply
        h = Tx.from_bytes(bytes(other)).tx_hash()
        with trio.fail_after(10):
            while client.get_tx_status(h) != "pending":  # noqa: ASYNC110
                await trio.sleep(0.05)


async def test_js_learns_our_protocols_via_aztec_identify() -> None:
    async with js_peer() as js, py_node() as client:
        await client.connect(js.info["addrs"][0])
        with trio.fail_after(15):
            while True:
                peers = await js.command(cmd="peers")
                protos = peers["peerProtocols"].get(client.peer_id) or []
                if "/meshsub/1.1.0" in protos:
                    break
                await trio.sleep(0.2)
        assert "/aztec/req/tx/0.1.0" in protos


async def test_js_invalid_quote_is_not_pooled_and_penalised() -> None:
    """A quote with a corrupted signature decodes in v0.63.1 (which forwards it): ignored, no
    penalty. A truncated quote does not decode in v0.63.1: rejected, the forwarder penalised."""
    async with js_peer() as js, py_node() as client:
        await client.connect(js.info["addrs"][0])
        await _wait_subscribed(client, js)
        payload = EpochProofQuotePayload(1, 100, 2000, address_of(PY_PROVER_KEY), 250)
        good = EpochProofQuote.new(payload, PY_PROVER_KEY, CHAIN_ID, ROLLUP).to_bytes()
        bad = bytearray(good)
        bad[150] ^= 0xFF
        reply = await js.command(cmd="publish", topic=QUOTE_TOPIC, hex=bytes(bad).hex())
        assert reply["ok"]
        js_id = js.info["peerId"]

        def topic_stats() -> dict[str, int]:
            return client.statistics()["gossip"]["topics"][QUOTE_TOPIC]  # type: ignore[index,no-any-return]

        with trio.fail_after(10):
            while topic_stats()["ignored"] < 1:  # noqa: ASYNC110
                await trio.sleep(0.05)
        assert client.service.scoring.score(js_id) == 0
        reply = await js.command(cmd="publish", topic=QUOTE_TOPIC, hex=good[:150].hex())
        assert reply["ok"]
        with trio.fail_after(10):
            while client.service.scoring.score(js_id) >= 0:  # noqa: ASYNC110
                await trio.sleep(0.05)
        assert topic_stats()["rejected"] == 1
        assert client.get_epoch_proof_quotes(1) == []


async def test_mplex_only_py_host_gossips_with_js() -> None:
    """Aztec offers mplex as fallback: a py host that only speaks mplex still exchanges gossip."""
    from p2p.keys import generate_private_key
    from p2p.libp2p_host import MPLEX_PROTOCOL, HostConfig, Libp2pHost

    got: list[bytes] = []

    def validator(topic: str, forwarder: str, origin: str, data: bytes) -> bool:
        got.append(data)
        return True

    host = Libp2pHost(
        HostConfig(generate_private_key(), muxers=(MPLEX_PROTOCOL,)), topics=[QUOTE_TOPIC], validator=validator
    )
    async with js_peer() as js, trio.open_nursery() as nursery:
        await nursery.start(host.run)
        await host.dial(js.info["addrs"][0])
        with trio.fail_after(15):
            while not host.topic_peers(QUOTE_TOPIC):  # noqa: ASYNC110
                await trio.sleep(0.1)
        peers = await js.command(cmd="peers")
        assert {"encryption": "/noise", "multiplexer": "/mplex/6.7.0"} in peers["protocols"]
        await js.command(cmd="publish", topic=QUOTE_TOPIC, hex="00" * 188)
        with trio.fail_after(10):
            while not got:  # noqa: ASYNC110
                await trio.sleep(0.05)
        await host.publish(QUOTE_TOPIC, b"\x01" * 188)
        msg = await js.wait_message(QUOTE_TOPIC)
        assert msg["hex"] == "01" * 188
        nursery.cancel_scope.cancel()
