"""JSON-RPC 2.0 over the real server: batches (with a stated limit), notifications, params errors
bound by signature, internal errors, ids, the access policy."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from core.http import AccessPolicy, Dispatcher, Request, check_exposure, is_loopback
from core.http.app import ExposureError
from core.http.jsonrpc import JsonRpcError
from tests.core.helpers import exchange, port, post, rpc, start, status_of, test_dispatcher

TOKEN = "t0ken-of-at-least-16-chars"


def req(i: Any, method: str, params: Any = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0", "method": method, **extra}
    if i is not ...:
        out["id"] = i
    if params is not None:
        out["params"] = params
    return out


async def test_single_calls_and_error_classes(caplog: pytest.LogCaptureFixture) -> None:
    async with trio.open_nursery() as n:
        p = port(await start(n))
        assert await rpc(p, req(1, "add", [1, 2])) == (200, {"jsonrpc": "2.0", "id": 1, "result": 3})
        assert (await rpc(p, req("x", "add", {"a": 1, "b": 5})))[1]["result"] == 6
        assert (await rpc(p, req(2.5, "add", [4])))[1] == {"jsonrpc": "2.0", "id": 2.5, "result": 4}
        for bad_params in ([], [1, 2, 3], {"c": 1}, {"b": 1}):  # binding fails -> -32602
            out = (await rpc(p, req(3, "add", bad_params)))[1]
            assert out["error"]["code"] == -32602 and out["id"] == 3
        with caplog.at_level(logging.ERROR, logger="core.jsonrpc"):
            out = (await rpc(p, req(4, "broken")))[1]  # a TypeError inside the handler is a bug: -32603
        assert out["error"] == {"code": -32603, "message": "internal error"}
        assert len([r for r in caplog.records if r.name == "core.jsonrpc"]) == 1
        assert "\n" not in caplog.records[-1].getMessage()
        assert (await rpc(p, req(5, "nope")))[1]["error"]["code"] == -32601
        assert (await rpc(p, {"id": 6, "method": "add", "params": [1]}))[1]["error"]["code"] == -32600  # no jsonrpc
        assert (await rpc(p, req(7, "add", 5)))[1]["error"]["code"] == -32600  # params not structured
        assert (await rpc(p, req(True, "add", [1])))[1] == {  # a bool is no id
            "jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "id must be a string, a number or null"}}
        assert (await rpc(p, 42))[1]["error"]["code"] == -32600
        raw = await exchange(p, post(b'{"jsonrpc": "2.0", "method": "add", "params": [1, 2'))
        assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"]["code"] == -32700
        raw = await exchange(p, post(b"\xff\xfe{}"))
        assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"]["code"] == -32700
        n.cancel_scope.cancel()


async def test_batches_and_notifications() -> None:
    async with trio.open_nursery() as n:
        p = port(await start(n))  # the test dispatcher states max_batch=10
        st_, out = await rpc(p, [req(1, "add", [1, 1]), req(..., "add", [2]), 7, req(2, "nope"), req(3, "echo", ["x"])])
        assert st_ == 200
        assert [o.get("id") for o in out] == [1, None, 2, 3]  # the notification is not answered
        assert out[0]["result"] == 2 and out[1]["error"]["code"] == -32600 and out[2]["error"]["code"] == -32601
        st_, out = await rpc(p, [req(..., "add", [1]), req(..., "nope")])  # only notifications: nothing
        assert (st_, out) == (204, None)
        st_, out = await rpc(p, req(..., "broken"))
        assert (st_, out) == (204, None)
        st_, out = await rpc(p, [])
        assert out["error"]["code"] == -32600 and out["id"] is None
        st_, out = await rpc(p, [req(i, "add", [i]) for i in range(11)])  # over the limit: one error, none run
        assert isinstance(out, dict) and out["error"]["code"] == -32600 and "limit of 10" in out["error"]["message"]
        st_, out = await rpc(p, [req(i, "add", [i]) for i in range(10)])
        assert [o["result"] for o in out] == list(range(10))
        n.cancel_scope.cancel()


async def test_protected_methods_need_the_token_or_loopback() -> None:
    async with trio.open_nursery() as n:
        p = port(await start(n, token=TOKEN))
        assert (await rpc(p, req(1, "secret")))[1]["error"]["code"] == -32001
        wrong = (await rpc(p, req(1, "secret"), b"Authorization: Bearer wrong-token-xxxxxxxx\r\n"))[1]
        assert wrong["error"]["code"] == -32001
        for header in (f"Authorization: Bearer {TOKEN}\r\n", f"authorization: bearer {TOKEN}\r\n"):
            assert (await rpc(p, req(1, "secret"), header.encode()))[1]["result"] == "admitted"
        assert (await rpc(p, req(1, "add", [1])))[1]["result"] == 1  # open methods stay open
        raw = await exchange(p, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert status_of(raw) == 200
        p2 = port(await start(n))  # no token: loopback callers only
        assert (await rpc(p2, req(1, "secret")))[1]["result"] == "admitted"
        n.cancel_scope.cancel()
    policy = AccessPolicy(None)
    stranger = Request(b"POST", b"/", [], b"", ("10.1.2.3", 5555))
    assert not policy.admits(stranger)
    assert policy.admits(Request(b"POST", b"/", [], b"", ("::ffff:127.0.0.1", 1)))
    assert AccessPolicy(TOKEN).admits(Request(b"POST", b"/", [(b"authorization", f"Bearer {TOKEN}".encode())], b"",
                                              ("10.1.2.3", 5555)))
    with pytest.raises(ValueError):
        AccessPolicy("short")


def test_exposure_rule() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.8.9.1"):
        assert is_loopback(host)
        check_exposure(host, None, what="x", token_var="T")
    for host in ("0.0.0.0", "", "::", "10.0.0.1", "example.org"):
        assert not is_loopback(host)
        with pytest.raises(ExposureError, match="T"):
            check_exposure(host, None, what="x", token_var="T")
        check_exposure(host, TOKEN, what="x", token_var="T")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.builds(req, json_values, st.sampled_from(["add", "echo", "broken", "secret", "x"]),
                                        json_values), st.lists(json_values, max_size=5)))
def test_any_json_gets_a_wellformed_answer(obj: Any) -> None:
    async def main() -> bytes:
        return await test_dispatcher().handle_body(json.dumps(obj).encode(), authorized=False)

    out = trio.run(main)
    if out == b"":
        return
    items = json.loads(out)
    for item in items if isinstance(items, list) else [items]:
        assert item["jsonrpc"] == "2.0" and ("result" in item) != ("error" in item)
        if "error" in item:
            assert item["error"]["code"] in (-32700, -32600, -32601, -32602, -32603, -32001)
            # -32603 only from inside a handler ("add" does arithmetic on whatever it is given)
            assert item["error"]["code"] != -32603 or (isinstance(obj, dict) and obj.get("method") in ("broken", "add"))


def test_registering_twice_is_an_error() -> None:
    d = Dispatcher()

    async def f() -> None:
        return None

    d.register("f", f)
    with pytest.raises(ValueError):
        d.register("f", f)


def _depth(v: Any) -> int:
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    return 0


nested = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=4), inner,
                                                                 max_size=3),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(nested, st.integers(0, 8))
def test_too_deep_measures_the_depth_on_the_bytes(value: Any, limit: int) -> None:
    from core.http.jsonrpc import too_deep

    body = json.dumps(value).encode()
    assert too_deep(body, limit) == (_depth(value) > limit)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b'""', b"\\", b"a", b",", b":", b"\xff", b"\x01"]),
                max_size=40).map(b"".join))
def test_bracket_steps_equal_the_brackets_left_after_stripping_strings(body: bytes) -> None:
    """The quote-pair shortcut gives what stripping the strings and keeping the brackets gives, on
    any bytes (JSON or not: odd quotes, backslashes, brackets inside strings, stray 0x01/0xff)."""
    from core.http.jsonrpc import _BRACKETS_ONLY, _strip_strings, bracket_steps

    assert bracket_steps(body) == _strip_strings(body).translate(*_BRACKETS_ONLY)


def test_too_deep_on_attack_shapes() -> None:
    from core.http.jsonrpc import too_deep

    assert too_deep(b"[" * 100_000, 64)
    assert too_deep(b"[1," * 65 + b"]" * 65, 64)
    assert not too_deep(b"[1," * 64 + b"1" + b"]" * 64, 64)
    assert too_deep(b'{"a":' * 70 + b"1" + b"}" * 70, 64)
    assert not too_deep(b'["' + b"[" * 1000 + b'"]', 64)  # brackets inside a string do not nest
    assert not too_deep(json.dumps([[i] for i in range(5000)]).encode(), 64)  # wide, not deep


# --- the orjson fast path of loads/_dump against the json module (issue 15) ----------------------

_wide_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-(2**70), 2**70) | st.floats()
    | st.text(), lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_json_fragments = st.sampled_from([
    b"[", b"]", b"{", b"}", b",", b":", b'"', b"\\", b"\\u", b"d800", b"dc00", b"0", b"-", b".", b"e", b"E", b"+",
    b"1234567890", b"9223372036854775807", b"18446744073709551616", b"1e400", b"NaN", b"Infinity", b"true",
    b"null", b" ", b"\t", b"\n", b"\xef\xbb\xbf", b"\xff", b"\xc3\xa9", b"\x00", b"a",
])


def _same_loads(body: bytes) -> None:
    from core.http.jsonrpc import loads

    try:
        want: Any = ("ok", json.loads(body))
    except (ValueError, RecursionError) as exc:
        want = ("err", type(exc), str(exc))
    try:
        got: Any = ("ok", loads(body))
    except (ValueError, RecursionError) as exc:
        got = ("err", type(exc), str(exc))
    # repr: NaN == NaN, and -0.0 is not 0 (nor 1.0 the integer 1)
    assert repr(got) == repr(want), body


@settings(max_examples=1500, deadline=None)
@given(st.one_of(
    st.builds(lambda v: json.dumps(v).encode(), _wide_json),
    st.builds(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass"), _wide_json),
    st.lists(_json_fragments, max_size=12).map(b"".join),
    st.binary(max_size=40),
))
def test_loads_answers_exactly_as_json_loads(body: bytes) -> None:
    _same_loads(body)


def test_loads_edge_cases_match_json() -> None:
    for body in (b"123456789012345678901234567890", b"[9223372036854775808]", b'"\\ud800"', b"NaN", b"1e400",
                 b"-0", b"-0.0", b"1.0", b'{"a":1,"a":2}', b"\xef\xbb\xbf{}", b'"\xff"', b"[1,]", b"  7  ",
                 b'"\\u0000"', b"1E5", b"0.1e-999", b"[" * 3000 + b"]" * 3000):
        _same_loads(body)


@settings(max_examples=1000, deadline=None)
@given(_wide_json)
def test_dump_reads_back_as_json_dumps_does(value: Any) -> None:
    from core.http.jsonrpc import _dump

    out = _dump(value)
    back = json.loads(out)  # json reads the NaN/Infinity its own dumps writes
    if _has_nonfinite(value):  # not JSON at all: orjson writes null, json (the fallback) NaN/Infinity
        assert repr(back) in (repr(value), repr(_nulled(value)))
    else:
        assert repr(back) == repr(value)


def _nulled(v: Any) -> Any:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    if isinstance(v, list):
        return [_nulled(x) for x in v]
    if isinstance(v, dict):
        return {k: _nulled(x) for k, x in v.items()}
    return v


def _has_nonfinite(v: Any) -> bool:
    if isinstance(v, float):
        return v != v or v in (float("inf"), float("-inf"))
    if isinstance(v, list):
        return any(_has_nonfinite(x) for x in v)
    if isinstance(v, dict):
        return any(_has_nonfinite(x) for x in v.values())
    return False


def test_dump_falls_back_to_json_for_what_orjson_refuses() -> None:
    from core.http.jsonrpc import _dump

    assert _dump({"n": 2**80}) == b'{"n":1208925819614629174706176}'
    assert _dump({1: "a"}) == b'{"1":"a"}'
    deep: Any = 1
    for _ in range(400):
        deep = [deep]
    assert json.loads(_dump(deep)) == deep
    with pytest.raises(TypeError):
        _dump({"s": {1, 2}})


# --- batch variants (Dispatcher.register(..., many=)) answer exactly as the method alone ----------


def _pair() -> tuple[Dispatcher, Dispatcher, list[int]]:
    """Two dispatchers with the same methods; the second gives `add` and `guarded` batch variants
    (calls: how many batches the variant ran)."""
    calls: list[int] = []

    async def add(a: Any, b: Any = 0) -> Any:
        if a == 13:
            raise JsonRpcError(-32050, "unlucky")
        return a + b  # a TypeError inside the handler for strings + ints: internal error

    async def add_many(args: list[tuple[Any, ...]]) -> list[Any]:
        calls.append(len(args))
        out: list[Any] = []
        for a in args:
            try:
                out.append(await add(*a))
            except Exception as exc:
                out.append(exc)
        return out

    async def guarded(x: Any) -> Any:
        return [x]

    async def guarded_many(args: list[tuple[Any, ...]]) -> list[Any]:
        calls.append(len(args))
        return [[a[0]] for a in args]

    async def echo(x: Any) -> Any:
        return x

    plain, batched = Dispatcher(max_batch=50), Dispatcher(max_batch=50)
    for d, many in ((plain, False), (batched, True)):
        d.register("add", add, many=add_many if many else None)
        d.register("guarded", guarded, protected=True, many=guarded_many if many else None)
        d.register("echo", echo)
    return plain, batched, calls


_members = st.one_of(
    st.builds(req, st.one_of(st.integers(0, 9), st.just(...), st.text(max_size=2), st.just([1])),
              st.sampled_from(["add", "guarded", "echo", "nope"]),
              st.one_of(st.none(), st.lists(st.one_of(st.integers(0, 20), st.text(max_size=2)), max_size=3),
                        st.dictionaries(st.sampled_from(["a", "b", "x", "c"]), st.integers(0, 20), max_size=3),
                        st.integers())),
    st.builds(lambda: {"jsonrpc": "1.0", "id": 1, "method": "add", "params": [1]}),
    st.builds(lambda: {"jsonrpc": "2.0", "id": 1, "method": ["add"], "params": [1]}),
    json_values,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_members, min_size=2, max_size=12), st.booleans())
def test_batch_variant_answers_as_the_method_alone(batch: list[Any], admitted: bool) -> None:
    plain, batched, _ = _pair()
    body = json.dumps(batch).encode()

    async def main() -> tuple[bytes, bytes]:
        return (await plain.handle_body(body, authorized=lambda: admitted),
                await batched.handle_body(body, authorized=lambda: admitted))

    a, b = trio.run(main)

    def by_id(out: bytes) -> Any:
        items = json.loads(out) if out else []
        return sorted(json.dumps(i, sort_keys=True) for i in items)

    assert by_id(a) == by_id(b)
    assert plain.internal_errors == batched.internal_errors


def test_batch_variant_runs_once_per_batch() -> None:
    _, batched, calls = _pair()
    body = json.dumps([req(i, "add", [i, 1]) for i in range(20)] + [req("e", "echo", ["x"])]).encode()
    out = json.loads(trio.run(batched.handle_body, body))
    assert calls == [20]  # the 20 adds in one variant call
    got = sorted((o["id"], o.get("result", o.get("error", {}).get("code"))) for o in out if o["id"] != "e")
    assert got == [(i, -32050 if i == 13 else i + 1) for i in range(20)]  # 13: the method's own error


_odd_strings = st.text(alphabet='[]{}"\\ab', max_size=6)


@settings(max_examples=1500, deadline=None)
@given(st.builds(lambda v: json.dumps(v, ensure_ascii=False).encode(), st.recursive(
    st.none() | st.integers() | _odd_strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_odd_strings, inner, max_size=3), max_leaves=20)))
def test_string_stripping_equals_the_regex_on_json(body: bytes) -> None:
    """On JSON, the linear strip removes exactly the strings (the regex's answer)."""
    import re

    from core.http.jsonrpc import _strip_strings

    json_string = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # (the strip's reference: every string token)
    assert _strip_strings(body) == json_string.sub(b"", body)


_fragments = st.lists(st.sampled_from([b'"', b"\\", b"[", b"]", b"{", b"}", b"a", b" ", b",", b":", b"1", b'\\"',
                                       b"\\\\", b"\\u0022", b'"a"', b"\xc3\xa9", b"\x00", b"[" * 8, b'"[' * 4]),
                      max_size=60).map(b"".join)
_HEADROOM = 25  # frames json.loads and its error path use beside the scanner's nesting


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_fragments, st.binary(max_size=40)), st.integers(0, 6))
def test_too_deep_bounds_what_json_scans_on_any_bytes(body: bytes, limit: int) -> None:
    """Whatever the bytes (JSON or not: json's scanner recurses before it fails), a body `too_deep`
    lets through never takes json.loads deeper than `limit` (+ the frames json's own calls use):
    json.loads runs under a recursion limit above that and must not raise RecursionError."""
    import sys

    from core.http.jsonrpc import too_deep

    if too_deep(body, limit):
        return
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_frames() + limit + _HEADROOM)
    try:
        json.loads(body)
    except RecursionError:
        raise AssertionError(f"too_deep let through {body!r}, which json nests past {limit}") from None
    except ValueError:
        pass
    finally:
        sys.setrecursionlimit(old)


