"""Proof store: where job inputs and proof outputs live, so that the broker only moves URIs.

- :class:`FileProofStore`: content-addressed files ``<root>/<aa>/<sha256>`` with ``file://`` URIs
  (about 90 characters). Writes are atomic (temp file + rename) and idempotent (same bytes, same
  name), so a crash never leaves a half-written blob behind a URI. Use it when the orchestrator and
  the agents share a filesystem.
- :class:`InlineProofStore`: the bytes travel inside the URI (``data:...;base64,``), for agents on
  other hosts (Aztec's default "inline" proof store does the same).

``load_uri`` reads any URI either store produced, so an agent can take ``file://`` inputs and
answer with ``data:`` outputs or the reverse.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import unquote, urlparse

DATA_PREFIX: Final = "data:application/octet-stream;base64,"
MAX_BLOB: Final = 64 << 20


class ProofStoreError(RuntimeError):
    """A URI cannot be read (unknown scheme, missing blob, corrupt content)."""


class ProofStore(Protocol):
    def save(self, data: bytes) -> str: ...

    def load(self, uri: str) -> bytes: ...


class InlineProofStore:
    def save(self, data: bytes) -> str:
        if len(data) > MAX_BLOB:
            raise ProofStoreError(f"blob of {len(data)} bytes is over the {MAX_BLOB} limit")
        return DATA_PREFIX + base64.b64encode(data).decode()

    def load(self, uri: str) -> bytes:
        return load_uri(uri)


class FileProofStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def save(self, data: bytes) -> str:
        if len(data) > MAX_BLOB:
            raise ProofStoreError(f"blob of {len(data)} bytes is over the {MAX_BLOB} limit")
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return path.as_uri()

    def load(self, uri: str) -> bytes:
        return load_uri(uri)


def load_uri(uri: str) -> bytes:
    if uri.startswith(DATA_PREFIX):
        try:
            return base64.b64decode(uri[len(DATA_PREFIX) :], validate=True)
        except binascii.Error as exc:
            raise ProofStoreError(f"bad base64 in data URI: {exc}") from None
    if uri.startswith("file://"):
        path = Path(unquote(urlparse(uri).path))
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ProofStoreError(f"cannot read {uri}: {exc.strerror}") from None
        if hashlib.sha256(data).hexdigest() != path.name:
            raise ProofStoreError(f"content of {uri} does not match its address")
        return data
    raise ProofStoreError(f"unsupported proof store URI: {uri[:60]!r}")
