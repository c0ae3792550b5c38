"""What Aztec v0.63.1's own decoders accept, as one total predicate per gossip payload (sans-IO).

Gossip verdicts need it: a payload is REJECTed (its forwarder penalised) only when v0.63.1's
`fromBuffer` itself throws, because an honest v0.63.1 peer forwards everything its decoder takes
(0.63 registers no topic validators). Our own codecs (`p2p.wire.*`) are stricter: they refuse field
elements >= the BN254 modulus, booleans other than 0/1 and trailing bytes, all of which v0.63.1's
decoders take silently. A payload that v0.63.1 decodes and ours refuses is IGNOREd, not rejected.

Each `*_error` function returns None when v0.63.1's decoder accepts the bytes, else the reason
(worded like the TypeScript error where there is one). They never raise. The rules, read from the
0.63.1 npm packages and held by `interop/test_decoder_differential.py`:
- BufferReader range checks are the only bounds: reading past the end throws; trailing bytes are
  ignored; booleans are `byte != 0`; `Fr.fromBuffer` takes any 32 bytes; uint32 `readNumber`.
- EpochProofQuotePayload's constructor throws for basisPointFee > 10000.
- ContentCommitment's constructor throws unless txsEffectsHash, inHash and outHash start with a
  zero byte (a Header, so in proposals, attestations and the historical header of a tx).
- TxL2Logs: u32 byte length, then (u32 len | FunctionL2Logs)* that must end exactly at that length;
  each FunctionL2Logs is (u32 len | log)* to its end; unencrypted and contract-class logs are
  AztecAddress (32) | u32 len | bytes.
"""

from __future__ import annotations

from typing import Final

from core.aztec.constants import HEADER_LENGTH as HEADER_SIZE
from core.aztec.constants import MAX_BASIS_POINT_FEE

QUOTE_SIZE: Final = 188
SIGNATURE_SIZE: Final = 68
_FEE_OFFSET: Final = 116
# ContentCommitment hashes inside a Header: first byte must be 0 (txsEffectsHash, inHash, outHash)
_HEADER_ZERO_BYTES: Final = (36 + 32, 36 + 64, 36 + 96)
# PrivateKernelTailCircuitPublicInputs: isForPublic flag, then the fixed-size parts (p2p.wire.tx)
TX_DATA_SIZE_FOR_PUBLIC: Final = 27567
TX_DATA_SIZE_FOR_ROLLUP: Final = 15910
_TX_HISTORICAL_HEADER_OFFSET: Final = 1  # constants.historicalHeader follows the flag


class _Short(Exception):
    pass


class _Cursor:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise _Short(
                "Attempted to read beyond buffer length. "
                f"Start index: {self.pos}, Num bytes to read: {n}, Buffer length: {len(self.buf)}"
            )

    def skip(self, n: int) -> None:
        self.need(n)
        self.pos += n

    def u32(self) -> int:
        self.need(4)
        v = int.from_bytes(self.buf[self.pos : self.pos + 4], "big")
        self.pos += 4
        return v

    def take(self, n: int) -> bytes:
        self.need(n)
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def read_buffer(self) -> bytes:
        return self.take(self.u32())


def _header_error(buf: bytes, off: int) -> str | None:
    if len(buf) < off + HEADER_SIZE:
        return f"header needs {HEADER_SIZE} bytes at offset {off}, buffer has {len(buf)}"
    for z in _HEADER_ZERO_BYTES:
        if buf[off + z] != 0:
            return "ContentCommitment hash buffer should be truncated and left padded"
    return None


def quote_error(data: bytes) -> str | None:
    """None iff `EpochProofQuote.fromBuffer(data)` succeeds in v0.63.1."""
    if len(data) < QUOTE_SIZE:
        if len(data) >= _FEE_OFFSET + 4:
            fee = int.from_bytes(data[_FEE_OFFSET : _FEE_OFFSET + 4], "big")
            if fee > MAX_BASIS_POINT_FEE:
                return f"Invalid basisPointFee {fee}"
        return f"Attempted to read beyond buffer length (quote of {len(data)} bytes, needs {QUOTE_SIZE})"
    fee = int.from_bytes(data[_FEE_OFFSET : _FEE_OFFSET + 4], "big")
    if fee > MAX_BASIS_POINT_FEE:
        return f"Invalid basisPointFee {fee}"
    return None


def _consensus_error(data: bytes) -> str | None:
    err = _header_error(data, 0)
    if err is not None:
        return err
    c = _Cursor(data, HEADER_SIZE)
    try:
        c.skip(32)  # archive
        n = c.u32()
        c.skip(32 * n)  # tx hashes
        c.skip(SIGNATURE_SIZE)
    except _Short as e:
        return str(e)
    return None


def block_proposal_error(data: bytes) -> str | None:
    """None iff `BlockProposal.fromBuffer(data)` succeeds in v0.63.1."""
    return _consensus_error(data)


def block_attestation_error(data: bytes) -> str | None:
    """None iff `BlockAttestation.fromBuffer(data)` succeeds in v0.63.1."""
    return _consensus_error(data)


def _function_logs(buf: bytes, unencrypted: bool) -> None:
    c = _Cursor(buf)
    while c.pos < len(buf):
        log = c.read_buffer()
        if unencrypted:
            lc = _Cursor(log)
            lc.skip(32)  # contract address
            lc.read_buffer()


def _tx_logs(c: _Cursor, unencrypted: bool) -> None:
    length = c.u32()
    end = c.pos + length
    c.need(length)
    functions: list[bytes] = []
    while c.pos < end:
        functions.append(c.read_buffer())
    if c.pos != end:
        raise _Short(f"Reader buffer was not fully consumed. Consumed up to {c.pos} bytes. End of data: {end} bytes.")
    for f in functions:
        _function_logs(f, unencrypted)


def _public_execution_request(c: _Cursor) -> None:
    c.skip(32 + 32 + 4 + 1)  # call context
    n = c.u32()
    c.skip(32 * n)


def tx_error(data: bytes) -> str | None:
    """None iff `Tx.fromBuffer(data)` succeeds in v0.63.1."""
    if not data:
        return "Attempted to read beyond buffer length. Start index: 0, Num bytes to read: 1, Buffer length: 0"
    size = TX_DATA_SIZE_FOR_PUBLIC if data[0] != 0 else TX_DATA_SIZE_FOR_ROLLUP
    if len(data) < size:
        return f"Attempted to read beyond buffer length (tx data needs {size} bytes, got {len(data)})"
    err = _header_error(data, _TX_HISTORICAL_HEADER_OFFSET)
    if err is not None:
        return err
    c = _Cursor(data, size)
    try:
        for _ in range(4):  # ClientIvcProof: 4 length-prefixed buffers
            c.read_buffer()
        _tx_logs(c, unencrypted=False)  # noteEncryptedLogs
        _tx_logs(c, unencrypted=False)  # encryptedLogs
        _tx_logs(c, unencrypted=True)  # unencryptedLogs
        _tx_logs(c, unencrypted=True)  # contractClassLogs
        n = c.u32()
        for _ in range(n):
            _public_execution_request(c)
        _public_execution_request(c)  # teardown
    except _Short as e:
        return str(e)
    return None