def _frames() -> int:
    """Python frames on the stack below the caller (what the recursion limit counts)."""
    import sys

    n = 0
    f = sys._getframe(1)
    while f is not None:
        n += 1
        f = f.f_back
    return n


def test_the_recursion_bound_above_is_tight_enough_to_catch_a_miss() -> None:
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_frames() + 6 + _HEADROOM)
    try:
        json.loads(b"[" * 6 + b"]" * 6)
        with pytest.raises(RecursionError):
            json.loads(b"[" * (6 + _HEADROOM) + b"]" * (6 + _HEADROOM))
    finally:
        sys.setrecursionlimit(old)


def test_too_deep_is_linear_on_escaped_quotes_after_an_unpaired_one() -> None:
    """The string regex took quadratic time here (40,000 escaped quotes: 29 s; 4 MiB: hours)."""
    import time

    from core.http.jsonrpc import too_deep

    start = time.monotonic()
    assert too_deep(b"[" * 65 + b'"' + b'\\"' * (2 << 20), 64)  # 4 MiB
    assert not too_deep(b"[" * 64 + b'"' + b'\\"[' * (1 << 20), 64)  # (inside an unterminated string)
    assert too_deep(b"[" * 64 + b'"' + b'\\"' * 1000 + b'"' + b"[", 64)
    assert time.monotonic() - start < 5


