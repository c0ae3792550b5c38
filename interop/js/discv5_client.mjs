// A @chainsafe/discv5@9.0.0 node that bootstraps from given ENRs and keeps running findRandomNode
// (as Aztec 0.63's peer manager does), printing every newly discovered ENR as a JSON line.
// Usage: node discv5_client.mjs --port <udp> --boot <enr[,enr...]> [--expect <n>] [--timeout <ms>]
// Lines: {"event":"started","enr":...}, {"event":"discovered",...enr fields}, and at the end
// {"event":"done","found":n,"table":[node ids]} after `expect` distinct ENRs or the timeout.
import { decodeEnr, emit, enrInfo, makeNode, parseArgs, sleep, stopOnStdinClose } from "./discv5_common.mjs";

const args = parseArgs(process.argv.slice(2));
const port = Number(args.port);
const boot = String(args.boot).split(",").filter((s) => s.length > 0);
const expect = args.expect ? Number(args.expect) : Infinity;
const timeout = args.timeout ? Number(args.timeout) : 15000;

const node = await makeNode({ port, tcpPort: port });
stopOnStdinClose([node]);
emit({ event: "started", enr: node.enr.encodeTxt(), nodeId: node.enr.nodeId });
const seen = new Map();
const note = (enr) => {
  if (enr.nodeId === node.enr.nodeId || seen.has(enr.nodeId)) return;
  seen.set(enr.nodeId, enr);
  emit({ event: "discovered", ...enrInfo(enr) });
};
node.on("discovered", note);
node.on("enrAdded", note);
for (const text of boot) node.addEnr(decodeEnr(text));

const deadline = Date.now() + timeout;
while (Date.now() < deadline && seen.size < expect) {
  try {
    const found = await node.findRandomNode();
    found.forEach(note);
  } catch (e) {
    emit({ event: "error", message: String(e) });
  }
  node.kadValues().forEach(note);
  await sleep(200);
}
emit({ event: "done", found: seen.size, table: node.kadValues().map((e) => e.nodeId) });
await node.stop();
process.exit(0);
