// A js-libp2p 1.5.0 gossip peer configured like an Aztec v0.63.1 node (p2p doc sections 1-2):
// TCP, noise, yamux then mplex, identify with protocolPrefix 'aztec', gossipsub 13.0.0 with
// D=8/Dlo=4/Dhi=12, heartbeat 1 s, mcache 5/3, StrictSign (default), default msgIdFn (from+seqno),
// allowPublishToZeroTopicPeers, topic score params for tx/attestation/quote (weight 1,
// invalidMessageDeliveriesWeight -20, decay 0.5), raw toBuffer payloads, no snappy.
// Received quotes/txs/proposals/attestations are decoded with @aztec/circuit-types@0.63.1.
//
// The libp2p set-up is aztec_libp2p.mjs (shared with adversary_peer.mjs).
//
// argv: none. env: LISTEN_PORT (default 0), PEER_ID_PRIVATE_KEY (Aztec hex form, optional),
// MESSAGE_EVENTS=brief: message events carry only topic, sha (first 16 hex digits of the payload's
// sha256) and arrival (wall clock, s), no payload or decoding (bench/p2p_propagation.py).
// stdout: one JSON object per line: {"event":"ready",...}, {"event":"message",...}, {"event":"reply",...}.
// stdin: one JSON command per line:
//   {"cmd":"dial","addr":"/ip4/.../tcp/.../p2p/..."}
//   {"cmd":"publish","topic":"...","hex":"..."}
//   {"cmd":"publish_quote","privateKey":"0x..","epochToProve":"5","validUntilSlot":"100",
//    "bondAmount":"2000","basisPointFee":250,"chainId":31337,"rollupAddress":"0x.."}
//   {"cmd":"peers"}            -> {"event":"reply","cmd":"peers","peers":[...],"topicPeers":{...}}
import { createHash } from 'node:crypto';


import { BlockAttestation, BlockProposal, EpochProofQuote, Tx } from '@aztec/circuit-types';
import { Buffer32 } from '@aztec/foundation/buffer';
import { recoverAddress } from '@aztec/foundation/crypto';
import { EthAddress } from '@aztec/foundation/eth-address';

import { TOPICS, createAztecLibp2p, out, runMain, serveCommands } from './aztec_libp2p.mjs';
import { signQuote } from './aztec_quote.mjs';

function decode(topic, data) {
  const buf = Buffer.from(data);
  try {
    if (topic === TOPICS.epoch_proof_quote) {
      const q = EpochProofQuote.fromBuffer(buf);
      return { ok: true, quote: q.toJSON(), id: q.p2pMessageIdentifier().toString() };
    }
    if (topic === TOPICS.tx) {
      const tx = Tx.fromBuffer(buf);
      return { ok: true, txHash: tx.getTxHash().toString(), reencodedEqual: tx.toBuffer().equals(buf) };
    }
    if (topic === TOPICS.block_proposal) {
      const p = BlockProposal.fromBuffer(buf);
      return { ok: true, archive: p.archive.toString(), sender: p.getSender().toString() };
    }
    if (topic === TOPICS.block_attestation) {
      const a = BlockAttestation.fromBuffer(buf);
      return { ok: true, archive: a.archive.toString(), sender: a.getSender().toString() };
    }
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
  return { ok: false, error: 'unknown topic' };
}

async function main() {
  const node = await createAztecLibp2p({
    port: Number(process.env.LISTEN_PORT ?? 0),
    privateKeyHex: process.env.PEER_ID_PRIVATE_KEY,
  });
  const brief = process.env.MESSAGE_EVENTS === 'brief';
  const pubsub = node.services.pubsub;
  pubsub.addEventListener('gossipsub:message', evt => {
    const { msg, propagationSource, msgId } = evt.detail;
    if (brief) {
      const sha = createHash('sha256').update(msg.data).digest('hex').slice(0, 16);
      out({ event: 'message', topic: msg.topic, sha, arrival: Date.now() / 1000 });
      return;
    }
    out({
      event: 'message',
      topic: msg.topic,
      type: msg.type,
      from: msg.type === 'signed' ? msg.from.toString() : null,
      propagationSource: propagationSource.toString(),
      msgId,
      hex: Buffer.from(msg.data).toString('hex'),
      decoded: decode(msg.topic, msg.data),
    });
  });
  await node.start();
  for (const t of Object.values(TOPICS)) pubsub.subscribe(t);
  out({ event: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()) });

  await serveCommands(node, async cmd => {
    if (cmd.cmd === 'publish') {
      const res = await pubsub.publish(cmd.topic, Buffer.from(cmd.hex, 'hex'));
      out({ event: 'reply', cmd: 'publish', ok: true, recipients: res.recipients.map(p => p.toString()) });
    } else if (cmd.cmd === 'publish_quote') {
      const signed = signQuote(cmd);
      const { signer, quote } = signed;
      const digest = Buffer32.fromString(signed.digest);
      const recovered = recoverAddress(digest, quote.signature);
      const res = await pubsub.publish(TOPICS.epoch_proof_quote, quote.toBuffer());
      out({
        event: 'reply',
        cmd: 'publish_quote',
        ok: true,
        hex: quote.toBuffer().toString('hex'),
        quote: quote.toJSON(),
        recovered: recovered.toString(),
        prover: EthAddress.fromString(signer.address.toString()).toString(),
        recipients: res.recipients.map(p => p.toString()),
      });
    } else if (cmd.cmd === 'peers') {
      const topicPeers = {};
      for (const t of Object.values(TOPICS)) topicPeers[t] = pubsub.getSubscribers(t).map(p => p.toString());
      const mesh = {};
      for (const t of Object.values(TOPICS)) mesh[t] = pubsub.getMeshPeers(t);
      const peerProtocols = {};
      for (const p of node.getPeers()) {
        try {
          peerProtocols[p.toString()] = (await node.peerStore.get(p)).protocols;
        } catch {
          peerProtocols[p.toString()] = null;
        }
      }
      out({
        event: 'reply',
        cmd: 'peers',
        peerProtocols,
        peers: node.getPeers().map(p => p.toString()),
        topicPeers,
        mesh,
        protocols: node.getConnections().map(c => ({ encryption: c.encryption, multiplexer: c.multiplexer })),
      });
    } else {
      return false;
    }
    return true;
  });
}

runMain(main);
