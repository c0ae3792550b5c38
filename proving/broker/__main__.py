"""Standalone broker: ``python -m proving.broker --data-dir DIR [--host H] [--port P]``.

Prints ``listening http://host:port`` on stdout once serving (and writes it to ``--address-file``
if given), runs until SIGINT/SIGTERM. With PROVER_BROKER_AUTH_TOKEN set every call needs
``Authorization: Bearer <token>``; without it only loopback callers are served and a --host beyond
loopback is refused (exit 2).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

import trio
from prometheus_client import CollectorRegistry

from core.http import ExposureError
from proving.broker.core import DEFAULT_POLL_INTERVAL
from proving.broker.service import AUTH_TOKEN_VAR, BrokerService
from proving.broker.state import DEFAULT_JOB_TIMEOUT, DEFAULT_MAX_QUEUED
from proving.proof_store import DEFAULT_MAX_INLINE, UriPolicy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m proving.broker", description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=None, help="journal directory (omit: in memory)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--sync", choices=["full", "normal", "off"], default="full",
                    help="journal durability (full: acknowledged work survives power loss)")
    ap.add_argument("--job-timeout", type=float, default=DEFAULT_JOB_TIMEOUT,
                    help="job lease: seconds without a heartbeat before another agent gets the job")
    ap.add_argument("--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL,
                    help="seconds between lease checks")
    ap.add_argument("--max-attempts", type=int, default=3)
    ap.add_argument("--max-queued", type=int, default=DEFAULT_MAX_QUEUED)
    ap.add_argument("--max-inline-bytes", type=int, default=DEFAULT_MAX_INLINE)
    ap.add_argument("--proof-store-dir", type=Path, default=None,
                    help="file:// URIs are accepted only inside this directory (omit: none accepted)")
    ap.add_argument("--policy", choices=["priority", "aztec"], default="priority")
    ap.add_argument("--max-epochs-to-keep", type=int, default=None)
    ap.add_argument("--address-file", type=Path, default=None)
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    token = os.environ.get(AUTH_TOKEN_VAR) or None
    try:
        service = _service(args, token)
    except (ExposureError, ValueError) as exc:
        print(f"python -m proving.broker: {exc}", file=sys.stderr)
        return 2

    async def amain() -> None:
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(service.run)
            line = f"listening http://{host}:{port}"
            if args.address_file is not None:
                tmp = args.address_file.with_suffix(".tmp")
                tmp.write_text(f"http://{host}:{port}\n")
                tmp.replace(args.address_file)
            print(line, flush=True)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(amain)
    return 0


def _service(args: argparse.Namespace, token: str | None) -> BrokerService:
    return BrokerService(
        args.data_dir,
        args.host,
        args.port,
        sync=args.sync,
        job_timeout=args.job_timeout,
        poll_interval=args.poll_interval,
        max_attempts=args.max_attempts,
        max_queued=args.max_queued,
        uri_policy=UriPolicy(args.proof_store_dir, args.max_inline_bytes),
        policy=args.policy,
        max_epochs_to_keep=args.max_epochs_to_keep,
        registry=CollectorRegistry(),
        auth_token=token,
    )


if __name__ == "__main__":
    sys.exit(main())
