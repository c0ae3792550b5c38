// A @chainsafe/discv5@9.0.0 boot node (what Aztec 0.63's boot node is), optionally with extra js peers
// that join it first so they sit in its routing table.
// Usage: node discv5_bootnode.mjs --port <udp> [--peer-ports p1,p2,...]
// Prints {"event":"ready","enr":...,"peers":[...]} once the peers are in its table, then one
// {"event":"table",...} line per routing-table addition. Exits when stdin closes.
import { emit, enrInfo, makeNode, parseArgs, sleep, stopOnStdinClose } from "./discv5_common.mjs";

const args = parseArgs(process.argv.slice(2));
const port = Number(args.port);
const peerPorts = args["peer-ports"] ? String(args["peer-ports"]).split(",").map(Number) : [];

const boot = await makeNode({ port });
const peers = [];
for (const p of peerPorts) {
  const peer = await makeNode({ port: p, tcpPort: p });
  peer.addEnr(boot.enr.toENR());
  peers.push(peer);
}
stopOnStdinClose([boot, ...peers]);
boot.on("enrAdded", (enr) => emit({ event: "table", ...enrInfo(enr) }));

const deadline = Date.now() + 10000;
while (Date.now() < deadline) {
  await Promise.allSettled(peers.map((p) => p.findRandomNode()));
  const known = new Set(boot.kadValues().map((e) => e.nodeId));
  if (peers.every((p) => known.has(p.enr.nodeId))) break;
  await sleep(100);
}
emit({
  event: "ready",
  enr: boot.enr.encodeTxt(),
  nodeId: boot.enr.nodeId,
  peers: peers.map((p) => enrInfo(p.enr.toENR())),
  table: boot.kadValues().map((e) => e.nodeId),
});
// keep the extra peers refreshing their view (like Aztec's peer manager heartbeat)
for (;;) {
  await sleep(1000);
  await Promise.allSettled(peers.map((p) => p.findRandomNode()));
}
