"""JSON-RPC 2.0 (https://www.jsonrpc.org/specification), the one dispatcher of the project.

- Any body maps to a JSON-RPC answer, never an exception: parse error -32700 (bad JSON, bad UTF-8),
  invalid request -32600 (not a request object, nesting deeper than `max_depth` - checked on the
  bytes before parsing, see `too_deep` -, an empty batch, a
  batch over `max_batch` entries: one error, nothing executed), method not found -32601, invalid
  params -32602 (only when binding the params to the handler's signature fails: the handler's
  own TypeErrors are internal errors), internal error -32603 (logged in one line), unauthorized
  -32001 (a protected method called by a caller the access policy does not admit).
- Notifications (no "id") are executed and never answered; a batch of only notifications, or a
  notification alone, answers nothing (the HTTP layer sends 204).
- Handlers are plain async functions; params bind to their signature (an array positionally, an
  object by name). `JsonRpcError(code, message, data)` raised by a handler is sent as is.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Final

import orjson
import trio

log = logging.getLogger("core.jsonrpc")

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
SERVER_ERROR: Final = -32000  # application errors count down from here
UNAUTHORIZED: Final = -32001

MAX_BATCH: Final = 1000
MAX_DEPTH: Final = 64
MAX_CONTAINERS: Final = 65_536  # arrays + objects in one request (a batch of 1,000 calls: ~3,000)
RESPONSE_MAX_DEPTH: Final = 256
MAX_METHOD_LENGTH: Final = 128

Handler = Callable[..., Awaitable[Any]]
# A method's batch variant: the positional argument tuples of several calls of one JSON-RPC batch (each
# already checked and bound as the method would be) -> one outcome per call, in order: the result,
# or the exception that call raised (an instance; results are never exceptions).
ManyHandler = Callable[[list[tuple[Any, ...]]], Awaitable[list[Any]]]
Authorizer = bool | Callable[[], bool]


class JsonRpcError(Exception):
    """An error to send back (or received from a server): code first, always."""

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
class _Method:
    fn: Handler
    sig: inspect.Signature
    names: frozenset[str]
    required: frozenset[str]
    min_pos: int
    max_pos: int  # -1: *args
    plain: bool  # only positional-or-keyword parameters: the cheap arity check is exact
    protected: bool
    many: ManyHandler | None = None


def _method(fn: Handler, protected: bool, many: ManyHandler | None = None) -> _Method:
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    kinds = {p.kind for p in params}
    plain = kinds <= {inspect.Parameter.POSITIONAL_OR_KEYWORD}
    required = [p for p in params if p.default is inspect.Parameter.empty and p.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.KEYWORD_ONLY)]
    pos = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY)]
    return _Method(
        fn,
        sig,
        frozenset(p.name for p in params),
        frozenset(p.name for p in required),
        sum(1 for p in pos if p.default is inspect.Parameter.empty),
        -1 if inspect.Parameter.VAR_POSITIONAL in kinds else len(pos),
        plain,
        protected,
        many,
    )


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


_BRACKETS_ONLY: Final = (
    bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff"),  # openers +1, closers -1 (as signed bytes)
    bytes(b for b in range(256) if b not in b"[]{}"),  # everything else is dropped
)


def _strip_strings(body: bytes) -> bytes:
    """`body` without its JSON strings, in linear time: escaped backslashes, then escaped quotes
    are dropped (left to right, as json reads them), and every quote left opens or closes a string.
    For JSON that is what removing every string token gives; for other bytes it keeps every
    bracket json's scanner could nest through before it fails (a backslash outside a string ends the
    parse there; a piece after an unpaired quote is an unterminated string). The regex took
    quadratic time on a run of escaped quotes after an unpaired one (40,000 of them: 29 s; found by
    review)."""
    if b'"' not in body:
        return body
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(body.split(b'"')[0::2])


def is_utf8_json(body: bytes) -> bool:
    """JSON between systems is UTF-8 (RFC 8259); json.loads would also take UTF-16/32 bytes, whose
    characters can hold a quote or backslash byte (U+0122, U+5C00): `too_deep`'s byte scan is only
    valid for UTF-8, so other encodings are refused before it (found by review)."""
    return json.detect_encoding(body) in ("utf-8", "utf-8-sig")


_BRACKETS_AND_QUOTES: Final = (
    _BRACKETS_ONLY[0],  # (the quote maps to itself)
    bytes(b for b in range(256) if b not in b'[]{}"'),
)


def bracket_steps(body: bytes) -> bytes:
    """The brackets of `body` outside its JSON strings as +1/-1 bytes (``[{`` -> 0x01, ``]}`` ->
    0xff): `_strip_strings` then `_BRACKETS_ONLY`, faster for a body with many strings (a batch of
    100 enqueues: 3,000 strings, a list of 3,000 pieces; that was 11 % of the broker's CPU per
    enqueue). Without a backslash every quote opens or closes a string. Keep only quotes and
    brackets: a string holding no bracket is then two adjacent quotes; drop such pairs (one pass,
    left to right: a run of n quotes keeps n mod 2). If no quote is left, every run had an even
    length, so no bracket sits between an opening quote and its closing one: what is left is the
    answer. Otherwise (a bracket inside a string, an odd quote, a backslash) the split/regex way."""
    if b"\\" not in body:
        rest = body.translate(*_BRACKETS_AND_QUOTES).replace(b'""', b"")
        if b'"' not in rest:
            return rest
    return _strip_strings(body).translate(*_BRACKETS_ONLY)


def too_deep(body: bytes, limit: int) -> bool:
    """True if the JSON text `body` nests deeper than `limit` (or, if it is not JSON, may), decided
    on the bytes before any parsing: json's C scanner recurses on the C stack, and with a raised
    recursion limit 100,000 `[` crash the process instead of raising RecursionError.

    Strings are skipped and brackets become +1/-1 bytes. Empty pairs are peeled pass by pass (one
    C-speed scan each; a pair a pass uncovers waits for the next, so passes count levels) while
    each pass cuts at least a quarter of the text; the depth of what is left is its largest prefix sum. At most ~0.25 s
    for a 4 MiB body built to be slow, ~25 ms for the plain attack shapes."""
    if not is_utf8_json(body):
        return True  # (callers answer a parse error first)
    if b"\\" in body and body.count(b"[") + body.count(b"{") <= limit:
        return False  # (before the regex bracket_steps takes for a body with a backslash)
    rest = bracket_steps(body)
    if rest.count(b"\x01") <= limit:  # no deeper than its openers outside strings
        return False
    passes = 0
    while rest and passes <= limit:
        shorter = rest.replace(b"\x01\xff", b"")
        if len(shorter) == len(rest):
            break
        shrunk = 4 * len(shorter) <= 3 * len(rest)  # (each pass a quarter shorter: <= 4x the text scanned)
        rest = shorter
        passes += 1
        if not shrunk:
            break
    if passes > limit:
        return True
    if passes + len(rest) <= limit:
        return False
    if b"\x01" * (limit - passes + 1) in rest:
        return True
    return passes + max(accumulate(memoryview(rest).cast("b")), default=0) > limit


def _memo(authorized: Authorizer) -> Authorizer:
    """Ask a callable access check at most once per batch."""
    if not callable(authorized):
        return authorized
    answer: list[bool] = []

    def once() -> bool:
        if not answer:
            answer.append(authorized())
        return answer[0]

    return once


def error_response(req_id: Any, err: JsonRpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": err.to_wire()}


# orjson where it gives the same answer as the json module, json everywhere else (issue 15: JSON was
# ~11% of the broker's CPU). `loads`: orjson reads integers past 64 bits as floats, so a body with a
# run of 19+ digits goes to json; anything orjson refuses is handed to json too (which then accepts it
# - a lone surrogate escape - or raises its own error, so error messages do not change).
# tests/core/test_http_jsonrpc.py checks `loads` against json.loads differentially (hypothesis).
_DIGITS_ONLY: Final = bytes.maketrans(bytes(range(256)), bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256)))
_LONG_RUN: Final = b"0" * 19  # (two C-speed passes; a regex for the run was 4% of the broker's CPU)


def loads(body: bytes) -> Any:
    """json.loads(body), faster: the same value or the same exception."""
    return _loads(body)[0]


def _loads(body: bytes) -> tuple[Any, bool]:
    """(the value, whether the json module read it)."""
    if _LONG_RUN not in body.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(body), False
        except orjson.JSONDecodeError:
            pass
    return json.loads(body), True


def loads_text(body: bytes) -> Any:
    """`loads` for what a peer sends: a string holding a lone surrogate (an escape like \\ud800, or
    its raw bytes, which json reads with surrogatepass) is a ValueError. JSON's grammar lets it
    through but it is not text: sqlite, orjson and every UTF-8 encoder refuse it, so one such id or
    URI ended the broker at its journal write (found by review). orjson already refuses it, so only
    what the json module read is walked."""
    value, by_json = _loads(body)
    if by_json and _lone_surrogate(value):
        raise ValueError("a JSON string holds a lone surrogate (not UTF-8 text)")
    return value


def _lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v)
            stack.extend(v.values())
    return False


def _dump(value: Any) -> bytes:
    """Compact JSON. orjson for what it serialises (UTF-8 rather than \\u escapes, NaN as null); what
    it refuses (integers past 64 bits, non-string keys, deep nesting) goes to json, which
    serialises it or raises TypeError/ValueError/RecursionError as before."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


