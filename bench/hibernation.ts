// Hibernation (issue 13, section 4): a paused job leaves the VM (JobRunner.hibernate: its instance
// disposed, its state in the checkpoint pausing wrote) and comes back when it runs again. Two parts,
// each on one real node (startNode, no periodic checkpoints), driven through the node's API
// (FerryNode: what the HTTP routes call) rather than HTTP, so neither a client's signing nor JSON on
// these same two cores is counted as the node's:
//
//  1. Resume cost: a job that filled RESUME_MIB MiB of memory with incompressible bytes, then counts,
//     is paused (a full checkpoint), hibernated, and resumed — timed from `resumeJob` until it returns,
//     i.e. the job is `running` again under the scheduler (read and verify the checkpoint blob, decode,
//     restore the instance, the store's update): what a client waits for. Against a plain restore of
//     the same snapshot (`engine.restore` of the decoded checkpoint, in memory: what any restore costs
//     at least) and a restore from the store (read, verify, decode, restore: what waking must do).
//     Interleaved, medians; target: hibernated resume ≤ 1.5× the plain restore.
//  2. Paused jobs held, in a child process (hibernation-held.ts) whose RSS is the node's and a small
//     driver's: FERRY_BENCH_PAUSED_JOBS (default 100,000) jobs of a tiny guest (a counter loop:
//     one page of memory, a checkpoint of about a hundred bytes) started and paused, PAUSE_IN_FLIGHT at
//     once (their checkpoint writes and fsyncs overlap, which the file system commits together), and
//     hibernated every HIBERNATE_EVERY jobs, so live instances stay far below the ~12,900 V8 allows a
//     process. Its RSS after a full GC at 1k, 10k, 100k jobs (and N): rows of jobs held, RSS, growth
//     per job, paused jobs per GiB, and the rate jobs were created at. Target: ≥ 100,000 paused jobs
//     within 2 GiB RSS.
//
// Run time on the 2-core bench machine: ~4 min at the default 100,000 jobs (creating them is most of
// it); the data directory (one checkpoint blob per job) is removed in the background afterwards.

import { fork, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Engine, type GuestModule, type Snapshot } from "../runtime/index.js";
import { generateSigningKey } from "../server/auth/index.js";
import { checkpointSnapshot } from "../server/migration/checkpoint-format.js";
import { startNode, type RunningNode } from "../server/node-server.js";
import type { ClientRecord } from "../server/store/records.js";
import { decodeSnapshot } from "../runtime/index.js";
import {
  check,
  collectGarbage,
  fmtBytes,
  fmtInt,
  fmtMs,
  fmtRatio,
  interleave,
  medians,
  nowMs,
  printTable,
  type TargetCheck,
  watToWasm,
} from "./harness.js";
import type { HeldMessage, HeldRequest, HeldRow as HeldStage } from "./hibernation-held.js";
import { FILL_FUEL_PER_WORD, FILL_MEMORY_WAT, tempDir } from "./node-pair.js";

export interface HibernationBenchOptions {
  /** Kept rounds of the resume-cost samples (default 15). */
  runs?: number;
  /** Paused jobs created and held (default 100,000; FERRY_BENCH_PAUSED_JOBS). */
  pausedJobs?: number;
}

/** FERRY_BENCH_ONLY name. */
export const HIBERNATION_PARTS = ["hibernation"] as const;

/** Issue 13, section 4: resuming a hibernated job costs at most this factor of a plain restore. */
export const TARGET_RESUME_RATIO = 1.5;
/** Issue 13, section 4: a node holds at least this many paused jobs … */
export const TARGET_PAUSED_JOBS = 100_000;
/** … within this RSS, bytes. */
export const TARGET_RSS_BYTES = 2 * 1024 ** 3;
const DEFAULT_PAUSED_JOBS = 100_000;
/** Memory the resume-cost job fills, MiB. */
const RESUME_MIB = 2;
/** Start-and-pause sequences under way at once. */
const PAUSE_IN_FLIGHT = 32;
/** Hibernate after this many more jobs have paused. */
const HIBERNATE_EVERY = 500;
const MIB = 1024 * 1024;

