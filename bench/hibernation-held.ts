// The "paused jobs held" part of bench/hibernation.ts, run as a child process so its RSS is one node's
// and a small driver's: no Binaryen (the WAT is compiled by the parent), nothing left over from other
// parts. Started with --expose-gc; one HeldRequest in over IPC, a HeldRow per stage and a HeldDone out.

import { generateSigningKey } from "../server/auth/index.js";
import { startNode } from "../server/node-server.js";

export interface HeldRequest {
  /** The tiny guest's module bytes. */
  wasm: number[];
  /** Jobs held at each row, ascending; the last is the total. */
  stages: number[];
  /** Start-and-pause sequences under way at once. */
  inFlight: number;
  /** Hibernate after this many more jobs have paused. */
  hibernateEvery: number;
  dataDir: string;
}

export interface HeldRow {
  jobs: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Creating the jobs since the previous row (start, pause with its checkpoint, hibernate), ms. */
  createMs: number;
}

export type HeldMessage =
  | { type: "baseline"; rssBytes: number }
  | ({ type: "row" } & HeldRow)
  | { type: "done"; paused: number; hibernated: number }
  | { type: "error"; error: string };

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Collect until the heap stops shrinking (Wasm memories are freed by finalizers between turns). */
async function settle(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("hibernation-held: run with --expose-gc");
  let last = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 8; round++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    const { heapUsed, external } = process.memoryUsage();
    if (heapUsed + external >= last) return;
    last = heapUsed + external;
  }
}

async function run(req: HeldRequest, send: (m: HeldMessage) => void): Promise<void> {
  // No periodic checkpoints: pausing writes each job's checkpoint, which is what hibernation keeps.
  // Compile workers exit as soon as they idle (Binaryen's heap is not the node's holding cost).
  // Jobs hibernate when the driver says (every hibernateEvery), not on the node's timer: each is counted once.
  const running = await startNode({
    dataDir: req.dataDir,
    checkpointIntervalMs: 0,
    compile: { idleMs: 0 },
    limits: { hibernateAfterMs: 3_600_000 },
  });
  const node = running.node;
  const key = generateSigningKey();
  const client = running.store.clients.add({
    publicKey: key.publicKey,
    quotas: { maxFuelPerJob: 1e15, maxConcurrentJobs: 1e9 },
    capabilities: [],
  });
  // Hibernate what is paused, as if hibernateAfterMs had passed.
  const hibernateAll = async () => (await node.hibernateIdleJobs(running.store.now() + node.limits.hibernateAfterMs)).hibernated;
  const { codeHash } = await node.uploadModule(client, Uint8Array.from(req.wasm), false);
  let started = 0;
  let paused = 0;
  let hibernated = 0;
  const startAndPause = async () => {
    // A distinct argument per job: no two checkpoints share a blob.
    const job = await node.startJob(client, { codeHash, args: [1_000_000_000 + started++], sandbox: "in-process" });
    const view = await node.pauseJob(job.id, client);
    if (view.state !== "paused") throw new Error(`job ${job.id} is ${view.state}, not paused`);
    paused++;
  };
  // The baseline: the node with its first job held (the checkpoint writer's thread started), no compile worker.
  await startAndPause();
  hibernated += await hibernateAll();
  for (let i = 0; i < 1000 && node.compilePool.stats.workersAlive > 0; i++) await new Promise((r) => setTimeout(r, 10));
  await settle();
  send({ type: "baseline", rssBytes: process.memoryUsage().rss });
  for (const stage of req.stages) {
    const t0 = nowMs();
    const lane = async () => {
      while (started < stage) {
        await startAndPause();
        if (paused % req.hibernateEvery === 0) hibernated += await hibernateAll();
      }
    };
    await Promise.all(Array.from({ length: req.inFlight }, lane));
    hibernated += await hibernateAll();
    const createMs = nowMs() - t0;
    await settle();
    const { rss, heapUsed } = process.memoryUsage();
    send({ type: "row", jobs: stage, rssBytes: rss, heapUsedBytes: heapUsed, createMs });
  }
  send({ type: "done", paused: node.load().paused, hibernated });
  await running.close();
}

process.once("message", (req: HeldRequest) => {
  const send = (m: HeldMessage) => process.send!(m);
  run(req, send).then(
    () => process.disconnect(),
    (e: unknown) => {
      send({ type: "error", error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      process.disconnect();
    },
  );
});
