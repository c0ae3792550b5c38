// ENR cross-checks with @chainsafe/enr@3.0.0 (the library Aztec 0.63 uses).
// node discv5_enr.mjs create <n>       -> n JSON lines: ENRs like an Aztec node's (aztec_network=0x01,
//                                         ip 127.0.0.1, tcp/udp), with their private key hex
// node discv5_enr.mjs decode <enr>...  -> one JSON line per ENR (decoded, signature verified by the library)
import { SignableENR } from "@chainsafe/enr";
import { createSecp256k1PeerId } from "@libp2p/peer-id-factory";
import { multiaddr } from "@multiformats/multiaddr";
import { decodeEnr, emit, enrInfo } from "./discv5_common.mjs";

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === "create") {
  const n = Number(rest[0] ?? 1);
  for (let i = 0; i < n; i++) {
    const peerId = await createSecp256k1PeerId();
    const enr = SignableENR.createFromPeerId(peerId);
    enr.set("aztec_network", Uint8Array.from([1]));
    enr.setLocationMultiaddr(multiaddr(`/ip4/127.0.0.1/udp/${40400 + i}`));
    enr.setLocationMultiaddr(multiaddr(`/ip4/127.0.0.1/tcp/${40400 + i}`));
    emit({
      ...enrInfo(enr.toENR()),
      peerId: peerId.toString(),
      privateKey: Buffer.from(peerId.privateKey).toString("hex"),
    });
  }
} else if (cmd === "decode") {
  for (const text of rest) {
    try {
      const enr = decodeEnr(text);
      emit({ ok: true, ...enrInfo(enr), peerId: (await enr.peerId()).toString() });
    } catch (e) {
      emit({ ok: false, error: String(e) });
    }
  }
} else {
  process.stderr.write("usage: discv5_enr.mjs create <n> | decode <enr>...\n");
  process.exit(2);
}
