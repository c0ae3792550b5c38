"""Start-up mistakes, each with a real `python -m node ...` process: one line naming the cause (the
variable, port or path), exit code 2, no traceback unless LOG_LEVEL=debug. And the devnet never
deletes a folder it did not create. (Wrong rollup addresses need anvil: interop/test_node_faults.py.)"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from node.devnet import DEVNET_MARKER, DevnetDirError, prepare_data_dir

REPO = Path(__file__).resolve().parents[2]
ROLLUP = "0x" + "ab" * 20


def node_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("P2P_", "PROVER_", "SEQ_", "DEVNET_", "AZTEC_", "ETHEREUM_", "DATA_", "LOG_"))}
    env.update({"PYTHONPATH": str(REPO), "AZTEC_HOST": "127.0.0.1", "AZTEC_PORT": "0", "LOG_LEVEL": "info", **extra})
    return env


def run_node(flags: list[str], env: Mapping[str, str], timeout: float = 60) -> tuple[int, str, float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "node", *flags], env=dict(env), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    return proc.returncode, proc.stderr + proc.stdout, time.monotonic() - t0


def assert_one_line_exit_2(rc: int, out: str, *needles: str) -> str:
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert rc == 2, out
    assert len(errors) == 1, out
    assert "Traceback" not in out and "Exceptions from Trio nursery" not in out, out
    assert len(out.splitlines()) <= 6, out
    for n in needles:
        assert n in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def busy_tcp() -> Iterator[int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def busy_udp() -> Iterator[int]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_unreachable_ethereum_host() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    rc, out, took = run_node(["--archiver"], node_env(ETHEREUM_HOST=url, ROLLUP_CONTRACT_ADDRESS=ROLLUP))
    line = assert_one_line_exit_2(rc, out, "ETHEREUM_HOST", url)
    assert "connection refused" in line
    assert took < 30


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_unreachable_ethereum_host_with_debug_shows_the_traceback() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    rc, out, _ = run_node(["--archiver"], node_env(ETHEREUM_HOST=url, ROLLUP_CONTRACT_ADDRESS=ROLLUP,
                                                   LOG_LEVEL="debug"))
    assert rc == 2 and "Traceback" in out and f"error: ETHEREUM_HOST {url}" in out


def test_busy_http_port(busy_tcp: int) -> None:
    rc, out, _ = run_node(["--p2p-bootstrap"], node_env(AZTEC_PORT=str(busy_tcp), P2P_UDP_LISTEN_ADDR="127.0.0.1:0"))
    assert_one_line_exit_2(rc, out, "AZTEC_PORT", str(busy_tcp), "in use")


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_busy_p2p_tcp_port(busy_tcp: int) -> None:
    env = node_env(P2P_UDP_LISTEN_ADDR="127.0.0.1:0", P2P_TCP_LISTEN_ADDR=f"127.0.0.1:{busy_tcp}",
                   P2P_TCP_ANNOUNCE_ADDR=f"127.0.0.1:{busy_tcp}")
    rc, out, _ = run_node(["--p2p"], env)
    assert_one_line_exit_2(rc, out, "P2P_TCP_LISTEN_ADDR", str(busy_tcp), "in use")


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_busy_p2p_udp_port(busy_udp: int) -> None:
    env = node_env(P2P_UDP_LISTEN_ADDR=f"127.0.0.1:{busy_udp}", P2P_TCP_LISTEN_ADDR="127.0.0.1:0",
                   P2P_TCP_ANNOUNCE_ADDR="127.0.0.1:1")
    rc, out, _ = run_node(["--p2p"], env)
    assert_one_line_exit_2(rc, out, "P2P_UDP_LISTEN_ADDR", str(busy_udp), "in use")


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_busy_boot_node_udp_port(busy_udp: int) -> None:
    rc, out, _ = run_node(["--p2p-bootstrap"], node_env(P2P_UDP_LISTEN_ADDR=f"127.0.0.1:{busy_udp}"))
    assert_one_line_exit_2(rc, out, "P2P_UDP_LISTEN_ADDR", str(busy_udp))


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
@pytest.mark.parametrize("kind", ["under-a-file", "is-a-file"])
def test_unwritable_data_directory(tmp_path: Path, kind: str) -> None:
    f = tmp_path / "plain-file"
    f.write_text("x")
    path = f / "data" if kind == "under-a-file" else f
    rc, out, _ = run_node(["--prover-broker"], node_env(DATA_DIRECTORY=str(path)))
    assert_one_line_exit_2(rc, out, "DATA_DIRECTORY", str(path))
    assert f.read_text() == "x"


def _read_until(proc: subprocess.Popen[str], pattern: str, timeout: float) -> tuple[re.Match[str], list[str]]:
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line.rstrip())
        m = rx.search(line)
        if m:
            return m, lines
    raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n" + "\n".join(lines))


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_prover_with_unreachable_broker_says_so_within_seconds_and_reports_it_in_health() -> None:
    """Choice: keep running (agents retry; broker and agents start in any order) but say so at once
    and report it: one warning line within a few seconds, /health 503 naming the broker, /ready 200."""
    broker = f"http://127.0.0.1:{closed_port()}"
    proc = subprocess.Popen([sys.executable, "-m", "node", "--prover"], env=node_env(PROVER_BROKER_HOST=broker),
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO)
    try:
        t0 = time.monotonic()
        m, _ = _read_until(proc, r"http server listening addr=127\.0\.0\.1:(\d+)", 20)
        port = int(m.group(1))
        _, lines = _read_until(proc, r"PROVER_BROKER_HOST .* unreachable", 10)
        assert time.monotonic() - t0 < 10
        assert broker in lines[-1]
        _read_until(proc, r"node running", 10)
        status, report = _get(f"http://127.0.0.1:{port}/health")
        assert status == 503 and report["status"] == "degraded"
        b = report["broker"]
        assert isinstance(b, dict) and b["reachable"] is False and b["url"] == broker
        assert _get(f"http://127.0.0.1:{port}/ready")[0] == 200
        assert proc.poll() is None  # still running, still retrying
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0


# ----- --devnet and DATA_DIRECTORY


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_devnet_refuses_a_non_empty_folder_it_did_not_create(tmp_path: Path) -> None:
    mine = tmp_path / "important"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    rc, out, _ = run_node(["--devnet"], node_env(DATA_DIRECTORY=str(mine), DEVNET_BASE_PORT=str(closed_port())))
    assert_one_line_exit_2(rc, out, "DATA_DIRECTORY", str(mine), "refusing")
    assert (mine / "notes.txt").read_text() == "keep me"
    assert not (mine / DEVNET_MARKER).exists()


def test_prepare_data_dir_wipes_only_what_it_marked(tmp_path: Path) -> None:
    d = tmp_path / "devnet"
    prepare_data_dir(d)  # missing -> created and marked
    assert (d / DEVNET_MARKER).is_file()
    (d / "logs").mkdir()
    (d / "logs" / "x.log").write_text("old")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    (d / "link").symlink_to(outside)
    prepare_data_dir(d)  # marked -> contents wiped, symlink removed but not followed
    assert sorted(p.name for p in d.iterdir()) == [DEVNET_MARKER]
    assert (outside / "keep").read_text() == "k"
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_data_dir(empty)  # empty -> taken
    assert (empty / DEVNET_MARKER).is_file()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "a").write_text("a")
    with pytest.raises(DevnetDirError):
        prepare_data_dir(foreign)
    assert (foreign / "a").read_text() == "a"
    f = tmp_path / "file"
    f.write_text("f")
    with pytest.raises(DevnetDirError):
        prepare_data_dir(f)
    assert f.read_text() == "f"
