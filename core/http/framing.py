"""Sans-IO HTTP/1.1 request framing: the fast path and response encoding.

`parse_head(buf)` recognises a strict subset of HTTP/1.1 requests (GET/POST, HTTP/1.1, CRLF line
ends, exactly one Host, at most one Content-Length of plain digits, no Transfer-Encoding, no
Expect, no obs-fold) with h11's own grammar (the regexes of h11 0.16's `_abnf`), and answers
`DEFER` for everything else: the server then hands the same bytes to h11, which accepts or rejects
them (400, 431, 501). So the fast path never accepts what h11 rejects and never parses a request
differently; `tests/core/test_http_framing.py` checks that differentially with hypothesis.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

# h11 0.16 `_abnf.py`, verbatim in meaning
_TOKEN: Final = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_FIELD_VCHAR: Final = rb"[^\x00\s]"
# The value's characters and the blanks around them never overlap, so possessive quantifiers match
# exactly h11's lines with the same groups - without the backtracking of h11's own pattern, which is
# quadratic on a long run of blanks that ends in a character it refuses (63 KB of spaces and a NUL:
# 22 s of the event loop in our parse, and as long again in h11's; found by review). h11's reader
# gets the same pattern (`harden_h11`), for request heads and chunked trailers alike.
_FIELD_CONTENT: Final = _FIELD_VCHAR + rb"++(?:[ \t]++" + _FIELD_VCHAR + rb"++)*+"
_HEADER_RE: Final = re.compile(rb"(" + _TOKEN + rb"):[ \t]*+((?:" + _FIELD_CONTENT + rb")?)[ \t]*+")
_H11_HEADER_RE: Final = re.compile(
    rb"(?P<field_name>" + _TOKEN + rb"):[ \t]*+(?P<field_value>(?:" + _FIELD_CONTENT + rb")?)[ \t]*+")


def harden_h11() -> None:
    """Give h11's header-line reader the linear pattern above (h11 0.16 reads the module global
    `h11._readers.header_field_re` on each line; it matches the same lines, same groups)."""
    import h11._readers

    h11._readers.header_field_re = _H11_HEADER_RE
_REQUEST_LINE_RE: Final = re.compile(rb"(GET|POST) ([\x21-\x7e]+) HTTP/1\.1")
_MAX_LENGTH_DIGITS: Final = 18  # h11 allows 20; longer ones are left to it (and end in 413 anyway)


# Clients repeat the same header lines (host, content-type, a few lengths): a bounded cache of
# lines h11's grammar accepted, with their (lower-case name, value), saves the regex.
_LINE_CACHE: Final = 1024
_CACHED_LINE_MAX: Final = 256  # bytes: longer lines are not what clients repeat (1,024 of 64 KB: 128 MB held)
_LINES: dict[bytes, tuple[bytes, bytes]] = {}
_REQUEST_LINES: dict[bytes, tuple[bytes, bytes]] = {}


class _Defer:
    def __repr__(self) -> str:
        return "DEFER"


DEFER: Final = _Defer()  # not for the fast path: let h11 decide


class FastRequest(NamedTuple):
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]  # lower-case names, values without surrounding whitespace
    content_length: int
    keep_alive: bool
    head_length: int  # bytes of the head including the blank line


def parse_head(buf: bytes | bytearray, max_head: int) -> FastRequest | _Defer | None:
    """A request head at the start of `buf`: FastRequest, None (need more bytes) or DEFER."""
    if not buf:
        return None
    if buf[0] < 0x21:  # a blank line or whitespace first: h11's business (it rejects most of it)
        return DEFER
    # h11's head ends at the first match of \n\r?\n; the fast path takes only \r\n\r\n
    crlf = buf.find(b"\n\r\n")
    bare = buf.find(b"\n\n", 0, len(buf) if crlf < 0 else crlf)
    if bare >= 0:
        return DEFER
    if crlf < 0:
        return DEFER if len(buf) > max_head else None
    end = crlf + 3
    if end > max_head or buf[crlf - 1] != 0x0D:
        return DEFER
    lines = bytes(buf[: crlf - 1]).split(b"\r\n")
    rl = _REQUEST_LINES.get(lines[0])
    if rl is None:
        match = _REQUEST_LINE_RE.fullmatch(lines[0])
        if match is None:
            return DEFER
        rl = (match.group(1), match.group(2))
        if len(lines[0]) <= _CACHED_LINE_MAX:
            if len(_REQUEST_LINES) >= _LINE_CACHE:
                _REQUEST_LINES.clear()
            _REQUEST_LINES[lines[0]] = rl
    headers: list[tuple[bytes, bytes]] = []
    hosts = 0
    length: int | None = None
    keep_alive = True
    for line in lines[1:]:
        parsed = _LINES.get(line)
        if parsed is None:
            hm = _HEADER_RE.fullmatch(line)
            if hm is None:  # includes obs-fold continuation lines and stray CR/LF
                return DEFER
            parsed = (hm.group(1).lower(), hm.group(2))
            if len(line) <= _CACHED_LINE_MAX:
                if len(_LINES) >= _LINE_CACHE:
                    _LINES.clear()
                _LINES[line] = parsed
        name, value = parsed
        if name == b"host":
            hosts += 1
        elif name == b"content-length":
            if length is not None or not value.isdigit() or len(value) > _MAX_LENGTH_DIGITS:
                return DEFER
            length = int(value)
        elif name in (b"transfer-encoding", b"expect"):
            return DEFER
        elif name == b"connection" and b"close" in [t.strip().lower() for t in value.split(b",")]:
            keep_alive = False
        headers.append((name, value))
    if hosts != 1:
        return DEFER
    return FastRequest(rl[0], rl[1], headers, length or 0, keep_alive, end)


REASONS: Final = {
    100: b"Continue",
    200: b"OK",
    204: b"No Content",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    503: b"Service Unavailable",
}


def encode_response(status: int, content_type: bytes, body: bytes, *, close: bool) -> bytes:
    """A complete HTTP/1.1 response with a Content-Length (204 has no body and no length)."""
    if status == 204:
        return b"HTTP/1.1 204 No Content\r\n%s\r\n" % (b"connection: close\r\n" if close else b"")
    return b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (
        status,
        REASONS.get(status, b"Status"),
        content_type,
        len(body),
        b"connection: close\r\n" if close else b"",
        body,
    )
