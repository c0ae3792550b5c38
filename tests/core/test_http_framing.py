"""The fast path differentially against h11: on generated and mutated requests, whenever the fast
path takes a request, h11 accepts the same bytes with the same method, target, headers, body and
keep-alive; whenever it waits for more bytes, h11 waits too. (DEFER hands the bytes to h11.)"""

from __future__ import annotations

import h11
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.http.framing import DEFER, FastRequest, parse_head

MAX_HEAD = 4096



def mostly(good: list[bytes], bad: list[bytes], weight: int = 4) -> st.SearchStrategy[bytes]:
    """Valid pieces most of the time, so that whole valid requests are common too."""
    return st.sampled_from(good * weight + bad)


methods = mostly([b"GET", b"POST"], [b"HEAD", b"PUT", b"G ET", b"", b"get", b"P\x00ST"])
targets = mostly([b"/", b"/health", b"/a?b=c"], [b"/a b", b"*", b"http://x/", b"", b"/\x7f", b"/\xff"])
versions = mostly([b"HTTP/1.1"], [b"HTTP/1.0", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 ", b"HTTP/11"], 12)
names = mostly([b"Host", b"host", b"Content-Length", b"content-length", b"Connection", b"X-A", b"Authorization"],
               [b"HOST", b"Transfer-Encoding", b"Expect", b"Bad Name", b"", b"X:Y", b"\tX"], 2)
values = mostly([b"5", b"05", b"0", b"close", b"keep-alive, Close", b"Keep-Alive", b"t", b"", b"Bearer x y",
                 b"a  b\t", b"\xff", b"a\x01b"],
                [b"5, 5", b"5,6", b"-1", b" 5 ", b"99999999999999999999999", b"chunked", b"100-continue",
                 b"a\x00b", b"a\rb", b"a\nb"], 2)
seps = mostly([b": ", b":", b":\t"], [b" : ", b"::"])
eols = mostly([b"\r\n"], [b"\n", b"\r", b"\r\r\n"], 12)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    eol = draw(eols)
    line = draw(methods) + b" " + draw(targets) + b" " + draw(versions)
    head = [line]
    if draw(st.integers(0, 4)):
        head.append(b"Host: t")
    for _ in range(draw(st.integers(0, 5))):
        h = draw(names) + draw(seps) + draw(values)
        if draw(st.integers(0, 19)) == 0:
            h = draw(st.sampled_from([b" ", b"\t"])) + h  # obs-fold
        head.append(h)
    body = draw(st.binary(max_size=12))
    out = eol.join(head) + eol + draw(eols) + body
    if draw(st.integers(0, 2)) == 0:  # mutate a few bytes
        b = bytearray(out)
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, max(0, len(b) - 1)))
            op = draw(st.integers(0, 2))
            byte = draw(st.sampled_from([0x00, 0x09, 0x0A, 0x0D, 0x20, 0x3A, 0x2C, 0x41, 0x7F, 0xFF]))
            if op == 0 and b:
                b[i] = byte
            elif op == 1:
                b.insert(i, byte)
            elif b:
                del b[i]
        out = bytes(b)
    if draw(st.integers(0, 4)) == 0:  # a truncated request
        out = out[: draw(st.integers(0, len(out)))]
    return out


