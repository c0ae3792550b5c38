"""Node configuration: one table of environment variables (name, type, default, help).

`load_config(environ)` parses every variable, collects *all* problems and raises one ConfigError
listing them, so an operator fixes a bad env file in one go. `config_table_markdown()` renders the
table for the README, so the docs are generated from the code.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse

if TYPE_CHECKING:
    from p2p.service import P2PConfig

LOG_LEVELS: Final = ("silent", "fatal", "error", "warn", "info", "verbose", "debug", "trace")


class ConfigError(ValueError):
    """One or more environment variables are invalid; the message names each and why."""


class StartupError(ConfigError):
    """A start-up mistake found while starting (a busy port, an unreachable ETHEREUM_HOST, a wrong
    rollup address, an unwritable DATA_DIRECTORY): the message names the variable, port or path.
    The CLI prints it as one line and exits 2."""


# ---------------------------------------------------------------------------------------------
# parsers: str -> typed value, raising ValueError with a human message


def parse_bool(raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _int_parser(minimum: int = 0, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        text = raw.strip().replace("_", "")
        try:
            v = int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        if v < minimum:
            raise ValueError(f"must be >= {minimum}, got {v}")
        if maximum is not None and v > maximum:
            raise ValueError(f"must be <= {maximum}, got {v}")
        return v

    return parse


def _float_parser(minimum: float, maximum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            v = float(raw.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not minimum <= v <= maximum:  # also refuses nan
            raise ValueError(f"must be in [{minimum:g}, {maximum:g}], got {raw.strip()}")
        return v

    return parse


def parse_url(raw: str) -> str:
    u = urlparse(raw.strip())
    if u.scheme not in ("http", "https", "ws", "wss") or not u.netloc:
        raise ValueError(f"expected an http(s):// or ws(s):// URL, got {raw!r}")
    return raw.strip().rstrip("/")


def parse_private_key(raw: str) -> bytes:
    h = raw.strip()
    h = h[2:] if h.lower().startswith("0x") else h
    if not re.fullmatch(r"[0-9a-fA-F]{64}", h):
        raise ValueError("expected a 32-byte hex private key (64 hex chars, optional 0x)")
    key = bytes.fromhex(h)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    if not 0 < int.from_bytes(key, "big") < n:
        raise ValueError("private key is not a valid secp256k1 scalar")
    return key


def parse_peer_id_private_key(raw: str) -> bytes:
    """Aztec's PEER_ID_PRIVATE_KEY: hex of the libp2p protobuf key (08021220 + 32 bytes); a bare
    32-byte hex key is accepted too. Returns the 32-byte secp256k1 scalar."""
    h = raw.strip()
    h = h[2:] if h.lower().startswith("0x") else h
    if len(h) == 72 and h.lower().startswith("08021220"):
        h = h[8:]
    return parse_private_key(h)


def parse_address(raw: str) -> bytes:
    h = raw.strip()
    h = h[2:] if h.lower().startswith("0x") else h
    if not re.fullmatch(r"[0-9a-fA-F]{40}", h):
        raise ValueError(f"expected a 20-byte 0x address, got {raw!r}")
    return bytes.fromhex(h)


def parse_log_level(raw: str) -> str:
    v = raw.strip().lower()
    if v not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return v


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(raw: str) -> HostPort:
    """`<ip>:<port>` or `[ipv6]:<port>`; the IP may be empty (`:40400`) meaning 'unspecified'."""
    text = raw.strip()
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)", text) or re.fullmatch(r"([^:\[\]]*):(\d+)", text)
    if not m:
        raise ValueError(f"expected <ip>:<port>, got {raw!r}")
    host, port = m.group(1), int(m.group(2))
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {raw!r}")
    if host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9.-]+", host):
                raise ValueError(f"invalid host in {raw!r}") from None
    return HostPort(host, port)


def parse_csv(raw: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in raw.split(",") if x.strip())


def parse_path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("empty path")
    try:
        return Path(raw.strip()).expanduser()
    except RuntimeError as e:  # "~user" that does not exist
        raise ValueError(f"cannot expand {raw!r}: {e}") from None


def parse_str(raw: str) -> str:
    return raw.strip()


def parse_token(raw: str) -> str:
    token = raw.strip()
    if len(token) < 16 or not token.isascii() or not token.isprintable() or " " in token:
        raise ValueError("must be at least 16 printable ASCII characters without spaces")
    return token


def parse_db_sync(raw: str) -> str:
    v = raw.strip().lower()
    if v not in ("full", "normal", "off"):
        raise ValueError(f"expected full, normal or off, got {raw!r}")
    return v


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Var:
    env: str
    attr: str
    parse: Callable[[str], Any]
    default: Any
    kind: str
    help: str


u64 = _int_parser(0, 2**64 - 1)
u256 = _int_parser(0, 2**256 - 1)
port = _int_parser(0, 65535)
positive = _int_parser(1, 2**31)

VARS: Final[tuple[Var, ...]] = (
    # --- seed: prover node / general
    Var("ETHEREUM_HOST", "ethereum_host", parse_url, "http://127.0.0.1:8545", "url", "URL of an Ethereum (L1) node."),
    Var("L1_CHAIN_ID", "l1_chain_id", u64, 31337, "int", "Chain id of the L1 chain."),
    Var("DATA_DIRECTORY", "data_directory", parse_path, None, "path",
        "Folder for durable state (broker journal, tx pool, archive). In memory / temp if unset."),
    Var("AZTEC_PORT", "aztec_port", port, 8080, "port",
        "Port of the node's HTTP server: JSON-RPC (`node_*`, broker), `/metrics`, `/health`."),
    Var("AZTEC_HOST", "aztec_host", parse_str, "127.0.0.1", "ip",
        "Interface the node's HTTP server binds to (0.0.0.0 to serve other hosts)."),
    Var("PROVER_PUBLISHER_PRIVATE_KEY", "prover_publisher_private_key", parse_private_key, None, "hex key",
        "Key used to publish proofs and sign quotes on L1 (needs ETH for gas)."),
    Var("PROVER_AGENT_ENABLED", "prover_agent_enabled", parse_bool, False, "bool",
        "Run prover agents in the prover node's process (same as `--prover`)."),
    Var("P2P_ENABLED", "p2p_enabled", parse_bool, False, "bool",
        "Join the p2p network: discover peers, receive txs, gossip quotes (same as `--p2p`)."),
    Var("PROVER_COORDINATION_NODE_URL", "prover_coordination_node_url", parse_url, None, "url",
        "Send quotes over HTTP JSON-RPC (`node_addEpochProofQuote`) instead of p2p; only if P2P_ENABLED is false."),
    Var("BOOT_NODE_URL", "boot_node_url", parse_str, None, "enr/url/name",
        "Boot node(s): `enr:` records (comma-separated), a network name from bootnodes.toml, "
        "or an Aztec node's JSON-RPC URL to fetch its ENR from."),
    Var("BOOTSTRAP_NODES", "bootstrap_nodes", parse_csv, (), "enr list",
        "Comma-separated `enr:` records used as discv5 bootstrap nodes (Aztec's own variable)."),
    Var("AZTEC_NODE_URL", "aztec_node_url", parse_url, None, "url",
        "Aztec node JSON-RPC used to fetch L1 contract addresses not set explicitly."),
    Var("PROVER_BROKER_HOST", "prover_broker_host", parse_url, None, "url",
        "URL of the prover broker's JSON-RPC, for agents and a prover node with an external broker."),
    Var("PROVER_AGENT_CONCURRENCY", "prover_agent_concurrency", positive, 1, "int",
        "Proofs one agent process works on at once."),
    Var("PROVER_REAL_PROOFS", "prover_real_proofs", parse_bool, False, "bool",
        "Generate real proofs (needs the bb prover); false simulates circuits and returns marked fake proofs."),
    Var("LOG_LEVEL", "log_level", parse_log_level, "info", "level", "One of " + ", ".join(LOG_LEVELS) + "."),
    Var("LOG_JSON", "log_json", parse_bool, False, "bool",
        "Log one JSON object per line (every line: py-libp2p's, web3's, warnings and crashes included)."),
    Var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "otel_metrics_endpoint", parse_url, None, "url",
        "Push the /metrics metrics every 15 s over OTLP/HTTP (protobuf, OpenTelemetry SDK exporter) to this "
        "collector endpoint (e.g. http://host:4318/v1/metrics; a bare host:port gets /v1/metrics)."),
    Var("PROVER_MINIMUM_ESCROW_AMOUNT", "prover_minimum_escrow_amount", u256, 1000, "uint256",
        "BondManager tops the escrow up when the deposit is below this."),
    Var("PROVER_TARGET_ESCROW_AMOUNT", "prover_target_escrow_amount", u256, None, "uint256",
        "Deposit the BondManager tops up to (defaults to the minimum)."),
    Var("QUOTE_PROVIDER_URL", "quote_provider_url", parse_url, None, "url",
        "HTTP endpoint asked for {basisPointFee, bondAmount} per epoch; the simple provider is used if unset."),
    Var("QUOTE_PROVIDER_BASIS_POINT_FEE", "quote_provider_basis_point_fee", _int_parser(0, 10_000), 0, "bps",
        "Fee of the simple quote provider, in basis points (0..10000)."),
    Var("QUOTE_PROVIDER_BOND_AMOUNT", "quote_provider_bond_amount", u256, 1000, "uint256",
        "Bond of the simple quote provider."),
    Var("PROVER_NODE_POLLING_INTERVAL_MS", "prover_node_polling_interval_ms", positive, 1000, "ms",
        "How often the EpochMonitor checks L1 for epochs to quote and claims."),
    # --- p2p (Aztec's names and defaults)
    Var("P2P_TCP_LISTEN_ADDR", "p2p_tcp_listen_addr", parse_host_port, HostPort("0.0.0.0", 40400), "ip:port",
        "libp2p TCP listen address."),
    Var("P2P_UDP_LISTEN_ADDR", "p2p_udp_listen_addr", parse_host_port, HostPort("0.0.0.0", 40400), "ip:port",
        "discv5 UDP listen address."),
    Var("P2P_TCP_ANNOUNCE_ADDR", "p2p_tcp_announce_addr", parse_host_port, None, "ip:port",
        "Address announced in our ENR (`ip`/`tcp`); defaults to the listen address."),
    Var("P2P_UDP_ANNOUNCE_ADDR", "p2p_udp_announce_addr", parse_host_port, None, "ip:port",
        "Address announced in our ENR (`udp`); defaults to the TCP announce address."),
    Var("PEER_ID_PRIVATE_KEY", "peer_id_private_key", parse_peer_id_private_key, None, "hex key",
        "libp2p/discv5 identity: hex of the protobuf key (08021220 + 32 bytes) or a bare 32-byte key."),
    Var("P2P_MIN_PEERS", "p2p_min_peers", positive, 10, "int",
        "Below this many connections the peer manager redials peers it reached before (libp2p minConnections)."),
    Var("P2P_MAX_PEERS", "p2p_max_peers", positive, 100, "int", "Maximum connections."),
    Var("P2P_PEER_CHECK_INTERVAL_MS", "p2p_peer_check_interval_ms", positive, 1000, "ms",
        "Peer manager heartbeat (dial cached discovered peers, static peers, the P2P_MIN_PEERS redial)."),
    # --- p2p containment (issue 10: transport/peer side; ours, not Aztec's)
    Var("P2P_BAN_DURATION_S", "p2p_ban_duration_s", positive, 600, "s",
        "How long a peer whose invalid traffic keeps coming is disconnected and refused."),
    Var("P2P_BAN_AFTER_FAULTS", "p2p_ban_after_faults", positive, 5, "int",
        "Protocol faults (malformed frames, requests that make a handler fail) within 60 s that ban a peer."),
    Var("P2P_MAX_STREAMS_PER_PEER", "p2p_max_streams_per_peer", positive, 32, "int",
        "Inbound streams one peer may have open at once; more are reset."),
    # --- L1 contracts / timing (read from the Rollup when only its address is known)
    Var("ROLLUP_CONTRACT_ADDRESS", "rollup_contract_address", parse_address, None, "address",
        "Rollup contract; other addresses are read from it."),
    Var("REGISTRY_CONTRACT_ADDRESS", "registry_contract_address", parse_address, None, "address",
        "Registry contract: the Rollup is its canonical rollup (`getRollup()`) when ROLLUP_CONTRACT_ADDRESS is unset."),
    Var("SEQ_PUBLISHER_PRIVATE_KEY", "seq_publisher_private_key", parse_private_key, None, "hex key",
        "Sequencer's L1 publisher key (proposes blocks, claims quotes)."),
    Var("VALIDATOR_PRIVATE_KEY", "validator_private_key", parse_private_key, None, "hex key",
        "Sequencer's validator key (attestations); defaults to the publisher key."),
    Var("SEQ_INDEX", "seq_index", _int_parser(0, 1023), None, "int",
        "With open proposing (no committee), this sequencer's turn: it proposes when slot % SEQ_COUNT == SEQ_INDEX."),
    Var("SEQ_COUNT", "seq_count", positive, 1, "int", "Number of sequencers sharing slots by SEQ_INDEX."),
    Var("TXBOT_TX_PER_SLOT", "txbot_tx_per_slot", _int_parser(0, 10_000), 2, "int",
        "Transactions the tx bot (`--tx-bot`) gossips per L2 slot."),
    Var("BOND_TOKEN_MINT", "bond_token_mint", parse_bool, False, "bool",
        "Let the BondManager mint bond tokens when short (only the devnet's TestERC20 allows it)."),
    # --- deadline-aware proving (issue 14): speculative proving and the plan-based quote provider
    Var("PROVER_SPECULATIVE_PROVING", "prover_speculative_proving", parse_bool, False, "bool",
        "Prove the claim-independent jobs of an epoch we intend to quote (tube, AVM, base, merges, block roots) as "
        "its blocks land, below any claimed epoch; cancelled (and counted as wasted) if another prover wins."),
    Var("PROVER_SPECULATIVE_SHARE", "prover_speculative_share", _float_parser(0.0, 1.0), 1.0, "fraction",
        "Largest share of the agents speculative jobs may hold at once."),
    Var("QUOTE_PROVIDER_PLAN", "quote_provider_plan", parse_bool, False, "bool",
        "Price quotes from the proving plan when QUOTE_PROVIDER_URL is unset: refuse epochs the estimate cannot "
        "finish before the latest possible deadline, fee from QUOTE_COST_PER_AGENT_HOUR."),
    Var("QUOTE_PLAN_AGENTS", "quote_plan_agents", positive, 1, "int",
        "Proving capacity (agents x concurrency) the plan-based quote provider counts on."),
    Var("QUOTE_PLAN_SECONDS_PER_MGATE", "quote_plan_seconds_per_mgate", _float_parser(1e-6, 1e6), 10.0, "s",
        "Seconds one agent takes per million gates, until measured job times replace it."),
    Var("QUOTE_PLAN_DEADLINE_MARGIN", "quote_plan_deadline_margin", _float_parser(0.0, 10.0), 0.1, "fraction",
        "Quote only if the estimated makespan times (1 + margin) fits before the deadline."),
    Var("QUOTE_COST_PER_AGENT_HOUR", "quote_cost_per_agent_hour", u256, 0, "token units",
        "Operator cost of one agent-hour, in fee token units (0 = fee of 0 bps)."),
    Var("QUOTE_PROFIT_MARGIN", "quote_profit_margin", _float_parser(0.0, 100.0), 0.2, "fraction",
        "Margin on top of the cost when pricing a quote."),
    # --- devnet (`--devnet`)
    Var("DEVNET_SLOT_DURATION", "devnet_slot_duration", positive, 8, "s", "Devnet L2 slot length."),
    Var("DEVNET_EPOCH_DURATION", "devnet_epoch_duration", positive, 4, "slots", "Devnet epoch length."),
    Var("DEVNET_CLAIM_WINDOW", "devnet_claim_window", positive, 2, "slots", "Devnet claim window."),
    Var("DEVNET_SEQUENCERS", "devnet_sequencers", positive, 3, "int", "Sequencers the devnet starts."),
    Var("DEVNET_COMMITTEE", "devnet_committee", parse_bool, False, "bool",
        "Register the devnet sequencers as validators (committee; proposals need attestations over gossip)."),
    Var("DEVNET_BASE_PORT", "devnet_base_port", _int_parser(1024, 65000), 40400, "port",
        "First of the ~130 consecutive TCP/UDP ports the devnet's nodes use on 127.0.0.1."),
    Var("DEVNET_PROVER_AGENTS", "devnet_prover_agents", _int_parser(0, 1024), 4, "int",
        "Agents of the devnet's prover node; 0 = it quotes and claims but never proves (its bond is lost)."),
    # --- packaging / p2p wiring (structure-pkg): where an installed node finds the npm packages; static peers
    Var("AZTEC_NODE_MODULES", "aztec_node_modules", parse_path, None, "path",
        "node_modules holding Aztec's npm packages (@aztec/l1-artifacts@0.63.1, anvil); defaults to "
        "interop/js/node_modules of a source checkout, so an installed wheel needs it for L1 roles."),
    Var("P2P_STATIC_PEERS", "p2p_static_peers", parse_csv, (), "multiaddr list",
        "Comma-separated `/ip4/<ip>/tcp/<port>/p2p/<peer id>` peers kept connected (redialled when dropped)."),
    # --- p2p propagation tracing (p2p-prop, issue 15)
    Var("P2P_GOSSIP_TRACE", "p2p_gossip_trace", parse_bool, False, "bool",
        "Log one line per accepted gossip message (`gossip arrival`: topic, first 16 hex digits of the "
        "payload's sha256, wall-clock arrival time); for propagation measurements "
        "(bench/p2p_propagation.py). Costs one log line per message."),
    # --- broker job leases, durability and limits (broker-leases; names as Aztec 0.63.1 where it has them)
    Var("PROVER_JOB_TIMEOUT_MS", "prover_job_timeout_ms", _int_parser(50, 86_400_000), 3000, "ms",
        "Job lease: a job whose agent sends no heartbeat for this long goes to another agent "
        "(Aztec's default is 60000; keep it a few PROVER_AGENT_POLL_INTERVAL_MS)."),
    Var("PROVER_JOB_POLL_INTERVAL_MS", "prover_job_poll_interval_ms", _int_parser(10, 60_000), 500, "ms",
        "How often the broker checks job leases (re-dispatch comes at most this late after a lease ends)."),
    Var("PROVER_AGENT_POLL_INTERVAL_MS", "prover_agent_poll_interval_ms", _int_parser(10, 3_600_000), 1000, "ms",
        "Agents' heartbeat interval for the jobs they prove (our agents long-poll for jobs instead of polling)."),
    Var("PROVER_BROKER_JOB_MAX_RETRIES", "prover_broker_job_max_retries", _int_parser(1, 100), 3, "int",
        "Attempts a job gets when agents report retryable errors (lease expiries and broker restarts do not count)."),
    Var("PROVER_BROKER_DB_SYNC", "prover_broker_db_sync", parse_db_sync, "full", "full/normal/off",
        "Broker journal durability: full = an acknowledged job/result survives power loss (one fsync per group "
        "commit); normal = survives a crash of the process only; off = neither."),
    Var("PROVER_BROKER_MAX_INLINE_BYTES", "prover_broker_max_inline_bytes", _int_parser(1024, 64 << 20), 256 << 10,
        "bytes", "Largest inline (data:) inputs or result URI the broker accepts; larger ones go through the "
        "proof store (file:// URIs, accepted only inside DATA_DIRECTORY/proofs)."),
    Var("PROVER_BROKER_MAX_QUEUED_JOBS", "prover_broker_max_queued_jobs", _int_parser(1, 10_000_000), 200_000, "int",
        "Unsettled jobs the broker holds at most; enqueueProvingJob answers 'broker full' beyond it."),
    # --- broker connections (broker-perf, issue 15)
    Var("PROVER_BROKER_MAX_CONNECTIONS", "prover_broker_max_connections", _int_parser(16, 1_000_000), 4096, "int",
        "With --prover-broker: HTTP connections the node serves at once (each agent keeps one), at most half "
        "the open-file limit; one client IP may hold half of them (agents often share a host). Without "
        "--prover-broker the node serves 512, 256 per IP."),
    # --- http access (the broker's JSON-RPC)
    Var("PROVER_BROKER_AUTH_TOKEN", "prover_broker_auth_token", parse_token, None, "secret",
        "Bearer token every broker JSON-RPC call must carry (`Authorization: Bearer <token>`); agents and "
        "prover nodes send it to PROVER_BROKER_HOST. Unset: the broker answers loopback callers only."),
)

_BY_ATTR: Final = {v.attr: v for v in VARS}


@dataclass(frozen=True)
class NodeConfig:
    ethereum_host: str = "http://127.0.0.1:8545"
    l1_chain_id: int = 31337
    data_directory: Path | None = None
    aztec_port: int = 8080
    aztec_host: str = "127.0.0.1"
    prover_publisher_private_key: bytes | None = field(default=None, repr=False)
    prover_agent_enabled: bool = False
    p2p_enabled: bool = False
    prover_coordination_node_url: str | None = None
    boot_node_url: str | None = None
    bootstrap_nodes: tuple[str, ...] = ()
    aztec_node_url: str | None = None
    prover_broker_host: str | None = None
    prover_agent_concurrency: int = 1
    prover_real_proofs: bool = False
    log_level: str = "info"
    log_json: bool = False
    otel_metrics_endpoint: str | None = None
    prover_minimum_escrow_amount: int = 1000
    prover_target_escrow_amount: int | None = None
    quote_provider_url: str | None = None
    quote_provider_basis_point_fee: int = 0
    quote_provider_bond_amount: int = 1000
    prover_node_polling_interval_ms: int = 1000
    p2p_tcp_listen_addr: HostPort = HostPort("0.0.0.0", 40400)
    p2p_udp_listen_addr: HostPort = HostPort("0.0.0.0", 40400)
    p2p_tcp_announce_addr: HostPort | None = None
    p2p_udp_announce_addr: HostPort | None = None
    peer_id_private_key: bytes | None = field(default=None, repr=False)
    p2p_min_peers: int = 10
    p2p_max_peers: int = 100
    p2p_peer_check_interval_ms: int = 1000
    p2p_ban_duration_s: int = 600
    p2p_ban_after_faults: int = 5
    p2p_max_streams_per_peer: int = 32
    rollup_contract_address: bytes | None = None
    registry_contract_address: bytes | None = None
    seq_publisher_private_key: bytes | None = field(default=None, repr=False)
    validator_private_key: bytes | None = field(default=None, repr=False)
    seq_index: int | None = None
    seq_count: int = 1
    txbot_tx_per_slot: int = 2
    bond_token_mint: bool = False
    prover_speculative_proving: bool = False
    prover_speculative_share: float = 1.0
    quote_provider_plan: bool = False
    quote_plan_agents: int = 1
    quote_plan_seconds_per_mgate: float = 10.0
    quote_plan_deadline_margin: float = 0.1
    quote_cost_per_agent_hour: int = 0
    quote_profit_margin: float = 0.2
    devnet_slot_duration: int = 8
    devnet_epoch_duration: int = 4
    devnet_claim_window: int = 2
    devnet_sequencers: int = 3
    devnet_committee: bool = False
    devnet_base_port: int = 40400
    devnet_prover_agents: int = 4
    # packaging / p2p wiring (structure-pkg)
    aztec_node_modules: Path | None = None
    p2p_static_peers: tuple[str, ...] = ()
    # p2p propagation tracing (p2p-prop)
    p2p_gossip_trace: bool = False
    prover_job_timeout_ms: int = 3000
    prover_job_poll_interval_ms: int = 500
    prover_agent_poll_interval_ms: int = 1000
    prover_broker_job_max_retries: int = 3
    prover_broker_db_sync: str = "full"
    prover_broker_max_inline_bytes: int = 256 << 10
    prover_broker_max_queued_jobs: int = 200_000
    prover_broker_max_connections: int = 4096
    prover_broker_auth_token: str | None = field(default=None, repr=False)

    @property
    def target_escrow_amount(self) -> int:
        t = self.prover_target_escrow_amount
        return self.prover_minimum_escrow_amount if t is None else t


def _check_table_matches_dataclass() -> None:
    names = {f.name for f in fields(NodeConfig)}
    missing = names ^ set(_BY_ATTR)
    assert not missing, f"config table and NodeConfig disagree on {sorted(missing)}"


_check_table_matches_dataclass()


def load_config(environ: Mapping[str, str], **overrides: Any) -> NodeConfig:
    """Parse every known variable from `environ`; unknown variables are ignored.

    Raises ConfigError naming every invalid variable. `overrides` (CLI flags) win over env.
    """
    values: dict[str, Any] = {}
    errors: list[str] = []
    for var in VARS:
        raw = environ.get(var.env)
        if raw is None or raw.strip() == "":  # set-but-empty means unset, as in Aztec's env files
            continue
        try:
            values[var.attr] = var.parse(raw)
        except ValueError as e:
            errors.append(f"{var.env}: {e}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("prover_target_escrow_amount") is not None and values["prover_target_escrow_amount"] < values.get(
        "prover_minimum_escrow_amount", 1000
    ):
        errors.append("PROVER_TARGET_ESCROW_AMOUNT: must be >= PROVER_MINIMUM_ESCROW_AMOUNT")
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    return NodeConfig(**values)


def config_table_markdown() -> str:
    rows = ["| Variable | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
    for v in VARS:
        d = v.default
        shown = "" if d is None or d == () else str(d)
        rows.append(f"| `{v.env}` | {v.kind} | {shown} | {v.help} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# p2p wiring (structure-pkg): the one place the p2p variables become a `p2p.service.P2PConfig`,
# the plain record p2p/ receives (p2p/ reads no environment itself).


def tcp_multiaddr(hp: HostPort) -> str:
    """Aztec's `<ip>:<port>` / `[ipv6]:<port>` (empty ip = unspecified) as a TCP multiaddr."""
    if ":" in hp.host:
        return f"/ip6/{hp.host}/tcp/{hp.port}"
    return f"/ip4/{hp.host or '0.0.0.0'}/tcp/{hp.port}"


