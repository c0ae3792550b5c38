"""Tx as Aztec v0.63.1 puts it on `/aztec/tx/0.1.0` (`Tx.toBuffer()`), sans-IO.

Outer layout (big-endian, no overall length):
    data              PrivateKernelTailCircuitPublicInputs: 1-byte isForPublic flag, then fixed-size
                      structs; 27567 bytes when isForPublic = 1, 15910 bytes when 0
    clientIvcProof    4 x (u32 len | bytes): megaVk, proof, translatorVk, eccVk
    4 x TxL2Logs      noteEncrypted, encrypted, unencrypted, contractClass:
                      u32 total length | FunctionL2Logs* (u32 length | bytes)
    u32 n | n x PublicExecutionRequest     enqueued public calls
    PublicExecutionRequest                 teardown call (all-zero when absent)
PublicExecutionRequest = msgSender Fr | contractAddress Fr | selector 4 | isStaticCall 1 | u32 k | k x Fr.

The kernel public inputs are kept as an opaque blob; the fields gossip validation needs are read
at fixed offsets (derived from circuits.js 0.63.1 struct sizes and checked against
`tx-vectors.json`): tx context chain id/version, maxBlockNumber, nullifiers, public call requests.
Tx hash = the first non-zero nullifier (it is not a hash of the bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from core.aztec.constants import HEADER_LENGTH
from core.aztec.serialization import FR_MODULUS, DecodeError, Reader, fr, u32
from p2p.wire import compat

TX_TOPIC: Final = "/aztec/tx/0.1.0"

# Offsets into `data` (PrivateKernelTailCircuitPublicInputs).
OFF_CHAIN_ID: Final = 1 + HEADER_LENGTH  # constants.txContext.chainId
OFF_VERSION: Final = OFF_CHAIN_ID + 32
OFF_MAX_BLOCK_NUMBER: Final = 825  # rollupValidationRequests.maxBlockNumber: isSome bool | Fr
OFF_GAS_USED: Final = 858
OFF_FEE_PAYER: Final = 866
OFF_ACCUMULATED: Final = 898
ACC_PUBLIC_SIZE: Final = 13284  # PrivateToPublicAccumulatedData
ACC_ROLLUP_SIZE: Final = 15012  # CombinedAccumulatedData
PUBLIC_CALL_REQUEST_SIZE: Final = 101  # msgSender | contract | selector(4) | isStatic(1) | argsHash
DATA_SIZE_FOR_PUBLIC: Final = OFF_ACCUMULATED + 2 * ACC_PUBLIC_SIZE + PUBLIC_CALL_REQUEST_SIZE  # 27567
DATA_SIZE_FOR_ROLLUP: Final = OFF_ACCUMULATED + ACC_ROLLUP_SIZE  # 15910
ACC_NULLIFIERS_OFFSET: Final = 64 * 32  # after MAX_NOTE_HASHES_PER_TX (64) note hashes
MAX_NULLIFIERS_PER_TX: Final = 64
ACC_PUBLIC_CALL_REQUESTS_OFFSET: Final = 10052
MAX_ENQUEUED_CALLS_PER_TX: Final = 16
EMPTY_PUBLIC_EXECUTION_REQUEST_SIZE: Final = 32 + 32 + 4 + 1 + 4


class TxDecodeError(DecodeError):
    """A Tx buffer that does not decode."""


@dataclass(frozen=True, slots=True)
class CallContext:
    msg_sender: int
    contract_address: int
    function_selector: bytes  # 4 bytes
    is_static_call: bool

    def to_bytes(self) -> bytes:
        return fr(self.msg_sender) + fr(self.contract_address) + self.function_selector + bytes([self.is_static_call])

    @classmethod
    def read(cls, r: Reader) -> CallContext:
        return cls(r.fr(), r.fr(), r.bytes(4), r.bool())

    def is_empty(self) -> bool:
        return not (self.msg_sender or self.contract_address or any(self.function_selector) or self.is_static_call)


@dataclass(frozen=True, slots=True)
class PublicExecutionRequest:
    call_context: CallContext
    args: tuple[int, ...]

    def to_bytes(self) -> bytes:
        return self.call_context.to_bytes() + u32(len(self.args)) + b"".join(fr(a) for a in self.args)

    @classmethod
    def read(cls, r: Reader) -> PublicExecutionRequest:
        ctx = CallContext.read(r)
        n = r.u32()
        if n * 32 > r.remaining:
            raise TxDecodeError(f"public call arg count {n} exceeds the {r.remaining} bytes left")
        return cls(ctx, tuple(r.fr() for _ in range(n)))

    def is_empty(self) -> bool:
        return self.call_context.is_empty() and not self.args

    @classmethod
    def empty(cls) -> PublicExecutionRequest:
        return cls(CallContext(0, 0, bytes(4), False), ())


@dataclass(frozen=True, slots=True)
class PublicCallRequest:
    """The kernel's commitment to an enqueued call (101 bytes inside `data`)."""

    call_context: CallContext
    args_hash: int

    @classmethod
    def from_slice(cls, b: bytes) -> PublicCallRequest:
        r = Reader(b)
        return cls(CallContext.read(r), r.fr())

    def is_empty(self) -> bool:
        return self.call_context.is_empty() and self.args_hash == 0


