"""discv5 / ENR interop against @chainsafe/discv5@9.0.0 and @chainsafe/enr@3.0.0 (Aztec 0.63's libraries).

Runs the js helpers in interop/js (discv5_bootnode.mjs, discv5_client.mjs, discv5_enr.mjs) on 127.0.0.1.
bcrypto's native binding is not built (npm install ran with --ignore-scripts), so the js side runs with
NODE_BACKEND=js (pure-JS crypto, same wire behaviour).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio

from p2p.discv5.bootnode import BootNode, BootNodeConfig
from p2p.discv5.protocol import Discv5Config
from p2p.discv5.service import Discv5Service
from p2p.enr import Enr
from p2p.keys import generate_private_key, parse_peer_id_private_key, peer_id_from_private_key

pytestmark = pytest.mark.interop

JS_DIR = Path(__file__).resolve().parent / "js"
NODE_MODULES = JS_DIR / "node_modules"
FAST = Discv5Config(request_timeout=1.0, lookup_timeout=4.0)
EIP778_EXAMPLE = (
    "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlk"
    "gnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8"
)


def _require_js() -> str:
    if not (NODE_MODULES / "@chainsafe" / "discv5").is_dir() or not (NODE_MODULES / "@chainsafe" / "enr").is_dir():
        pytest.skip(f"@chainsafe/discv5 and @chainsafe/enr are not installed in {NODE_MODULES}")
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (Node.js) is not on PATH")
    return node


def _env() -> dict[str, str]:
    return {**os.environ, "NODE_BACKEND": "js"}


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JsProcess:
    """A js helper process whose stdout is read as JSON lines."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self._buffer = b""

    @classmethod
    async def start(cls, node: str, script: str, *args: str) -> JsProcess:
        process = await trio.lowlevel.open_process(
            [node, str(JS_DIR / script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=JS_DIR,
            env=_env(),
        )
        return cls(process)

    async def next_json(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        while b"\n" not in self._buffer:
            chunk = await self.process.stdout.receive_some(65536)
            if not chunk:
                raise EOFError("js helper exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        value = json.loads(line)
        assert isinstance(value, dict)
        return value

    async def until(self, event: str) -> dict[str, Any]:
        while True:
            item = await self.next_json()
            if item.get("event") == event:
                return item

    async def close(self) -> None:
        if self.process.stdin is not None:
            await self.process.stdin.aclose()
        with trio.move_on_after(5):
            await self.process.wait()
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


def _service(bootstrap: list[Enr]) -> Discv5Service:
    key = generate_private_key()
    enr = Enr.create(key, ip="127.0.0.1", tcp=40400, extra={"aztec_network": b"\x01"})
    return Discv5Service(key, enr, listen=("127.0.0.1", 0), config=FAST, bootstrap=bootstrap)


async def test_python_node_bootstraps_from_js_boot_node() -> None:
    node = _require_js()
    peer_ports = [_free_udp_port() for _ in range(2)]
    js = await JsProcess.start(
        node, "discv5_bootnode.mjs", "--port", str(_free_udp_port()), "--peer-ports", ",".join(map(str, peer_ports))
    )
    try:
        with trio.fail_after(30):
            ready = await js.until("ready")
        boot = Enr.from_text(ready["enr"])
        assert boot.is_aztec()
        js_peers = {bytes.fromhex(p["nodeId"]) for p in ready["peers"]}
        assert len(js_peers) == 2
        ours = _service([boot])
        async with trio.open_nursery() as nursery:
            await nursery.start(ours.run)
            with trio.fail_after(30):
                pong = await ours.ping(boot)
                assert (pong.recipient_ip, pong.recipient_port) == ours.enr.udp_endpoint()
                direct = await ours.find_node(boot, [0])
                assert direct == [boot]
                while not js_peers <= {e.node_id for e in ours.known_enrs()}:
                    await ours.find_random_node()
                    await trio.sleep(0.2)
            # the peer-manager channel yields the js peers (aztec_network=0x01), with tcp for dialling
            streamed: dict[bytes, Enr] = {}
            while True:
                try:
                    enr = ours.discovered().receive_nowait()
                except trio.WouldBlock:
                    break
                streamed[enr.node_id] = enr
            assert js_peers <= set(streamed)
            for node_id in js_peers:
                assert streamed[node_id].tcp_multiaddr() is not None
            # the js boot node put us in its routing table
            with trio.fail_after(10):
                while True:
                    line = await js.until("table")
                    if line["nodeId"] == ours.node_id.hex():
                        break
            nursery.cancel_scope.cancel()
    finally:
        await js.close()


async def test_js_node_bootstraps_from_our_boot_node() -> None:
    node = _require_js()
    boot = BootNode(BootNodeConfig(udp_listen=("127.0.0.1", 0), discv5=FAST))
    async with trio.open_nursery() as nursery:
        boot_text = await nursery.start(boot.run)
        boot_enr = Enr.from_text(boot_text)
        ours = [_service([boot_enr]) for _ in range(3)]
        for service in ours:
            await nursery.start(service.run)
            await service.ping(boot_enr)
        expected = {s.node_id.hex() for s in ours} | {boot.service.node_id.hex()}
        js = await JsProcess.start(
            node, "discv5_client.mjs", "--port", str(_free_udp_port()), "--boot", boot_text,
            "--expect", str(len(expected)), "--timeout", "20000",
        )  # fmt: skip
        try:
            found: dict[str, dict[str, Any]] = {}
            with trio.fail_after(40):
                while True:
                    item = await js.next_json()
                    if item["event"] == "discovered":
                        found[item["nodeId"]] = item
                    elif item["event"] == "done":
                        break
            assert expected <= set(found), f"js found {len(found)} of {len(expected)}"
            for service in ours:
                seen = found[service.node_id.hex()]
                assert seen["aztec_network"] == 1
                assert seen["ip"] == "127.0.0.1" and seen["udp"] == service.enr.udp and seen["tcp"] == 40400
                assert seen["enr"] == service.enr.to_text()
        finally:
            await js.close()
        nursery.cancel_scope.cancel()


async def test_enrs_decode_across_implementations() -> None:
    node = _require_js()
    # js -> python
    created = await trio.run_process(
        [node, str(JS_DIR / "discv5_enr.mjs"), "create", "3"], capture_stdout=True, cwd=JS_DIR, env=_env()
    )
    for line in created.stdout.decode().splitlines():
        item = json.loads(line)
        enr = Enr.from_text(item["enr"])
        assert enr.node_id.hex() == item["nodeId"]
        assert enr.seq == item["seq"]
        assert enr.aztec_network == 1 and enr.is_aztec()
        assert (enr.ip, enr.udp, enr.tcp) == ("127.0.0.1", item["udp"], item["tcp"])
        assert enr.public_key.hex() == item["publicKey"]
        assert enr.peer_id == item["peerId"]
        assert enr.to_text() == item["enr"]  # re-encodes byte for byte
        # PEER_ID_PRIVATE_KEY format (hex of the protobuf private key) -> same key, same peer id
        secret = parse_peer_id_private_key(item["privateKey"])
        assert peer_id_from_private_key(secret) == item["peerId"]
        assert Enr.create(secret).node_id == enr.node_id
    # python -> js
    key = generate_private_key()
    ours = [
        Enr.create(key, seq=5, ip="127.0.0.1", tcp=40400, udp=40401, extra={"aztec_network": b"\x01"}),
        Enr.create(generate_private_key(), ip="10.1.2.3", udp=9000, extra={"aztec_network": b"\x01"}),
        Enr.from_text(EIP778_EXAMPLE),
    ]
    decoded = await trio.run_process(
        [node, str(JS_DIR / "discv5_enr.mjs"), "decode", *(e.to_text() for e in ours)],
        capture_stdout=True,
        cwd=JS_DIR,
        env=_env(),
    )
    lines = [json.loads(line) for line in decoded.stdout.decode().splitlines()]
    assert len(lines) == len(ours)
    for enr, item in zip(ours, lines, strict=True):
        assert item["ok"], item
        assert item["nodeId"] == enr.node_id.hex()
        assert item["seq"] == enr.seq
        assert (item["ip"], item["udp"], item["tcp"]) == (enr.ip, enr.udp, enr.tcp)
        assert item["aztec_network"] == enr.aztec_network
        assert item["peerId"] == enr.peer_id
