// The libp2p set-up of an Aztec v0.63.1 node (p2p doc sections 1-2), shared by gossip_peer.mjs and
// adversary_peer.mjs: js-libp2p 1.5.0, TCP, noise, yamux then mplex, identify with protocolPrefix
// 'aztec', gossipsub 13.0.0 with D=8/Dlo=4/Dhi=12, heartbeat 1 s, mcache 5/3, StrictSign (default),
// default msgIdFn (from+seqno), allowPublishToZeroTopicPeers, topic score params for tx/attestation/quote
// (weight 1, invalidMessageDeliveriesWeight -20, decay 0.5), raw payloads, no snappy.
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
import { createLibp2p } from 'libp2p';
import { multiaddr } from '@multiformats/multiaddr';

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

// The stdin command protocol both peers speak: one JSON command per line, one `reply` event each.
// `handle(cmd)` answers the peer's own commands and returns false for one it does not know; `dial`,
// `stop`, unknown commands and errors (a reply with ok: false, the peer goes on) are answered here.
export async function serveCommands(node, handle) {
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let cmd;
    try {
      cmd = JSON.parse(line);
      if (cmd.cmd === 'dial') {
        await node.dial(multiaddr(cmd.addr));
        out({ event: 'reply', cmd: 'dial', ok: true });
      } else if (cmd.cmd === 'stop') {
        await node.stop();
        out({ event: 'reply', cmd: 'stop', ok: true });
        process.exit(0);
      } else if (!(await handle(cmd))) {
        out({ event: 'reply', cmd: cmd.cmd, ok: false, error: 'unknown command' });
      }
    } catch (e) {
      out({ event: 'reply', cmd: cmd && cmd.cmd, ok: false, error: String(e && e.stack ? e.stack : e) });
    }
  }
  await node.stop();
}

// Runs a peer's main; a failure before or outside the command loop is one `fatal` event and exit 1.
export function runMain(main) {
  main().catch(e => {
    out({ event: 'fatal', error: String(e && e.stack ? e.stack : e) });
    process.exit(1);
  });
}
