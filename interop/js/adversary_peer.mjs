// A hostile js-libp2p 1.5.0 + gossipsub 13.0.0 peer for bench/adversarial_p2p.py. Same stack as
// gossip_peer.mjs (aztec_libp2p.mjs, library-default scoring), plus raw
// streams on any protocol and publish floods.
//
// env: LISTEN_PORT (default 0), PEER_ID_PRIVATE_KEY (Aztec hex form, optional).
// stdout: one JSON object per line ({"event":"ready"|"reply"|"fatal",...}). stdin: one JSON command per line:
//   {"cmd":"dial","addr":"/ip4/.../p2p/..."}
//   {"cmd":"raw","addr":"...","protocol":"/meshsub/1.1.0","hexes":["030a0b0c",...]}  one stream per hex
//   {"cmd":"publish_many","topic":"...","hexes":[...]}                             as fast as possible
//   {"cmd":"flood","topic":"...","hexes":[...],"seconds":5}             cycles hexes for `seconds`
//   {"cmd":"peers"}   {"cmd":"stop"}

import { multiaddr } from '@multiformats/multiaddr';

import { TOPICS as TOPIC_MAP, createAztecLibp2p, out, runMain, serveCommands } from './aztec_libp2p.mjs';

const TOPICS = Object.values(TOPIC_MAP);

async function main() {
  const node = await createAztecLibp2p({
    port: Number(process.env.LISTEN_PORT ?? 0),
    privateKeyHex: process.env.PEER_ID_PRIVATE_KEY,
    aztecScoring: false,
  });
  const pubsub = node.services.pubsub;
  await node.start();
  for (const t of TOPICS) pubsub.subscribe(t);
  out({ event: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()) });

  await serveCommands(node, async cmd => {
    if (cmd.cmd === 'raw') {
      let sent = 0;
      const errors = [];
      for (const hex of cmd.hexes) {
        try {
          const stream = await node.dialProtocol(multiaddr(cmd.addr), cmd.protocol, { signal: AbortSignal.timeout(3000) });
          await stream.sink([Buffer.from(hex, 'hex')]);
          await new Promise(r => setTimeout(r, 100));
          await stream.close().catch(() => {});
          sent += 1;
        } catch (e) {
          errors.push(String(e && e.message ? e.message : e).slice(0, 120));
        }
      }
      out({ event: 'reply', cmd: 'raw', ok: true, sent, errors });
    } else if (cmd.cmd === 'publish_many') {
      const t0 = performance.now();
      let sent = 0;
      for (const hex of cmd.hexes) {
        await pubsub.publish(cmd.topic, Buffer.from(hex, 'hex'));
        sent += 1;
      }
      out({ event: 'reply', cmd: 'publish_many', ok: true, sent, seconds: (performance.now() - t0) / 1000 });
    } else if (cmd.cmd === 'flood') {
      const bufs = cmd.hexes.map(h => Buffer.from(h, 'hex'));
      const t0 = performance.now();
      const end = t0 + cmd.seconds * 1000;
      let sent = 0;
      let toPeers = 0;
      while (performance.now() < end) {
        // 64 publishes in flight at once: as fast as this process can sign and write
        const batch = [];
        for (let i = 0; i < 64; i++) batch.push(pubsub.publish(cmd.topic, bufs[(sent + i) % bufs.length]));
        for (const res of await Promise.all(batch)) if (res.recipients.length > 0) toPeers += 1;
        sent += batch.length;
        await new Promise(r => setImmediate(r));
      }
      out({ event: 'reply', cmd: 'flood', ok: true, sent, toPeers, seconds: (performance.now() - t0) / 1000 });
    } else if (cmd.cmd === 'peers') {
      out({ event: 'reply', cmd: 'peers', ok: true, peers: node.getPeers().map(p => p.toString()) });
    } else {
      return false;
    }
    return true;
  });
}

runMain(main);
