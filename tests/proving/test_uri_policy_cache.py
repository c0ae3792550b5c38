"""UriPolicy remembers resolved store directories; its answers must equal the full check's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proving.proof_store import ProofUriError, UriPolicy, file_uri_path


def _full(uri: str, root: Path) -> bool:
    try:
        file_uri_path(uri, root)
    except ProofUriError:
        return False
    return True


def _fast(policy: UriPolicy, uri: str) -> bool:
    try:
        policy.check(uri)
    except ProofUriError:
        return False
    return True


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "ab").mkdir(parents=True)
    os.symlink("/etc/passwd", root / "ab" / "evil")
    os.symlink("/etc", root / "cd")
    os.symlink(root / "ab", root / "inside")
    return root


def test_symlinked_leaf_refused_after_its_directory_was_cached(store: Path) -> None:
    policy = UriPolicy(store)
    policy.check(f"file://{store}/ab/{'f' * 64}")  # caches ab/
    with pytest.raises(ProofUriError):
        policy.check(f"file://{store}/ab/evil")
    with pytest.raises(ProofUriError):
        policy.check(f"file://{store}/cd/passwd")


SEGMENTS = st.sampled_from(["ab", "cd", "inside", "evil", "..", ".", "", "x", "%2e%2e", "a?b", "f" * 64])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(SEGMENTS, min_size=0, max_size=4), repeat=st.booleans())
def test_same_answer_as_full_check(tmp_path_factory: pytest.TempPathFactory, parts: list[str], repeat: bool) -> None:
    root = tmp_path_factory.getbasetemp() / "prop-store"
    if not root.exists():
        (root / "ab").mkdir(parents=True)
        os.symlink("/etc/passwd", root / "ab" / "evil")
        os.symlink("/etc", root / "cd")
        os.symlink(root / "ab", root / "inside")
    policy = UriPolicy(root)
    uri = f"file://{root}/" + "/".join(parts)
    first = _fast(policy, uri)
    second = _fast(policy, uri) if repeat else first
    assert first == second == _full(uri, root.resolve())
