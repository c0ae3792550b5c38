"""Our topic registry names exactly Aztec v0.63.1's gossip topics (its npm circuit-types package)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from p2p.topics import TOPICS

SCRIPT = """
import { TopicType, createTopicString } from './node_modules/@aztec/circuit-types/dest/p2p/topic_type.js';
console.log(JSON.stringify(Object.values(TopicType).map((t) => [t, createTopicString(t)])));
"""


def test_registry_matches_aztec_topic_type(node_modules: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    proc = subprocess.run(
        [node, "--input-type=module", "-e", SCRIPT],
        cwd=node_modules.parent,
        capture_output=True,
        timeout=60,
        check=True,
    )
    aztec = [tuple(x) for x in json.loads(proc.stdout)]
    assert aztec == [(s.name, s.topic) for s in TOPICS]