/** Fills `$pages` pages (incompressible), then counts to $n: a job with memory that is still running when paused. */
const FILL_THEN_COUNT = watToWasm(`(module
  (memory ${RESUME_MIB * 16 + 1})
  (func (export "main") (param $pages i32) (param $n i32) (result i32)
    (local $addr i32) (local $end i32) (local $x i64) (local $i i32)
${FILL_MEMORY_WAT}
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $i)))`);

/** Counts to $n: the tiny job held by the hundred thousand (its argument differs per job, so no two checkpoints share a blob). */
const COUNTER = watToWasm(`(module
  (func (export "main") (param $n i32) (result i32)
    (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $i)))`);

export interface ResumeRow {
  variant: string;
  medianMs: number;
  /** ÷ engine.restore of the decoded snapshot, in memory. */
  ratio: number;
  /** ÷ the node's restore path (read, verify, decode the checkpoint, restore). */
  ratioToStoreRestore: number;
}

export interface HeldRow {
  jobs: number;
  rssBytes: number;
  /** RSS growth over the node before any job, per job. */
  bytesPerJob: number;
  /** Jobs per GiB of RSS growth. */
  jobsPerGiB: number;
  heapUsedBytes: number;
  /** Jobs created per second since the previous row (start, pause, checkpoint, hibernate). */
  jobsPerSecond: number;
}

export interface HibernationBenchResult {
  resume: { rows: ResumeRow[]; snapshotBytes: number; runs: number };
  held: { rows: HeldRow[]; baselineRssBytes: number; maxHeldWithinTarget: number; createSeconds: number };
  targets: TargetCheck[];
  durationMs: number;
}

interface BenchNode {
  running: RunningNode;
  client: ClientRecord;
  dir: string;
  codeHash(bytes: Uint8Array): Promise<string>;
  /** Hibernate every paused job (as if hibernateAfterMs had passed). */
  hibernateAll(): Promise<number>;
  close(): Promise<void>;
}