def p2p_config(
    c: NodeConfig,
    *,
    private_key: bytes | None = None,
    announce: HostPort | None = None,
    rollup_address: bytes | None = None,
    **fields: Any,
) -> P2PConfig:
    """P2PConfig from PEER_ID_PRIVATE_KEY, P2P_TCP_LISTEN_ADDR, P2P_TCP_ANNOUNCE_ADDR, P2P_STATIC_PEERS,
    L1_CHAIN_ID, ROLLUP_CONTRACT_ADDRESS, P2P_MAX_PEERS, P2P_MIN_PEERS, P2P_PEER_CHECK_INTERVAL_MS and the
    containment limits (P2P_BAN_DURATION_S, P2P_BAN_AFTER_FAULTS, P2P_MAX_STREAMS_PER_PEER).
    Keyword arguments win (the node passes the key it generated, the announce address it chose and the
    rollup it read from L1); `fields` are other P2PConfig fields."""
    from p2p.containment import ContainmentConfig
    from p2p.service import P2PConfig

    announce = announce or c.p2p_tcp_announce_addr
    return P2PConfig(
        private_key=private_key or c.peer_id_private_key,
        listen_addrs=(tcp_multiaddr(c.p2p_tcp_listen_addr),),
        announce_addrs=(tcp_multiaddr(announce),) if announce is not None else (),
        static_peers=c.p2p_static_peers,
        chain_id=c.l1_chain_id,
        rollup_address=rollup_address or c.rollup_contract_address or bytes(20),
        max_peers=c.p2p_max_peers,
        min_peers=c.p2p_min_peers,
        peer_check_interval=c.p2p_peer_check_interval_ms / 1000,
        containment=ContainmentConfig(
            ban_duration_s=float(c.p2p_ban_duration_s),
            ban_after_faults=c.p2p_ban_after_faults,
            max_inbound_streams_per_peer=c.p2p_max_streams_per_peer,
        ),
        **fields,
    )
