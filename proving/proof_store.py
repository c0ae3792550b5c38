"""Proof store: where job inputs and proof outputs live, so that the broker only moves URIs.

- :class:`FileProofStore`: content-addressed files ``<root>/<aa>/<sha256>`` with ``file://`` URIs
  (about 90 characters). Writes are atomic (temp file + rename) and idempotent (same bytes, same
  name), so a crash never leaves a half-written blob behind a URI. Use it when the orchestrator and
  the agents share a filesystem.
- :class:`InlineProofStore`: the bytes travel inside the URI (``data:...;base64,``), for agents on
  other hosts (Aztec's default "inline" proof store does the same).

``load_uri`` reads any URI either store produced, so an agent can take ``file://`` inputs and
answer with ``data:`` outputs or the reverse. Access rules (nobody reads arbitrary local paths):

- a ``file://`` URI is read only when it names a file inside the configured proof store directory
  (``file_root``), after resolving ``..`` and symlinks; without a ``file_root`` it is refused;
- :class:`UriPolicy` is what the broker checks at enqueue (and on results): ``data:`` URIs up to
  ``max_inline`` bytes, ``file://`` URIs inside its ``file_root``, nothing else.
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
DEFAULT_MAX_INLINE: Final = 256 << 10  # PROVER_BROKER_MAX_INLINE_BYTES


class ProofStoreError(RuntimeError):
    """A URI cannot be read (unknown scheme, missing blob, corrupt content)."""


class ProofUriError(ValueError):
    """A URI the access rules refuse (outside the proof store, too large inline, unknown scheme)."""


class ProofStoreAccessError(ProofStoreError):
    """load_uri refused a ``file://`` URI outside the proof store directory (never retried)."""


def file_uri_path(uri: str, root: Path | None) -> Path:
    """The resolved path of a ``file://`` URI, if it lies inside ``root`` (resolved too); else
    ProofUriError. Symlinks are resolved, so a link inside the store pointing out is refused."""
    if root is None:
        raise ProofUriError("file:// URIs are refused: no proof store directory is configured")
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise ProofUriError(f"file:// URI names a host ({parsed.netloc[:40]!r})")
    raw = unquote(parsed.path)
    if "\x00" in raw or not raw.startswith("/"):
        raise ProofUriError("file:// URI path must be absolute")
    base = root.resolve()
    try:
        path = Path(raw).resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise ProofUriError(f"file:// URI cannot be resolved: {exc}") from None
    if not path.is_relative_to(base) or path == base:
        raise ProofUriError(f"file:// URI {uri[:120]!r} is outside the proof store directory {base}")
    return path


class UriPolicy:
    """What the broker accepts as a job's inputs URI (and an agent's result URI)."""

    _MAX_DIRS: Final = 4096  # resolved parent directories remembered (the store has 256)

    def __init__(self, file_root: Path | None = None, max_inline: int = DEFAULT_MAX_INLINE) -> None:
        self.file_root = None if file_root is None else file_root.resolve()
        self.max_inline = max_inline
        self._prefix = None if self.file_root is None else f"file://{self.file_root}/"
        self._dirs: set[str] = set()  # directories inside file_root, resolved once

    def _fast_file_ok(self, uri: str) -> bool:
        """A plain URI under the store (no escapes, dots, query) whose directory was resolved
        before: only the leaf is checked (one lstat: not a symlink), not the whole path again."""
        prefix = self._prefix
        if prefix is None or not uri.startswith(prefix):
            return False
        rest = uri[len(prefix) :]
        if not rest or "%" in rest or "?" in rest or "#" in rest or "\x00" in rest or "//" in rest:
            return False
        if rest.startswith(".") or "/." in rest:
            return False
        path = uri[7:]
        parent, _, leaf = path.rpartition("/")
        if not leaf:
            return False
        if parent not in self._dirs:
            try:
                file_uri_path(uri, self.file_root)  # the full check once per directory
            except ProofUriError:
                return False
            if not Path(parent).resolve().is_relative_to(self.file_root):  # type: ignore[arg-type]
                return False
            if len(self._dirs) >= self._MAX_DIRS:
                self._dirs.clear()
            self._dirs.add(parent)
            return True
        return not os.path.islink(path)

    def check(self, uri: str, what: str = "inputsUri") -> None:
        if uri.startswith("data:"):
            if len(uri) > self.max_inline:
                raise ProofUriError(
                    f"{what} is an inline data: URI of {len(uri)} bytes, over the limit of {self.max_inline}"
                    " (PROVER_BROKER_MAX_INLINE_BYTES); put it in the proof store and send its file:// URI"
                )
            return
        if uri.startswith("file:"):
            if self._fast_file_ok(uri):
                return
            try:
                file_uri_path(uri, self.file_root)
            except ProofUriError as exc:
                raise ProofUriError(f"{what}: {exc}") from None
            return
        raise ProofUriError(f"{what}: unsupported URI scheme in {uri[:40]!r} (data: or file:// only)")


class ProofStore(Protocol):
    def save(self, data: bytes) -> str: ...

    def load(self, uri: str) -> bytes: ...


class InlineProofStore:
    file_root: Path | None = None

    def save(self, data: bytes) -> str:
        if len(data) > MAX_BLOB:
            raise ProofStoreError(f"blob of {len(data)} bytes is over the {MAX_BLOB} limit")
        return DATA_PREFIX + base64.b64encode(data).decode()

    def load(self, uri: str) -> bytes:
        return load_uri(uri)  # data: only (no file_root)


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

    @property
    def file_root(self) -> Path:
        return self.root

    def load(self, uri: str) -> bytes:
        return load_uri(uri, self.root)


def load_uri(uri: str, file_root: Path | None = None) -> bytes:
    """Read a ``data:`` URI, or a ``file://`` URI inside ``file_root`` (see the module doc)."""
    if uri.startswith(DATA_PREFIX):
        try:
            return base64.b64decode(uri[len(DATA_PREFIX) :], validate=True)
        except binascii.Error as exc:
            raise ProofStoreError(f"bad base64 in data URI: {exc}") from None
    if uri.startswith("file://"):
        try:
            path = file_uri_path(uri, file_root)
        except ProofUriError as exc:
            raise ProofStoreAccessError(str(exc)) from None
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ProofStoreError(f"cannot read {uri}: {exc.strerror}") from None
        if hashlib.sha256(data).hexdigest() != path.name:
            raise ProofStoreError(f"content of {uri} does not match its address")
        return data
    raise ProofStoreError(f"unsupported proof store URI: {uri[:60]!r}")
