// An EpochProofQuote signed with Aztec v0.63.1's own classes: the EIP-712 digest (viem hashTypedData over
// the rollup's domain, as the Rollup contract checks it) and EpochProofQuote.new. Shared by
// quote_vectors.mjs (reference vectors) and gossip_peer.mjs (publish_quote).
import { EpochProofQuote, EpochProofQuotePayload } from '@aztec/circuit-types';
import { Buffer32 } from '@aztec/foundation/buffer';
import { Secp256k1Signer } from '@aztec/foundation/crypto';
import { hashTypedData } from 'viem';

const QUOTE_TYPES = {
  EpochProofQuote: [
    { name: 'epochToProve', type: 'uint256' },
    { name: 'validUntilSlot', type: 'uint256' },
    { name: 'bondAmount', type: 'uint256' },
    { name: 'prover', type: 'address' },
    { name: 'basisPointFee', type: 'uint32' },
  ],
};

// The EIP-712 digest of a quote payload (0x hex string).
export function quoteDigest(payload, chainId, rollupAddress) {
  return hashTypedData({
    domain: { name: 'Aztec Rollup', version: '1', chainId: BigInt(chainId), verifyingContract: rollupAddress },
    types: QUOTE_TYPES,
    primaryType: 'EpochProofQuote',
    message: {
      epochToProve: payload.epochToProve,
      validUntilSlot: payload.validUntilSlot,
      bondAmount: payload.bondAmount,
      prover: payload.prover.toString(),
      basisPointFee: payload.basisPointFee,
    },
  });
}

// input: {privateKey, epochToProve, validUntilSlot, bondAmount, basisPointFee, chainId, rollupAddress}
// (integers as decimal strings or numbers) -> {signer, payload, digest (0x hex), quote}.
export function signQuote(input) {
  const signer = new Secp256k1Signer(Buffer32.fromString(input.privateKey));
  const payload = new EpochProofQuotePayload(
    BigInt(input.epochToProve),
    BigInt(input.validUntilSlot),
    BigInt(input.bondAmount),
    signer.address,
    Number(input.basisPointFee),
  );
  const digest = quoteDigest(payload, input.chainId, input.rollupAddress);
  return { signer, payload, digest, quote: EpochProofQuote.new(Buffer32.fromString(digest), payload, signer) };
}
