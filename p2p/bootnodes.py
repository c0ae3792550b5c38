"""Bootstrap ENRs from BOOTSTRAP_NODES and BOOT_NODE_URL (p2p doc 6.3).

- BOOTSTRAP_NODES (Aztec's own variable): comma-separated `enr:` records.
- BOOT_NODE_URL (an operator-side variable in Aztec's testnet docs, honoured by us): comma-separated
  entries, each either an `enr:` record or an http(s) URL of an Aztec node / boot node JSON-RPC (its ENR
  is fetched with `node_getEncodedEnr`, falling back to `pxe_getNodeInfo`'s `enr` field); or a single
  network name from bootnodes.toml (`[networks.<name>]` with `enrs` and/or `urls`), shipped inside the
  `p2p` package (package data, found with importlib.resources, so it works from an installed wheel).

Both are combined and de-duplicated by node id (highest seq wins).
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import httpx
import trio

from p2p.enr import Enr, EnrError, enrs_by_node_id

log = logging.getLogger(__name__)

DEFAULT_BOOTNODES_TOML: Traversable = files("p2p") / "bootnodes.toml"
FETCH_TIMEOUT = 10.0
FETCH_ATTEMPTS = 3
FETCH_RETRY_DELAY = 1.0
MAX_RPC_RESPONSE = 64 * 1024


class BootnodeError(ValueError):
    """BOOTSTRAP_NODES / BOOT_NODE_URL / bootnodes.toml could not be turned into ENRs."""


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    enrs: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    description: str = ""


def load_bootnodes_toml(path: Path | Traversable | None = None) -> dict[str, Network]:
    """Named networks from bootnodes.toml (`[networks.<name>]`, keys `enrs`, `urls`, `description`)."""
    path = path or DEFAULT_BOOTNODES_TOML
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BootnodeError(f"{path} not found") from exc
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BootnodeError(f"{path}: {exc}") from exc
    networks = data.get("networks", {})
    if not isinstance(networks, dict):
        raise BootnodeError(f"{path}: [networks] must be a table")
    out: dict[str, Network] = {}
    for name, table in networks.items():
        if not isinstance(table, dict):
            raise BootnodeError(f"{path}: networks.{name} must be a table")
        enrs, urls, description = table.get("enrs", []), table.get("urls", []), table.get("description", "")
        if not isinstance(enrs, list) or not all(isinstance(e, str) for e in enrs):
            raise BootnodeError(f"{path}: networks.{name}.enrs must be a list of strings")
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise BootnodeError(f"{path}: networks.{name}.urls must be a list of strings")
        unknown = set(table) - {"enrs", "urls", "description"}
        if unknown:
            raise BootnodeError(f"{path}: networks.{name} has unknown keys {sorted(unknown)}")
        out[name] = Network(name, tuple(enrs), tuple(urls), str(description))
    return out


def _is_url(entry: str) -> bool:
    return entry.lower().startswith(("http://", "https://"))


def parse_bootstrap_nodes(value: str | Sequence[str] | None) -> list[Enr]:
    """BOOTSTRAP_NODES: comma-separated `enr:` records (a list of entries is accepted too)."""
    if value is None:
        return []
    entries = value.split(",") if isinstance(value, str) else list(value)
    out: list[Enr] = []
    for index, raw in enumerate(entries):
        entry = raw.strip()
        if not entry:
            continue
        try:
            out.append(Enr.from_text(entry))
        except EnrError as exc:
            raise BootnodeError(f"BOOTSTRAP_NODES entry {index + 1} is not a valid enr: record: {exc}") from exc
    return out


async def fetch_enr(url: str, *, request_timeout: float = FETCH_TIMEOUT, attempts: int = FETCH_ATTEMPTS) -> Enr:
    """Ask an Aztec node (or our boot node) at `url` for its ENR over JSON-RPC.

    Tries `node_getEncodedEnr`, then `pxe_getNodeInfo` (field `enr`); retries connection errors.
    `request_timeout` bounds each HTTP request; wrap in `trio.fail_after` for an overall limit.
    """
    last_error = "no attempt made"
    for attempt in range(max(1, attempts)):
        if attempt:
            await trio.sleep(FETCH_RETRY_DELAY * attempt)
        try:
            async with httpx.AsyncClient(timeout=request_timeout) as client:
                text = await _rpc_enr(client, url, "node_getEncodedEnr")
                if text is None:
                    text = await _rpc_enr(client, url, "pxe_getNodeInfo")
        except (httpx.HTTPError, ValueError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
            log.warning("fetching ENR from %s failed (attempt %d): %s", url, attempt + 1, last_error)
            continue
        if text is None:
            raise BootnodeError(f"{url} returned no ENR (node_getEncodedEnr / pxe_getNodeInfo)")
        try:
            return Enr.from_text(text)
        except EnrError as exc:
            raise BootnodeError(f"{url} returned an invalid ENR: {exc}") from exc
    raise BootnodeError(f"could not fetch an ENR from {url}: {last_error}")


async def _rpc_enr(client: httpx.AsyncClient, url: str, method: str) -> str | None:
    response = await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": []})
    if len(response.content) > MAX_RPC_RESPONSE:
        raise ValueError(f"{method} response too large")
    if response.status_code >= 500:
        raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    result = body.get("result")
    if isinstance(result, dict):
        result = result.get("enr")
    return result if isinstance(result, str) and result.startswith("enr:") else None


async def resolve_boot_node_url(
    value: str | None, *, toml_path: Path | None = None, request_timeout: float = FETCH_TIMEOUT
) -> list[Enr]:
    """BOOT_NODE_URL: `enr:` record(s), http(s) URL(s), or a network name from bootnodes.toml."""
    if value is None or not value.strip():
        return []
    entries = [e.strip() for e in value.split(",") if e.strip()]
    if len(entries) == 1 and not entries[0].startswith("enr:") and not _is_url(entries[0]):
        networks = load_bootnodes_toml(toml_path)
        network = networks.get(entries[0])
        if network is None:
            known = ", ".join(sorted(networks)) or "none"
            raise BootnodeError(
                f"BOOT_NODE_URL={entries[0]!r} is not an enr: record, an http(s) URL, or a network in "
                f"bootnodes.toml (known: {known})"
            )
        entries = [*network.enrs, *network.urls]
        if not entries:
            raise BootnodeError(f"network {network.name!r} in bootnodes.toml lists no enrs or urls")
    out: list[Enr] = []
    for index, entry in enumerate(entries):
        if _is_url(entry):
            out.append(await fetch_enr(entry, request_timeout=request_timeout))
        else:
            try:
                out.append(Enr.from_text(entry))
            except EnrError as exc:
                raise BootnodeError(f"BOOT_NODE_URL entry {index + 1} ({entry[:32]!r}): {exc}") from exc
    return out


async def resolve_bootstrap_enrs(
    *,
    bootstrap_nodes: str | Sequence[str] | None = None,
    boot_node_url: str | None = None,
    toml_path: Path | None = None,
    request_timeout: float = FETCH_TIMEOUT,
) -> list[Enr]:
    """All bootstrap ENRs from both variables, de-duplicated by node id (highest seq kept)."""
    records = parse_bootstrap_nodes(bootstrap_nodes)
    records += await resolve_boot_node_url(boot_node_url, toml_path=toml_path, request_timeout=request_timeout)
    return list(enrs_by_node_id(records).values())
