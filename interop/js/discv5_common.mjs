// Shared helpers for the discv5 interop scripts: a @chainsafe/discv5@9.0.0 node configured like
// Aztec 0.63's DiscV5Service / boot node (ENR with aztec_network=0x01, ip/udp(/tcp); lookupTimeout 2000,
// requestTimeout 2000, allowUnverifiedSessions true; IPv4 bind only). Output is JSON lines on stdout.
import { Discv5 } from "@chainsafe/discv5";
import { ENR, SignableENR } from "@chainsafe/enr";
import { createSecp256k1PeerId } from "@libp2p/peer-id-factory";
import { multiaddr } from "@multiformats/multiaddr";

export function parseArgs(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const key = a.slice(2);
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) out[key] = true;
      else { out[key] = next; i++; }
    } else out._.push(a);
  }
  return out;
}

export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

export function enrInfo(enr) {
  const aztec = enr.kvs.get("aztec_network");
  return {
    enr: enr.encodeTxt(),
    nodeId: enr.nodeId,
    seq: Number(enr.seq),
    ip: enr.ip ?? null,
    udp: enr.udp ?? null,
    tcp: enr.tcp ?? null,
    aztec_network: aztec && aztec.length ? aztec[0] : null,
    publicKey: Buffer.from(enr.publicKey).toString("hex"),
  };
}

export async function makeNode({ port, tcpPort, aztec = true }) {
  const peerId = await createSecp256k1PeerId();
  const enr = SignableENR.createFromPeerId(peerId);
  if (aztec) enr.set("aztec_network", Uint8Array.from([1]));
  const udpAddr = multiaddr(`/ip4/127.0.0.1/udp/${port}`);
  enr.setLocationMultiaddr(udpAddr);
  if (tcpPort) enr.setLocationMultiaddr(multiaddr(`/ip4/127.0.0.1/tcp/${tcpPort}`));
  const discv5 = Discv5.create({
    enr,
    peerId,
    bindAddrs: { ip4: udpAddr },
    config: { lookupTimeout: 2000, requestTimeout: 2000, allowUnverifiedSessions: true },
  });
  await discv5.start();
  return discv5;
}

export function decodeEnr(text) {
  return ENR.decodeTxt(text);
}

export function stopOnStdinClose(nodes) {
  const stop = async () => {
    for (const n of nodes) {
      try { await n.stop(); } catch { /* already stopped */ }
    }
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