async function benchNode(): Promise<BenchNode> {
  const dir = tempDir();
  // No periodic checkpoints: pausing writes each job's checkpoint, which is what hibernation keeps.
  // The node's own sweep never hibernates the job: the samples do, when they mean to.
  const running = await startNode({ dataDir: dir, checkpointIntervalMs: 0, limits: { hibernateAfterMs: 3_600_000 } });
  const key = generateSigningKey();
  const client = running.store.clients.add({
    publicKey: key.publicKey,
    quotas: { maxFuelPerJob: 1e15, maxConcurrentJobs: 1e9 },
    capabilities: [],
  });
  const later = () => running.store.now() + running.node.limits.hibernateAfterMs;
  return {
    running,
    client,
    dir,
    codeHash: async (bytes) => (await running.node.uploadModule(client, bytes, false)).codeHash,
    hibernateAll: async () => (await running.node.hibernateIdleJobs(later())).hibernated,
    close: async () => {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function resumeCost(runs: number): Promise<HibernationBenchResult["resume"]> {
  const n = await benchNode();
  const node = n.running.node;
  const codeHash = await n.codeHash(FILL_THEN_COUNT);
  const pages = RESUME_MIB * 16;
  const job = await node.startJob(n.client, { codeHash, args: [pages, 2_000_000_000], sandbox: "in-process" });
  // Paused once the memory is filled (fuel past the fill), so every checkpoint holds RESUME_MIB MiB.
  const fillFuel = ((pages * 65536) / 8) * FILL_FUEL_PER_WORD;
  for (;;) {
    const paused = await node.pauseJob(job.id, n.client);
    if (paused.fuelUsed > fillFuel) break;
    await node.resumeJob(job.id, n.client);
    await new Promise((r) => setTimeout(r, 20));
  }
  const engine = new Engine();
  const module: GuestModule = await engine.compile(FILL_THEN_COUNT);
  const encoded = node.snapshotOf(job.id, n.client);
  const snapshot: Snapshot = decodeSnapshot(encoded);
  if (snapshot.memory.pages.length < pages) throw new Error(`hibernation: the checkpoint holds ${snapshot.memory.pages.length} pages`);
  const restore = async (from: () => Snapshot): Promise<number> => {
    const t0 = nowMs();
    const instance = await engine.restore(from(), { module, sandbox: "in-process" });
    const ms = nowMs() - t0;
    instance.dispose();
    return ms;
  };
  const samples = await interleave(
    [
      { name: "plain restore", sample: () => restore(() => snapshot) },
      { name: "restore from the store", sample: () => restore(() => checkpointSnapshot(n.running.store, job.id)!) },
      {
        name: "hibernated resume",
        sample: async () => {
          if ((await n.hibernateAll()) !== 1) throw new Error("hibernation: the paused job did not hibernate");
          // A hibernated job is resumed hibernateAfterMs or more after it paused, not at once: the
          // garbage its pause and hibernation left (the capture, the disposed memory) is collected
          // by then, as before the other variants' samples, rather than on the resume's clock.
          collectGarbage();
          const t0 = nowMs();
          const view = await node.resumeJob(job.id, n.client);
          const ms = nowMs() - t0;
          if (view.state !== "running") throw new Error(`hibernation: resumed job is ${view.state}`);
          await node.pauseJob(job.id, n.client); // a full checkpoint again (a woken job has no base)
          return ms;
        },
      },
    ],
    { warmup: 2, runs },
  );
  const m = medians(samples);
  const plain = m["plain restore"]!;
  const fromStore = m["restore from the store"]!;
  const rows = ["plain restore", "restore from the store", "hibernated resume"].map((variant) => ({
    variant,
    medianMs: m[variant]!,
    ratio: m[variant]! / plain,
    ratioToStoreRestore: m[variant]! / fromStore,
  }));
  await n.close();
  await engine.close();
  return { rows, snapshotBytes: encoded.byteLength, runs };
}

/** Part 2 in a child process (hibernation-held.ts), so its RSS is the node's and a small driver's. */
async function pausedJobsHeld(total: number): Promise<HibernationBenchResult["held"]> {
  const dir = tempDir();
  const stages = [...new Set([1_000, 10_000, 100_000].filter((s) => s < total).concat(total))];
  const child = fork(fileURLToPath(new URL("./hibernation-held.js", import.meta.url)), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: ["--single-threaded-gc", "--expose-gc"],
  });
  let baselineRssBytes = 0;
  const raw: HeldStage[] = [];
  const done = await new Promise<{ paused: number; hibernated: number }>((resolve, reject) => {
    child.on("message", (m: HeldMessage) => {
      if (m.type === "baseline") baselineRssBytes = m.rssBytes;
      else if (m.type === "row") raw.push(m);
      else if (m.type === "done") resolve(m);
      else reject(new Error(`hibernation: ${m.error}`));
    });
    child.on("exit", (code) => reject(new Error(`hibernation: the node's process exited (${code}) before it was done`)));
    const req: HeldRequest = { wasm: [...COUNTER], stages, inFlight: PAUSE_IN_FLIGHT, hibernateEvery: HIBERNATE_EVERY, dataDir: dir };
    child.send(req);
  });
  // One blob per job: removing 100,000 files takes minutes on a loaded disk, so in the background.
  spawn("rm", ["-rf", dir], { detached: true, stdio: "ignore" }).unref();
  if (done.paused !== total || done.hibernated !== total)
    throw new Error(`hibernation: ${done.paused} paused, ${done.hibernated} hibernated of ${total}`);
  let prev = 0;
  const rows: HeldRow[] = raw.map((r) => {
    const bytesPerJob = (r.rssBytes - baselineRssBytes) / r.jobs;
    const row = {
      jobs: r.jobs,
      rssBytes: r.rssBytes,
      bytesPerJob,
      jobsPerGiB: 1024 ** 3 / bytesPerJob,
      heapUsedBytes: r.heapUsedBytes,
      jobsPerSecond: (r.jobs - prev) / (r.createMs / 1000),
    };
    prev = r.jobs;
    return row;
  });
  const last = rows.at(-1)!;
  const maxHeldWithinTarget = Math.floor((TARGET_RSS_BYTES - baselineRssBytes) / Math.max(1, last.bytesPerJob));
  const createSeconds = raw.reduce((t, r) => t + r.createMs, 0) / 1000;
  return { rows, baselineRssBytes, maxHeldWithinTarget, createSeconds };
}

export async function runHibernationBench(options: HibernationBenchOptions = {}): Promise<HibernationBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 15;
  const total = options.pausedJobs ?? DEFAULT_PAUSED_JOBS;
  if (!Number.isSafeInteger(total) || total < 1) throw new Error(`hibernation: pausedJobs must be a positive integer, got ${total}`);

  const resume = await resumeCost(runs);
  const resumed = resume.rows.find((r) => r.variant === "hibernated resume")!;
  printTable({
    title: `Hibernation: resuming a paused job out of the VM (${RESUME_MIB} MiB of memory)`,
    headers: ["variant", "median ms", "× plain restore", "× restore from the store"],
    rows: resume.rows.map((r) => [r.variant, fmtMs(r.medianMs), fmtRatio(r.ratio), fmtRatio(r.ratioToStoreRestore)]),
    notes: [
      `A job that filled ${RESUME_MIB} MiB with incompressible bytes and counts on, paused (a full checkpoint of ${fmtBytes(resume.snapshotBytes)}), hibernated, then resumed: \`resumeJob\` until it returns with the job running again under the scheduler (JobRunner.wake: read the blob and check its sha256, decode (which checks the format's own sha256), restore; then the store's update). plain restore: \`engine.restore\` of the same snapshot, already decoded in memory (the least any restore costs). restore from the store: the node's restore path as recovery and a restart take it — \`checkpointSnapshot\` (read, both sha256 checks, decode), then \`engine.restore\`. Medians of ${resume.runs} interleaved rounds. Target: hibernated resume ≤ ${TARGET_RESUME_RATIO}× a plain restore of its checkpoint, taken as the node's restore path; the in-memory ratio is there to show what reading and checking ${fmtBytes(resume.snapshotBytes)} costs (two sha256 passes over it, ~4-5 ms each on this machine).`,
    ],
  });

  const held = await pausedJobsHeld(total);
  const gib = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`;
  printTable({
    title: "Hibernation: paused jobs held by one node",
    headers: ["jobs held", "RSS", "heap used", "RSS growth per job", "paused jobs per GiB", "created jobs/s"],
    rows: held.rows.map((r) => [
      fmtInt(r.jobs),
      r.rssBytes >= 1024 ** 3 ? gib(r.rssBytes) : fmtBytes(r.rssBytes),
      fmtBytes(r.heapUsedBytes),
      fmtBytes(Math.round(r.bytesPerJob)),
      fmtInt(r.jobsPerGiB),
      fmtInt(r.jobsPerSecond),
    ]),
    notes: [
      `One node in a child process; a tiny counter guest started and paused through the node's API, ${PAUSE_IN_FLIGHT} at once, each paused job's checkpoint written (fsynced) by pausing and the jobs hibernated every ${HIBERNATE_EVERY}. RSS after a full GC; growth is over the node before any job (${fmtBytes(held.baselineRssBytes)}). Creating ${fmtInt(total)} took ${held.createSeconds.toFixed(0)} s (${fmtInt(total / held.createSeconds)} jobs/s). Held within ${gib(TARGET_RSS_BYTES)} of RSS at the last row's growth per job: ${fmtInt(held.maxHeldWithinTarget)} (a live instance each: ~12,900 at most, V8's address space per Wasm memory).`,
    ],
  });

  const last = held.rows.at(-1)!;
  const targets = [
    check("hibernated resume vs the node's restore of its checkpoint", resumed.ratioToStoreRestore, "<=", TARGET_RESUME_RATIO, "×"),
  ];
  if (last.jobs >= TARGET_PAUSED_JOBS)
    targets.push(
      check(`RSS holding ${fmtInt(last.jobs)} hibernated paused jobs`, last.rssBytes / MIB, "<=", TARGET_RSS_BYTES / MIB, "MiB"),
    );
  targets.push(
    check("paused jobs held within 2 GiB RSS (at the measured growth per job)", held.maxHeldWithinTarget, ">=", TARGET_PAUSED_JOBS, "jobs"),
  );
  return { resume, held, targets, durationMs: nowMs() - started };
}
