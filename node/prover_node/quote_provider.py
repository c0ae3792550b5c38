"""QuoteProvider: prices an epoch. Simple (fixed fee and bond from env) or HTTP (POST to
QUOTE_PROVIDER_URL), as in Aztec v0.63.1's prover node.

HTTP request body: {"epochNumber", "fromBlock", "toBlock", "txCount", "totalFees"} (totalFees as a
decimal string, it can exceed 2^53). Response: {"basisPointFee", "bondAmount"} and optionally
{"validUntilSlot"}. If a field is missing, or a value is invalid, no quote is produced (the caller
logs why); the prover node then sends nothing for that epoch. Unlike Aztec's `!data.basisPointFee`
test, a fee of 0 is a valid answer, not a missing one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from node.l1.rules import basis_point_fee_ok

log = logging.getLogger("node.prover_node.quote_provider")


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    epoch_number: int
    from_block: int
    to_block: int
    tx_count: int
    total_fees: int

    def to_json(self) -> dict[str, Any]:
        return {
            "epochNumber": self.epoch_number,
            "fromBlock": self.from_block,
            "toBlock": self.to_block,
            "txCount": self.tx_count,
            "totalFees": str(self.total_fees),
        }


@dataclass(frozen=True, slots=True)
class QuoteParams:
    basis_point_fee: int
    bond_amount: int
    valid_until_slot: int | None = None


class QuoteProviderError(Exception):
    """The provider could not produce a quote; the message says why."""


class QuoteProvider(Protocol):
    async def get_quote(self, request: QuoteRequest) -> QuoteParams: ...


class SimpleQuoteProvider:
    def __init__(self, basis_point_fee: int, bond_amount: int) -> None:
        self.params = parse_quote_response({"basisPointFee": basis_point_fee, "bondAmount": bond_amount})

    async def get_quote(self, request: QuoteRequest) -> QuoteParams:
        return self.params


def _uint(obj: dict[str, Any], key: str, maximum: int = 2**256 - 1) -> int:
    raw = obj[key]
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise QuoteProviderError(f"{key} must be an integer or a decimal string, got {raw!r}")
    try:
        v = int(raw, 0) if isinstance(raw, str) else raw
    except ValueError:
        raise QuoteProviderError(f"{key} is not an integer: {raw!r}") from None
    if not 0 <= v <= maximum:
        raise QuoteProviderError(f"{key} out of range: {v}")
    return v


def parse_quote_response(obj: Any) -> QuoteParams:
    """Pure: validate a provider's JSON answer. Raises QuoteProviderError naming what is wrong."""
    if not isinstance(obj, dict):
        raise QuoteProviderError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in ("basisPointFee", "bondAmount") if obj.get(k) is None]
    if missing:
        raise QuoteProviderError(f"missing required fields {missing} in response {json.dumps(obj)[:200]}")
    fee = _uint(obj, "basisPointFee")
    if not basis_point_fee_ok(fee):  # the fee limit L1 applies (Rollup__InvalidBasisPointFee)
        raise QuoteProviderError(f"basisPointFee out of range: {fee}")
    bond = _uint(obj, "bondAmount")
    valid_until = _uint(obj, "validUntilSlot") if obj.get("validUntilSlot") is not None else None
    return QuoteParams(fee, bond, valid_until)


class HttpQuoteProvider:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    async def get_quote(self, request: QuoteRequest) -> QuoteParams:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                resp = await client.post(self.url, json=request.to_json())
        except httpx.HTTPError as e:
            raise QuoteProviderError(f"quote provider {self.url} unreachable: {e!r}") from e
        if resp.status_code // 100 != 2:
            raise QuoteProviderError(f"quote provider answered HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            body = resp.json()
        except ValueError as e:
            raise QuoteProviderError(f"quote provider answered non-JSON: {resp.text[:200]!r}") from e
        return parse_quote_response(body)
