"""The root supervisor: one nursery, every component a child task, cancellation as shutdown.

A component is any object with `name` and `async def run(self, *, task_status=...)` that calls
`task_status.started(info)` once ready. Components start in order (each waits for the previous one
to report ready), so later ones can use earlier ones. SIGINT/SIGTERM cancel the root scope; each
component cleans up in its own `finally`. A second signal while shutting down exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from node.config import ConfigError

log = logging.getLogger("node.supervisor")


class Component(Protocol):
    async def run(self, *, task_status: trio.TaskStatus[Any] = ...) -> None: ...


@dataclass(frozen=True, slots=True)
class Named:
    name: str
    component: Component


class ComponentFailed(RuntimeError):
    pass


class Supervisor:
    def __init__(self, components: Sequence[Named], shutdown_grace: float = 10.0) -> None:
        self.components = list(components)
        self.shutdown_grace = shutdown_grace
        self.started: dict[str, Any] = {}

    async def run(self, *, task_status: trio.TaskStatus[dict[str, Any]] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for named in self.components:
                try:
                    self.started[named.name] = await nursery.start(_guard, named)
                except ComponentFailed:
                    raise
                log.info("component ready", extra={"component": named.name})
            log.info("node running", extra={"components": ",".join(self.started)})
            task_status.started(self.started)


async def _guard(named: Named, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
    try:
        await named.component.run(task_status=task_status)
    except trio.Cancelled:
        raise
    except Exception as e:
        config = leaf_exceptions(e, ConfigError)
        if config:  # a start-up mistake: the CLI prints it as one line and exits 2
            raise config[0] from e
        # the traceback only at debug: the one-line reason is logged by the CLI
        log.debug("component %s failed", named.name, exc_info=True)
        raise ComponentFailed(f"component {named.name} failed: {describe(e)}") from e
    else:
        log.info("component stopped", extra={"component": named.name})


def leaf_exceptions(exc: BaseException, kind: type[BaseException] = BaseException) -> list[BaseException]:
    """The non-group exceptions inside `exc` (itself if it is not a group) that are `kind`."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaf_exceptions(sub, kind)]
    return [exc] if isinstance(exc, kind) else []


def describe(exc: BaseException) -> str:
    """One line for an exception, looking through exception groups to what actually failed."""
    leaves = leaf_exceptions(exc)
    return "; ".join(f"{type(e).__name__}: {e}" for e in leaves[:3]) or f"{type(exc).__name__}: {exc}"


async def run_until_signal(supervisor: Supervisor) -> None:
    """Run the supervisor until SIGINT/SIGTERM; a second signal aborts the graceful shutdown."""
    node_scope = trio.CancelScope()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as root:

            async def watch() -> None:
                first = True
                async for signum in signals:
                    if first:
                        log.info("received %s, shutting down", signal.Signals(signum).name)
                        node_scope.cancel()
                        first = False
                    else:
                        log.error("second signal, exiting without cleanup")
                        os._exit(130)

            root.start_soon(watch)
            with node_scope:
                await supervisor.run()
            root.cancel_scope.cancel()
