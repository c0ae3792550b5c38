"""`python -m node [--p2p] [--p2p-bootstrap] [--prover-node] [--archiver] [--prover] [--prover-broker]
[--sequencer] [--devnet]`: flags pick the components (like `aztec start`), env vars configure them.
`python -m node status` and `python -m node escrow ...` are operator commands (node/ops.py).
The installed console script `aztec-py-node` is the same entry point (`main`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import trio

from node import __version__
from node.config import ConfigError, NodeConfig, config_table_markdown, load_config
from node.logs import configure_logging
from node.supervisor import ComponentFailed, Supervisor, describe, leaf_exceptions, run_until_signal

log = logging.getLogger("node")

ROLES = ("p2p", "p2p_bootstrap", "prover_node", "archiver", "prover", "prover_broker", "sequencer", "tx_bot", "devnet")


def _prog() -> str:
    """`aztec-py-node` when run as the console script, `python -m node` otherwise."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m node" if name in ("", "__main__.py", "-c") else name


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=_prog(),
        description="Python peer node for the Aztec v0.63.1 Sequencer & Prover protocol. "
        "Flags select components; environment variables configure them (see --help-env). "
        "Operator commands: `status` (what a running node is proving), `escrow balance|withdraw` (the bond).",
    )
    p.add_argument("--p2p", action="store_true", help="join the p2p network (discv5 + gossipsub, quote and tx pools)")
    p.add_argument("--p2p-bootstrap", action="store_true", help="run a discv5 boot node")
    p.add_argument("--prover-node", action="store_true", help="run the prover node (quotes, claims, proving)")
    p.add_argument("--archiver", action="store_true", help="follow L2 blocks and messages on L1")
    p.add_argument("--prover", action="store_true",
                   help="run prover agents (in-process, or against PROVER_BROKER_HOST)")
    p.add_argument("--prover-broker", action="store_true", help="run a durable prover broker (JSON-RPC)")
    p.add_argument("--sequencer", action="store_true", help="run a sequencer (propose blocks, claim quotes)")
    p.add_argument("--tx-bot", action="store_true", help="gossip a steady stream of valid transactions (needs --p2p)")
    p.add_argument("--devnet", action="store_true",
                   help="run a whole local network: anvil, contracts, boot node, sequencers, prover node, tx bot")
    p.add_argument("--env-file", type=Path, help="read KEY=VALUE lines before the process environment")
    p.add_argument("--help-env", action="store_true", help="print the environment variable table and exit")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__} (Aztec v0.63.1 protocol)")
    return p


def read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ConfigError(f"{path}:{n}: expected KEY=VALUE, got {line!r}")
        k, v = line.split("=", 1)
        out[k.strip().removeprefix("export ").strip()] = v.strip().strip('"').strip("'")
    return out


OPS_COMMANDS = ("status", "escrow")  # node/ops.py: operator commands against a running node / L1


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["plan"]:  # capacity planner (issue 14)
        from node.deadline.planner import main as plan_main

        return plan_main(argv[1:])
    if argv and argv[0] in OPS_COMMANDS:
        from node.ops import main as ops_main

        return ops_main(argv, _prog(), environ)
    args = build_parser().parse_args(argv)
    if args.help_env:
        print(config_table_markdown())
        return 0
    env = dict(os.environ if environ is None else environ)
    try:
        if args.env_file:
            env = {**read_env_file(args.env_file), **env}
        roles = {r for r in ROLES if getattr(args, r)}
        overrides: dict[str, object] = {}
        if args.p2p:
            overrides["p2p_enabled"] = True
        if args.prover and args.prover_node:
            overrides["prover_agent_enabled"] = True
        config = load_config(env, **overrides)
        if config.p2p_enabled:
            roles.add("p2p")
        if not roles:
            raise ConfigError("no component selected: pass at least one of --p2p, --p2p-bootstrap, --prover-node, "
                              "--archiver, --prover, --prover-broker, --sequencer, --devnet (see --help)")
    except (ConfigError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_json, libp2p="p2p" in roles)
    return run(config, roles)


def run(config: NodeConfig, roles: set[str]) -> int:
    """Run the node; 0 on a clean stop, 2 on a start-up mistake (one line naming the variable, port or
    path; the traceback only with LOG_LEVEL=debug), 1 when a component failed."""
    from node.components import build_components
    from node.l1.artifacts import use_node_modules

    use_node_modules(config.aztec_node_modules)
    debug = config.log_level in ("debug", "trace")
    try:
        components = build_components(config, roles)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log.info("starting", extra={"roles": ",".join(sorted(roles))})
    try:
        trio.run(run_until_signal, Supervisor(components))
    except (Exception, KeyboardInterrupt) as e:
        if isinstance(e, KeyboardInterrupt):
            return 130
        if debug:
            log.debug("node stopped by an exception", exc_info=True)
        mistakes = leaf_exceptions(e, ConfigError)
        if mistakes:
            for line in dict.fromkeys(str(m) for m in mistakes):
                print(f"error: {line}", file=sys.stderr)
            return 2
        failed = leaf_exceptions(e, ComponentFailed)
        for exc in failed:
            log.error("%s", exc)
        if not failed:
            log.error("node failed: %s", describe(e))
        return 1
    log.info("stopped")
    return 0
