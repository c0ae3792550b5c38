"""The boot node: a bare discv5 node, like Aztec 0.63's `aztec start --p2p-bootstrap` (p2p doc 6.4).

Its ENR carries `ip`/`udp` from P2P_UDP_ANNOUNCE_ADDR and `aztec_network` = 0x01; it binds
P2P_UDP_LISTEN_ADDR, uses PEER_ID_PRIVATE_KEY (random if unset), logs its `enr:` at start, and does not
bootstrap from anyone. Optionally it serves `GET /health` and JSON-RPC `node_getEncodedEnr` /
`pxe_getNodeInfo` over HTTP so `BOOT_NODE_URL=http://...` works against it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from core.http import Dispatcher, HttpLimits, HttpServer, JsonRpcApp
from p2p.discv5.protocol import Address, Discv5Config
from p2p.discv5.service import Discv5Service
from p2p.enr import AZTEC_ENR_KEY, AZTEC_NETWORK_DEVNET, Enr
from p2p.keys import generate_private_key, peer_id_from_private_key

log = logging.getLogger(__name__)

HTTP_LIMITS = HttpLimits(max_connections=64, max_per_client=32, max_body=64 * 1024, idle_timeout=10.0)
MAX_BATCH = 32


def parse_address(text: str, *, default_port: int | None = None) -> Address:
    """`<ip>:<port>` or `[ipv6]:<port>` as in Aztec's P2P_*_ADDR variables."""
    value = text.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            host, port_text = value, ""
    if not port_text:
        if default_port is None:
            raise ValueError(f"address {text!r} has no port")
        return host, default_port
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ValueError(f"address {text!r} has a bad port") from exc
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"address {text!r} port out of range")
    return host, port


@dataclass(frozen=True, slots=True)
class BootNodeConfig:
    udp_listen: Address = ("0.0.0.0", 40400)  # P2P_UDP_LISTEN_ADDR
    udp_announce: Address | None = None  # P2P_UDP_ANNOUNCE_ADDR (required unless listening on a concrete IP)
    private_key: bytes | None = None  # PEER_ID_PRIVATE_KEY, parsed with p2p.keys.parse_peer_id_private_key
    http_listen: Address | None = None  # serve /health and node_getEncodedEnr here if set
    aztec_network: int = AZTEC_NETWORK_DEVNET
    discv5: Discv5Config = field(default_factory=lambda: Discv5Config(lookup_timeout=2.0))


class BootNode:
    def __init__(self, config: BootNodeConfig) -> None:
        self.config = config
        self.private_key = config.private_key or generate_private_key()
        announce = config.udp_announce
        if announce is None:
            if config.udp_listen[0] in ("0.0.0.0", ""):
                raise ValueError("P2P_UDP_ANNOUNCE_ADDR is required for the boot node")
            announce = config.udp_listen
        port = announce[1]
        enr = Enr.create(
            self.private_key,
            ip=announce[0],
            udp=port or None,  # port 0: the service writes the bound port into the record
            extra={AZTEC_ENR_KEY: bytes([config.aztec_network])},
        )
        self.service = Discv5Service(
            self.private_key,
            enr,
            listen=config.udp_listen,
            config=config.discv5,
            aztec_network=None,
            random_lookup_interval=None,  # Aztec's boot node only answers, it does not search
            publish_discovered=False,
        )
        self.http_port: int | None = None

    @property
    def enr(self) -> Enr:
        return self.service.enr

    @property
    def peer_id(self) -> str:
        return peer_id_from_private_key(self.private_key)

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            enr = await nursery.start(self.service.run)
            log.info("boot node started, peer id %s, ENR: %s", self.peer_id, enr.to_text())
            if self.config.http_listen is not None:
                server = EnrHttpServer(lambda: self.service.enr, self.config.http_listen)
                self.http_port = await nursery.start(server.run)
                log.info("boot node HTTP on %s:%d", self.config.http_listen[0], self.http_port)
            task_status.started(enr.to_text())


class EnrHttpServer:
    """`GET /health`, JSON-RPC `node_getEncodedEnr` and `pxe_getNodeInfo` on core.http's server."""

    def __init__(self, enr: Callable[[], Enr], listen: Address) -> None:
        self._enr = enr
        self._listen = listen
        d = Dispatcher(max_batch=MAX_BATCH)

        async def encoded_enr() -> str:
            return self._enr().to_text()

        async def node_info() -> dict[str, str]:
            return {"enr": self._enr().to_text()}

        for name, fn in (("node_getEncodedEnr", encoded_enr), ("getEncodedEnr", encoded_enr),
                         ("pxe_getNodeInfo", node_info), ("node_getNodeInfo", node_info)):
            d.register(name, fn)
        self.server = HttpServer(JsonRpcApp(d), listen[0], listen[1], HTTP_LIMITS)

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        await self.server.run(task_status=task_status)