async def test_a_utf16_body_is_a_parse_error_not_a_way_past_the_nesting_check() -> None:
    """json.loads reads UTF-16 too, where U+5C00 is a backslash byte and U+0122 a quote byte that
    fool a byte-level scan: such a body is refused before it (JSON between systems is UTF-8)."""
    from core.http.jsonrpc import JsonRpcError, decode_response, too_deep

    d = Dispatcher()
    async def echo(x: Any) -> int:
        return 1

    d.register("echo", echo)
    for ch in ("\u5c00", "\u0122"):
        text = '{"jsonrpc":"2.0","id":1,"method":"echo","params":["' + ch + '",' + "[" * 900 + '"x"' + "]" * 900 + "]}"
        for enc in ("utf-16-le", "utf-16", "utf-32"):
            body = text.encode(enc)
            assert too_deep(body, 64)
            answer = json.loads(await d.handle_body(body))
            assert answer["error"]["code"] == -32700
            with pytest.raises(JsonRpcError):
                decode_response(body, 1)
    ok = json.loads(await d.handle_body('{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}'.encode("utf-8-sig")))
    assert ok["result"] == 1


async def test_the_client_turns_a_hostile_servers_heads_into_transport_errors() -> None:
    """A 5,000-digit content-length or status code raised ValueError (int's digit limit), which is
    no TransportError and escaped the callers' retry; an endless announced body grew the client's
    memory without bound (found by review)."""
    from core.http.client import HttpConnection, TransportError

    heads = [b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + b"9" * 5000 + b"\r\n\r\n",
             b"HTTP/1.1 " + b"2" * 5000 + b" OK\r\ncontent-length: 2\r\n\r\n{}",
             b"HTTP/1.1 200 OK\r\ncontent-length: 999999999999999999\r\n\r\n",
             b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 999999999999999999\r\n\r\n"]
    for head in heads:
        async def serve(stream: trio.SocketStream, head: bytes = head) -> None:
            with contextlib.suppress(Exception):
                await stream.receive_some(65536)
                await stream.send_all(head)
                await trio.sleep(1)

        async with trio.open_nursery() as n:
            listeners = await n.start(functools.partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
            conn = HttpConnection("127.0.0.1", listeners[0].socket.getsockname()[1])
            with pytest.raises(TransportError):
                await conn.post(b"{}")
            await conn.aclose()
            n.cancel_scope.cancel()


async def test_a_request_of_a_million_empty_arrays_is_refused_before_parsing() -> None:
    """4 MB of "[]," cost the loop 0.4-1 s to parse (an object each, walked by the collector)
    before any method or access check (found by review); now a -32600 at the byte scan."""
    import time

    d = Dispatcher()
    body = b"[" + b"[]," * 1_000_000 + b"[]]"
    start = time.monotonic()
    answer = json.loads(await d.handle_body(body))
    assert answer["error"]["code"] == -32600 and "arrays and objects" in answer["error"]["message"]
    assert time.monotonic() - start < 0.3
    strings = json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "m", "params": ["[]" * 50_000]}]).encode()
    assert "arrays and objects" not in (await d.handle_body(strings)).decode()  # (brackets in strings)


async def test_the_client_gives_up_on_a_server_that_never_answers() -> None:
    """A server that accepts and reads, then says nothing, held the caller forever (found by review);
    with a timeout the exchange is a TransportError (the broker client retries on those)."""
    from core.http.client import HttpConnection, TransportError
    from proving.broker.client import REQUEST_TIMEOUT

    assert 60 < REQUEST_TIMEOUT < 300  # (above the broker's longest long-poll)

    async def silent(stream: trio.SocketStream) -> None:
        with contextlib.suppress(Exception):
            await stream.receive_some(65536)
            await trio.sleep_forever()

    async with trio.open_nursery() as n:
        listeners = await n.start(functools.partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
        conn = HttpConnection("127.0.0.1", listeners[0].socket.getsockname()[1], timeout=0.3)
        start = trio.current_time()
        with pytest.raises(TransportError, match="no answer"):
            await conn.post(b"{}")
        assert trio.current_time() - start < 2
        await conn.aclose()
        n.cancel_scope.cancel()
