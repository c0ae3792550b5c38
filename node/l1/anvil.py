"""A local anvil (from the `@foundry-rs/anvil` npm package) as a trio component, plus sync helpers.

`Anvil.run()` starts the binary on 127.0.0.1 (port 0 lets anvil pick a free port; we read it from its
"Listening on" line), waits until JSON-RPC answers, reports the URL through `task_status.started`,
drains its log into a bounded buffer, and kills the process when cancelled.
"""

from __future__ import annotations

import collections
import json
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import trio

from core.procs import stop_process
from node.l1.artifacts import resolve_node_modules

ANVIL_PACKAGE_BINARY: Final = Path("@foundry-rs") / "anvil-linux-amd64" / "bin" / "anvil"
LISTENING_RE: Final = re.compile(rb"Listening on ([0-9.]+):(\d+)")
LOG_LINES_KEPT: Final = 200
DEFAULT_CHAIN_ID: Final = 31337


class AnvilError(Exception):
    """anvil is missing, exited early, or never became ready."""


def find_anvil_binary(node_modules: Path | str | None = None) -> Path:
    path = resolve_node_modules(node_modules) / ANVIL_PACKAGE_BINARY
    if not path.is_file():
        raise AnvilError(f"anvil binary not found at {path}; run scripts/bootstrap.sh (npm package @foundry-rs/anvil)")
    return path


