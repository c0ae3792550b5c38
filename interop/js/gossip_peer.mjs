// A js-libp2p 1.5.0 gossip peer configured like an Aztec v0.63.1 node (p2p doc sections 1-2):
// TCP, noise, yamux then mplex, identify with protocolPrefix 'aztec', gossipsub 13.0.0 with
// D=8/Dlo=4/Dhi=12, heartbeat 1 s, mcache 5/3, StrictSign (default), default msgIdFn (from+seqno),
// allowPublishToZeroTopicPeers, topic score params for tx/attestation/quote (weight 1,
// invalidMessageDeliveriesWeight -20, decay 0.5), raw toBuffer payloads, no snappy.
// Received quotes/txs/proposals/attestations are decoded with @aztec/circuit-types@0.63.1.
//
// argv: none. env: LISTEN_PORT (default 0), PEER_ID_PRIVATE_KEY (Aztec hex form, optional).
// stdout: one JSON object per line: {"event":"ready",...}, {"event":"message",...}, {"event":"reply",...}.
// stdin: one JSON command per line:
//   {"cmd":"dial","addr":"/ip4/.../tcp/.../p2p/..."}
//   {"cmd":"publish","topic":"...","hex":"..."}
//   {"cmd":"publish_quote","privateKey":"0x..","epochToProve":"5","validUntilSlot":"100",
//    "bondAmount":"2000","basisPointFee":250,"chainId":31337,"rollupAddress":"0x.."}
//   {"cmd":"peers"}            -> {"event":"reply","cmd":"peers","peers":[...],"topicPeers":{...}}
import { createInterface } from 'node:readline';

import { gossipsub } from '@chainsafe/libp2p-gossipsub';
import { createTopicScoreParams, createPeerScoreParams } from '@chainsafe/libp2p-gossipsub/score';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { mplex } from '@libp2p/mplex';
import { tcp } from '@libp2p/tcp';
import { createFromPrivKey, createSecp256k1PeerId } from '@libp2p/peer-id-factory';
import { unmarshalPrivateKey } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';

import { BlockAttestation, BlockProposal, EpochProofQuote, EpochProofQuotePayload, Tx } from '@aztec/circuit-types';
import { Buffer32 } from '@aztec/foundation/buffer';
import { Secp256k1Signer, recoverAddress } from '@aztec/foundation/crypto';
import { EthAddress } from '@aztec/foundation/eth-address';
import { hashTypedData } from 'viem';

const TOPICS = {
  tx: '/aztec/tx/0.1.0',
  block_proposal: '/aztec/block_proposal/0.1.0',
  block_attestation: '/aztec/block_attestation/0.1.0',
  epoch_proof_quote: '/aztec/epoch_proof_quote/0.1.0',
};

const out = obj => process.stdout.write(JSON.stringify(obj) + '\n');

const QUOTE_TYPES = {
  EpochProofQuote: [
    { name: 'epochToProve', type: 'uint256' },
    { name: 'validUntilSlot', type: 'uint256' },
    { name: 'bondAmount', type: 'uint256' },
    { name: 'prover', type: 'address' },
    { name: 'basisPointFee', type: 'uint32' },
  ],
};

function quoteDigest(payload, chainId, rollupAddress) {
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
  const port = Number(process.env.LISTEN_PORT ?? 0);
  const peerId = process.env.PEER_ID_PRIVATE_KEY
    ? await createFromPrivKey(await unmarshalPrivateKey(Buffer.from(process.env.PEER_ID_PRIVATE_KEY, 'hex')))
    : await createSecp256k1PeerId();
  const topicScore = () =>
    createTopicScoreParams({ topicWeight: 1, invalidMessageDeliveriesWeight: -20, invalidMessageDeliveriesDecay: 0.5 });
  const node = await createLibp2p({
    peerId,
    addresses: { listen: [`/ip4/127.0.0.1/tcp/${port}`] },
    transports: [tcp({ maxConnections: 100, backlog: 5 })],
    connectionEncryption: [noise()],
    streamMuxers: [yamux(), mplex()],
    connectionManager: { minConnections: 10, maxConnections: 100 },
    services: {
      identify: identify({ protocolPrefix: 'aztec' }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        D: 8,
        Dlo: 4,
        Dhi: 12,
        heartbeatInterval: 1000,
        mcacheLength: 5,
        mcacheGossip: 3,
        scoreParams: createPeerScoreParams({
          topics: {
            [TOPICS.tx]: topicScore(),
            [TOPICS.block_attestation]: topicScore(),
            [TOPICS.epoch_proof_quote]: topicScore(),
          },
        }),
      }),
    },
  });
  const pubsub = node.services.pubsub;
  pubsub.addEventListener('gossipsub:message', evt => {
    const { msg, propagationSource, msgId } = evt.detail;
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

  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let cmd;
    try {
      cmd = JSON.parse(line);
      if (cmd.cmd === 'dial') {
        await node.dial(multiaddr(cmd.addr));
        out({ event: 'reply', cmd: 'dial', ok: true });
      } else if (cmd.cmd === 'publish') {
        const res = await pubsub.publish(cmd.topic, Buffer.from(cmd.hex, 'hex'));
        out({ event: 'reply', cmd: 'publish', ok: true, recipients: res.recipients.map(p => p.toString()) });
      } else if (cmd.cmd === 'publish_quote') {
        const signer = new Secp256k1Signer(Buffer32.fromString(cmd.privateKey));
        const payload = new EpochProofQuotePayload(
          BigInt(cmd.epochToProve),
          BigInt(cmd.validUntilSlot),
          BigInt(cmd.bondAmount),
          signer.address,
          Number(cmd.basisPointFee),
        );
        const digest = Buffer32.fromString(quoteDigest(payload, cmd.chainId, cmd.rollupAddress));
        const quote = EpochProofQuote.new(digest, payload, signer);
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
      } else if (cmd.cmd === 'stop') {
        await node.stop();
        out({ event: 'reply', cmd: 'stop', ok: true });
        process.exit(0);
      } else {
        out({ event: 'reply', cmd: cmd.cmd, ok: false, error: 'unknown command' });
      }
    } catch (e) {
      out({ event: 'reply', cmd: cmd && cmd.cmd, ok: false, error: String(e && e.stack ? e.stack : e) });
    }
  }
  await node.stop();
}

main().catch(e => {
  out({ event: 'fatal', error: String(e && e.stack ? e.stack : e) });
  process.exit(1);
});
