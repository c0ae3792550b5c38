from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def register_hypothesis_profiles() -> None:
    """Hypothesis profiles, picked by HYPOTHESIS_PROFILE (default: `ci` when CI is set, else `dev`).

    - `ci`: no deadline (a loaded CI machine must not turn a slow example into a failure), derandomized
      (the same examples every run, so a red run is reproducible), too_slow health check off.
    - `dev`: Hypothesis' defaults (random exploration, 200 ms deadline) for finding new bugs locally.
    - `fast`: `scripts/test.sh --fast`: like `ci` but random, and at most 30 examples per test, even where
      a test asks for more (see `pytest_collection_modifyitems`); CI runs the full counts.
    Tests that set `deadline=` themselves keep it in every profile.
    """
    quiet = [HealthCheck.too_slow]
    settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True, suppress_health_check=quiet)
    settings.register_profile("dev")
    settings.register_profile("fast", deadline=None, max_examples=30, suppress_health_check=quiet)
    default = "ci" if os.environ.get("CI") else "dev"
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or default)


register_hypothesis_profiles()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under the `fast` profile, cap every Hypothesis test's examples (explicit `@settings(max_examples=...)`
    and state machines' `TestCase.settings` included): the developer loop runs every property, briefly."""
    if settings.get_current_profile_name() != "fast":
        return
    cap = settings.get_profile("fast").max_examples
    for item in items:
        fn = getattr(item, "obj", None)
        own = getattr(fn, "_hypothesis_internal_use_settings", None)  # set by @given (hypothesis internals)
        if isinstance(own, settings) and own.max_examples > cap:
            fn._hypothesis_internal_use_settings = settings(own, max_examples=cap)  # type: ignore[union-attr]
        cls = getattr(item, "cls", None)
        machine = getattr(cls, "settings", None)  # RuleBasedStateMachine.TestCase
        if isinstance(machine, settings) and machine.max_examples > cap:
            cls.settings = settings(machine, max_examples=cap)  # type: ignore[union-attr]


def load_shared_vectors(name: str) -> Any:
    """Vectors made by Aztec's own npm packages, kept beside the repo in ../shared/interop/.

    Missing vectors are a broken checkout, not a reason to skip: the test fails and says where to look."""
    path = SHARED / "interop" / name
    if not path.exists():
        pytest.fail(f"shared vectors not present at {path} (the repo expects ../shared/ beside it)", pytrace=False)
    return json.loads(path.read_text())
