// The libp2p set-up of an Aztec v0.63.1 node (p2p doc sections 1-2), shared by gossip_peer.mjs and
// adversary_peer.mjs: js-libp2p 1.5.0, TCP, noise, yamux then mplex, identify with protocolPrefix
// 'aztec', gossipsub 13.0.0 with D=8/Dlo=4/Dhi=12, heartbeat 1 s, mcache 5/3, StrictSign (default),
// default msgIdFn (from+seqno), allowPublishToZeroTopicPeers, topic score params for tx/attestation/quote
// (weight 1, invalidMessageDeliveriesWeight -20, decay 0.5), raw payloads, no snappy.
import { gossipsub } from '@chainsafe/libp2p-gossipsub';
import { createTopicScoreParams, createPeerScoreParams } from '@chainsafe/libp2p-gossipsub/score';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { mplex } from '@libp2p/mplex';
import { tcp } from '@libp2p/tcp';
import { createFromPrivKey, createSecp256k1PeerId } from '@libp2p/peer-id-factory';
import { unmarshalPrivateKey } from '@libp2p/crypto/keys';
import { createLibp2p } from 'libp2p';

export const TOPICS = {
  tx: '/aztec/tx/0.1.0',
  block_proposal: '/aztec/block_proposal/0.1.0',
  block_attestation: '/aztec/block_attestation/0.1.0',
  epoch_proof_quote: '/aztec/epoch_proof_quote/0.1.0',
};

export const out = obj => process.stdout.write(JSON.stringify(obj) + '\n');

// port: TCP listen port on 127.0.0.1 (0: ephemeral); privateKeyHex: Aztec's PEER_ID_PRIVATE_KEY form
// (optional); aztecScoring: Aztec's topic score params and connection manager (false: library defaults,
// as the adversary peer had them).
export async function createAztecLibp2p({ port = 0, privateKeyHex, aztecScoring = true } = {}) {
  const peerId = privateKeyHex
    ? await createFromPrivKey(await unmarshalPrivateKey(Buffer.from(privateKeyHex, 'hex')))
    : await createSecp256k1PeerId();
  const topicScore = () =>
    createTopicScoreParams({ topicWeight: 1, invalidMessageDeliveriesWeight: -20, invalidMessageDeliveriesDecay: 0.5 });
  const gossipOptions = { allowPublishToZeroTopicPeers: true, D: 8, Dlo: 4, Dhi: 12, heartbeatInterval: 1000 };
  if (aztecScoring) {
    Object.assign(gossipOptions, {
      mcacheLength: 5,
      mcacheGossip: 3,
      scoreParams: createPeerScoreParams({
        topics: {
          [TOPICS.tx]: topicScore(),
          [TOPICS.block_attestation]: topicScore(),
          [TOPICS.epoch_proof_quote]: topicScore(),
        },
      }),
    });
  }
  return createLibp2p({
    peerId,
    addresses: { listen: [`/ip4/127.0.0.1/tcp/${port}`] },
    transports: [aztecScoring ? tcp({ maxConnections: 100, backlog: 5 }) : tcp()],
    connectionEncryption: [noise()],
    streamMuxers: [yamux(), mplex()],
    ...(aztecScoring ? { connectionManager: { minConnections: 10, maxConnections: 100 } } : {}),
    services: {
      identify: identify({ protocolPrefix: 'aztec' }),
      pubsub: gossipsub(gossipOptions),
    },
  });
}
