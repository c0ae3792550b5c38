from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def load_shared_vectors(name: str) -> Any:
    """Vectors made by Aztec's own npm packages, kept beside the repo in ../shared/interop/."""
    path = SHARED / "interop" / name
    if not path.exists():
        pytest.skip(f"shared vectors not present at {path}")
    return json.loads(path.read_text())
