"""JSON-RPC 2.0 codec and method dispatch (sans-IO apart from awaiting the handlers).

Any request body, however malformed, produces a JSON-RPC error response (parse error -32700,
invalid request -32600, method not found -32601, invalid params -32602, application error -32000,
internal error -32603); handlers raising unexpected exceptions are logged and reported as internal
errors, never propagated. Batches (arrays) are supported up to ``MAX_BATCH`` entries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

log = logging.getLogger(__name__)

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
SERVER_ERROR: Final = -32000

MAX_BATCH: Final = 1000
MAX_METHOD_LENGTH: Final = 128


class JsonRpcError(Exception):
    """An error to send back (or received from a server)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"JSON-RPC error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


class InvalidParams(JsonRpcError):
    def __init__(self, message: str) -> None:
        super().__init__(INVALID_PARAMS, message)


@dataclass(frozen=True, slots=True)
class Request:
    id: Any  # str | int | None; absent for notifications
    method: str
    params: list[Any] | dict[str, Any]
    notification: bool


Handler = Callable[[list[Any] | dict[str, Any]], Awaitable[Any]]


def _valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def parse_request(obj: Any) -> Request:
    if not isinstance(obj, dict):
        raise JsonRpcError(INVALID_REQUEST, "request must be an object")
    if obj.get("jsonrpc") != "2.0":
        raise JsonRpcError(INVALID_REQUEST, 'missing "jsonrpc": "2.0"')
    method = obj.get("method")
    if not isinstance(method, str) or not 0 < len(method) <= MAX_METHOD_LENGTH:
        raise JsonRpcError(INVALID_REQUEST, "method must be a non-empty string")
    params = obj.get("params", [])
    if not isinstance(params, list | dict):
        raise JsonRpcError(INVALID_REQUEST, "params must be an array or an object")
    notification = "id" not in obj
    req_id = obj.get("id")
    if not _valid_id(req_id):
        raise JsonRpcError(INVALID_REQUEST, "id must be a string, an integer or null")
    return Request(req_id, method, params, notification)


def error_response(req_id: Any, err: JsonRpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": err.to_wire()}


class Dispatcher:
    """Method table. ``handle_body`` maps any bytes to the response bytes (b"" for notifications)."""

    def __init__(self) -> None:
        self._methods: dict[str, Handler] = {}

    def register(self, name: str, handler: Handler) -> None:
        if name in self._methods:
            raise ValueError(f"method {name} registered twice")
        self._methods[name] = handler

    @property
    def methods(self) -> list[str]:
        return sorted(self._methods)

    async def handle_body(self, body: bytes) -> bytes:
        try:
            obj = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return _dump(error_response(None, JsonRpcError(PARSE_ERROR, f"parse error: {exc}"[:200])))
        if isinstance(obj, list):
            if not obj:
                return _dump(error_response(None, JsonRpcError(INVALID_REQUEST, "empty batch")))
            if len(obj) > MAX_BATCH:
                return _dump(error_response(None, JsonRpcError(INVALID_REQUEST, f"batch over {MAX_BATCH}")))
            out = [r for r in [await self.handle_one(o) for o in obj] if r is not None]
            return _dump(out) if out else b""
        resp = await self.handle_one(obj)
        return b"" if resp is None else _dump(resp)

    async def handle_one(self, obj: Any) -> dict[str, Any] | None:
        try:
            req = parse_request(obj)
        except JsonRpcError as err:
            rid = obj.get("id") if isinstance(obj, dict) and _valid_id(obj.get("id")) else None
            return error_response(rid, err)
        handler = self._methods.get(req.method)
        if handler is None:
            missing = JsonRpcError(METHOD_NOT_FOUND, f"method not found: {req.method[:64]}")
            return None if req.notification else error_response(req.id, missing)
        try:
            result = await handler(req.params)
        except JsonRpcError as err:
            return None if req.notification else error_response(req.id, err)
        except Exception as exc:
            log.exception("JSON-RPC method %s failed", req.method)
            internal = JsonRpcError(INTERNAL_ERROR, f"internal error: {type(exc).__name__}")
            return None if req.notification else error_response(req.id, internal)
        if req.notification:
            return None
        return {"jsonrpc": "2.0", "id": req.id, "result": result}


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def encode_request(req_id: int, method: str, params: list[Any]) -> bytes:
    return _dump({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})


def decode_response(body: bytes, req_id: int) -> Any:
    """Result of a single response, or raise the JsonRpcError it carries."""
    try:
        obj = json.loads(body)
    except ValueError as exc:
        raise JsonRpcError(PARSE_ERROR, f"bad response body: {exc}") from None
    if not isinstance(obj, dict) or obj.get("jsonrpc") != "2.0":
        raise JsonRpcError(INVALID_REQUEST, "response is not a JSON-RPC 2.0 object")
    if obj.get("id") != req_id:
        raise JsonRpcError(INVALID_REQUEST, f"response id {obj.get('id')!r} != request id {req_id}")
    if "error" in obj:
        err = obj["error"]
        if not isinstance(err, dict):
            raise JsonRpcError(INTERNAL_ERROR, "malformed error object")
        code = err.get("code")
        message = err.get("message")
        raise JsonRpcError(
            code if isinstance(code, int) else INTERNAL_ERROR,
            message if isinstance(message, str) else "unknown error",
            err.get("data"),
        )
    return obj.get("result")


# --- parameter helpers used by the method handlers ----------------------------------------------


def positional(params: list[Any] | dict[str, Any], names: tuple[str, ...], required: int) -> list[Any]:
    """Normalise positional or named params to a list of ``len(names)`` (missing ones None)."""
    if isinstance(params, dict):
        unknown = set(params) - set(names)
        if unknown:
            raise InvalidParams(f"unknown parameter(s): {sorted(unknown)[:5]}")
        values = [params.get(n) for n in names]
    else:
        if len(params) > len(names):
            raise InvalidParams(f"at most {len(names)} parameters, got {len(params)}")
        values = list(params) + [None] * (len(names) - len(params))
    for i in range(required):
        if values[i] is None:
            raise InvalidParams(f"missing parameter: {names[i]}")
    return values


def param_str(value: Any, name: str, max_len: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise InvalidParams(f"{name} must be a non-empty string of at most {max_len} characters")
    return value


def param_opt_str(value: Any, name: str, max_len: int) -> str | None:
    return None if value is None else param_str(value, name, max_len)


def param_number(value: Any, name: str, default: float, lo: float, hi: float) -> float:
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidParams(f"{name} must be a number in [{lo}, {hi}]")
    return float(value)


def param_int(value: Any, name: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidParams(f"{name} must be an integer in [{lo}, {hi}]")
    return value


def param_bool(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidParams(f"{name} must be a boolean")
    return value
