"""Adversarial-peer bench: real js-libp2p 1.5.0 + gossipsub 13.0.0 peers against `python -m node --p2p`.

    python bench/adversarial_p2p.py [--flood-seconds 8] [--grief 1000]

Starts anvil with the v0.63.1 contracts (the node is pointed at L1: ROLLUP_CONTRACT_ADDRESS), bonds an
honest prover in the escrow, starts one node process, an honest js peer (interop/js/gossip_peer.mjs)
and hostile js peers (interop/js/adversary_peer.mjs), then prints ONE table:

1. malformed frames on each protocol the node speaks (meshsub incl. a signed 4-byte-seqno envelope,
   identify + push under both ids, ping, every req/resp protocol, discv5 UDP, raw TCP): node alive?
   (process up, /health answers, an honest quote published afterwards reaches the node's pool);
2. a flood of invalid quotes at the highest rate the attacker reaches: attacker disconnected/banned?
   honest quote accepted during the flood? node RSS growth;
3. a plain gossipsub relay forwarding quotes signed for another rollup, then its own valid quote:
   relay penalised? (depends on the gossip verdict: IGNORE = no penalty);
4. griefing: N fee-0 quotes from throwaway (unbonded) keys, then the honest bonded quote: is the
   honest quote still the best claimable one (lowest fee among pooled quotes whose prover has the
   bond in the escrow, read from L1)? (depends on quote admission)

Needs interop/js/node_modules (scripts/bootstrap.sh) and node on PATH. Runtime ~1.5-2 minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import trio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.procs import stop_process  # noqa: E402
from node.l1.anvil import ANVIL_DEV_KEYS, AnvilProcess  # noqa: E402
from node.l1.client import L1Client  # noqa: E402
from node.l1.deploy import RollupConfig, deploy_l1_contracts_report  # noqa: E402
from node.l1.ports import L1EscrowAdapter  # noqa: E402
from node.l1.rpc import SyncRpc  # noqa: E402
from node.prover_node.bond import BondManager  # noqa: E402
from p2p.keys import encode_peer_id_private_key, generate_private_key, peer_id_from_private_key  # noqa: E402
from p2p.topics import EPOCH_PROOF_QUOTE  # noqa: E402
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, address_of  # noqa: E402

JS_DIR = REPO / "interop" / "js"
QUOTE_TOPIC = EPOCH_PROOF_QUOTE.topic
MESHSUB = "/meshsub/1.1.0"
CHAIN_ID = 31337
QUOTE_METRIC = "aztec_p2p_gossip_topics__aztec_epoch_proof_quote_0_1_0_"
HONEST_KEY = bytes.fromhex(ANVIL_DEV_KEYS[4].removeprefix("0x"))


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def frame(b: bytes) -> bytes:
    return uvarint(len(b)) + b


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ---- processes --------------------------------------------------------------------------------------
class Lines:
    """A reader thread that turns a pipe into a queue of lines."""

    def __init__(self, pipe: Any, keep: bool = True) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        self.count = 0
        self._keep = keep
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: Any) -> None:
        for line in pipe:
            self.count += 1
            if self._keep:
                self.q.put(line)


class JsPeer:
    def __init__(self, script: str, key: bytes | None = None) -> None:
        env = {**os.environ}
        if key is not None:
            env["PEER_ID_PRIVATE_KEY"] = encode_peer_id_private_key(key)
        node = shutil.which("node") or "node"
        self.proc = subprocess.Popen(
            [node, script], cwd=JS_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )
        self.out = Lines(self.proc.stdout)
        ready = self.wait("ready", 30)
        self.peer_id: str = ready["peerId"]
        self.info_addr = f"{ready['addrs'][0]}/p2p/{self.peer_id}" if "/p2p/" not in ready["addrs"][0] \
            else ready["addrs"][0]

    def wait(self, event: str, timeout: float, cmd: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"js peer: no {event} {cmd or ''} in {timeout} s")
            try:
                ev: dict[str, Any] = json.loads(self.out.q.get(timeout=left))
            except queue.Empty:
                continue
            if ev.get("event") == "fatal":
                raise RuntimeError(ev["error"])
            if ev.get("event") == event and (cmd is None or ev.get("cmd") == cmd):
                return ev

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def command(self, timeout: float = 60, **cmd: Any) -> dict[str, Any]:
        self.send(**cmd)
        return self.wait("reply", timeout, cmd["cmd"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.kill()
        self.proc.wait()


class NodeProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.key = generate_private_key()
        self.peer_id = peer_id_from_private_key(self.key)
        self.tcp, self.http = free_port(), free_port()
        self.udp = free_port(socket.SOCK_DGRAM)
        full = {
            **os.environ,
            "AZTEC_HOST": "127.0.0.1",
            "AZTEC_PORT": str(self.http),
            "P2P_TCP_LISTEN_ADDR": f"127.0.0.1:{self.tcp}",
            "P2P_UDP_LISTEN_ADDR": f"127.0.0.1:{self.udp}",
            "PEER_ID_PRIVATE_KEY": encode_peer_id_private_key(self.key),
            "LOG_LEVEL": "info",
            "PYTHONPATH": str(REPO),
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "node", "--p2p"], env=full, cwd=REPO, stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL, text=True,
        )
        self.log = Lines(self.proc.stderr)
        deadline = time.monotonic() + 90
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.log.q.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError("node exited: " + "".join(seen[-20:])) from None
                continue
            seen.append(line)
            if "node running" in line:
                self.log._keep = False
                break
        else:
            raise RuntimeError("node not running in time: " + "".join(seen[-20:]))
        self.addr = f"/ip4/127.0.0.1/tcp/{self.tcp}/p2p/{self.peer_id}"

    def rpc(self, method: str, *params: Any) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http}/", method="POST",
            data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode(),
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read()).get("result")

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=10) as r:
            text = r.read().decode()
        return _p2p_metrics(text)

    def m(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/health", timeout=5) as r:
                return bool(r.status == 200)
        except Exception:
            return False

    def close(self) -> None:
        stop_process(self.proc, 20)


# ---- quotes / envelopes -----------------------------------------------------------------------------
class Quotes:
    """Quote factory. Liveness checks each use a fresh (bonded prover, epoch) pair, so a per-prover cap
    in quote admission never makes an honest check fail; HONEST_KEY is kept for the scenarios."""

    def __init__(self, rollup: bytes, epoch: int, valid_until: int, bond: int, check_keys: list[bytes]) -> None:
        self.rollup, self.epoch, self.valid_until, self.bond = rollup, epoch, valid_until, bond
        self._slots = [(k, e) for e in (epoch, epoch + 2) for k in check_keys]
        self._n = 0

    def make(self, key: bytes, epoch: int, fee: int, rollup: bytes | None = None) -> bytes:
        p = EpochProofQuotePayload(epoch, self.valid_until, self.bond, address_of(key), fee)
        return EpochProofQuote.new(p, key, CHAIN_ID, rollup or self.rollup).to_bytes()

    def next_check(self) -> tuple[bytes, int]:
        """A bonded quote for a liveness check and its epoch (fees fall if the slots wrap around)."""
        key, epoch = self._slots[self._n % len(self._slots)]
        fee = 3000 - self._n  # later ones are cheaper: they replace, never lose to, earlier ones
        self._n += 1
        return self.make(key, epoch, fee), epoch

    def throwaway(self, epoch: int, fee: int = 0) -> bytes:
        return self.make(generate_private_key(), epoch, fee)


def signed_gossip(key: bytes, topic: str, data: bytes, seqno: bytes) -> bytes:
    """An RPC frame with one message signed by `key` (libp2p-pubsub signing), seqno as given."""
    from libp2p.crypto.secp256k1 import create_new_key_pair
    from libp2p.peer.id import ID
    from libp2p.pubsub.pb import rpc_pb2

    kp = create_new_key_pair(key)
    msg = rpc_pb2.Message(from_id=ID.from_pubkey(kp.public_key).to_bytes(), data=data, seqno=seqno, topicIDs=[topic])
    msg.signature = kp.private_key.sign(b"libp2p-pubsub:" + msg.SerializeToString())
    return frame(rpc_pb2.RPC(publish=[msg]).SerializeToString())


# ---- the bench --------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[tuple[str, str, str]] = []
        self.stack = contextlib.ExitStack()

    def row(self, scenario: str, result: str, detail: str) -> None:
        self.rows.append((scenario, result, detail))
        print(f"  [{len(self.rows):2d}] {scenario}: {result} ({detail})", file=sys.stderr, flush=True)

    def js(self, script: str = "adversary_peer.mjs", key: bytes | None = None) -> JsPeer:
        p = JsPeer(script, key)
        self.stack.callback(p.close)
        return p

    def quotes_in_pool(self, epoch: int) -> list[dict[str, Any]]:
        return list(self.node.rpc("node_getEpochProofQuotes", epoch) or [])

    def pooled(self, quote_hex: str, epoch: int) -> bool:
        q = EpochProofQuote.from_bytes(bytes.fromhex(quote_hex))
        return any(EpochProofQuote.from_json(j) == q for j in self.quotes_in_pool(epoch))

    def honest_quote_arrives(self, timeout: float = 10.0) -> bool:
        """The honest js peer publishes a fresh bonded quote; True if the node pools it in time."""
        q, epoch = self.q.next_check()
        h = q.hex()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.honest.command(cmd="publish", topic=QUOTE_TOPIC, hex=h)
            t_end = min(deadline, time.monotonic() + 2.0)
            while time.monotonic() < t_end:
                if self.pooled(h, epoch):
                    return True
                time.sleep(0.1)
        return False

    def setup(self) -> None:
        node_modules = JS_DIR / "node_modules"
        if shutil.which("node") is None or not (node_modules / "@chainsafe" / "libp2p-gossipsub").is_dir():
            raise SystemExit("needs node and interop/js/node_modules (scripts/bootstrap.sh)")
        t0 = time.monotonic()
        anvil = AnvilProcess(chain_id=CHAIN_ID, node_modules=node_modules)
        self.stack.callback(anvil.close)
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(anvil.url))
        report = deploy_l1_contracts_report(w3, ANVIL_DEV_KEYS[0], RollupConfig(), ())
        self.rollup = bytes.fromhex(report.addresses.rollup.removeprefix("0x"))
        self.l1 = L1Client(SyncRpc(w3), report.addresses)

        check_keys = [k for k in ANVIL_DEV_KEYS[1:10] if k != ANVIL_DEV_KEYS[4]]  # funded dev accounts

        async def bond_and_timing() -> tuple[int, int, int]:
            min_bond = await self.l1.min_bond_amount()
            for k in [ANVIL_DEV_KEYS[4], *check_keys]:  # the honest prover + the liveness-check provers
                prover = self.l1.with_signer(k)
                bm = BondManager(L1EscrowAdapter(prover), address_of(bytes.fromhex(k.removeprefix("0x"))),
                                 minimum=min_bond * 4, target=min_bond * 4, allow_mint=True)
                await bm.ensure_bond()
            slot = await self.l1.current_slot()
            timing = await self.l1.timing()
            return min_bond, slot, timing.epoch_duration

        self.min_bond, slot, epoch_duration = trio.run(bond_and_timing)
        # from here on L1 makes blocks on a clock, like a real chain (anvil's automine makes one per tx)
        w3.provider.make_request("evm_setIntervalMining", [self.args.l1_block_time])  # type: ignore[arg-type]
        keys = [bytes.fromhex(k.removeprefix("0x")) for k in check_keys]
        self.q = Quotes(self.rollup, slot // epoch_duration, slot + 10_000, self.min_bond, keys)
        self.node = NodeProcess({
            "ETHEREUM_HOST": anvil.url,
            "ROLLUP_CONTRACT_ADDRESS": report.addresses.rollup,
            "L1_CHAIN_ID": str(CHAIN_ID),
            "P2P_BAN_DURATION_S": "600",
        })
        self.stack.callback(self.node.close)
        self.honest = self.js("gossip_peer.mjs")
        self.honest.command(cmd="dial", addr=self.node.addr)
        if not self.honest_quote_arrives(timeout=30):
            raise SystemExit("setup: the honest peer's quote never reached the node")
        self.rss0 = rss_kb(self.node.proc.pid)
        print(f"setup {time.monotonic() - t0:.1f} s: anvil + contracts, honest bond {self.min_bond * 4}, "
              f"epoch {self.q.epoch}, node {self.node.peer_id[:16]}.. RSS {self.rss0 // 1024} MiB", file=sys.stderr)

    # ---- 1. malformed frames ------------------------------------------------------------------------
    def malformed(self) -> None:
        rnd = random.Random(10)
        garbage = [bytes.fromhex("030a0b0c"), b"\xff" * 11, uvarint(1 << 40) + b"\x00" * 8,
                   frame(bytes(rnd.randrange(256) for _ in range(300))), frame(b"\x1a\x10\x0a\x05ab")]
        attacker_key = generate_private_key()
        seqno_quote = self.q.make(HONEST_KEY, self.q.epoch, 9_999)  # valid quote, bad envelope
        seqno4 = signed_gossip(attacker_key, QUOTE_TOPIC, seqno_quote, b"\x00\x00\x00\x07")
        cases: list[tuple[str, list[bytes], bytes | None]] = [
            (MESHSUB, garbage, None),
            (MESHSUB + " (signed, 4-byte seqno)", [seqno4], attacker_key),
            ("/aztec/id/1.0.0", garbage, None),
            ("/ipfs/id/1.0.0", garbage, None),
            ("/aztec/id/push/1.0.0", garbage, None),
            ("/ipfs/id/push/1.0.0", garbage, None),
            ("/ipfs/ping/1.0.0", garbage, None),
            ("/aztec/req/ping/0.1.0", garbage, None),
            ("/aztec/req/status/0.1.0", garbage, None),
            ("/aztec/req/tx/0.1.0", [*garbage, os.urandom(70_000)], None),
        ]
        for proto, frames, key in cases:
            before = self.node.metrics()
            a = self.js(key=key)
            try:
                a.command(cmd="dial", addr=self.node.addr)
                r = a.command(cmd="raw", addr=self.node.addr, protocol=proto.split(" ")[0],
                              hexes=[f.hex() for f in frames], timeout=60)
                time.sleep(0.3)
                after = self.node.metrics()
                faults = _delta(before, after, "aztec_p2p_host_containment_faults")
                env = _delta(before, after, "aztec_p2p_host_containment_envelope_rejected")
                ok = self.node.alive() and self.honest_quote_arrives()
                extra = ""
                if key is not None:
                    seq_pooled = _seqno_quote_pooled(self)
                    extra = f", envelope rejected {env:.0f}, quote pooled/forwarded: {'yes' if seq_pooled else 'no'}"
                self.row(f"malformed {proto}", f"node alive: {'yes' if ok else 'NO'}",
                         f"{r['sent']}/{len(frames)} streams written, faults scored {faults:.0f}{extra}")
            finally:
                a.close()
        # discv5: garbage datagrams
        before = self.node.metrics()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(2000):
                s.sendto(os.urandom((0, 1, 23, 63, 64, 100, 1280, 1281)[i % 8]), ("127.0.0.1", self.node.udp))
        time.sleep(0.5)
        ok = self.node.alive() and self.honest_quote_arrives()
        self.row("malformed discv5 UDP (2000 datagrams)", f"node alive: {'yes' if ok else 'NO'}",
                 "random sizes 0..1281")
        # raw TCP before the noise handshake
        for _ in range(20):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.node.tcp), timeout=2) as c:
                c.sendall(os.urandom(random.randrange(1, 4000)))
        ok = self.node.alive() and self.honest_quote_arrives()
        self.row("malformed TCP/multistream/noise (20 conns)", f"node alive: {'yes' if ok else 'NO'}",
                 "random bytes before the handshake")

    # ---- 2. invalid-quote flood ---------------------------------------------------------------------
    def flood(self) -> None:
        peers_before = self.node.m("aztec_p2p_peers")
        a = self.js()
        a.command(cmd="dial", addr=self.node.addr)
        time.sleep(2.0)  # let gossipsub graft
        valid = self.q.make(HONEST_KEY, self.q.epoch, 1)
        invalid = [valid[: 50 + i] for i in range(64)]  # truncated quotes: v0.63.1's decoder rejects them
        before = self.node.metrics()
        rss_peak = [rss_kb(self.node.proc.pid)]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    rss_peak.append(rss_kb(self.node.proc.pid))
                time.sleep(0.2)

        threading.Thread(target=sample, daemon=True).start()
        a.send(cmd="flood", topic=QUOTE_TOPIC, hexes=[x.hex() for x in invalid], seconds=self.args.flood_seconds)
        time.sleep(self.args.flood_seconds / 2)
        honest_during = self.honest_quote_arrives(timeout=self.args.flood_seconds)
        r = a.wait("reply", self.args.flood_seconds + 60, "flood")
        stop.set()
        after = self.node.metrics()
        # disconnected: gone from the node's peers (its reconnects are closed at once) and from its own
        gone, deadline = False, time.monotonic() + 5
        while not gone and time.monotonic() < deadline:
            gone = self.node.peer_id not in a.command(cmd="peers")["peers"] and \
                self.node.m("aztec_p2p_peers") <= peers_before
            time.sleep(0.2)
        rate = r["sent"] / max(r["seconds"], 1e-9)
        received = _delta(before, after, "aztec_p2p_gossip_topics__aztec_epoch_proof_quote_0_1_0_received")
        rejected = _delta(before, after, "aztec_p2p_gossip_topics__aztec_epoch_proof_quote_0_1_0_rejected")
        bans = _delta(before, after, "aztec_p2p_host_containment_bans")
        refused = _delta(before, after, "aztec_p2p_host_containment_connections_refused_banned")
        growth = (max(rss_peak) - self.rss0) // 1024
        self.row(
            f"flood: {r['sent']} invalid quotes in {r['seconds']:.1f} s ({rate:.0f}/s)",
            f"attacker disconnected: {'yes' if gone else 'NO'}, "
            f"banned: {'yes' if bans >= 1 else 'NO'}, honest quote accepted: {'yes' if honest_during else 'NO'}",
            f"node saw {received:.0f}, rejected {rejected:.0f}, reconnects refused {refused:.0f}, "
            f"RSS {self.rss0 // 1024} -> peak {max(rss_peak) // 1024} MiB (+{growth})",
        )
        a.close()

    # ---- 3. relay of other-rollup quotes ------------------------------------------------------------
    def relay(self) -> None:
        """origin -> relay -> node: a plain js gossipsub 13 relay (no topic validator, as v0.63.1) forwards
        quotes another peer signed for a different rollup; then the relay publishes its own valid quote."""
        relay = self.js("gossip_peer.mjs")
        origin = self.js("gossip_peer.mjs")
        relay.command(cmd="dial", addr=self.node.addr)
        relay_addr = relay.info_addr
        origin.command(cmd="dial", addr=relay_addr)
        time.sleep(3.0)  # meshes: origin-relay, relay-node
        other = bytes.fromhex("33" * 20)
        before = self.node.metrics()
        for i in range(10):
            q = self.q.make(HONEST_KEY, self.q.epoch, 5000 + i, rollup=other)
            origin.command(cmd="publish", topic=QUOTE_TOPIC, hex=q.hex())
        deadline = time.monotonic() + 5
        received = 0.0
        while time.monotonic() < deadline and received < 10:
            time.sleep(0.2)
            received = _delta(before, self.node.metrics(), QUOTE_METRIC + "received")
        own_q, own_epoch = self.q.next_check()
        own = own_q.hex()
        relay.command(cmd="publish", topic=QUOTE_TOPIC, hex=own)
        deadline = time.monotonic() + 3
        accepted = False
        while time.monotonic() < deadline and not accepted:
            time.sleep(0.2)
            accepted = self.pooled(own, own_epoch)
        after = self.node.metrics()
        peers = relay.command(cmd="peers")["peers"]
        rejected = _delta(before, after, "aztec_p2p_gossip_topics__aztec_epoch_proof_quote_0_1_0_rejected")
        ignored = _delta(before, after, "aztec_p2p_gossip_topics__aztec_epoch_proof_quote_0_1_0_ignored")
        gray = _delta(before, after, "aztec_p2p_gossip_topics__aztec_epoch_proof_quote_0_1_0_graylisted")
        penalised = rejected > 0 or gray > 0 or not accepted
        self.row(
            "relay forwards 10 other-rollup quotes (signed by another peer), then its own valid one",
            f"relay penalised: {'YES' if penalised else 'no'}, its valid quote accepted at once: "
            f"{'yes' if accepted else 'NO'}",
            f"node got {received:.0f} via the relay: rejected {rejected:.0f}, ignored {ignored:.0f}, dropped as "
            f"graylisted {gray:.0f}; relay still connected: {'yes' if self.node.peer_id in peers else 'no'}",
        )
        relay.close()
        origin.close()

    # ---- 4. griefing --------------------------------------------------------------------------------
    def grief(self) -> None:
        epoch = self.q.epoch + 1  # an epoch no other scenario touched
        n = self.args.grief
        spam = [self.q.throwaway(epoch).hex() for _ in range(n)]
        a = self.js()
        a.command(cmd="dial", addr=self.node.addr)
        time.sleep(2.0)
        r = a.command(cmd="publish_many", topic=QUOTE_TOPIC, hexes=spam, timeout=120)
        time.sleep(1.0)
        honest = self.q.make(HONEST_KEY, epoch, 250).hex()
        t_pub = time.monotonic()
        deadline = t_pub + self.args.grief_wait
        published = False
        while time.monotonic() < deadline and not (in_pool := self.pooled(honest, epoch)):
            if not published or time.monotonic() - t_pub > 5:
                self.honest.command(cmd="publish", topic=QUOTE_TOPIC, hex=honest)  # again if lost
                published = True
            time.sleep(0.25)
        waited = time.monotonic() - t_pub
        pool = [EpochProofQuote.from_json(j) for j in self.quotes_in_pool(epoch)]
        best = self._best_claimable(pool)
        honest_q = EpochProofQuote.from_bytes(bytes.fromhex(honest))
        unbonded = sum(1 for q in pool if not self._bonded(q))
        self.row(
            f"griefing: {r['sent']} unbonded fee-0 quotes from throwaway keys, then the honest bonded one",
            f"honest quote best claimable: {'yes' if best == honest_q else 'NO'}",
            f"pool for epoch {epoch}: {len(pool)} quotes, {unbonded} unbonded, honest pooled: "
            f"{'yes' if honest_q in pool else 'no'} ({'after' if in_pool else 'not within'} {waited:.1f} s); "
            f"best claimable fee {best.payload.basis_point_fee if best else '-'}; spam sent in {r['seconds']:.1f} s; "
            f"L1 block every {self.args.l1_block_time} s",
        )
        a.close()

    def _bonded(self, q: EpochProofQuote) -> bool:
        cache: dict[bytes, int] = self.__dict__.setdefault("_deposits", {})
        prover = q.payload.prover
        if prover not in cache:
            cache[prover] = trio.run(self.l1.escrow_deposits, prover)
        return cache[prover] >= q.payload.bond_amount >= self.min_bond

    def _best_claimable(self, pool: list[EpochProofQuote]) -> EpochProofQuote | None:
        """v0.63.1's sequencer takes the lowest fee among quotes that pass the claim check; here the
        time-independent part of it (bond in the escrow >= bondAmount >= the rollup's minimum)."""
        ok = [q for q in pool if self._bonded(q)]
        return min(ok, key=lambda q: q.payload.basis_point_fee, default=None)

    def run(self) -> None:
        t0 = time.monotonic()
        with self.stack:
            self.setup()
            for name in self.args.scenarios.split(","):
                getattr(self, name)()
            alive = self.node.alive()
            rss = rss_kb(self.node.proc.pid)
            st = self.node.metrics()
        self.row("end of run", f"node alive: {'yes' if alive else 'NO'}",
                 f"RSS {rss // 1024} MiB, bans {st.get('aztec_p2p_host_containment_bans', 0):.0f}, "
                 f"faults {st.get('aztec_p2p_host_containment_faults', 0):.0f}, total {time.monotonic() - t0:.0f} s")
        print_table(self.rows)


def _seqno_quote_pooled(b: Bench) -> bool:
    return any(EpochProofQuote.from_json(j).payload.basis_point_fee == 9_999 for j in b.quotes_in_pool(b.q.epoch))


def _delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def print_table(rows: list[tuple[str, str, str]]) -> None:
    heads = ("scenario", "result", "detail")
    w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    line = "+" + "+".join("-" * (x + 2) for x in w) + "+"
    print(line)
    print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(heads)) + " |")
    print(line)
    for r in rows:
        print("| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |")
    print(line)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flood-seconds", type=float, default=8.0)
    ap.add_argument("--grief", type=int, default=1000)
    ap.add_argument("--grief-wait", type=float, default=60.0, help="how long the honest quote may take to be pooled")
    ap.add_argument("--l1-block-time", type=int, default=2, help="anvil interval mining (s) after the setup")
    ap.add_argument("--scenarios", default="malformed,flood,relay,grief", help="comma-separated subset, in order")
    Bench(ap.parse_args(argv)).run()



