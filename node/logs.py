"""Logging honouring LOG_LEVEL (Aztec's level names) and LOG_JSON (one JSON object per line)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, Final, TextIO

VERBOSE: Final = 15
TRACE: Final = 5
_LEVELS: Final = {
    "silent": logging.CRITICAL + 10,
    "fatal": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "verbose": VERBOSE,
    "debug": logging.DEBUG,
    "trace": TRACE,
}
_STD_ATTRS: Final = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

logging.addLevelName(VERBOSE, "VERBOSE")
logging.addLevelName(TRACE, "TRACE")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "module": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STD_ATTRS and not k.startswith("_"):
                out[k] = v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in _STD_ATTRS and not k.startswith("_")}
        return base + ("" if not extra else " " + " ".join(f"{k}={v}" for k, v in extra.items()))


def configure_logging(level: str, json_lines: bool, stream: TextIO | None = None, *, libp2p: bool = False) -> None:
    """One handler on the root logger for every line this process writes: ours, py-libp2p's, web3's,
    urllib3's, `warnings.warn` (captured) and uncaught exceptions, all in the same format (JSON lines
    under LOG_JSON). `libp2p`: the node will use py-libp2p (the p2p role), which resets its loggers when
    imported, so it is imported here first (not for the other roles: it costs a second of start-up)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
    logging.captureWarnings(True)  # warnings.warn (also those raised while importing) -> "py.warnings" -> root
    sys.excepthook = _log_uncaught
    # with LIBP2P_DEBUG, py-libp2p print()s the path of a temp log file unless it is given one; its
    # lines come to our handler instead (adopt_library_loggers), so its file is /dev/null
    os.environ.setdefault("LIBP2P_DEBUG_FILE", os.devnull)
    if libp2p:
        import libp2p as _  # noqa: F401  (runs libp2p.utils.logging.setup_logging now, before adopting)
    adopt_library_loggers()
    # py-libp2p is chatty at info; keep it one notch quieter than ours.
    logging.getLogger("libp2p").setLevel(max(_LEVELS[level], logging.WARNING))


def adopt_library_loggers() -> None:
    """Hand every library logger back to the root handler. py-libp2p configures its loggers when it is
    imported (propagate=False, its own handlers or none, so its warnings reach stderr as plain text
    through logging's last-resort handler)."""
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and name.split(".")[0] in _ADOPTED:
            for h in list(lg.handlers):
                lg.removeHandler(h)
            lg.propagate = True
            if name.startswith("libp2p.") and not os.environ.get("LIBP2P_DEBUG"):
                lg.setLevel(logging.NOTSET)  # some set their own level (INFO): follow "libp2p"'s instead


_ADOPTED: Final = frozenset({"libp2p", "multiaddr", "web3", "urllib3", "httpx", "httpcore", "asyncio", "trio",
                             "opentelemetry", "py"})


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    logging.getLogger("node").critical("uncaught %s: %s", kind.__name__, value, exc_info=(kind, value, tb))
