"""Start-up checks (node-faults): a start-up mistake is one line naming the variable/port/path (a
StartupError, exit 2), an outage after start-up is a state in /health. The L1 connection lives here
because its checks (chain id, contract code, Rollup version) are start-up checks."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import trio

from node.config import ConfigError, StartupError
from node.supervisor import leaf_exceptions

if TYPE_CHECKING:
    from node.components import Component, Context

log = logging.getLogger("node.components")

# --- start-up checks and health (node-faults)
L1_STARTUP_TIMEOUT: Final = 10.0  # an ETHEREUM_HOST that does not answer within this is a start-up mistake


class StartupGuard:
    """Runs `inner` and turns an expected failure *before it is ready* into a StartupError whose one
    line names the cause (`explain(exc)`; None: not an expected failure, re-raised as is). Failures
    after start-up are left alone (outages are states, handled inside the components)."""

    def __init__(self, inner: Component, explain: Callable[[BaseException], str | None]) -> None:
        self.inner = inner
        self.explain = explain

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            try:
                info = await nursery.start(self.inner.run)
            except Exception as e:
                for leaf in leaf_exceptions(e, Exception):
                    if isinstance(leaf, ConfigError):
                        raise leaf from e
                    why = self.explain(leaf)
                    if why is not None:
                        raise StartupError(why) from e
                raise
            task_status.started(info)


def port_in_use(variable: str, host: str, port: int) -> Callable[[BaseException], str | None]:
    def explain(e: BaseException) -> str | None:
        if isinstance(e, OSError):
            return f"{variable}: cannot listen on {host}:{port}: {e.strerror or e}"
        return None

    return explain


def check_data_directory(path: Path) -> None:
    """DATA_DIRECTORY must be a directory we can create files in (checked before anything starts)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as e:
        raise StartupError(f"DATA_DIRECTORY {path}: not a writable directory ({e.strerror or e})") from None


class L1Connection:
    """Connects to ETHEREUM_HOST and the Rollup (ROLLUP_CONTRACT_ADDRESS, else the canonical rollup of
    REGISTRY_CONTRACT_ADDRESS, else fetched from AZTEC_NODE_URL's `node_getL1ContractAddresses`),
    checks the chain id and that the address holds a v0.63.1 Rollup, and shares the client. Start-up
    mistakes (no answer within L1_STARTUP_TIMEOUT, no contract, another contract, another chain) are
    StartupErrors naming the variable. Once connected, the shared client retries forever: a later L1
    outage is a state reported in /health."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        from node.l1.client import L1Client, RetryPolicy
        from node.l1.errors import L1Error, L1TransientError

        c = self.ctx.config
        rollup: bytes | str | None = c.rollup_contract_address
        if rollup is None and c.registry_contract_address is not None:
            rollup = await _registry_rollup(c.ethereum_host, c.registry_contract_address)
        if rollup is None:
            if c.aztec_node_url is None:
                raise ConfigError(
                    "ROLLUP_CONTRACT_ADDRESS (or REGISTRY_CONTRACT_ADDRESS / AZTEC_NODE_URL to read it from) "
                    "is required"
                )
            rollup = await _fetch_rollup_address(c.aztec_node_url)
        where = f"ROLLUP_CONTRACT_ADDRESS {rollup if isinstance(rollup, str) else '0x' + rollup.hex()}"
        with trio.move_on_after(L1_STARTUP_TIMEOUT) as startup:
            try:
                chain_id, code = await trio.to_thread.run_sync(
                    lambda: _chain_id_and_code(c.ethereum_host, rollup), abandon_on_cancel=True)
            except Exception as e:
                raise StartupError(f"ETHEREUM_HOST {c.ethereum_host}: not answering ({_short(e)})") from None
            if chain_id != c.l1_chain_id:
                raise StartupError(f"ETHEREUM_HOST {c.ethereum_host} is chain {chain_id} but L1_CHAIN_ID is "
                                   f"{c.l1_chain_id}")
            if not code:
                raise StartupError(f"{where}: no contract at that address on ETHEREUM_HOST {c.ethereum_host} "
                                   f"(chain {chain_id})")
            try:
                client = await L1Client.connect(c.ethereum_host, rollup, retry=RetryPolicy(attempts=3))
                await client.timing()  # cached: /health derives the current epoch from it
            except L1TransientError as e:
                raise StartupError(f"ETHEREUM_HOST {c.ethereum_host}: not answering ({_short(e)})") from None
            except L1Error as e:
                raise StartupError(f"{where}: not a v0.63.1 Rollup on ETHEREUM_HOST {c.ethereum_host} "
                                   f"({_short(e)})") from None
            except Exception as e:  # e.g. output that does not decode: another contract
                raise StartupError(f"{where}: not a v0.63.1 Rollup ({type(e).__name__}: {_short(e)})") from None
        if startup.cancelled_caught:
            raise StartupError(f"ETHEREUM_HOST {c.ethereum_host}: no answer within {L1_STARTUP_TIMEOUT:.0f}s")
        client.retry = RetryPolicy.forever()  # from now on an outage is waited out, never raised
        self.ctx.l1 = client
        addresses = client.addresses.to_json()

        async def get_l1_contract_addresses() -> dict[str, Any]:
            return {f"{k}Address": v for k, v in addresses.items()}

        self.ctx.rpc.register("node_getL1ContractAddresses", get_l1_contract_addresses)
        log.info("connected to L1", extra={"rollup": client.addresses.rollup, "chain_id": chain_id})
        task_status.started(client.addresses.rollup)
        await trio.sleep_forever()


async def _registry_rollup(ethereum_host: str, registry: bytes) -> str:
    from node.l1.artifacts import ArtifactsError
    from node.l1.client import RetryPolicy, call_with_retry
    from node.l1.deploy import read_rollup_from_registry_sync
    from node.l1.rpc import SyncRpc

    rpc = SyncRpc.from_url(ethereum_host)
    try:
        return await call_with_retry(lambda: read_rollup_from_registry_sync(rpc, registry), RetryPolicy())
    except ArtifactsError as e:
        raise ConfigError(f"REGISTRY_CONTRACT_ADDRESS: {e}") from e


def _short(e: BaseException, limit: int = 200) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    for marker, reason in (("Errno 111", "connection refused"), ("Connection refused", "connection refused"),
                           ("timed out", "timed out"), ("Name or service not known", "unknown host"),
                           ("Temporary failure in name resolution", "unknown host")):
        if marker in text:
            return reason
    return text[:limit]


def _chain_id_and_code(url: str, address: bytes | str) -> tuple[int, bytes]:
    from web3 import Web3

    from node.l1.rpc import normalize_address

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 3}, exception_retry_configuration=None))
    return int(w3.eth.chain_id), bytes(w3.eth.get_code(normalize_address(address)))  # type: ignore[arg-type]


async def _fetch_rollup_address(url: str) -> bytes:
    import httpx

    body = {"jsonrpc": "2.0", "id": 1, "method": "node_getL1ContractAddresses", "params": []}
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            result = (await client.post(url, json=body)).json()["result"]
        return bytes.fromhex(str(result["rollupAddress"]).removeprefix("0x"))
    except (httpx.HTTPError, KeyError, ValueError, TypeError) as e:
        raise ConfigError(f"could not read the rollup address from AZTEC_NODE_URL {url}: {e!r}") from e