_LABELLED = re.compile(r'^(aztec_p2p_[a-z_]+)\{([^}]*)\} (\S+)$')
_TOPIC_KEYS = {"tx": "_aztec_tx_0_1_0_", "epoch_proof_quote": "_aztec_epoch_proof_quote_0_1_0_",
               "block_proposal": "_aztec_block_proposal_0_1_0_", "block_attestation": "_aztec_block_attestation_0_1_0_"}
_VERDICT_KEYS = {"duplicate": "duplicates"}


def _p2p_metrics(text: str) -> dict[str, float]:
    """The node's p2p numbers under flat names: `aztec_p2p_stats_<path>` gauges as `aztec_p2p_<path>`,
    `aztec_p2p_gossip_messages_total{topic,verdict}` as `aztec_p2p_gossip_topics_<topic>_<verdict>` (plus
    `..._received`, the sum over verdicts) and `aztec_p2p_peers{direction}` summed as `aztec_p2p_peers`."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("aztec_p2p_") or " " not in line:
            continue
        m = _LABELLED.match(line)
        if m is None:
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name.replace("aztec_p2p_stats_", "aztec_p2p_", 1)] = float(value)
            continue
        family, labels, value = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), m.group(3)
        with contextlib.suppress(ValueError):
            v = float(value)
            if family == "aztec_p2p_gossip_messages_total":
                topic = "aztec_p2p_gossip_topics_" + _TOPIC_KEYS.get(labels.get("topic", ""), labels.get("topic", ""))
                verdict = _VERDICT_KEYS.get(labels.get("verdict", ""), labels.get("verdict", ""))
                out[topic + verdict] = v
                out[topic + "received"] = out.get(topic + "received", 0.0) + v
            elif family == "aztec_p2p_peers":
                out["aztec_p2p_peers"] = out.get("aztec_p2p_peers", 0.0) + v
    return out

if __name__ == "__main__":
    main()

