"""BOOTSTRAP_NODES / BOOT_NODE_URL resolution and bootnodes.toml loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from p2p.bootnodes import (
    DEFAULT_BOOTNODES_TOML,
    BootnodeError,
    fetch_enr,
    load_bootnodes_toml,
    parse_bootstrap_nodes,
    resolve_boot_node_url,
    resolve_bootstrap_enrs,
)
from p2p.discv5.bootnode import BootNode, BootNodeConfig
from p2p.enr import Enr
from p2p.keys import generate_private_key


def _enr(seq: int = 1, key: bytes | None = None) -> Enr:
    key = key or generate_private_key()
    return Enr.create(key, seq=seq, ip="127.0.0.1", udp=9000, extra={"aztec_network": b"\x01"})


def test_repo_bootnodes_toml_loads() -> None:
    networks = load_bootnodes_toml(DEFAULT_BOOTNODES_TOML)
    assert "local" in networks
    assert networks["local"].urls == ("http://127.0.0.1:8080",)


def test_bootstrap_nodes_list() -> None:
    a, b = _enr(), _enr()
    assert parse_bootstrap_nodes(f" {a.to_text()} ,{b.to_text()},") == [a, b]
    assert parse_bootstrap_nodes(None) == [] and parse_bootstrap_nodes("") == []
    with pytest.raises(BootnodeError, match="entry 2"):
        parse_bootstrap_nodes(f"{a.to_text()},/ip4/1.2.3.4/udp/40400")


async def test_boot_node_url_enrs_and_names(tmp_path: Path) -> None:
    a, b = _enr(), _enr()
    assert await resolve_boot_node_url(a.to_text()) == [a]
    assert await resolve_boot_node_url(f"{a.to_text()},{b.to_text()}") == [a, b]
    toml = tmp_path / "bootnodes.toml"
    toml.write_text(f'[networks.mine]\nenrs = ["{a.to_text()}", "{b.to_text()}"]\n[networks.empty]\n')
    assert await resolve_boot_node_url("mine", toml_path=toml) == [a, b]
    with pytest.raises(BootnodeError, match="known: empty, mine"):
        await resolve_boot_node_url("nope", toml_path=toml)
    with pytest.raises(BootnodeError, match="lists no enrs"):
        await resolve_boot_node_url("empty", toml_path=toml)
    with pytest.raises(BootnodeError, match="entry 1"):
        await resolve_boot_node_url("enr:AAAA")


def test_bad_toml(tmp_path: Path) -> None:
    bad = tmp_path / "b.toml"
    bad.write_text("[networks.x]\nenrs = 3\n")
    with pytest.raises(BootnodeError, match="must be a list"):
        load_bootnodes_toml(bad)
    bad.write_text("[networks.x]\nenr = []\n")
    with pytest.raises(BootnodeError, match="unknown keys"):
        load_bootnodes_toml(bad)
    bad.write_text("not toml [")
    with pytest.raises(BootnodeError):
        load_bootnodes_toml(bad)
    with pytest.raises(BootnodeError, match="not found"):
        load_bootnodes_toml(tmp_path / "missing.toml")


async def test_dedup_keeps_highest_seq() -> None:
    key = generate_private_key()
    old, new = _enr(1, key), _enr(2, key)
    other = _enr()
    got = await resolve_bootstrap_enrs(
        bootstrap_nodes=f"{old.to_text()},{other.to_text()}", boot_node_url=new.to_text()
    )
    assert set(got) == {new, other}


async def test_boot_node_url_http_against_our_boot_node(tmp_path: Path) -> None:
    boot = BootNode(BootNodeConfig(udp_listen=("127.0.0.1", 0), http_listen=("127.0.0.1", 0)))
    async with trio.open_nursery() as nursery:
        text = await nursery.start(boot.run)
        url = f"http://127.0.0.1:{boot.http_port}"
        assert (await fetch_enr(url)).to_text() == text
        assert [e.to_text() for e in await resolve_boot_node_url(url)] == [text]
        toml = tmp_path / "bootnodes.toml"
        toml.write_text(f'[networks.local]\nurls = ["{url}"]\n')
        assert [e.to_text() for e in await resolve_bootstrap_enrs(boot_node_url="local", toml_path=toml)] == [text]
        nursery.cancel_scope.cancel()


async def test_unreachable_url_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BootnodeError, match="could not fetch an ENR"):
        await fetch_enr(f"http://127.0.0.1:{port}", request_timeout=1, attempts=1)