def anvil_command(
    binary: Path,
    *,
    port: int = 0,
    chain_id: int = DEFAULT_CHAIN_ID,
    block_time: float | None = None,
    automine: bool = True,
    accounts: int = 10,
    balance_eth: int = 10_000,
    timestamp: int | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """argv for anvil bound to 127.0.0.1. `block_time` mines on an interval; `automine=False` with no
    block time disables mining entirely (`--no-mining`, mine with `evm_mine`)."""
    cmd = [
        str(binary),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--accounts",
        str(accounts),
        "--balance",
        str(balance_eth),
    ]
    if block_time is not None:
        cmd += ["--block-time", f"{block_time:g}"]
    elif not automine:
        cmd.append("--no-mining")
    if timestamp is not None:
        cmd += ["--timestamp", str(timestamp)]
    cmd += list(extra_args)
    return cmd


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (racy; prefer port 0 where the server reports its port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rpc_chain_id_sync(url: str, timeout: float = 2.0) -> int | None:
    """`eth_chainId` over plain HTTP, or None if the server does not answer (yet)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            result = json.loads(resp.read())["result"]
            return int(result, 16)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, KeyError, ValueError):
        return None


def wait_rpc_ready_sync(url: str, *, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> int:
    """Poll until `url` answers eth_chainId; returns the chain id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AnvilError(f"anvil exited with code {proc.returncode} before becoming ready")
        chain = rpc_chain_id_sync(url)
        if chain is not None:
            return chain
        time.sleep(0.05)
    raise AnvilError(f"anvil at {url} not ready after {timeout}s")


@dataclass(frozen=True, slots=True)
class AnvilInfo:
    url: str
    port: int
    chain_id: int
    pid: int


class Anvil:
    """Long-running anvil child process. `run()` reports an `AnvilInfo` once JSON-RPC is ready."""

    def __init__(
        self,
        *,
        port: int = 0,
        chain_id: int = DEFAULT_CHAIN_ID,
        block_time: float | None = None,
        automine: bool = True,
        accounts: int = 10,
        timestamp: int | None = None,
        extra_args: Sequence[str] = (),
        node_modules: Path | str | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        self._binary = find_anvil_binary(node_modules)
        self._cmd = anvil_command(
            self._binary,
            port=port,
            chain_id=chain_id,
            block_time=block_time,
            automine=automine,
            accounts=accounts,
            timestamp=timestamp,
            extra_args=tuple(extra_args),
        )
        self._port = port
        self._chain_id = chain_id
        self._ready_timeout = ready_timeout
        self._log: collections.deque[bytes] = collections.deque(maxlen=LOG_LINES_KEPT)  # oldest lines dropped
        self.info: AnvilInfo | None = None

    def statistics(self) -> dict[str, object]:
        return {"url": self.info.url if self.info else None, "log_lines_kept": len(self._log)}

    def recent_log(self) -> list[str]:
        return [line.decode(errors="replace") for line in self._log]

    async def run(self, *, task_status: trio.TaskStatus[AnvilInfo] = trio.TASK_STATUS_IGNORED) -> None:
        proc = await trio.lowlevel.open_process(self._cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            async with trio.open_nursery() as nursery:
                port_found = trio.Event()
                found: list[int] = []
                assert proc.stdout is not None
                nursery.start_soon(self._drain, proc.stdout, port_found, found)
                with trio.move_on_after(self._ready_timeout) as cs:
                    await port_found.wait()
                    url = f"http://127.0.0.1:{found[0]}"
                    while True:
                        if proc.poll() is not None:
                            break
                        chain = await trio.to_thread.run_sync(rpc_chain_id_sync, url)
                        if chain is not None:
                            break
                        await trio.sleep(0.05)
                if cs.cancelled_caught or proc.returncode is not None:
                    raise AnvilError(
                        f"anvil did not become ready (exit code {proc.returncode}); last log: "
                        + " | ".join(self.recent_log()[-5:])
                    )
                self.info = AnvilInfo(url=url, port=found[0], chain_id=chain or self._chain_id, pid=proc.pid)
                task_status.started(self.info)
                await proc.wait()
                raise AnvilError(f"anvil exited unexpectedly with code {proc.returncode}")
        finally:
            with trio.CancelScope(shield=True):
                if proc.returncode is None:
                    proc.terminate()
                    with trio.move_on_after(5):
                        await proc.wait()
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()
            self.info = None

    async def _drain(self, stream: trio.abc.ReceiveStream, port_found: trio.Event, found: list[int]) -> None:
        buf = b""
        while True:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self._log.append(line)
                if not port_found.is_set():
                    m = LISTENING_RE.search(line)
                    if m:
                        found.append(int(m.group(2)))
                        port_found.set()


class AnvilProcess:
    """Blocking counterpart of `Anvil` for scripts and pytest session fixtures (not for trio code).

    Starts anvil on port 0, reads the bound port from its log, drains the log in a daemon thread into
    a bounded buffer, and `close()` terminates it (also usable as a context manager)."""

    def __init__(
        self,
        *,
        chain_id: int = DEFAULT_CHAIN_ID,
        node_modules: Path | str | None = None,
        ready_timeout: float = 30.0,
        **options: object,
    ) -> None:
        binary = find_anvil_binary(node_modules)
        cmd = anvil_command(binary, port=0, chain_id=chain_id, **options)  # type: ignore[arg-type]
        self.chain_id = chain_id
        self._log: collections.deque[bytes] = collections.deque(maxlen=LOG_LINES_KEPT)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        port_box: list[int] = []
        ready = threading.Event()

        def drain() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self._log.append(line.rstrip(b"\n"))
                if not ready.is_set():
                    m = LISTENING_RE.search(line)
                    if m:
                        port_box.append(int(m.group(2)))
                        ready.set()
            ready.set()

        self._thread = threading.Thread(target=drain, name="anvil-log", daemon=True)
        self._thread.start()
        try:
            if not ready.wait(ready_timeout) or not port_box:
                raise AnvilError("anvil did not report its port; last log: " + " | ".join(self.recent_log()[-5:]))
            self.port = port_box[0]
            self.url = f"http://127.0.0.1:{self.port}"
            wait_rpc_ready_sync(self.url, timeout=ready_timeout, proc=self.proc)
        except BaseException:
            self.close()
            raise

    def recent_log(self) -> list[str]:
        return [line.decode(errors="replace") for line in self._log]

    def close(self) -> None:
        stop_process(self.proc, 5)
        self._thread.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> AnvilProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# anvil's default funded dev accounts #0..#9 (mnemonic "test test ... junk"): public, for local chains only.
ANVIL_DEV_KEYS: Final = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