class Dispatcher:
    """The method table. `handle_body` maps any bytes to the answer bytes (b"": nothing to send)."""

    def __init__(self, *, max_batch: int = MAX_BATCH, max_depth: int = MAX_DEPTH,
                 max_containers: int = MAX_CONTAINERS) -> None:
        self._methods: dict[str, _Method] = {}
        self.max_batch = max_batch
        self.max_depth = max_depth
        self.max_containers = max_containers
        self.internal_errors = 0

    def register(
        self, name: str, handler: Handler, *, protected: bool = False, many: ManyHandler | None = None
    ) -> None:
        """`protected`: callable only by callers the access policy admits (see core.http.app).
        `many`: the method's batch variant (see `ManyHandler`): the calls of one JSON-RPC batch to
        this method run through it in one go (one task, e.g. one journal commit) instead of one task
        each; every check before the call (request shape, access, parameter binding) is the same."""
        if name in self._methods:
            raise ValueError(f"JSON-RPC method {name} registered twice")
        self._methods[name] = _method(handler, protected, many)

    @property
    def methods(self) -> list[str]:
        return sorted(self._methods)

    def is_protected(self, name: str) -> bool:
        m = self._methods.get(name)
        return m is not None and m.protected

    async def handle_body(self, body: bytes, *, authorized: Authorizer = True) -> bytes:
        """`authorized`: may the caller use protected methods (a callable is asked only when one
        is called)."""
        if not is_utf8_json(body):
            return _dump(error_response(None, JsonRpcError(PARSE_ERROR, "parse error: JSON must be UTF-8")))
        if too_deep(body, self.max_depth):
            return _dump(error_response(None, JsonRpcError(INVALID_REQUEST, f"nesting deeper than {self.max_depth}")))
        if (len(body) > 2 * self.max_containers  # (a container takes two bytes at least: no scan below)
                and body.count(b"[") + body.count(b"{") > self.max_containers
                and bracket_steps(body).count(b"\x01") > self.max_containers):
            # (each container is an object to build and for the collector to walk: 4 MB of "[]," cost
            # the loop 0.4-1 s before any method or access check; found by review)
            msg = f"more than {self.max_containers} arrays and objects in one request"
            return _dump(error_response(None, JsonRpcError(INVALID_REQUEST, msg)))
        try:
            obj = loads_text(body)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            return _dump(error_response(None, JsonRpcError(PARSE_ERROR, f"parse error: {str(exc)[:200]}")))
        if isinstance(obj, list):
            if not obj:
                return _dump(error_response(None, JsonRpcError(INVALID_REQUEST, "empty batch")))
            if len(obj) > self.max_batch:
                msg = f"batch of {len(obj)} requests is over the limit of {self.max_batch}"
                err = JsonRpcError(INVALID_REQUEST, msg)
                return _dump(error_response(None, err))
            answers: list[dict[str, Any] | None] = [None] * len(obj)
            if len(obj) == 1:
                answers[0] = await self.handle_one(obj[0], authorized=authorized)
            else:
                # the members run concurrently (JSON-RPC lets a server answer a batch in any order),
                # so calls that wait on something (a durable commit) share the wait; the calls of a
                # method with a batch variant run through it together (one task for all of them)
                auth = _memo(authorized)
                singles: list[int] = []
                groups: dict[str, list[tuple[int, Any, bool, tuple[Any, ...]]]] = {}
                for i, o in enumerate(obj):
                    method = o.get("method") if isinstance(o, dict) else None
                    m = self._methods.get(method) if isinstance(method, str) else None
                    if m is None or m.many is None:
                        singles.append(i)
                        continue
                    checked = self._check(o)
                    if isinstance(checked, dict):
                        answers[i] = checked
                        continue
                    rid, name, params, notification = checked
                    try:
                        args = self._args(m, name, params, auth)
                    except JsonRpcError as err:
                        answers[i] = None if notification else error_response(rid, err)
                        continue
                    groups.setdefault(name, []).append((i, rid, notification, args))

                async def one(i: int) -> None:
                    answers[i] = await self.handle_one(obj[i], authorized=auth)

                if not singles and len(groups) == 1:
                    for name, calls in groups.items():
                        await self._run_many(name, calls, answers)
                else:
                    async with trio.open_nursery() as nursery:
                        for i in singles:
                            nursery.start_soon(one, i)
                        for name, calls in groups.items():
                            nursery.start_soon(self._run_many, name, calls, answers)
            out = [r for r in answers if r is not None]
            return self._dump_batch(out) if out else b""
        resp = await self.handle_one(obj, authorized=authorized)
        return b"" if resp is None else self._dump_one(resp)

    def _dump_one(self, resp: dict[str, Any]) -> bytes:
        try:
            return _dump(resp)
        except (TypeError, ValueError, RecursionError) as exc:
            self.internal_errors += 1
            log.error("JSON-RPC result not serialisable: %s: %s", type(exc).__name__, exc)
            return _dump(error_response(resp.get("id"), JsonRpcError(INTERNAL_ERROR, "internal error")))

    def _dump_batch(self, out: list[dict[str, Any]]) -> bytes:
        try:
            return _dump(out)
        except (TypeError, ValueError, RecursionError):
            return b"[" + b",".join(self._dump_one(r) for r in out) + b"]"

    async def handle_one(self, obj: Any, *, authorized: Authorizer = True) -> dict[str, Any] | None:
        """One request object -> its response object (None for a notification)."""
        checked = self._check(obj)
        if isinstance(checked, dict):
            return checked
        rid, name, params, notification = checked
        try:
            result = await self._call(name, params, authorized)
        except JsonRpcError as err:
            return None if notification else error_response(rid, err)
        except Exception as exc:
            self.internal_errors += 1
            log.error("JSON-RPC %s failed: %s: %s", name[:64], type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            return None if notification else error_response(rid, JsonRpcError(INTERNAL_ERROR, "internal error"))
        return None if notification else {"jsonrpc": "2.0", "id": rid, "result": result}

    @staticmethod
    def _check(obj: Any) -> tuple[Any, str, list[Any] | dict[str, Any], bool] | dict[str, Any]:
        """(id, method, params, is a notification) of a well-formed request object, else the error
        response."""
        if not isinstance(obj, dict):
            return error_response(None, JsonRpcError(INVALID_REQUEST, "request must be an object"))
        rid = obj.get("id")
        if not _valid_id(rid):
            return error_response(None, JsonRpcError(INVALID_REQUEST, "id must be a string, a number or null"))
        if obj.get("jsonrpc") != "2.0":
            return error_response(rid, JsonRpcError(INVALID_REQUEST, 'missing "jsonrpc": "2.0"'))
        name = obj.get("method")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_METHOD_LENGTH:
            return error_response(rid, JsonRpcError(INVALID_REQUEST, "method must be a non-empty string"))
        params = obj.get("params", [])
        if not isinstance(params, list | dict):
            return error_response(rid, JsonRpcError(INVALID_REQUEST, "params must be an array or an object"))
        return rid, name, params, "id" not in obj

    def _args(
        self, m: _Method, name: str, params: list[Any] | dict[str, Any], authorized: Authorizer
    ) -> tuple[Any, ...]:
        """The checks `_call` makes before calling (access, binding), and the call's positional arguments."""
        if m.protected and not (authorized() if callable(authorized) else authorized):
            raise JsonRpcError(UNAUTHORIZED, f"unauthorized: {name} needs the broker's auth token or a loopback caller")
        if isinstance(params, list):
            if not (m.plain and m.min_pos <= len(params) <= m.max_pos):
                self._bind(m, name, params, {})
            return tuple(params)
        if not (m.plain and m.required <= params.keys() <= m.names):
            self._bind(m, name, [], params)
        bound = m.sig.bind(**params)
        bound.apply_defaults()
        return bound.args

    async def _run_many(
        self, name: str, calls: list[tuple[int, Any, bool, tuple[Any, ...]]], answers: list[dict[str, Any] | None]
    ) -> None:
        many = self._methods[name].many
        assert many is not None
        try:
            outcomes = await many([c[3] for c in calls])
            if len(outcomes) != len(calls):
                raise RuntimeError(f"batch variant answered {len(outcomes)} of {len(calls)} calls")
        except Exception as exc:
            outcomes = [exc] * len(calls)
        failed: Exception | None = None
        for (i, rid, notification, _), res in zip(calls, outcomes, strict=True):
            if isinstance(res, JsonRpcError):
                answers[i] = None if notification else error_response(rid, res)
            elif isinstance(res, Exception):
                self.internal_errors += 1
                failed = res
                internal = JsonRpcError(INTERNAL_ERROR, "internal error")
                answers[i] = None if notification else error_response(rid, internal)
            else:
                answers[i] = None if notification else {"jsonrpc": "2.0", "id": rid, "result": res}
        if failed is not None:  # one line for the batch
            log.error("JSON-RPC %s failed (batch of %d calls): %s: %s", name[:64], len(calls), type(failed).__name__,
                      failed, exc_info=log.isEnabledFor(logging.DEBUG))

    async def _call(self, name: str, params: list[Any] | dict[str, Any], authorized: Authorizer) -> Any:
        m = self._methods.get(name)
        if m is None:
            raise JsonRpcError(METHOD_NOT_FOUND, f"method not found: {name[:64]}")
        if m.protected and not (authorized() if callable(authorized) else authorized):
            raise JsonRpcError(UNAUTHORIZED, f"unauthorized: {name} needs the broker's auth token or a loopback caller")
        if isinstance(params, list):
            if not (m.plain and m.min_pos <= len(params) <= m.max_pos):
                self._bind(m, name, params, {})
            return await m.fn(*params)
        if not (m.plain and m.required <= params.keys() <= m.names):
            self._bind(m, name, [], params)
        return await m.fn(**params)

    @staticmethod
    def _bind(m: _Method, name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        try:
            m.sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidParams(f"invalid params for {name}: {exc}") from None


# --- client side ---------------------------------------------------------------------------------


def encode_request(req_id: int, method: str, params: list[Any]) -> bytes:
    return _dump({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})


def encode_batch(calls: list[tuple[int, str, list[Any]]]) -> bytes:
    return _dump([{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, m, p in calls])


def decode_batch_response(body: bytes, req_ids: list[int]) -> dict[int, Any]:
    """Each request id -> its result, or the JsonRpcError its response carries (as a value)."""
    if not is_utf8_json(body):
        raise JsonRpcError(PARSE_ERROR, "response is not UTF-8 JSON")
    if too_deep(body, RESPONSE_MAX_DEPTH + 1):
        raise JsonRpcError(PARSE_ERROR, f"response nests deeper than {RESPONSE_MAX_DEPTH + 1}")
    try:
        arr = loads_text(body)
    except (ValueError, RecursionError) as exc:
        raise JsonRpcError(PARSE_ERROR, f"bad response body: {exc}"[:200]) from None
    if not isinstance(arr, list):
        # a whole-batch error (one object) applies to every call
        obj = arr if isinstance(arr, dict) else {}
        whole = _response_error(obj) or JsonRpcError(INVALID_REQUEST, "batch response is not an array")
        return dict.fromkeys(req_ids, whole)
    wanted = set(req_ids)
    out: dict[int, Any] = {}
    for obj in arr:
        if not isinstance(obj, dict) or obj.get("jsonrpc") != "2.0" or obj.get("id") not in wanted:
            continue
        rid = obj["id"]
        err = _response_error(obj)
        out[rid] = err if err is not None else obj.get("result")
    for rid in req_ids:
        if rid not in out:
            out[rid] = JsonRpcError(INVALID_REQUEST, f"no response for request id {rid} in the batch")
    return out


def _response_error(obj: dict[str, Any]) -> JsonRpcError | None:
    if "error" not in obj:
        return None
    err = obj["error"]
    if not isinstance(err, dict):
        return JsonRpcError(INTERNAL_ERROR, "malformed error object")
    code = err.get("code")
    message = err.get("message")
    return JsonRpcError(
        code if isinstance(code, int) else INTERNAL_ERROR,
        message if isinstance(message, str) else "unknown error",
        err.get("data"),
    )


def decode_response(body: bytes, req_id: int) -> Any:
    """Result of a single response, or raise the JsonRpcError it carries."""
    if not is_utf8_json(body):
        raise JsonRpcError(PARSE_ERROR, "response is not UTF-8 JSON")
    if too_deep(body, RESPONSE_MAX_DEPTH):
        raise JsonRpcError(PARSE_ERROR, f"response nests deeper than {RESPONSE_MAX_DEPTH}")
    try:
        obj = loads_text(body)
    except (ValueError, RecursionError) as exc:
        raise JsonRpcError(PARSE_ERROR, f"bad response body: {exc}"[:200]) from None
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


# --- parameter checks used by method handlers ----------------------------------------------------


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
