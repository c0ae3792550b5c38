"""The durable prover broker as its own process, started the one way an operator starts it:
``python -m node --prover-broker`` with its configuration variables (no other broker entry point).

Used by bench/broker_bench.py, bench/chaos_bench.py and tests/proving/test_kill9.py:

    proc, url = await start_node_broker(data_dir, port, sync="full", job_timeout=3.0)
    proc, url = start_node_broker_sync(data_dir, port)   # the same, for scripts without trio

``data_dir`` is DATA_DIRECTORY: the journal is ``data_dir/broker/broker.sqlite`` and file:// proof
URIs are accepted only inside ``data_dir/proofs`` (`proof_dir`). Waits until ``GET /ready`` answers
200 (every component started, the journal restored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

import trio

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proof_dir(data_dir: Path) -> Path:
    return data_dir / "proofs"


def journal_path(data_dir: Path) -> Path:
    return data_dir / "broker" / "broker.sqlite"


def broker_env(
    data_dir: Path, port: int, *, sync: str = "full", job_timeout: float | None = None,
    poll_interval: float | None = None, log_level: str = "warn", token: str | None = None,
) -> dict[str, str]:
    """The broker node's environment; `token`: PROVER_BROKER_AUTH_TOKEN (None: the caller's, if any)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AZTEC_HOST": "127.0.0.1",
        "AZTEC_PORT": str(port),
        "DATA_DIRECTORY": str(data_dir),
        "PROVER_BROKER_DB_SYNC": sync,
        "LOG_LEVEL": log_level,
    }
    if job_timeout is not None:
        env["PROVER_JOB_TIMEOUT_MS"] = str(round(job_timeout * 1000))
    if poll_interval is not None:
        env["PROVER_JOB_POLL_INTERVAL_MS"] = str(round(poll_interval * 1000))
    if token is not None:
        env["PROVER_BROKER_AUTH_TOKEN"] = token
    return env


async def ready(port: int) -> bool:
    """GET /ready answers 200 (every component started, the journal restored)."""
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return False
    async with stream:
        await stream.send_all(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        head = b""
        while b"\r\n" not in head:
            chunk = await stream.receive_some(256)
            if not chunk:
                return False
            head += chunk
        return head.split(b" ", 2)[1:2] == [b"200"]


async def start_node_broker(
    data_dir: Path, port: int, *, output: IO[bytes] | None = None, ready_within: float = 60.0, sync: str = "full",
    job_timeout: float | None = None, poll_interval: float | None = None, token: str | None = None,
) -> tuple[trio.Process, str]:
    """Start the broker node on 127.0.0.1:`port` (0: a free one) and wait until it is ready (the node
    creates `data_dir`)."""
    port = port or free_port()
    env = broker_env(data_dir, port, sync=sync, job_timeout=job_timeout, poll_interval=poll_interval, token=token)
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "node", "--prover-broker"], cwd=str(REPO), env=env, stdout=output, stderr=output
    )
    with trio.fail_after(ready_within):
        while not await ready(port):
            if proc.poll() is not None:
                raise RuntimeError(f"broker node exited with {proc.returncode}")
            await trio.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def start_node_broker_sync(
    data_dir: Path, port: int, *, ready_within: float = 60.0, sync: str = "full", job_timeout: float | None = None,
    poll_interval: float | None = None, token: str | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """`start_node_broker` for synchronous scripts (output discarded)."""
    port = port or free_port()
    env = broker_env(data_dir, port, sync=sync, job_timeout=job_timeout, poll_interval=poll_interval, token=token)
    proc = subprocess.Popen([sys.executable, "-m", "node", "--prover-broker"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker node exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"broker node not ready within {ready_within}s")
