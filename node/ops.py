"""Operator commands: `python -m node status` and `python -m node escrow ...` (also `aztec-py-node`).

- `status [--url URL] [--json]`: asks a running node (default http://127.0.0.1:$AZTEC_PORT) for
  `node_getProverStatus` (open, read-only) and prints the chain's epochs (pending, proven, claimed,
  by whom, fee, bond), the proof being made (progress, deadline, ETA, slack), the agents, the
  escrow, the last epochs and the quotes. `--json`: the node's answer as is, for scripts.
- `escrow balance | withdraw --amount N | withdraw --execute [--json]`: the prover's
  ProofCommitmentEscrow through node/l1's client, with PROVER_PUBLISHER_PRIVATE_KEY, ETHEREUM_HOST
  and ROLLUP_CONTRACT_ADDRESS (the escrow's address is read from the rollup). A withdrawal is
  started with `--amount` (startWithdraw) and executed after the escrow's WITHDRAW_DELAY with
  `--execute` (executeWithdraw); executing early is refused here, with the time it becomes possible.

Exit codes: 0 done, 1 the node or L1 did not answer / the transaction failed, 2 a usage mistake
(one line naming the variable or flag).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import trio

STATUS_TIMEOUT = 15.0


class OpsError(Exception):
    """Expected failure of an operator command: printed as one line."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------ status


def default_url(env: Mapping[str, str]) -> str:
    return f"http://127.0.0.1:{env.get('AZTEC_PORT') or 8080}"


def fetch_status(url: str, timeout: float = STATUS_TIMEOUT) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "node_getProverStatus", "params": []}
    try:
        r = httpx.post(url.rstrip("/") + "/", json=body, timeout=timeout)
    except httpx.HTTPError as e:
        raise OpsError(f"node at {url} did not answer: {type(e).__name__}: {e}") from None
    try:
        answer = r.json()
    except ValueError:
        raise OpsError(f"node at {url} answered HTTP {r.status_code} without JSON") from None
    if "error" in answer:
        raise OpsError(f"node at {url}: {answer['error'].get('message', answer['error'])}")
    result: dict[str, Any] = answer["result"]
    return result


def _secs(x: float | None) -> str:
    if x is None:
        return "-"
    a = abs(x)
    text = f"{int(a // 3600)}h{int(a % 3600 // 60):02d}m" if a >= 3600 else (
        f"{int(a // 60)}m{int(a % 60):02d}s" if a >= 60 else f"{a:.1f}s")
    return ("-" if x < 0 else "") + text


def _claim_line(c: dict[str, Any] | None, me: str | None) -> str:
    if c is None:
        return "none"
    ours = " (ours)" if me is not None and c["bond_provider"].lower() == me.lower() else ""
    return f"epoch {c['epoch']} by {c['bond_provider']}{ours}, fee {c['fee_bps']} bps, bond {c['bond']}"


