"""The HTTP application every JSON-RPC server of the project serves, and its access policy.

Routes: `POST /` JSON-RPC 2.0 (200 with the answer, 204 when there is nothing to answer),
`GET /health` (and `/status`, or the paths given) the JSON of `health()` or `health_route(path)`,
`GET /metrics` Prometheus text (when a
registry is given), the GET `pages` given; anything else 404, other methods on `/` 405.

Access (README "Access"): methods registered `protected=True` (the broker's) need, when a token is
configured, `Authorization: Bearer <token>`; without a token only loopback callers may call them.
Everything else (read-only node methods, /health, /metrics) is open. `check_exposure` makes a
protected service bound beyond loopback without a token a start-up error.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from core.http.jsonrpc import Dispatcher
from core.http.server import Request, Response


@functools.lru_cache(maxsize=4096)
def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1, ::ffff:127.x and "localhost"; False for wildcards and names."""
    if host == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


class ExposureError(ValueError):
    """A protected service would listen beyond loopback without a token."""


def check_exposure(host: str, token: str | None, *, what: str, token_var: str) -> None:
    if token is None and not is_loopback(host):
        raise ExposureError(
            f"{what} binds {host or '0.0.0.0'} (beyond loopback) without {token_var}: "
            f"set {token_var} or bind 127.0.0.1"
        )


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Who may call protected methods: bearer `token` holders if one is set, else loopback callers."""

    token: str | None = None

    def __post_init__(self) -> None:
        if self.token is not None and (len(self.token) < 16 or not self.token.isascii() or " " in self.token):
            raise ValueError("the auth token must be at least 16 printable ASCII characters without spaces")

    def admits(self, req: Request) -> bool:
        if self.token is None:
            return is_loopback(req.client[0])
        auth = req.header(b"authorization")
        if auth is None or auth[:7].lower() != b"bearer ":
            return False
        return hmac.compare_digest(auth[7:].strip(), self.token.encode())


_NOT_FOUND = Response(404, b'{"error":"not found"}')
_NOT_ALLOWED = Response(405, b'{"error":"method not allowed"}')


class JsonRpcApp:
    """POST / -> dispatcher; GET /health, /metrics. Use as the HttpServer's handler."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        registry: CollectorRegistry | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
        access: AccessPolicy | None = None,
        health_route: Callable[[str], tuple[int, Any]] | None = None,
        health_paths: tuple[str, ...] = ("/health", "/status"),
        pages: Mapping[str, Callable[[], Response]] | None = None,
    ) -> None:
        """`health()`: the JSON of the health paths (always 200); or `health_route(path)`: (status,
        JSON) for each of `health_paths` (e.g. 503 while not ready). `pages`: more GET paths (open,
        read-only: e.g. the node's live epoch view), each answered by its function."""
        self.dispatcher = dispatcher
        self.registry = registry
        self.health = health or (lambda: {"status": "ok"})
        self.health_route = health_route
        self.health_paths = tuple(p.encode() for p in health_paths)
        self.access = access or AccessPolicy()
        self.pages = {k.encode(): v for k, v in (pages or {}).items()}

    async def __call__(self, req: Request) -> Response:
        if req.method == b"POST":
            if req.path not in (b"/", b""):
                return _NOT_FOUND
            out = await self.dispatcher.handle_body(req.body, authorized=lambda: self.access.admits(req))
            return Response(200, out) if out else Response(204)
        if req.method in (b"GET", b"HEAD"):
            if req.path in self.health_paths:
                if self.health_route is not None:
                    status, report = self.health_route(req.path.decode())
                    return Response(status, json.dumps(report).encode())
                return Response(200, json.dumps(self.health()).encode())
            if req.path == b"/metrics" and self.registry is not None:
                return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST.encode())
            page = self.pages.get(req.path)
            if page is not None:
                return page()
            return _NOT_FOUND
        return _NOT_ALLOWED if req.path in (b"/", b"") else _NOT_FOUND
