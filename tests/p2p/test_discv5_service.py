"""Trio tests of Discv5Service and BootNode on 127.0.0.1 UDP (real sockets, real clock, short)."""

from __future__ import annotations

import os

import httpx
import pytest
import trio
import trio.testing

from p2p.discv5.bootnode import BootNode, BootNodeConfig, parse_address
from p2p.discv5.errors import Discv5RequestError
from p2p.discv5.protocol import Discv5Config
from p2p.discv5.ratelimit import RateLimiter
from p2p.discv5.service import Discv5Service
from p2p.enr import Enr
from p2p.keys import generate_private_key

FAST = Discv5Config(request_timeout=0.5, lookup_timeout=3.0)


def make_service(bootstrap: list[Enr], aztec: bool = True) -> Discv5Service:
    key = generate_private_key()
    extra = {"aztec_network": b"\x01"} if aztec else {}
    enr = Enr.create(key, ip="127.0.0.1", tcp=40400, extra=extra)
    return Discv5Service(key, enr, listen=("127.0.0.1", 0), config=FAST, bootstrap=bootstrap)


@pytest.mark.slow  # several seconds: left out of `scripts/test.sh --fast`
async def test_ten_nodes_find_each_other_via_our_boot_node() -> None:
    boot = BootNode(BootNodeConfig(udp_listen=("127.0.0.1", 0), discv5=FAST))
    async with trio.open_nursery() as nursery:
        boot_text = await nursery.start(boot.run)
        boot_enr = Enr.from_text(boot_text)
        assert boot_enr.is_aztec() and boot_enr.udp is not None and boot_enr.ip == "127.0.0.1"
        services = [make_service([boot_enr]) for _ in range(10)]
        for s in services:
            await nursery.start(s.run)
        ids = {s.node_id for s in services}
        with trio.fail_after(20):
            for s in services:
                await s.ping(boot_enr)
            for _ in range(10):
                async with trio.open_nursery() as lookups:
                    for s in services:
                        lookups.start_soon(s.find_random_node)
                if all(ids - {s.node_id} <= {e.node_id for e in s.known_enrs()} for s in services):
                    break
        for s in services:
            assert ids - {s.node_id} <= {e.node_id for e in s.known_enrs()}
        # the peer-manager channel only carries aztec_network=0x01 records, each once
        seen: set[bytes] = set()
        rx = services[0].discovered()
        while True:
            try:
                enr = rx.receive_nowait()
            except trio.WouldBlock:
                break
            assert enr.is_aztec()
            seen.add(enr.node_id)
        assert ids - {services[0].node_id} <= seen
        assert boot.service.statistics()["table_size"] >= 10
        nursery.cancel_scope.cancel()


async def test_discovered_channel_filters_non_aztec_records() -> None:
    boot = BootNode(BootNodeConfig(udp_listen=("127.0.0.1", 0), discv5=FAST))
    async with trio.open_nursery() as nursery:
        boot_enr = Enr.from_text(await nursery.start(boot.run))
        plain = make_service([boot_enr], aztec=False)
        aztec = make_service([boot_enr])
        watcher = make_service([boot_enr])
        for s in (plain, aztec, watcher):
            await nursery.start(s.run)
        with trio.fail_after(10):
            await plain.ping(boot_enr)
            await aztec.ping(boot_enr)
            await watcher.find_random_node()
            await watcher.lookup(watcher.node_id)
        got = []
        while True:
            try:
                got.append(watcher.discovered().receive_nowait().node_id)
            except trio.WouldBlock:
                break
        known = {e.node_id for e in watcher.known_enrs()}
        if plain.node_id in known:
            assert plain.node_id not in got
        assert boot.service.node_id in got
        nursery.cancel_scope.cancel()


