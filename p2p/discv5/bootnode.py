"""The boot node: a bare discv5 node, like Aztec 0.63's `aztec start --p2p-bootstrap` (p2p doc 6.4).

Its ENR carries `ip`/`udp` from P2P_UDP_ANNOUNCE_ADDR and `aztec_network` = 0x01; it binds
P2P_UDP_LISTEN_ADDR, uses PEER_ID_PRIVATE_KEY (random if unset), logs its `enr:` at start, and does not
bootstrap from anyone. Optionally it serves `GET /health` and JSON-RPC `node_getEncodedEnr` /
`pxe_getNodeInfo` over HTTP so `BOOT_NODE_URL=http://...` works against it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import h11
import trio

from p2p.discv5.protocol import Address, Discv5Config
from p2p.discv5.service import Discv5Service
from p2p.enr import AZTEC_ENR_KEY, AZTEC_NETWORK_DEVNET, Enr
from p2p.keys import generate_private_key, peer_id_from_private_key

log = logging.getLogger(__name__)

MAX_HTTP_BODY = 64 * 1024
HTTP_TIMEOUT = 10.0
MAX_HTTP_CONNECTIONS = 64


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
    """Tiny HTTP/1.1 server (h11): `GET /health`, JSON-RPC `node_getEncodedEnr` and `pxe_getNodeInfo`."""

    def __init__(self, enr: Callable[[], Enr], listen: Address) -> None:
        self._enr = enr
        self._listen = listen
        self._limiter = trio.CapacityLimiter(MAX_HTTP_CONNECTIONS)

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self._listen[1], host=self._listen[0])
        port = int(listeners[0].socket.getsockname()[1])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._serve, listeners)
            task_status.started(port)

    async def _serve(self, stream: trio.SocketStream) -> None:
        if self._limiter.borrowed_tokens >= self._limiter.total_tokens:
            await stream.aclose()  # over the connection limit: refuse
            return
        async with self._limiter, stream:
            with trio.move_on_after(HTTP_TIMEOUT):
                try:
                    await self._handle(stream)
                except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    log.debug("HTTP connection error: %s", exc)

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HTTP_BODY)
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                conn.receive_data(data)
                if not data:
                    return
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_HTTP_BODY:
                    await self._respond(stream, conn, 413, {"error": "request too large"})
                    return
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                status, payload = self._route(request, bytes(body))
                await self._respond(stream, conn, status, payload)
                return
            else:
                return

    def _route(self, request: h11.Request, body: bytes) -> tuple[int, object]:
        target = request.target.decode(errors="replace").split("?")[0]
        if request.method == b"GET":
            if target in ("/health", "/status"):
                return 200, {"status": "ok"}
            return 404, {"error": "not found"}
        if request.method != b"POST":
            return 405, {"error": "method not allowed"}
        try:
            payload = json.loads(body)
        except ValueError:
            return 200, _rpc_error(None, -32700, "parse error")
        if isinstance(payload, list):
            return 200, [self._rpc(item) for item in payload[:32]]
        return 200, self._rpc(payload)

    def _rpc(self, payload: object) -> object:
        if not isinstance(payload, dict) or not isinstance(payload.get("method"), str):
            return _rpc_error(None, -32600, "invalid request")
        rpc_id = payload.get("id")
        method = payload["method"]
        enr_text = self._enr().to_text()
        if method in ("node_getEncodedEnr", "getEncodedEnr"):
            return {"jsonrpc": "2.0", "id": rpc_id, "result": enr_text}
        if method in ("pxe_getNodeInfo", "node_getNodeInfo"):
            return {"jsonrpc": "2.0", "id": rpc_id, "result": {"enr": enr_text}}
        return _rpc_error(rpc_id, -32601, f"method not found: {method}")

    async def _respond(self, stream: trio.SocketStream, conn: h11.Connection, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(data))),
            ("connection", "close"),
        ]
        await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        await stream.send_all(conn.send(h11.Data(data=data)) or b"")
        await stream.send_all(conn.send(h11.EndOfMessage()) or b"")


def _rpc_error(rpc_id: object, code: int, message: str) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}}