def format_status(s: dict[str, Any], url: str) -> str:
    out = [f"node {url}  roles {','.join(s.get('roles') or []) or '-'}  prover {s.get('prover') or '-'}"]
    me = s.get("prover")
    l1 = s.get("l1")
    if l1:
        out.append(
            f"L1: slot {l1['slot']}, epoch {l1['epoch']} ({l1['epoch_duration']} slots of {l1['slot_duration']}s)"
        )
        proven_epoch = "-" if l1["proven_epoch"] is None else l1["proven_epoch"]
        out.append(
            f"epochs: pending block {l1['pending_block']} (epoch {l1['pending_epoch']}), proven block "
            f"{l1['proven_block']} (epoch {proven_epoch}), next to prove: "
            f"{'-' if l1['epoch_to_prove'] is None else l1['epoch_to_prove']}"
        )
        out.append(f"claim: {_claim_line(l1.get('claim'), me)}")
        esc = l1.get("escrow")
        if esc is not None:
            w = esc.get("withdrawal")
            pending = "none" if not w else f"{w['amount']} executable at {_when(w['executable_at'])}"
            out.append(f"escrow: deposit {esc['deposit']}, pending withdrawal {pending}")
    elif s.get("l1_error"):
        out.append(f"L1: not answering ({s['l1_error']})")
    p = s.get("proof")
    if p:
        states = ", ".join(f"{k} {v}" for k, v in sorted(p["states"].items()))
        out.append(
            f"proof: epoch {p['epoch']}, {p['jobs_done']}/{p['jobs_total']} jobs ({100 * p['progress']:.0f}%), "
            f"blocks {p['blocks_started']}/{p['blocks']}, started {_secs(p['started_ago'])} ago"
            + (", root proof ready" if p["done"] else "")
        )
        slack = p.get("slack")
        verdict = "" if slack is None else ("  LATE" if slack < 0 else "  on time")
        if p["done"]:
            out.append(f"  finished {_secs(None if p['eta_in'] is None else -p['eta_in'])} ago, "
                       f"slack {_secs(slack)} before the deadline{verdict}")
        else:
            out.append(
                f"  deadline in {_secs(p['deadline_in'])}, ETA in {_secs(p['eta_in'])}, slack {_secs(slack)}{verdict}"
                f"  (critical path {_secs(p['critical_path'])}, work left {_secs(p['remaining_work'])})"
            )
        out.append(f"  jobs: {states}" + (f"  FAILED: {p['failed']}" if p.get("failed") else ""))
    else:
        out.append("proof: none in progress")
    a = s.get("agents") or {}
    local = a.get("local")
    out.append(f"agents: {a.get('busy', 0)} busy, {a.get('idle', 0)} idle"
               + (f" (in-process {local['busy']}/{local['concurrency']} busy, {local['proven']} proven)"
                  if local else ""))
    for e in (s.get("epochs") or [])[-5:]:
        detail = (f"in {e['prove_seconds']}s, slack {_secs(e.get('slack_seconds'))}, {e.get('jobs', '?')} jobs"
                  if e.get("result") == "proven" else e.get("error", ""))
        out.append(f"epoch {e['epoch']}: {e['result']} {detail}".rstrip())
    q = s.get("quotes") or {}
    for x in (q.get("ours") or [])[-5:]:
        by = f" by {x['claimed_by']}" if x.get("claimed_by") else ""
        out.append(f"quote sent: epoch {x['epoch']}, fee {x['fee_bps']} bps, bond {x['bond']} -> {x['outcome']}{by}")
    for x in (q.get("seen") or [])[-5:]:
        out.append(f"quote seen: epoch {x['epoch']} from {x['prover']}, fee {x['fee_bps']} bps: {x['why']}")
    st = s.get("prover_stats")
    if st:
        out.append("prover node: " + ", ".join(f"{k} {v}" for k, v in st.items()))
    return "\n".join(out)


