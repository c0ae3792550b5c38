// EpochProofQuote reference results from the Aztec v0.63.1 npm packages, for interop tests.
//
// stdin: JSON, either a list of "make" inputs or {"make": [...], "decode": [...]}.
//   make:   {privateKey, epochToProve, validUntilSlot, bondAmount, basisPointFee, chainId, rollupAddress}
//           (integers as decimal strings or numbers) -> payload bytes, EIP-712 digest (viem
//           hashTypedData), EpochProofQuote.new signature, 188-byte buffer, p2pMessageIdentifier,
//           toJSON, and the signer recovered from the decoded buffer.
//   decode: {quoteBuffer, chainId, rollupAddress} -> EpochProofQuote.fromBuffer fields, toJSON,
//           re-encoded buffer and recovered signer (or the error message).
// stdout: JSON {"make": [...], "decode": [...]}. Run with cwd = interop/js (see README note on bb.js).
import { EpochProofQuote } from '@aztec/circuit-types';
import { Buffer32 } from '@aztec/foundation/buffer';
import { recoverAddress } from '@aztec/foundation/crypto';

import { quoteDigest, signQuote } from './aztec_quote.mjs';

const hex = buf => '0x' + Buffer.from(buf).toString('hex');

function fields(quote) {
  const p = quote.payload;
  return {
    epochToProve: p.epochToProve.toString(),
    validUntilSlot: p.validUntilSlot.toString(),
    bondAmount: p.bondAmount.toString(),
    prover: p.prover.toString().toLowerCase(),
    basisPointFee: p.basisPointFee,
    r: quote.signature.r.to0xString(),
    s: quote.signature.s.to0xString(),
    v: quote.signature.v,
    isEmpty: quote.signature.isEmpty,
  };
}

function make(input) {
  const { signer, payload, digest, quote } = signQuote(input);
  const buffer = quote.toBuffer();
  const decoded = EpochProofQuote.fromBuffer(buffer);
  return {
    prover: signer.address.toString().toLowerCase(),
    payloadBuffer: hex(payload.toBuffer()),
    digest,
    signatureBuffer: hex(quote.signature.toBuffer()),
    quoteBuffer: hex(buffer),
    p2pMessageIdentifier: quote.p2pMessageIdentifier().toString(),
    json: quote.toJSON(),
    topic: EpochProofQuote.p2pTopic,
    recovered: recoverAddress(Buffer32.fromString(digest), decoded.signature).toString().toLowerCase(),
  };
}

function decode(input) {
  try {
    const quote = EpochProofQuote.fromBuffer(Buffer.from(input.quoteBuffer.slice(2), 'hex'));
    const digest = quoteDigest(quote.payload, input.chainId, input.rollupAddress);
    return {
      ok: true,
      fields: fields(quote),
      json: quote.toJSON(),
      reencoded: hex(quote.toBuffer()),
      digest,
      p2pMessageIdentifier: quote.p2pMessageIdentifier().toString(),
      recovered: recoverAddress(Buffer32.fromString(digest), quote.signature).toString().toLowerCase(),
    };
  } catch (e) {
    return { ok: false, error: String(e.message ?? e) };
  }
}

function wrap(fn) {
  return input => {
    try {
      return fn(input);
    } catch (e) {
      return { ok: false, error: String(e.message ?? e) };
    }
  };
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const makeInputs = Array.isArray(request) ? request : request.make ?? [];
const decodeInputs = Array.isArray(request) ? [] : request.decode ?? [];
process.stdout.write(
  JSON.stringify({ make: makeInputs.map(wrap(make)), decode: decodeInputs.map(wrap(decode)) }) + '\n',
);
