// One node of `ferry cluster`, as its own process: a Ferry node (one running job at a time, like the
// single-processor nodes of the model) whose balancer the parent configures over stdin, one JSON
// command per line, each answered with one JSON line on stdout.

import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { parsePublicKey } from "../../server/auth/index.js";
import { startNode } from "../../server/node-server.js";
import { FINISHED_JOB_STATES, type Json } from "../../server/store/records.js";
import type { LiveBalanceOptions } from "../../server/balance/live-balancer.js";
import { checkPeerUrl } from "../../server/peers/peer-url.js";

export type ClusterNodeCommand =
  /** Peers to add (ids, URLs, keys) and the load generator's client key (PEM) to register. */
  | { cmd: "setup"; peers: { nodeId: string; url: string; publicKey: string }[]; clientPublicKey: string }
  | { cmd: "balance"; options: LiveBalanceOptions }
  | { cmd: "stats" }
  /** Final records of the given jobs held here: where they ended and when (store clock, ms). */
  | { cmd: "jobs"; ids: string[] }
  | { cmd: "stop" };

export interface ClusterJobRecord {
  id: string;
  state: string;
  updatedAt: number;
  result: Json;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "data-dir": { type: "string" },
      "max-running-jobs": { type: "string", default: "1" },
      "cpu-share": { type: "string", default: "1" },
    },
  });
  if (!values["data-dir"]) throw new Error("--data-dir is required");
  const running = await startNode({
    dataDir: values["data-dir"],
    port: 0,
    maxRunningJobs: Number(values["max-running-jobs"]),
    cpuShare: Number(values["cpu-share"]),
    checkpointIntervalMs: 0, // periodic snapshots would only add CPU noise to the measurement
  });
  const balancer = running.balancer;
  const reply = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  reply({ node: running.identity.nodeId, url: running.url, publicKey: running.identity.publicKeyPem });

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    let command: ClusterNodeCommand;
    try {
      command = JSON.parse(line) as ClusterNodeCommand;
      if (command.cmd === "setup") {
        for (const p of command.peers)
          running.store.peers.upsert({ nodeId: p.nodeId, url: checkPeerUrl(p.url).href, publicKey: parsePublicKey(p.publicKey) });
        const key = parsePublicKey(command.clientPublicKey);
        const known = running.store.clients.list().some((c) => parsePublicKey(c.publicKey).equals(key));
        if (!known)
          running.store.clients.add({ publicKey: key, quotas: { maxConcurrentJobs: 1_000_000, maxFuelPerJob: 1e15 }, capabilities: [] });
        reply({ ok: true });
      } else if (command.cmd === "balance") {
        balancer.configure(command.options);
        reply({ ok: true });
      } else if (command.cmd === "stats") {
        reply({ ok: true, stats: balancer.stats(), load: running.node.load() });
      } else if (command.cmd === "jobs") {
        const jobs: ClusterJobRecord[] = [];
        for (const id of command.ids) {
          const r = running.store.jobs.get(id);
          if (r && (FINISHED_JOB_STATES.includes(r.state) || r.state === "prepared"))
            jobs.push({ id, state: r.state, updatedAt: r.updatedAt, result: r.result });
        }
        reply({ ok: true, jobs });
      } else if (command.cmd === "stop") {
        balancer.stop();
        await running.close();
        reply({ ok: true });
        break;
      } else {
        reply({ ok: false, error: `unknown command ${(command as { cmd?: unknown }).cmd}` });
      }
    } catch (e) {
      reply({ ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  }
  process.exit(0);
}

void main().catch((e: unknown) => {
  process.stderr.write(`cluster node: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(4);
});
