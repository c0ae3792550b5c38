// Long-running decoder oracle: Aztec v0.63.1's own decoders on batches of gossip payloads.
//
// One process serves many batches (the differential fuzz feeds ~100k inputs through it).
// stdin: one JSON line per batch: [[kind, hex], ...] with kind in quote | tx | proposal | attestation.
// stdout: one JSON line per batch, an array with one entry per input:
//   {"ok": true, "extra": true|false}   fromBuffer succeeded; `extra` = the follow-up v0.63.1's gossip
//                                       handler does also succeeded (tx: getTxHash, proposal and
//                                       attestation: getSender; quote: always true)
//   {"ok": false, "error": "..."}       fromBuffer threw (what v0.63.1 cannot decode)
// Run with cwd = interop/js. Exits when stdin closes.
import { BlockAttestation, BlockProposal, EpochProofQuote, Tx } from '@aztec/circuit-types';
import { createInterface } from 'node:readline';

const DECODERS = {
  quote: buf => {
    EpochProofQuote.fromBuffer(buf);
    return true;
  },
  tx: buf => {
    const tx = Tx.fromBuffer(buf);
    try {
      tx.getTxHash();
      return true;
    } catch {
      return false;
    }
  },
  proposal: buf => {
    const p = BlockProposal.fromBuffer(buf);
    try {
      return p.getSender() !== undefined;
    } catch {
      return false;
    }
  },
  attestation: buf => {
    const a = BlockAttestation.fromBuffer(buf);
    try {
      return a.getSender() !== undefined;
    } catch {
      return false;
    }
  },
};

function decodeOne([kind, hex]) {
  const decode = DECODERS[kind];
  if (decode === undefined) {
    return { ok: false, error: `unknown kind ${kind}` };
  }
  try {
    const extra = decode(Buffer.from(hex, 'hex'));
    return { ok: true, extra };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e).slice(0, 200) };
  }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
for await (const line of rl) {
  if (!line.trim()) continue;
  let out;
  try {
    out = JSON.parse(line).map(decodeOne);
  } catch (e) {
    out = { error: String(e) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
