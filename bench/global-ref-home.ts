// The home node of bench/global-ref.ts, as its own process (so the global reference crosses a real
// process boundary, as between two machines, and the two nodes' event loops and CPU are not one):
// a Ferry node with one client whose directory `bench` is pinned for the peer the parent names.
// Driven over IPC: it sends its identity when listening, takes one HomeSetup, answers with the pin,
// and closes when the parent disconnects.

import { generateSigningKey, parsePublicKey } from "../server/auth/index.js";
import { startNode } from "../server/node-server.js";
import { checkPeerUrl } from "../server/peers/peer-url.js";

export interface HomeReady {
  nodeId: string;
  url: string;
  publicKeyPem: string;
}

/** The node the pin is for (the parent's, where the PeerDirectory runs). */
export interface HomeSetup {
  peer: { nodeId: string; url: string; publicKeyPem: string };
}

export interface HomePinned {
  pin: string;
  /** The pinned directory on disk (`<data-dir>/resources/<owner>/bench`). */
  path: string;
}

async function main(): Promise<void> {
  const dataDir = process.argv[2];
  if (!dataDir) throw new Error("usage: global-ref-home <data-dir>");
  const running = await startNode({ dataDir, port: 0, checkpointIntervalMs: 0 });
  const owner = generateSigningKey();
  running.store.clients.add({ publicKey: owner.publicKey, quotas: {}, capabilities: ["bench/*:rw"] });
  const send = (m: HomeReady | HomePinned | { error: string }): void => void process.send!(m);
  process.once("message", (m: HomeSetup) => {
    try {
      running.store.peers.upsert({
        nodeId: m.peer.nodeId,
        url: checkPeerUrl(m.peer.url).href,
        publicKey: parsePublicKey(m.peer.publicKeyPem),
      });
      const pin = running.node.pins.create({ jobId: "bench", owner: owner.clientId, dir: "bench", access: "rw", peer: m.peer.nodeId });
      send({ pin: pin.id, path: `${dataDir}/resources/${owner.clientId}/bench` });
    } catch (e) {
      send({ error: e instanceof Error ? e.message : String(e) });
    }
  });
  process.once("disconnect", () => {
    void running.close().then(() => process.exit(0));
  });
  send({ nodeId: running.identity.nodeId, url: running.url, publicKeyPem: running.identity.publicKeyPem });
}

void main().catch((e: unknown) => {
  process.stderr.write(`global-ref home node: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(4);
});