def h11_view(data: bytes) -> tuple[str, object]:
    """("request", (method, target, headers, body or None, keep_alive or None)), ("need-data", None)
    or ("error", status)."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    if data:  # b"" is EOF to h11; the server never feeds it an empty buffer
        conn.receive_data(data)
    try:
        ev = conn.next_event()
        if ev is h11.NEED_DATA:
            return "need-data", None
        assert isinstance(ev, h11.Request), ev
        headers = [(n, v) for n, v in ev.headers]
        body = b""
        while True:
            nxt = conn.next_event()
            if nxt is h11.NEED_DATA:
                return "request", (ev.method, ev.target, ev.http_version, headers, None, None)
            if isinstance(nxt, h11.Data):
                body += nxt.data
            elif isinstance(nxt, h11.EndOfMessage):
                keep = conn.their_state is h11.DONE
                return "request", (ev.method, ev.target, ev.http_version, headers, body, keep)
            else:
                raise AssertionError(nxt)
    except h11.RemoteProtocolError as exc:
        return "error", exc.error_status_hint


def check(data: bytes) -> None:
    fast = parse_head(data, MAX_HEAD)
    if fast is DEFER:
        return
    kind, view = h11_view(data)
    if fast is None:
        assert kind == "need-data", (data, kind, view)
        return
    assert isinstance(fast, FastRequest)
    assert kind == "request", (data, kind, view)
    assert isinstance(view, tuple)
    method, target, version, headers, body, keep = view
    assert (fast.method, fast.target, version, fast.headers) == (method, target, b"1.1", headers)
    end = fast.head_length + fast.content_length
    if len(data) >= end:
        assert body == data[fast.head_length : end]
        assert keep == fast.keep_alive
    else:
        assert body is None or len(body) < fast.content_length


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_fast_path_agrees_with_h11(data: bytes) -> None:
    check(data)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_fast_path_agrees_with_h11_on_random_bytes(data: bytes) -> None:
    check(data)


def test_the_fast_path_takes_what_clients_send() -> None:
    plain = b"POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    got = parse_head(plain, MAX_HEAD)
    assert isinstance(got, FastRequest) and got.content_length == 2 and got.keep_alive
    check(plain)
    closing = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n"
    got = parse_head(closing, MAX_HEAD)
    assert isinstance(got, FastRequest) and not got.keep_alive
    check(closing)
    # what it leaves to h11
    for other in (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                  b"GET / HTTP/1.0\r\n\r\n", b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
                  b"GET / HTTP/1.1\nHost: x\n\n", b"GET / HTTP/1.1\r\nHost: x\r\n y\r\n\r\n"):
        assert parse_head(other, MAX_HEAD) is DEFER


_line_bytes = st.lists(st.sampled_from([b" ", b"\t", b"a", b"-", b":", b"\x00", b"\r", b"\n", b"\x7f", b"\xff", b"x y",
                                        b"  ", b"host"]), max_size=24).map(b"".join)


@settings(max_examples=3000, deadline=None)
@given(_line_bytes)
def test_the_linear_header_pattern_matches_h11s_own_lines_and_groups(line: bytes) -> None:
    """The possessive pattern (ours and the one given to h11) accepts exactly the lines h11 0.16's
    own pattern accepts, with the same name and value."""
    import re

    import h11._abnf

    from core.http.framing import _H11_HEADER_RE, _HEADER_RE

    original = re.compile(h11._abnf.header_field.encode("ascii"))
    want = original.fullmatch(line)
    got = _H11_HEADER_RE.fullmatch(line)
    ours = _HEADER_RE.fullmatch(line)
    assert (want is None) == (got is None) == (ours is None)
    if want is not None and got is not None and ours is not None:
        assert want.group("field_name", "field_value") == got.group("field_name", "field_value")
        assert (ours.group(1), ours.group(2)) == want.group("field_name", "field_value")


def test_a_long_run_of_blanks_ending_in_a_refused_byte_costs_no_time() -> None:
    """63 KB of spaces then a NUL in a header value held the event loop 22 s (h11's pattern and the
    fast path's copy of it backtrack quadratically); a chunked trailer went through the same pattern."""
    import time

    import h11._readers

    import core.http.server  # noqa: F401 - (installs the pattern into h11)

    head = b"GET / HTTP/1.1\r\nhost: x\r\nx:" + b" " * 63_000 + b"\x00\r\n\r\n"
    start = time.monotonic()
    assert parse_head(bytearray(head), 1 << 20) is DEFER
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
    conn.receive_data(head)
    try:
        conn.next_event()
        raise AssertionError("h11 accepted a NUL in a header value")
    except h11.RemoteProtocolError:
        pass
    assert h11._readers.header_field_re.fullmatch(b"x: " + b"a " * 30_000 + b"\x00") is None
    assert time.monotonic() - start < 1.0
