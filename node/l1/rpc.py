"""Blocking JSON-RPC primitives over web3.py: ABI encoding, eth_call with decoded reverts, transaction
building/signing with local nonces, receipt checks. Used from threads by the trio client
(`node.l1.client`) and directly by the sync deploy path."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from node.l1.artifacts import Abi, abi_input_types, signature_of
from node.l1.errors import (
    DecodedRevert,
    ErrorDecoder,
    L1RevertError,
    L1TransactionError,
    L1TransientError,
    aztec_error_decoder,
    revert_data_from_exception,
)

GAS_MARGIN_NUM: Final = 12  # gas limit = estimate * 12 / 10
GAS_MARGIN_DEN: Final = 10
DEFAULT_PRIORITY_FEE_WEI: Final = 1_000_000_000

TRANSIENT_EXCEPTIONS: Final = (
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_EXCEPTIONS):
        return True
    if isinstance(exc, requests.HTTPError):
        resp = exc.response
        return resp is None or resp.status_code >= 500 or resp.status_code == 429
    return False


def normalize_address(addr: bytes | str) -> str:
    """Checksummed 0x address from 20 bytes or hex text."""
    if isinstance(addr, bytes):
        if len(addr) != 20:
            raise ValueError(f"address must be 20 bytes, got {len(addr)}")
        return to_checksum_address(addr)
    return to_checksum_address(addr)


def function_entry(abi: Abi, name: str, nargs: int | None = None) -> dict[str, Any]:
    matches = [e for e in abi if e.get("type") == "function" and e.get("name") == name]
    if nargs is not None:
        matches = [e for e in matches if len(e.get("inputs", [])) == nargs]
    if len(matches) != 1:
        raise KeyError(f"function {name} with {nargs} args: {len(matches)} matches in ABI")
    return matches[0]


def encode_call(abi: Abi, name: str, args: Sequence[Any] = ()) -> bytes:
    entry = function_entry(abi, name, len(args))
    return keccak(text=signature_of(entry))[:4] + abi_encode(abi_input_types(entry), list(args))


def decode_output(abi: Abi, name: str, nargs: int, data: bytes) -> tuple[Any, ...]:
    entry = function_entry(abi, name, nargs)
    types = [_out_type(o) for o in entry.get("outputs", [])]
    return tuple(abi_decode(types, data))


def _out_type(param: dict[str, Any]) -> str:
    t: str = param["type"]
    if t.startswith("tuple"):
        return f"({','.join(_out_type(c) for c in param['components'])}){t[5:]}"
    return t


def encode_constructor(abi: Abi, bytecode: bytes, args: Sequence[Any] = ()) -> bytes:
    ctor = next((e for e in abi if e.get("type") == "constructor"), None)
    if ctor is None:
        if args:
            raise ValueError("contract has no constructor but args were given")
        return bytecode
    return bytecode + abi_encode(abi_input_types(ctor), list(args))


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: bytes
    block_number: int
    gas_used: int
    status: int
    contract_address: str | None
    logs: tuple[Any, ...]


class SyncRpc:
    """Thin blocking wrapper: every method maps web3/transport failures to typed L1 errors."""

    def __init__(self, w3: Web3, decoder: ErrorDecoder | None = None) -> None:
        self.w3 = w3
        self.url = str(getattr(w3.provider, "endpoint_uri", "") or "")
        self.decoder = decoder or aztec_error_decoder()
        self._chain_id: int | None = None

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 10.0) -> SyncRpc:
        # web3's own retries (5 per request, invisible) are off: L1Client retries, and tracks the outage
        provider = Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
        return cls(Web3(provider))

    def _wrap(self, exc: Exception, context: str) -> Exception:
        if is_transient(exc):
            return L1TransientError(f"{context}: {exc!r}")
        data = revert_data_from_exception(exc)
        if isinstance(exc, ContractCustomError | ContractLogicError) or data is not None:
            return L1RevertError(self.decoder.decode(data or b""), context=context)
        return L1TransactionError(f"{context}: {exc!r}")

    def chain_id(self) -> int:
        if self._chain_id is None:
            try:
                self._chain_id = int(self.w3.eth.chain_id)
            except Exception as e:
                raise self._wrap(e, "eth_chainId") from e
        return self._chain_id

    def call(
        self, to: str, data: bytes, *, sender: str | None = None, block: int | str = "latest", context: str = ""
    ) -> bytes:
        tx: dict[str, Any] = {"to": to, "data": "0x" + data.hex()}
        if sender is not None:
            tx["from"] = sender
        try:
            return bytes(self.w3.eth.call(tx, block_identifier=block))  # type: ignore[arg-type]
        except Exception as e:
            raise self._wrap(e, context or f"eth_call to {to}") from e

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        try:
            resp = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        except Exception as e:
            raise self._wrap(e, method) from e
        if "error" in resp:
            err = resp["error"]
            data = revert_data_from_exception(Web3RPCError(str(err), rpc_response=resp))
            if data is not None or "revert" in str(err.get("message", "")):
                raise L1RevertError(self.decoder.decode(data or b""), context=method)
            raise L1TransactionError(f"{method}: {err}")
        return resp["result"]

    def block(self, block: int | str = "latest") -> dict[str, Any]:
        try:
            return dict(self.w3.eth.get_block(block))  # type: ignore[arg-type]
        except Exception as e:
            raise self._wrap(e, "eth_getBlockByNumber") from e

    def get_logs(
        self, address: str, topics: Sequence[bytes], from_block: int, to_block: int | str = "latest"
    ) -> list[Any]:
        flt: Any = {"address": address, "topics": ["0x" + t.hex() for t in topics],
                    "fromBlock": from_block, "toBlock": to_block}
        try:
            return list(self.w3.eth.get_logs(flt))
        except Exception as e:
            raise self._wrap(e, "eth_getLogs") from e

    def get_transaction(self, tx_hash: bytes) -> dict[str, Any]:
        try:
            return dict(self.w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        except Exception as e:
            raise self._wrap(e, "eth_getTransactionByHash") from e

    def get_receipt(self, tx_hash: bytes) -> Receipt | None:
        try:
            r = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except Exception as e:
            if type(e).__name__ == "TransactionNotFound":
                return None
            raise self._wrap(e, "eth_getTransactionReceipt") from e
        return Receipt(
            tx_hash=bytes(r["transactionHash"]),
            block_number=int(r["blockNumber"]),
            gas_used=int(r["gasUsed"]),
            status=int(r["status"]),
            contract_address=r.get("contractAddress"),
            logs=tuple(r["logs"]),
        )

    def revert_reason_of(self, tx: dict[str, Any], block_number: int) -> DecodedRevert:
        """Replay a failed transaction as eth_call in its block to recover the revert data."""
        call = {k: tx[k] for k in ("from", "to", "data", "value", "gas") if k in tx}
        try:
            self.w3.eth.call(call, block_identifier=block_number)  # type: ignore[arg-type]
        except Exception as e:
            return self.decoder.decode(revert_data_from_exception(e) or b"")
        return DecodedRevert("", (), b"")


class LocalSigner:
    """A private key with a locally tracked nonce (thread-safe). Resynced from the chain on demand."""

    def __init__(self, private_key: bytes | str) -> None:
        self._account = Account.from_key(private_key)
        self.address: str = self._account.address
        self._nonce: int | None = None
        self._lock = threading.Lock()

    def next_nonce(self, rpc: SyncRpc) -> int:
        with self._lock:
            if self._nonce is None:
                try:
                    self._nonce = int(rpc.w3.eth.get_transaction_count(self.address, "pending"))  # type: ignore[arg-type]
                except Exception as e:
                    raise rpc._wrap(e, "eth_getTransactionCount") from e
            n = self._nonce
            self._nonce += 1
            return n

    def reset_nonce(self) -> None:
        with self._lock:
            self._nonce = None

    def sign(self, tx: dict[str, Any]) -> bytes:
        return bytes(self._account.sign_transaction(tx).raw_transaction)


@dataclass(frozen=True, slots=True)
class PreparedTx:
    tx: dict[str, Any]
    raw: bytes
    tx_hash: bytes


def prepare_tx(
    rpc: SyncRpc,
    signer: LocalSigner,
    *,
    to: str | None,
    data: bytes,
    value: int = 0,
    gas: int | None = None,
    context: str = "",
) -> PreparedTx:
    """Estimate gas (a revert here raises L1RevertError before anything is sent), price, nonce, sign."""
    base: dict[str, Any] = {"from": signer.address, "data": "0x" + data.hex(), "value": value}
    if to is not None:
        base["to"] = to
    if gas is None:
        try:
            # "pending": on anvil this runs at the timestamp set by evm_setNextBlockTimestamp
            est = int(rpc.w3.eth.estimate_gas(base, "pending"))  # type: ignore[arg-type]
        except Exception as e:
            raise rpc._wrap(e, context or "eth_estimateGas") from e
        gas = est * GAS_MARGIN_NUM // GAS_MARGIN_DEN
    try:
        latest = rpc.w3.eth.get_block("latest")
        base_fee = int(latest.get("baseFeePerGas", 0) or 0)
    except Exception as e:
        raise rpc._wrap(e, "eth_getBlockByNumber") from e
    tx = dict(base)
    tx.update(
        gas=gas,
        chainId=rpc.chain_id(),
        maxPriorityFeePerGas=DEFAULT_PRIORITY_FEE_WEI,
        maxFeePerGas=2 * base_fee + DEFAULT_PRIORITY_FEE_WEI,
        nonce=signer.next_nonce(rpc),
        type=2,
    )
    raw = signer.sign(tx)
    return PreparedTx(tx=tx, raw=raw, tx_hash=keccak(raw))


def send_prepared(rpc: SyncRpc, signer: LocalSigner, prepared: PreparedTx) -> bytes:
    """Broadcast; re-sending the same raw tx is idempotent ("already known" is success)."""
    try:
        return bytes(rpc.w3.eth.send_raw_transaction(prepared.raw))
    except Exception as e:
        msg = str(e).lower()
        if "already known" in msg or "already imported" in msg:
            return prepared.tx_hash
        if "nonce" in msg:
            signer.reset_nonce()
        raise rpc._wrap(e, "eth_sendRawTransaction") from e


def check_receipt(rpc: SyncRpc, prepared: PreparedTx, receipt: Receipt, context: str) -> Receipt:
    if receipt.status != 1:
        reason = rpc.revert_reason_of(prepared.tx, receipt.block_number)
        raise L1RevertError(reason, context=context, tx_hash=receipt.tx_hash)
    return receipt


def transact_sync(
    rpc: SyncRpc,
    signer: LocalSigner,
    *,
    to: str | None,
    data: bytes,
    value: int = 0,
    gas: int | None = None,
    timeout: float = 60.0,
    poll: float = 0.02,
    context: str = "",
) -> Receipt:
    """Blocking send + wait (for scripts and deploys; the trio client waits with trio.sleep)."""
    prepared = prepare_tx(rpc, signer, to=to, data=data, value=value, gas=gas, context=context)
    send_prepared(rpc, signer, prepared)
    deadline = time.monotonic() + timeout
    while True:
        receipt = rpc.get_receipt(prepared.tx_hash)
        if receipt is not None:
            return check_receipt(rpc, prepared, receipt, context)
        if time.monotonic() > deadline:
            raise L1TransactionError(f"{context}: tx 0x{prepared.tx_hash.hex()} not mined within {timeout}s")
        time.sleep(poll)


__all__ = [
    "LocalSigner",
    "PreparedTx",
    "Receipt",
    "SyncRpc",
    "check_receipt",
    "decode_output",
    "encode_call",
    "encode_constructor",
    "normalize_address",
    "prepare_tx",
    "send_prepared",
    "transact_sync",
]
