"""`python -m node --devnet`: a whole local network on this machine, every part a real process.

anvil (npm) -> Aztec's v0.63.1 L1 contracts -> a discv5 boot node -> N sequencers -> a prover node
(archiver, broker, agents) -> a tx bot. Each node is its own `python -m node ...` child process with
its own env and data directory (under DATA_DIRECTORY, default ./.devnet); their logs go to
`<dir>/logs/<name>.log`, their warnings and errors are echoed.

The data directory is wiped at start only if the devnet made it: it then holds the marker file
`DEVNET_MARKER`. An empty or missing directory is taken (and marked); a non-empty directory without
the marker is refused (StartupError, exit 2), so `DATA_DIRECTORY=$HOME --devnet` deletes nothing.
Everything the devnet serves binds 127.0.0.1 inside DEVNET_BASE_PORT's range (the *_OFFSET constants).
The devnet itself prints what happens on L1: blocks, claims (who, fee, bond), proofs, prunes.
Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

import trio

from node.config import StartupError
from node.l1.anvil import ANVIL_DEV_KEYS as ANVIL_KEYS
from node.l1.anvil import Anvil, AnvilInfo
from node.l1.deploy import L1ContractAddresses, RollupConfig, deploy_l1_contracts_report

log = logging.getLogger("node.devnet")

DEPLOYER, FIRST_SEQUENCER = 0, 1
DEVNET_MARKER: Final = ".aztec-py-devnet"  # in a data directory the devnet created and may wipe
L1_PORT_OFFSET: Final = 97  # anvil
HTTP_PORT_OFFSET: Final = 98  # the devnet process's own HTTP server (/health, /metrics)
BOOT_HTTP_OFFSET: Final = 99  # boot node HTTP; sequencers +100.., prover node +119, tx bot +120


def devnet_http_port(base_port: int) -> int:
    return base_port + HTTP_PORT_OFFSET


@dataclass(frozen=True, slots=True)
class DevnetInfo:
    """What `Devnet.run` hands over once every child is ready."""

    l1_url: str
    addresses: L1ContractAddresses
    children: tuple[str, ...]


class DevnetDirError(StartupError):
    pass


class PortReservation:
    """Holds the devnet's ports as bound (not listening) sockets from the start, so the kernel never
    picks one of them as the ephemeral port of the many outgoing connections made while the devnet
    starts (DEVNET_BASE_PORT's range usually lies inside the ephemeral range); each is released just
    before the process that listens on it starts. A port that is already taken is left alone: its
    process then reports it (one line, exit 2)."""

    def __init__(self, tcp: Sequence[int], udp: Sequence[int], host: str = "127.0.0.1") -> None:
        self.host = host
        self._socks: dict[tuple[int, int], socket.socket] = {}
        for kind, ports in ((socket.SOCK_STREAM, tcp), (socket.SOCK_DGRAM, udp)):
            for port in ports:
                s = socket.socket(socket.AF_INET, kind)
                try:
                    s.bind((host, port))
                except OSError:
                    s.close()
                    continue
                self._socks[(int(kind), port)] = s

    def held(self) -> int:
        return len(self._socks)

    def release(self, port: int) -> None:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = self._socks.pop((int(kind), port), None)
            if s is not None:
                s.close()

    def release_for(self, env: Mapping[str, str]) -> None:
        """Release every port a child's env tells it to listen on."""
        for key in ("AZTEC_PORT", "P2P_TCP_LISTEN_ADDR", "P2P_UDP_LISTEN_ADDR"):
            value = env.get(key, "")
            port = value.rpartition(":")[2]
            if port.isdigit():
                self.release(int(port))

    def close(self) -> None:
        for s in self._socks.values():
            s.close()
        self._socks.clear()


def prepare_data_dir(path: Path) -> None:
    """Make `path` a fresh devnet directory without ever deleting what the devnet did not create:
    missing or empty -> created and marked; marked -> its contents wiped; anything else -> refused."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise DevnetDirError(f"DATA_DIRECTORY {path}: not a directory the devnet can use")
    if path.exists():
        entries = list(path.iterdir())
        if entries and not (path / DEVNET_MARKER).is_file():
            raise DevnetDirError(
                f"DATA_DIRECTORY {path}: not empty and not made by --devnet (no {DEVNET_MARKER} file); "
                "refusing to delete it: point DATA_DIRECTORY at a new or empty folder"
            )
        for entry in entries:
            if entry.name == DEVNET_MARKER:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    try:
        path.mkdir(parents=True, exist_ok=True)
        marker = path / DEVNET_MARKER
        with marker.open("w") as f:
            f.write("made by python -m node --devnet; this folder is wiped when a devnet starts here\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise DevnetDirError(f"DATA_DIRECTORY {path}: not a writable directory ({e.strerror or e})") from None


@dataclass(frozen=True)
class DevnetConfig:
    data_dir: Path
    slot_duration: int = 8
    epoch_duration: int = 4
    claim_window: int = 2
    sequencers: int = 3
    committee: bool = False
    agents: int = 4  # 0: the prover node quotes and claims but has no agents, so it never proves
    l1_port: int = 0
    base_port: int = 40400
    tx_per_slot: int = 2
    quote_fee_bps: int = 100
    quote_bond: int = 1000
    echo_children: bool = False


class ChildDied(RuntimeError):
    pass


class ChildProcess:
    """One `python -m node ...` child. Ready when it logs "node running"; cancelled -> SIGTERM, then
    SIGKILL after 10 s. An unexpected exit raises ChildDied with its last log lines."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        echo: Callable[[str, str], None],
        ready_timeout: float = 90.0,
        before_start: Callable[[], None] | None = None,
        progress: Callable[[str], None] | None = None,
        progress_every: float = 10.0,
    ) -> None:
        self.name, self.argv, self.env, self.log_path, self.echo = name, list(argv), dict(env), log_path, echo
        self.ready_timeout = ready_timeout
        self.before_start = before_start
        self.progress = progress  # start-up progress lines ("still starting, last line: ...")
        self.progress_every = progress_every
        self.tail: deque[str] = deque(maxlen=30)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.before_start is not None:
            self.before_start()
        proc = await trio.lowlevel.open_process(
            self.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        ready = trio.Event()
        try:
            with self.log_path.open("w") as logf:
                async with trio.open_nursery() as nursery:
                    assert proc.stdout is not None
                    nursery.start_soon(self._pump, proc.stdout, logf, ready)
                    exited = trio.Event()

                    async def watch_exit() -> None:
                        await proc.wait()
                        exited.set()
                        ready.set()  # wake the readiness wait; `exited` tells which

                    nursery.start_soon(watch_exit)
                    began = trio.current_time()
                    with trio.move_on_after(self.ready_timeout) as cs:
                        while not ready.is_set():
                            with trio.move_on_after(self.progress_every):
                                await ready.wait()
                            if not ready.is_set() and self.progress is not None:
                                last = self.tail[-1] if self.tail else "(no output yet)"
                                self.progress(f"[devnet] {self.name}: starting ({trio.current_time() - began:.0f}s), "
                                              f"last line: {last[:160]}")
                    if cs.cancelled_caught:
                        raise ChildDied(f"{self.name} not ready after {self.ready_timeout}s: " + " | ".join(self.tail))
                    if exited.is_set():
                        await trio.sleep(0.2)  # let the pump flush the last lines
                        raise ChildDied(
                            f"{self.name} exited with code {proc.returncode} before it was ready: "
                            + " | ".join(list(self.tail)[-8:])
                        )
                    task_status.started()
                    code = await proc.wait()
                    await trio.sleep(0.2)  # let the pump flush the last lines
                    raise ChildDied(f"{self.name} exited with code {code}: " + " | ".join(list(self.tail)[-8:]))
        finally:
            with trio.CancelScope(shield=True):
                if proc.returncode is None:
                    proc.terminate()
                    with trio.move_on_after(10):
                        await proc.wait()
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()

    async def _pump(self, stream: trio.abc.ReceiveStream, logf: TextIO, ready: trio.Event) -> None:
        buf = b""
        async for chunk in stream:
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace")
                logf.write(line + "\n")
                self.tail.append(line)
                if "node running" in line:
                    ready.set()
                self.echo(self.name, line)
            logf.flush()


@dataclass
class Devnet:
    cfg: DevnetConfig
    python: str = sys.executable
    out: Callable[[str], None] = print
    addresses: L1ContractAddresses | None = None
    l1_url: str = ""
    children: dict[str, ChildProcess] = field(default_factory=dict)
    ports: PortReservation | None = None

    def _echo(self, name: str, line: str) -> None:
        if self.cfg.echo_children:
            self.out(f"[{name}] {line}")
            return
        from node.devnet_status import console_line

        shown = console_line(name, line)
        if shown is not None:
            self.out(shown)

    def _env(self, name: str, extra: Mapping[str, str], http_port: int) -> dict[str, str]:
        assert self.addresses is not None
        data = self.cfg.data_dir / name
        data.mkdir(parents=True, exist_ok=True)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("P2P_", "PROVER_", "SEQ_", "QUOTE_", "DEVNET_"))
        }
        env.update(
            {
                "ETHEREUM_HOST": self.l1_url,
                "L1_CHAIN_ID": "31337",
                "ROLLUP_CONTRACT_ADDRESS": self.addresses.rollup,
                "DATA_DIRECTORY": str(data),
                "AZTEC_HOST": "127.0.0.1",
                "AZTEC_PORT": str(http_port),
                "LOG_JSON": "false",
                "LOG_LEVEL": os.environ.get("LOG_LEVEL", "info"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env

    def _child(self, name: str, flags: Sequence[str], env: dict[str, str]) -> ChildProcess:
        ports = self.ports
        child = ChildProcess(
            name, [self.python, "-m", "node", *flags], env, self.cfg.data_dir / "logs" / f"{name}.log", self._echo,
            before_start=None if ports is None else (lambda: ports.release_for(env)),
            progress=self.out,
        )
        self.children[name] = child
        return child

    async def _start(self, nursery: trio.Nursery, child: ChildProcess) -> None:
        """Start a child, saying so before and when it is ready (the console is never silent for long)."""
        began = trio.current_time()
        self.out(f"[devnet] starting {child.name}")
        await nursery.start(child.run)
        self.out(f"[devnet] {child.name} ready ({trio.current_time() - began:.1f}s)")

    async def run(self, *, task_status: trio.TaskStatus[DevnetInfo] = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.cfg
        await trio.to_thread.run_sync(prepare_data_dir, cfg.data_dir)
        b, nodes = cfg.base_port, cfg.sequencers + 2  # p2p nodes: sequencers, prover node, tx bot
        l1_port = cfg.l1_port or b + L1_PORT_OFFSET
        http = [b + BOOT_HTTP_OFFSET + k for k in (0, *range(1, cfg.sequencers + 1), 20, 21)]
        self.ports = PortReservation(tcp=[l1_port, *http, *range(b + 1, b + 1 + nodes)],
                                     udp=list(range(b, b + 1 + nodes)))
        try:
            await self._run(l1_port, task_status)
        finally:
            self.ports.close()

    async def _run(self, l1_port: int, task_status: trio.TaskStatus[DevnetInfo]) -> None:
        cfg = self.cfg
        assert self.ports is not None
        async with trio.open_nursery() as nursery:
            self.ports.release(l1_port)
            self.out(f"[devnet] starting anvil on 127.0.0.1:{l1_port}")
            anvil: AnvilInfo = await nursery.start(Anvil(port=l1_port, block_time=1).run)
            self.out("[devnet] deploying Aztec's v0.63.1 L1 contracts")
            self.l1_url = anvil.url
            validators = (
                [_address(ANVIL_KEYS[FIRST_SEQUENCER + i]) for i in range(cfg.sequencers)] if cfg.committee else []
            )
            rollup_cfg = RollupConfig(cfg.slot_duration, cfg.epoch_duration, len(validators), cfg.claim_window)
            report = await trio.to_thread.run_sync(
                lambda: deploy_l1_contracts_report(anvil.url, ANVIL_KEYS[DEPLOYER], rollup_cfg, validators)
            )
            self.addresses = report.addresses
            self.out(
                f"[devnet] L1 {anvil.url}: rollup {report.addresses.rollup}, escrow "
                f"{report.addresses.proof_commitment_escrow}, slot {cfg.slot_duration}s, epoch "
                f"{cfg.epoch_duration} slots, claim window {cfg.claim_window}, committee {len(validators)}"
            )
            port = cfg.base_port
            boot_http = port + BOOT_HTTP_OFFSET
            await self._start(nursery, self._child(
                "bootnode",
                ["--p2p-bootstrap"],
                self._env(
                    "bootnode",
                    {
                        "P2P_UDP_LISTEN_ADDR": f"127.0.0.1:{port}",
                        "P2P_UDP_ANNOUNCE_ADDR": f"127.0.0.1:{port}",
                        "PEER_ID_PRIVATE_KEY": "08021220" + "b0" * 32,
                    },
                    boot_http,
                ),
            ))
            boot_url = f"http://127.0.0.1:{boot_http}"
            p2p_common = {"P2P_ENABLED": "true", "BOOT_NODE_URL": boot_url}

            def p2p_env(i: int) -> dict[str, str]:
                p = port + 1 + i
                return {
                    **p2p_common,
                    "P2P_TCP_LISTEN_ADDR": f"127.0.0.1:{p}",
                    "P2P_UDP_LISTEN_ADDR": f"127.0.0.1:{p}",
                    "P2P_TCP_ANNOUNCE_ADDR": f"127.0.0.1:{p}",
                }

            for i in range(cfg.sequencers):
                name = f"sequencer-{i + 1}"
                await self._start(nursery, self._child(
                    name,
                    ["--sequencer", "--p2p"],
                    self._env(
                        name,
                        {
                            **p2p_env(i),
                            "SEQ_PUBLISHER_PRIVATE_KEY": ANVIL_KEYS[FIRST_SEQUENCER + i],
                            "SEQ_INDEX": str(i),
                            "SEQ_COUNT": str(cfg.sequencers),
                        },
                        boot_http + 1 + i,
                    ),
                ))
            prover_key = ANVIL_KEYS[FIRST_SEQUENCER + cfg.sequencers]
            await self._start(nursery, self._child(
                "prover-node",
                ["--prover-node", "--archiver", "--p2p", *(["--prover"] if cfg.agents else [])],
                self._env(
                    "prover-node",
                    {
                        **p2p_env(cfg.sequencers),
                        "PROVER_PUBLISHER_PRIVATE_KEY": prover_key,
                        "PROVER_AGENT_CONCURRENCY": str(max(1, cfg.agents)),
                        "PROVER_REAL_PROOFS": "false",
                        "PROVER_MINIMUM_ESCROW_AMOUNT": str(cfg.quote_bond),
                        "PROVER_TARGET_ESCROW_AMOUNT": str(cfg.quote_bond * 5),
                        "QUOTE_PROVIDER_BASIS_POINT_FEE": str(cfg.quote_fee_bps),
                        "QUOTE_PROVIDER_BOND_AMOUNT": str(cfg.quote_bond),
                        "PROVER_NODE_POLLING_INTERVAL_MS": "500",
                        "BOND_TOKEN_MINT": "true",
                    },
                    boot_http + 20,
                ),
            ))
            await self._start(nursery, self._child(
                "tx-bot",
                ["--tx-bot", "--p2p"],
                self._env(
                    "tx-bot",
                    {**p2p_env(cfg.sequencers + 1), "TXBOT_TX_PER_SLOT": str(cfg.tx_per_slot)},
                    boot_http + 21,
                ),
            ))
            task_status.started(DevnetInfo(anvil.url, report.addresses, tuple(self.children)))
            self.out(f"[devnet] running: {', '.join(self.children)}; logs in {cfg.data_dir / 'logs'}")
            from node.devnet_status import watch_l1

            await watch_l1(anvil.url, report.addresses.rollup, self.out)


def _address(key_hex: str) -> bytes:
    from p2p.wire.quote import address_of

    return address_of(bytes.fromhex(key_hex.removeprefix("0x")))
