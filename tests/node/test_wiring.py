"""Typed wiring: components reach each other through typed `Context` fields (no string-keyed grab
bag), and a component made before what it needs fails naming it."""

from __future__ import annotations

import dataclasses
import re

import pytest
import trio

from node.components import Context, Deferred, need
from node.config import load_config
from tests.conftest import REPO


def test_context_fields_are_typed_and_there_is_no_grab_bag() -> None:
    names = {f.name for f in dataclasses.fields(Context)}
    assert "shared" not in names
    assert {"l1", "archiver", "p2p", "broker", "agents"} <= names
    for path in sorted((REPO / "node").rglob("*.py")):
        text = path.read_text()
        assert not re.search(r"\.shared\s*(\[|\.get\()", text), f"{path}: string-keyed look-up"


def test_need_names_what_is_missing() -> None:
    ctx = Context(load_config({}), set())
    with pytest.raises(RuntimeError, match="the L1 client is not running"):
        need(ctx.l1, "the L1 client")
    assert need(ctx.config, "config") is ctx.config


class _Ready:
    def __init__(self, value: int) -> None:
        self.value = value

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started(self.value)
        await trio.sleep_forever()


async def test_deferred_makes_its_component_when_started_and_hands_over_its_started_value() -> None:
    made: list[int] = []

    async def make() -> _Ready:
        made.append(1)
        return _Ready(7)

    d: Deferred[_Ready] = Deferred(make)
    assert d.component is None and not made  # nothing is made before its turn
    async with trio.open_nursery() as n:
        assert await n.start(d.run) == 7
        assert d.component is not None and d.component.value == 7
        n.cancel_scope.cancel()


def test_health_status_is_an_enum_and_serialises_as_its_text() -> None:
    import json

    from node.health import HealthRegistry, NodeStatus

    reg = HealthRegistry()
    assert reg.report()["status"] is NodeStatus.STARTING
    reg.mark_ready()
    rep = reg.report()
    assert rep["status"] is NodeStatus.OK
    assert json.loads(json.dumps(rep))["status"] == "ok"