def _read_blob(r: Reader, what: str) -> bytes:
    n = r.u32()
    if n > r.remaining:
        raise TxDecodeError(f"{what}: length {n} exceeds the {r.remaining} bytes left")
    return r.bytes(n)


def _read_tx_logs(r: Reader, what: str) -> tuple[bytes, ...]:
    """TxL2Logs: u32 total | (u32 len | function logs)*; function logs kept as raw bytes."""
    body = Reader(_read_blob(r, what))
    out: list[bytes] = []
    while body.remaining:
        out.append(_read_blob(body, f"{what} function logs"))
    return tuple(out)


def _tx_logs_bytes(logs: tuple[bytes, ...]) -> bytes:
    body = b"".join(u32(len(f)) + f for f in logs)
    return u32(len(body)) + body


@dataclass(frozen=True, slots=True)
class Tx:
    data: bytes
    client_ivc_proof: tuple[bytes, bytes, bytes, bytes]
    note_encrypted_logs: tuple[bytes, ...]
    encrypted_logs: tuple[bytes, ...]
    unencrypted_logs: tuple[bytes, ...]
    contract_class_logs: tuple[bytes, ...]
    enqueued_public_function_calls: tuple[PublicExecutionRequest, ...]
    public_teardown_function_call: PublicExecutionRequest

    # --- codec ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return (
            self.data
            + b"".join(u32(len(b)) + b for b in self.client_ivc_proof)
            + _tx_logs_bytes(self.note_encrypted_logs)
            + _tx_logs_bytes(self.encrypted_logs)
            + _tx_logs_bytes(self.unencrypted_logs)
            + _tx_logs_bytes(self.contract_class_logs)
            + u32(len(self.enqueued_public_function_calls))
            + b"".join(c.to_bytes() for c in self.enqueued_public_function_calls)
            + self.public_teardown_function_call.to_bytes()
        )

    @classmethod
    def from_bytes(cls, buf: bytes) -> Tx:
        # first what v0.63.1's decoder refuses (historical header hashes, log framing inside the
        # function logs), so this codec never takes a tx an Aztec node cannot decode
        err = compat.tx_error(buf)
        if err is not None:
            raise TxDecodeError(err)
        r = Reader(buf)
        flag = r.bool()
        size = DATA_SIZE_FOR_PUBLIC if flag else DATA_SIZE_FOR_ROLLUP
        r = Reader(buf)
        data = r.bytes(size)
        proof = (
            _read_blob(r, "clientIvcProof.megaVk"),
            _read_blob(r, "clientIvcProof.proof"),
            _read_blob(r, "clientIvcProof.translatorVk"),
            _read_blob(r, "clientIvcProof.eccVk"),
        )
        logs = tuple(
            _read_tx_logs(r, n) for n in ("noteEncryptedLogs", "encryptedLogs", "unencryptedLogs", "contractClassLogs")
        )
        n = r.u32()
        if n * EMPTY_PUBLIC_EXECUTION_REQUEST_SIZE > r.remaining:
            raise TxDecodeError(f"enqueued call count {n} exceeds the {r.remaining} bytes left")
        calls = tuple(PublicExecutionRequest.read(r) for _ in range(n))
        teardown = PublicExecutionRequest.read(r)
        r.expect_end("Tx")
        tx = cls(data, proof, logs[0], logs[1], logs[2], logs[3], calls, teardown)
        tx._check_data_fields()
        return tx

    def _check_data_fields(self) -> None:
        """The fixed-offset fields we read must be valid field elements (the TS decoder throws)."""
        for off in (OFF_CHAIN_ID, OFF_VERSION, OFF_MAX_BLOCK_NUMBER + 1, OFF_FEE_PAYER):
            if self._word(off) >= FR_MODULUS:
                raise TxDecodeError(f"Tx data: field element at offset {off} is not below the BN254 modulus")
        if self.data[OFF_MAX_BLOCK_NUMBER] > 1:
            raise TxDecodeError(f"Tx data: invalid boolean at offset {OFF_MAX_BLOCK_NUMBER}")
        for n in self._raw_nullifiers():
            if n >= FR_MODULUS:
                raise TxDecodeError("Tx data: nullifier is not below the BN254 modulus")

    # --- views into the kernel public inputs ---------------------------------------------
    def _word(self, off: int) -> int:
        return int.from_bytes(self.data[off : off + 32], "big")

    @property
    def is_for_public(self) -> bool:
        return self.data[0] == 1

    @property
    def chain_id(self) -> int:
        return self._word(OFF_CHAIN_ID)

    @property
    def version(self) -> int:
        return self._word(OFF_VERSION)

    @property
    def max_block_number(self) -> int | None:
        return self._word(OFF_MAX_BLOCK_NUMBER + 1) if self.data[OFF_MAX_BLOCK_NUMBER] else None

    @property
    def fee_payer(self) -> int:
        return self._word(OFF_FEE_PAYER)

    def _acc_offsets(self) -> tuple[int, ...]:
        if self.is_for_public:
            return (OFF_ACCUMULATED, OFF_ACCUMULATED + ACC_PUBLIC_SIZE)  # non-revertible, revertible
        return (OFF_ACCUMULATED,)

    def _raw_nullifiers(self) -> list[int]:
        out: list[int] = []
        for acc in self._acc_offsets():
            base = acc + ACC_NULLIFIERS_OFFSET
            out.extend(self._word(base + 32 * i) for i in range(MAX_NULLIFIERS_PER_TX))
        return out

    def nullifiers(self) -> list[int]:
        """Non-empty nullifiers, non-revertible first (Aztec's getNonEmptyNullifiers)."""
        return [n for n in self._raw_nullifiers() if n]

    def tx_hash(self) -> bytes:
        ns = self.nullifiers()
        if not ns:
            raise TxDecodeError("Cannot get tx hash since first nullifier is missing")
        return ns[0].to_bytes(32, "big")

    def _call_requests(self, acc: int) -> list[PublicCallRequest]:
        base = acc + ACC_PUBLIC_CALL_REQUESTS_OFFSET
        size = PUBLIC_CALL_REQUEST_SIZE
        reqs = (
            PublicCallRequest.from_slice(self.data[base + i * size : base + (i + 1) * size])
            for i in range(MAX_ENQUEUED_CALLS_PER_TX)
        )
        return [q for q in reqs if not q.is_empty()]

    def public_call_requests(self) -> list[PublicCallRequest]:
        """Kernel call requests in enqueued-call order: revertible ones, then non-revertible ones."""
        if not self.is_for_public:
            return []
        return self._call_requests(OFF_ACCUMULATED + ACC_PUBLIC_SIZE) + self._call_requests(OFF_ACCUMULATED)

    def teardown_call_request(self) -> PublicCallRequest | None:
        if not self.is_for_public:
            return None
        off = OFF_ACCUMULATED + 2 * ACC_PUBLIC_SIZE
        q = PublicCallRequest.from_slice(self.data[off : off + PUBLIC_CALL_REQUEST_SIZE])
        return None if q.is_empty() else q

    def size(self) -> int:
        return len(self.to_bytes())
