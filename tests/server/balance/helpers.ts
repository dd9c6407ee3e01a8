// Nodes on loopback for the live balancing tests: in-process Ferry nodes (real HTTP servers, OS-chosen
// ports) wired as peers of each other, with the spin guest uploaded and a registered client.
import { parsePublicKey } from "../../../server/auth/index.js";
import type { LiveBalancer } from "../../../server/balance/live-balancer.js";
import { spinModule } from "../../../lab/cluster/spin-guest.js";
import type { JobView } from "../../../server/node/job-view.js";
import { removeDir, startTestNode, type TestNode } from "../../helpers/node.js";

export interface LiveNode extends TestNode {
  balancer: LiveBalancer;
  codeHash: string;
  /** Start a spin job of `n` iterations here (in-process sandbox). */
  spin(n: number): Promise<JobView>;
}

export async function startPeers(count: number): Promise<LiveNode[]> {
  const nodes: TestNode[] = [];
  // The run's module cache: balancing is under test, and each fresh node's first compile would load Binaryen.
  for (let i = 0; i < count; i++)
    nodes.push(
      await startTestNode({
        maxRunningJobs: 1,
        quotas: { maxConcurrentJobs: 10_000 },
        sharedModuleCache: true,
        ...(nodes[0] ? { key: nodes[0].key } : {}),
      }),
    );
  for (const a of nodes) {
    for (const b of nodes) {
      if (a !== b)
        a.running.store.peers.upsert({
          nodeId: b.running.identity.nodeId,
          url: b.running.url,
          publicKey: parsePublicKey(b.running.identity.publicKeyPem),
        });
    }
  }
  const module = spinModule();
  return Promise.all(
    nodes.map(async (n) => {
      const { codeHash } = await n.client.uploadModule(module);
      return Object.assign(n, {
        balancer: n.running.balancer,
        codeHash,
        // The client lets the nodes' load sharing move its job to any peer as its own (a grant per peer).
        spin: async (iterations: number) => {
          const view = await n.client.startJob({ codeHash, args: [iterations], sandbox: "in-process" });
          await n.client.allowSharing(view.id).catch(() => undefined); // 409 if it already ended: nothing to share
          return view;
        },
      });
    }),
  );
}

export async function closeAll(nodes: LiveNode[]): Promise<void> {
  for (const n of nodes) n.balancer.stop();
  await Promise.all(nodes.map((n) => n.close()));
  for (const n of nodes) removeDir(n.dataDir);
}
