"""Every variable in node/config.py's table (and so in the README) is read by the code: its NodeConfig
field is used somewhere in node/ outside the table itself (or by config.py's own helpers)."""

from __future__ import annotations

import re

from node.config import VARS
from tests.conftest import REPO


def test_every_documented_variable_is_read() -> None:
    code = "\n".join(p.read_text() for p in (REPO / "node").rglob("*.py") if p.name != "config.py")
    config = (REPO / "node" / "config.py").read_text()
    helpers = config[config.index("class NodeConfig") :].split("def _check_table_matches_dataclass")[0]
    helpers += config.split("def config_table_markdown")[1]
    unread = [v.env for v in VARS if not re.search(rf"\.{v.attr}\b", code + helpers)]
    assert not unread, f"documented but never read (wire them or remove them): {unread}"
