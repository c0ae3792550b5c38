"""The long fuzz run (bench/fuzz_long.py) on a CI budget, its regression corpus, and its own alarms.

- test_fuzz_budget_all_decoders: every decoder gets inputs for ~20 s total; 0 crashes; every decoder
  both accepts and rejects something (so the harness really reaches the decoder past its first check).
- test_regression_corpus: every input that once crashed a decoder (tests/fuzz_corpus/<decoder>/) now
  gets a declared rejection.
- The engine's own detectors are checked on deliberately broken targets (undeclared exception, hang).
- test_fuzz_long_full (slow, FUZZ_LONG=1): the >= 1M-input run of targets.md section 4.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import SHARED

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz_long.py"

pytestmark = pytest.mark.skipif(not (SHARED / "interop").exists(), reason="shared seed vectors not present")


def _load() -> ModuleType:
    mod = sys.modules.get("fuzz_long")
    if mod is None:
        spec = importlib.util.spec_from_file_location("fuzz_long", BENCH)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules["fuzz_long"] = mod
        spec.loader.exec_module(mod)
    return mod


F = _load()
ALL = list(F.build_targets())
EXPECTED = {
    "quote", "tx", "block_proposal", "block_attest", "header", "consensus", "enr", "discv5_packet",
    "discv5_message", "discv5_node", "gossipsub_rpc", "identify", "mplex_frame", "reqresp",
    "jsonrpc_proving", "jsonrpc_node", "http_request",
}  # fmt: skip


def test_every_outside_decoder_has_a_target() -> None:
    assert set(ALL) == EXPECTED


def test_fuzz_budget_all_decoders(tmp_path: Path) -> None:
    t0 = time.monotonic()
    seconds = float(os.environ.get("FUZZ_BUDGET_SECONDS", "20"))  # the fast tier sets 4
    report = F.fuzz(ALL, budget=300_000, seconds=seconds, workers=2, seed=20261201, chunk=500, trace_every=16)
    took = time.monotonic() - t0
    table = F.format_table(report)
    if report.crashes:
        F.save_crashes(report.crashes, tmp_path)
    assert report.total_crashes == 0, f"{table}\n" + "\n\n".join(c.trace for c in report.crashes[:3])
    assert took < 90, table
    for name, row in report.rows.items():
        assert row.inputs >= 200, f"{name} got only {row.inputs} inputs\n{table}"
        assert row.accepts > 0 and row.rejections > 0, f"{name} never accepted or never rejected\n{table}"
        assert row.inputs == row.accepts + row.rejections + row.crashes


@pytest.mark.parametrize(
    "name,path",
    [(n, p) for n in ALL for p in F.regression_inputs(n)],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_regression_corpus(name: str, path: Path) -> None:
    verdict, exc = F.replay(name, path.read_bytes())
    assert verdict != "crash", f"{name}/{path.name}: {exc!r}"


def test_regression_corpus_is_not_empty() -> None:
    assert sum(len(F.regression_inputs(n)) for n in ALL) >= 3


def test_seeds_are_accepted() -> None:
    """The valid seed encodings decode: the harnesses call the decoders the right way."""
    for name in ("quote", "tx", "block_proposal", "block_attest", "header", "consensus", "enr", "discv5_message"):
        target = F.build_targets()[name]
        verdicts = [F.replay(name, data)[0] for data, _ in target.seeds()]
        assert "accept" in verdicts and "crash" not in verdicts, (name, verdicts)


def _broken(kind: str) -> Any:
    from core.aztec.serialization import DecodeError

    def run(data: bytes) -> bool:
        if len(data) < 4:
            raise DecodeError("short")
        if data[0] == 0x42:
            if kind == "hang":
                while True:
                    pass
            raise KeyError("undeclared")
        return True

    seeds = [(b"\x41" * 8, (0,)), (b"\x00\x01\x02\x03", (0,)), (b"\x42" * 8, (0,))]
    return F.Target(f"broken_{kind}", (DecodeError,), lambda: seeds, run=run, dictionary=[b"\x42"])


@pytest.mark.parametrize("kind", ["exception", "hang"])
def test_engine_reports_crashes_and_hangs(kind: str, tmp_path: Path) -> None:
    target = _broken(kind)
    F._init_worker()
    F._TARGETS[target.name] = target
    stats, crashes = F._fuzz_chunk(
        target, 500 if kind == "exception" else 3, 5, float("inf"), 0.2, 0, F._sync_exec(target)
    )
    assert stats.crashes >= 1 and crashes
    expected = "KeyError" if kind == "exception" else "Hang"
    assert crashes[0].signature.split("|")[1] == expected
    assert crashes[0].data[0] == 0x42
    paths = F.save_crashes(crashes, tmp_path)
    assert paths[0].read_bytes() == crashes[0].data
    assert expected in paths[0].with_suffix(".txt").read_text()


def test_cli_exit_status_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc = F.main(["--budget", "300", "--workers", "1", "--only", "quote,enr", "--seed", "3"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "decoder" in out and "quote" in out and "enr" in out and "TOTAL" in out
    assert F.main(["--only", "nope"]) == 2


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("FUZZ_LONG") != "1", reason="set FUZZ_LONG=1 for the >= 1M-input run")
def test_fuzz_long_full(tmp_path: Path) -> None:
    report = F.fuzz(ALL, budget=1_000_000, workers=2, seed=1)
    if report.crashes:
        F.save_crashes(report.crashes, tmp_path)
    assert report.total_inputs >= 1_000_000
    assert report.total_crashes == 0, F.format_table(report)