def _when(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def status_main(argv: Sequence[str], env: Mapping[str, str], prog: str) -> int:
    p = argparse.ArgumentParser(prog=f"{prog} status", description="What a running node is proving, and the chain.")
    p.add_argument("--url", default=None, help="the node's HTTP endpoint (default http://127.0.0.1:$AZTEC_PORT)")
    p.add_argument("--json", action="store_true", help="print the node's node_getProverStatus answer as JSON")
    args = p.parse_args(argv)
    url = args.url or default_url(env)
    try:
        s = fetch_status(url)
    except OpsError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    print(json.dumps(s, indent=2) if args.json else format_status(s, url))
    return 0


# ------------------------------------------------------------------ escrow


async def _escrow(env: Mapping[str, str], action: str, amount: int | None) -> dict[str, Any]:
    from node.l1.client import L1Client
    from node.l1.errors import L1Error
    from node.live_view import escrow_status

    key = env.get("PROVER_PUBLISHER_PRIVATE_KEY")
    host = env.get("ETHEREUM_HOST")
    rollup = env.get("ROLLUP_CONTRACT_ADDRESS")
    for name, value in (("PROVER_PUBLISHER_PRIVATE_KEY", key), ("ETHEREUM_HOST", host),
                        ("ROLLUP_CONTRACT_ADDRESS", rollup)):
        if not value:
            raise OpsError(f"{name} is required for escrow commands", 2)
    assert key and host and rollup
    try:
        l1 = await L1Client.connect(host, rollup, signer_key=key)
    except ValueError as e:
        raise OpsError(f"PROVER_PUBLISHER_PRIVATE_KEY / ROLLUP_CONTRACT_ADDRESS: {e}", 2) from None
    except Exception as e:
        raise OpsError(f"ETHEREUM_HOST {host} / ROLLUP_CONTRACT_ADDRESS {rollup}: {type(e).__name__}: {e}") from None
    me = l1.address
    try:
        out: dict[str, Any] = {"prover": me, "escrow": l1.addresses.proof_commitment_escrow}
        if action == "start":
            assert amount is not None
            deposit = await l1.escrow_deposits(me)
            if amount > deposit:
                raise OpsError(f"--amount {amount} is more than the deposit {deposit}", 2)
            receipt = await l1.escrow_start_withdraw(amount)
            out["tx"] = "0x" + receipt.tx_hash.hex()
        elif action == "execute":
            pending, executable_at = await l1.escrow_withdrawal(me)
            if pending == 0:
                raise OpsError("no withdrawal pending: start one with `escrow withdraw --amount N`", 2)
            now = await l1.block_timestamp()
            if now < executable_at:
                raise OpsError(f"the withdrawal of {pending} is executable at {_when(executable_at)} "
                               f"(in {executable_at - now}s of L1 time)", 2)
            receipt = await l1.escrow_execute_withdraw()
            out["tx"] = "0x" + receipt.tx_hash.hex()
            out["withdrawn"] = str(pending)
        out.update(await escrow_status(l1, bytes.fromhex(me.removeprefix("0x"))))
        out["token_balance"] = str(await l1.token_balance(me))
        out["withdraw_delay"] = await l1.escrow_withdraw_delay()
        return out
    except L1Error as e:
        raise OpsError(f"L1: {e}") from None


def escrow_main(argv: Sequence[str], env: Mapping[str, str], prog: str) -> int:
    p = argparse.ArgumentParser(prog=f"{prog} escrow", description="The prover's ProofCommitmentEscrow bond.")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("balance", help="deposit, pending withdrawal, token balance").add_argument("--json",
                                                                                               action="store_true")
    w = sub.add_parser("withdraw", help="start (--amount N) or execute (--execute) a withdrawal")
    g = w.add_mutually_exclusive_group(required=True)
    g.add_argument("--amount", type=int, help="start withdrawing N tokens (startWithdraw)")
    g.add_argument("--execute", action="store_true", help="execute the pending withdrawal after the delay")
    w.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    action = "balance" if args.cmd == "balance" else ("execute" if args.execute else "start")
    if action == "start" and args.amount <= 0:
        print("error: --amount must be a positive number of tokens", file=sys.stderr)
        return 2
    try:
        out = trio.run(_escrow, env, action, getattr(args, "amount", None))
    except OpsError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    w_ = out.get("withdrawal")
    lines = [f"prover {out['prover']}, escrow {out['escrow']}"]
    if action == "start":
        lines.append(f"withdrawal of {args.amount} started (tx {out['tx']}); execute it after {out['withdraw_delay']}s "
                     "with `escrow withdraw --execute`")
    elif action == "execute":
        lines.append(f"withdrew {out['withdrawn']} (tx {out['tx']})")
    lines.append(f"deposit {out['deposit']}, token balance {out['token_balance']}, pending withdrawal "
                 + ("none" if not w_ else f"{w_['amount']} executable at {_when(w_['executable_at'])}"))
    print("\n".join(lines))
    return 0


def main(argv: Sequence[str], prog: str, environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    cmd, rest = argv[0], list(argv[1:])
    if cmd == "status":
        return status_main(rest, env, prog)
    return escrow_main(rest, env, prog)