async def test_boot_node_http_json_rpc_and_health() -> None:
    boot = BootNode(BootNodeConfig(udp_listen=("127.0.0.1", 0), http_listen=("127.0.0.1", 0), discv5=FAST))
    async with trio.open_nursery() as nursery:
        text = await nursery.start(boot.run)
        url = f"http://127.0.0.1:{boot.http_port}"
        async with httpx.AsyncClient(timeout=5) as client:
            health = await client.get(url + "/health")
            assert health.status_code == 200
            rpc = await client.post(url, json={"jsonrpc": "2.0", "id": 7, "method": "node_getEncodedEnr", "params": []})
            assert rpc.json() == {"jsonrpc": "2.0", "id": 7, "result": text}
            info = await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "pxe_getNodeInfo"})
            assert info.json()["result"]["enr"] == text
            bad = await client.post(url, content=b"{not json")
            assert bad.json()["error"]["code"] == -32700
            unknown = await client.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "nope"})
            assert unknown.json()["error"]["code"] == -32601
        nursery.cancel_scope.cancel()


async def test_service_survives_garbage_datagrams() -> None:
    boot = BootNode(BootNodeConfig(udp_listen=("127.0.0.1", 0), discv5=FAST))
    async with trio.open_nursery() as nursery:
        boot_enr = Enr.from_text(await nursery.start(boot.run))
        endpoint = boot_enr.udp_endpoint()
        assert endpoint is not None
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with sock:
            for size in (0, 10, 63, 100, 1280, 1500):
                await sock.sendto(bytes(size), endpoint)
        client = make_service([boot_enr])
        await nursery.start(client.run)
        with trio.fail_after(5):
            pong = await client.ping(boot_enr)
        assert pong.recipient_ip == "127.0.0.1"
        assert boot.service.statistics()["decode_errors"] >= 4
        nursery.cancel_scope.cancel()


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:40400") == ("127.0.0.1", 40400)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    assert parse_address("10.0.0.1", default_port=1) == ("10.0.0.1", 1)


async def test_request_timeout_and_retry_on_virtual_clock(autojump_clock: trio.testing.MockClock) -> None:
    """Time comes from trio: with MockClock a silent peer fails after 2 attempts x 2 s of virtual time."""
    silent = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with silent:
        await silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        dead = Enr.create(generate_private_key(), ip="127.0.0.1", udp=port)
        key = generate_private_key()
        service = Discv5Service(key, Enr.create(key, ip="127.0.0.1"), config=Discv5Config(request_timeout=2.0))
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            start = trio.current_time()
            with pytest.raises(Discv5RequestError, match="timeout"):
                await service.ping(dead)
            assert trio.current_time() - start >= 4.0
            assert await service.lookup(os.urandom(32)) == []  # empty table: finishes at once
            nursery.cancel_scope.cancel()


def test_rate_limiter() -> None:
    limiter = RateLimiter(rate=10, burst=5, max_sources=2)
    assert all(limiter.allow("a", 0.0) for _ in range(5))
    assert not limiter.allow("a", 0.0)
    assert limiter.allow("a", 0.1)  # refilled one token
    limiter.allow("b", 0.0)
    limiter.allow("c", 0.0)  # "a" forgotten (bounded)
    assert all(limiter.allow("a", 0.2) for _ in range(5))
    assert limiter.dropped == 1


async def test_background_random_lookups_fill_known_records() -> None:
    boot = BootNode(BootNodeConfig(udp_listen=("127.0.0.1", 0), discv5=FAST))
    async with trio.open_nursery() as nursery:
        boot_enr = Enr.from_text(await nursery.start(boot.run))
        services = []
        for _ in range(5):
            key = generate_private_key()
            enr = Enr.create(key, ip="127.0.0.1", tcp=1, extra={"aztec_network": b"\x01"})
            service = Discv5Service(
                key, enr, config=FAST, bootstrap=[boot_enr], random_lookup_interval=0.2, first_lookup_delay=0.1
            )
            services.append(service)
        for s in services:
            await nursery.start(s.run)
            await s.ping(boot_enr)  # so the boot node knows everyone early
        ids = {s.node_id for s in services}
        with trio.fail_after(15):
            for _ in range(150):  # polling the services' state, nothing to wait on
                if all(ids - {s.node_id} <= {e.node_id for e in s.known_enrs()} for s in services):
                    break
                await trio.sleep(0.1)
        assert all(ids - {s.node_id} <= {e.node_id for e in s.known_enrs()} for s in services)
        services[0].pause_lookups(True)
        nursery.cancel_scope.cancel()
