// Periodic checkpoints against the jobs a node serves (issue 13, section 1): what a node's
// checkpoints of the running jobs it holds cost the other jobs it runs, and how a round's CPU grows.
//
// 1. A/B. Two real nodes, each in its own child process (bench/checkpoint-node.ts), so each node's
//    held jobs, checkpoint rounds and HTTP share that node's event loop and no other's; each holds
//    FERRY_CK_JOBS (4) in-process jobs of FERRY_CK_JOB_MIB (32) MiB that keep running: the guest
//    (bench/checkpoint-guest.ts) fills its memory once with incompressible bytes, then loops busy
//    for ever rewriting its first FERRY_CK_CHANGE_MIB (1) MiB — metered like any guest, so its
//    slices end and it pauses normally, and whatever the time between two checkpoints the bytes
//    that changed are that region. Node A checkpoints every FERRY_CK_INTERVAL_MS (1000 ms: the
//    default 5 s would leave a short window one round or none — the ratio A÷B is what matters, and a
//    shorter interval only makes A's case harder), node B never (checkpointIntervalMs 0). Tiny
//    anonymous jobs (POST /jobs { codeHash, waitMs } of a public module whose main returns 42, the
//    answer checked) go from this process one at a time (FERRY_CK_CONCURRENCY, default 1) over a
//    keep-alive connection, for FERRY_CK_WINDOW_MS (4000) per window, A's and B's windows
//    interleaved (the order alternating each round) after a warm-up round of 1 s windows. While
//    one node has its window the other is stopped (SIGSTOP, then SIGCONT for its own window:
//    FERRY_CK_STOP_IDLE=0 leaves both running): on this 2-core machine the idle node's four busy
//    jobs, and A's checkpoints during B's window, would otherwise take the measured node's CPU. A
//    stopped node's checkpoint timer is overdue when it goes on, so A's first round starts as its
//    window opens and the rest follow every interval: a window of W ms sees about W ÷ interval
//    rounds, as any W ms of a running node would. jobs/s is the median over windows; p50 and p99
//    are over every tiny job of the kept windows (one window holds too few for a p99); checkpoints
//    written (and how many were deltas), rounds skipped (one still under way) and jobs deferred
//    (too slow to pause) are the node's /metrics counters over the windows. Targets: A's p99 ≤
//    1.5× B's, A's jobs/s ≥ 0.8× B's.
// 2. CPU curve. One node in this process with periodic checkpoints off, holding one job of
//    FERRY_CK_CURVE_MIB (16,64,256) MiB at a time, which rewrites 1 MiB (FERRY_CK_CHANGE_MIB) or
//    nothing; `node.checkpointRunningJobs()` called again and again. The guest sleeps 400 ms after
//    each pass (WASI poll_oneoff; it spends nothing asleep), and the bench calls each round just
//    after the guest has made at least one pass since the last round's capture and fallen asleep
//    again (its fuel moved past what it was when the last round returned, then stood still over
//    three looks 20 ms apart): every round after the first (necessarily the whole memory: reported
//    on its own) sees exactly its region changed, however long the rounds take (a node skips a
//    job that used no fuel since its last checkpoint, so the guest must have run),
//    and the process's CPU over the round is the node's checkpoint work, not the guest's. Per
//    round: process CPU (process.cpuUsage, user + system, which includes worker threads), wall
//    time, and bytes the process wrote (/proc/self/io wchar: write calls, to files and the store's
//    WAL); medians over FERRY_BENCH_RUNS (5) rounds after the first. The sizes run one
//    after another, not interleaved (each its own job, and a round checkpoints every running job).
//    The point: CPU per round should follow bytes changed, not memory held, so each size's CPU is
//    also given as a ratio to the smallest's.
//
// Quick look: FERRY_BENCH_ONLY=checkpoints with any FERRY_CK_* (or FERRY_BENCH_RUNS) writes
// bench/results/checkpoints.quick.json; the defaults write checkpoints.json.

import { fork, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { fileURLToPath } from "node:url";
import { startNode } from "../server/node-server.js";
import { asleep, benchClient, type GuestShape, jobFuel, MIB, retried, startHeldJobs } from "./checkpoint-guest.js";
import type { CheckpointNodeReply, CheckpointNodeRequest } from "./checkpoint-node.js";
import { check, fmtBytes, fmtInt, fmtMs, fmtRatio, median, nowMs, printTable, settleGarbage, type TargetCheck } from "./harness.js";
import { tempDir } from "./node-pair.js";

export interface CheckpointsBenchOptions {
  /** Kept rounds of both tables (default 5). */
  runs?: number;
}

/** FERRY_BENCH_ONLY name. */
export const CHECKPOINTS_PARTS = ["checkpoints"] as const;

/** Issue 13, section 1: with checkpoints on, tiny-job p99 within this factor of the same node with them off… */
export const TARGET_CHECKPOINT_P99_RATIO = 1.5;
/** …and throughput at least this share of it. */
export const TARGET_CHECKPOINT_THROUGHPUT_RATIO = 0.8;

/** The configuration, each from its FERRY_CK_* variable (see the header). */
export interface CheckpointsConfig {
  runs: number;
  warmup: number;
  jobs: number;
  jobMib: number;
  changeBytes: number;
  intervalMs: number;
  windowMs: number;
  concurrency: number;
  stopIdle: boolean;
  curveMib: number[];
}

/** True when a FERRY_CK_* variable changed the defaults (the result is then a quick look). */
export function checkpointsConfigFromEnv(runs: number | undefined): { config: CheckpointsConfig; custom: boolean } {
  let custom = false;
  const int = (name: string, fallback: number, min: number): number => {
    const raw = process.env[name];
    if (raw === undefined) return fallback;
    custom = true;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${raw}`);
    return n;
  };
  const changeMib = (() => {
    const raw = process.env.FERRY_CK_CHANGE_MIB;
    if (raw === undefined) return 1;
    custom = true;
    const n = Number(raw);
    if (!(n > 0) || !Number.isSafeInteger(n * 131072))
      throw new Error(`FERRY_CK_CHANGE_MIB must be a positive multiple of 8 bytes in MiB, got ${raw}`);
    return n;
  })();
  const curveRaw = process.env.FERRY_CK_CURVE_MIB;
  if (curveRaw !== undefined) custom = true;
  const curveMib = (curveRaw ?? "16,64,256").split(",").map((s) => {
    const n = Number(s.trim());
    if (!Number.isSafeInteger(n) || n < 1 || n > 256) throw new Error(`FERRY_CK_CURVE_MIB: sizes in MiB from 1 to 256, got ${curveRaw}`);
    return n;
  });
  const stopRaw = process.env.FERRY_CK_STOP_IDLE;
  if (stopRaw !== undefined) custom = true;
  const config: CheckpointsConfig = {
    runs: runs ?? 5,
    warmup: 1,
    jobs: int("FERRY_CK_JOBS", 4, 1),
    jobMib: int("FERRY_CK_JOB_MIB", 32, 1),
    changeBytes: Math.round(changeMib * MIB),
    intervalMs: int("FERRY_CK_INTERVAL_MS", 1000, 1),
    windowMs: int("FERRY_CK_WINDOW_MS", 4000, 100),
    concurrency: int("FERRY_CK_CONCURRENCY", 1, 1),
    stopIdle: stopRaw !== "0",
    curveMib,
  };
  if (config.changeBytes > Math.min(config.jobMib, ...curveMib) * MIB - 128)
    throw new Error("FERRY_CK_CHANGE_MIB must be less than every job's memory");
  return { config, custom };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** One HTTP request over `agent`: status and body text. */
function httpRequest(agent: Agent, url: string, method: string, body?: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const r = request(
      url,
      {
        method,
        agent,
        headers: body ? { "content-type": "application/json", "content-length": body.byteLength } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    r.on("error", reject);
    r.end(body);
  });
}

/** The node's checkpoint counters from GET /metrics. */
interface CheckpointCounters {
  checkpoints: number;
  /** Of those, incremental (the pages changed since the job's last full one). */
  deltas: number;
  deferred: number;
  skipped: number;
}

async function checkpointCounters(agent: Agent, url: string): Promise<CheckpointCounters> {
  const { status, text } = await httpRequest(agent, `${url}/metrics`, "GET");
  if (status !== 200) throw new Error(`GET /metrics: HTTP ${status}`);
  const metric = (name: string): number => {
    const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text);
    if (!m) throw new Error(`GET /metrics has no ${name}`);
    return Number(m[1]);
  };
  return {
    checkpoints: metric("ferry_checkpoints_total"),
    deltas: metric("ferry_checkpoint_deltas_total"),
    deferred: metric("ferry_checkpoints_deferred_total"),
    skipped: metric("ferry_checkpoint_rounds_skipped_total"),
  };
}

/** Bytes this process has passed to write calls (Linux /proc/self/io wchar), or undefined elsewhere. */
function writtenBytes(): number | undefined {
  try {
    const m = /^wchar: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// 1. A/B: a node with periodic checkpoints against one without

class NodeChild {
  private readonly child: ChildProcess = fork(fileURLToPath(new URL("./checkpoint-node.js", import.meta.url)), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  private stopped = false;

  request(m: CheckpointNodeRequest): Promise<CheckpointNodeReply> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`checkpoint node child exited (${code}) during "${m.type}"`));
      this.child.once("exit", onExit);
      this.child.once("message", (reply: CheckpointNodeReply) => {
        this.child.off("exit", onExit);
        if (reply.type === "error") reject(new Error(`checkpoint node child, "${m.type}": ${reply.error}`));
        else resolve(reply);
      });
      this.child.send(m);
    });
  }

  async cpuUs(): Promise<number> {
    const r = await this.request({ type: "cpu" });
    if (r.type !== "cpu") throw new Error(`checkpoint node child answered ${r.type} to "cpu"`);
    return r.userUs + r.systemUs;
  }

  /** Stop the whole process (its jobs, its timers): it takes no CPU until `go`. */
  stop(): void {
    if (!this.stopped && this.child.pid !== undefined) {
      process.kill(this.child.pid, "SIGSTOP");
      this.stopped = true;
    }
  }

  go(): void {
    if (this.stopped && this.child.pid !== undefined) {
      process.kill(this.child.pid, "SIGCONT");
      this.stopped = false;
    }
  }

  async close(): Promise<void> {
    this.go();
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    try {
      await this.request({ type: "close" });
    } finally {
      this.child.disconnect();
      await exited;
    }
  }
}

/** Longest warm-up window, ms. */
const WARMUP_WINDOW_MS = 1000;

interface WindowSample {
  jobs: number;
  wallMs: number;
  latenciesMs: number[];
  counters: CheckpointCounters;
  nodeCpuCores: number;
}

export interface AbSide {
  node: "A" | "B";
  checkpointIntervalMs: number;
  /** Median over windows. */
  jobsPerSecond: number;
  /** Over every tiny job of the kept windows. */
  p50Ms: number;
  p99Ms: number;
  tinyJobs: number;
  /** Checkpoints the node wrote over all kept windows, and the median per window. */
  checkpoints: number;
  checkpointsPerWindow: number;
  /** Of the checkpoints, how many were deltas. */
  checkpointDeltas: number;
  roundsSkipped: number;
  jobsDeferred: number;
  /** Median over windows of the node process's CPU (cores: 1.00 = one core busy). */
  nodeCpuCores: number;
  samples: { jobsPerSecond: number[]; p99Ms: number[]; checkpoints: number[] };
}

export interface AbResult {
  durationMs: number;
  /** Starting both nodes and their held jobs (filled), ms. */
  setupMs: number;
  a: AbSide;
  b: AbSide;
  p50Ratio: number;
  p99Ratio: number;
  throughputRatio: number;
}

async function tinyWindow(
  child: NodeChild,
  target: { url: string; tinyHash: string },
  config: CheckpointsConfig,
  windowMs: number,
): Promise<WindowSample> {
  child.go();
  // Connections of this window only: a keep-alive connection idle while its node was stopped may be
  // closed by the node's keep-alive timer just as a request goes out on it.
  const agent = new Agent({ keepAlive: true, maxSockets: config.concurrency });
  try {
    return await measureWindow(child, target, agent, config, windowMs);
  } finally {
    agent.destroy();
    if (config.stopIdle) child.stop();
  }
}

async function measureWindow(
  child: NodeChild,
  target: { url: string; tinyHash: string },
  agent: Agent,
  config: CheckpointsConfig,
  windowMs: number,
): Promise<WindowSample> {
  const before = await checkpointCounters(agent, target.url);
  const cpu0 = await child.cpuUs();
  const body = Buffer.from(JSON.stringify({ codeHash: target.tinyHash, waitMs: 10_000 }), "utf8");
  const latencies: number[] = [];
  const started = nowMs();
  const stopAt = started + windowMs;
  const worker = async (): Promise<void> => {
    while (nowMs() < stopAt) {
      const t0 = nowMs();
      const { status, text } = await httpRequest(agent, `${target.url}/jobs`, "POST", body);
      if (status !== 201 || !text.includes('"value":42')) throw new Error(`tiny job: HTTP ${status}: ${text.slice(0, 300)}`);
      latencies.push(nowMs() - t0);
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, worker));
  const wallMs = nowMs() - started;
  const cpu1 = await child.cpuUs();
  const after = await checkpointCounters(agent, target.url);
  return {
    jobs: latencies.length,
    wallMs,
    latenciesMs: latencies,
    counters: {
      checkpoints: after.checkpoints - before.checkpoints,
      deltas: after.deltas - before.deltas,
      deferred: after.deferred - before.deferred,
      skipped: after.skipped - before.skipped,
    },
    nodeCpuCores: (cpu1 - cpu0) / 1000 / wallMs,
  };
}

async function benchAb(config: CheckpointsConfig): Promise<AbResult> {
  const started = nowMs();
  const shape: GuestShape = { memoryMib: config.jobMib, changeBytes: config.changeBytes, sleepMs: 0 };
  const sides = [
    { node: "A" as const, intervalMs: config.intervalMs, child: new NodeChild() },
    { node: "B" as const, intervalMs: 0, child: new NodeChild() },
  ];
  try {
    const targets = await Promise.all(
      sides.map(async (s) => {
        const r = await s.child.request({ type: "start", checkpointIntervalMs: s.intervalMs, jobs: config.jobs, shape });
        if (r.type !== "ready") throw new Error(`checkpoint node ${s.node} answered ${r.type} to "start"`);
        return r;
      }),
    );
    const setupMs = nowMs() - started;
    if (config.stopIdle) for (const s of sides) s.child.stop();
    const kept = sides.map(() => [] as WindowSample[]);
    for (let round = 0; round < config.warmup + config.runs; round++) {
      for (let k = 0; k < sides.length; k++) {
        const i = (round + k) % sides.length;
        // A warm-up window (JIT, connections) need not be as long as a kept one.
        const windowMs = round < config.warmup ? Math.min(config.windowMs, WARMUP_WINDOW_MS) : config.windowMs;
        const sample = await tinyWindow(sides[i]!.child, targets[i]!, config, windowMs);
        if (round >= config.warmup) kept[i]!.push(sample);
      }
    }
    const summarise = (i: number): AbSide => {
      const ws = kept[i]!;
      const all = ws.flatMap((w) => w.latenciesMs);
      const jps = ws.map((w) => w.jobs / (w.wallMs / 1000));
      return {
        node: sides[i]!.node,
        checkpointIntervalMs: sides[i]!.intervalMs,
        jobsPerSecond: median(jps),
        p50Ms: percentile(all, 50),
        p99Ms: percentile(all, 99),
        tinyJobs: all.length,
        checkpoints: ws.reduce((n, w) => n + w.counters.checkpoints, 0),
        checkpointsPerWindow: median(ws.map((w) => w.counters.checkpoints)),
        checkpointDeltas: ws.reduce((n, w) => n + w.counters.deltas, 0),
        roundsSkipped: ws.reduce((n, w) => n + w.counters.skipped, 0),
        jobsDeferred: ws.reduce((n, w) => n + w.counters.deferred, 0),
        nodeCpuCores: median(ws.map((w) => w.nodeCpuCores)),
        samples: {
          jobsPerSecond: jps,
          p99Ms: ws.map((w) => percentile(w.latenciesMs, 99)),
          checkpoints: ws.map((w) => w.counters.checkpoints),
        },
      };
    };
    const a = summarise(0);
    const b = summarise(1);
    return {
      durationMs: nowMs() - started,
      setupMs,
      a,
      b,
      p50Ratio: a.p50Ms / b.p50Ms,
      p99Ratio: a.p99Ms / b.p99Ms,
      throughputRatio: a.jobsPerSecond / b.jobsPerSecond,
    };
  } finally {
    for (const s of sides) await s.child.close();
  }
}

function printAb(r: AbResult, config: CheckpointsConfig): void {
  const interval = (s: AbSide) => (s.checkpointIntervalMs > 0 ? `${fmtInt(s.checkpointIntervalMs)} ms` : "off");
  const side = (s: AbSide) => [
    `${s.node}`,
    interval(s),
    fmtInt(s.jobsPerSecond),
    fmtMs(s.p50Ms),
    fmtMs(s.p99Ms),
    `${fmtInt(s.checkpoints)} (${fmtInt(s.checkpointsPerWindow)}/window)`,
    fmtInt(s.checkpointDeltas),
    fmtInt(s.roundsSkipped),
    fmtInt(s.jobsDeferred),
    s.nodeCpuCores.toFixed(2),
  ];
  printTable({
    title: `Tiny jobs beside ${config.jobs} running jobs of ${config.jobMib} MiB, checkpoints on (A) and off (B) (${config.runs} interleaved windows of ${(config.windowMs / 1000).toFixed(1)} s each after a warm-up round, ${config.concurrency} in flight)`,
    headers: [
      "node",
      "checkpoint interval",
      "jobs/s",
      "p50 ms",
      "p99 ms",
      "checkpoints written",
      "of which deltas",
      "rounds skipped",
      "jobs deferred",
      "node CPU",
    ],
    rows: [
      side(r.a),
      side(r.b),
      [
        "A ÷ B",
        "",
        `${fmtRatio(r.throughputRatio)} (≥ ${TARGET_CHECKPOINT_THROUGHPUT_RATIO} ${r.throughputRatio >= TARGET_CHECKPOINT_THROUGHPUT_RATIO ? "✓" : "✗"})`,
        fmtRatio(r.p50Ratio),
        `${fmtRatio(r.p99Ratio)} (≤ ${TARGET_CHECKPOINT_P99_RATIO} ${r.p99Ratio <= TARGET_CHECKPOINT_P99_RATIO ? "✓" : "✗"})`,
        "",
        "",
        "",
        "",
        "",
      ],
    ],
    notes: [
      `Each node in its own child process, holding in-process jobs that loop busy rewriting their first ${fmtBytes(config.changeBytes)} after filling their memory once; tiny jobs are anonymous POST /jobs with waitMs from this process. ${config.stopIdle ? "The node not measured is stopped (SIGSTOP) during the other's window." : "Both nodes run throughout (FERRY_CK_STOP_IDLE=0)."} jobs/s: median over windows; p50/p99 over all ${fmtInt(r.a.tinyJobs)} (A) and ${fmtInt(r.b.tinyJobs)} (B) tiny jobs. Counters: /metrics over the kept windows. node CPU: the node process, in cores, median over windows.`,
      `The checkpoint interval is ${fmtInt(config.intervalMs)} ms, not the default 5 s, so that each window sees several rounds; the targets are ratios to the same node with checkpoints off (issue 13, section 1).`,
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// 2. CPU per checkpoint round against memory held

/** The curve's guest sleeps this long after each pass (longer than a round, so it seldom wakes during one); the bench looks at its fuel every 20 ms. */
const CURVE_SLEEP_MS = 400;

export interface CurveCell {
  /** Medians over the kept rounds. */
  cpuMs: number;
  wallMs: number;
  /** Bytes written (wchar) per round, median; null where /proc/self/io is not readable. */
  writtenBytes: number | null;
  /**
   * Process CPU from the round's call to the guest asleep again after its next pass, median: the
   * round plus whatever the node leaves to do after the call returns (a write finished later, the
   * round's garbage), with the guest's pass and the bench's polling (a few ms) on top.
   */
  cycleCpuMs: number;
  /** Kept rounds the node wrote as a delta (node counters), of `samples.cpuMs.length`. */
  deltaRounds: number;
  samples: { cpuMs: number[]; wallMs: number[]; writtenBytes: number[]; cycleCpuMs: number[] };
}

export interface CurveRow {
  memoryMib: number;
  /** The first round (the whole memory), with 1 MiB changed. */
  first: { cpuMs: number; wallMs: number; writtenBytes: number | null };
  changed: CurveCell;
  /** A job that changes nothing after its fill (it only sleeps). */
  idle: CurveCell;
  /** changed.cpuMs ÷ the smallest size's. */
  cpuVsSmallest: number;
  idleCpuVsSmallest: number;
}

export interface CurveResult {
  durationMs: number;
  changeBytes: number;
  rows: CurveRow[];
}

/** One job of `shape` on `node`: its first round (also the warm-up), then `runs` rounds, each after the job's pass. */
async function curveCell(
  node: Awaited<ReturnType<typeof startNode>>,
  client: ReturnType<typeof benchClient>,
  shape: GuestShape,
  config: CheckpointsConfig,
): Promise<{ first: CurveRow["first"]; cell: CurveCell }> {
  const [id] = await startHeldJobs(client, shape, 1);
  const jobId = id!;
  try {
    // Filled, past its first pass, asleep (startHeldJobs waited for that).
    const round = async (): Promise<{
      cpuMs: number;
      wallMs: number;
      writtenBytes: number | undefined;
      cycleCpuMs: number;
      delta: boolean;
    }> => {
      const w0 = writtenBytes();
      const deltas0 = node.node.counters.checkpointDeltas;
      const cpu0 = process.cpuUsage();
      const t0 = nowMs();
      const report = await node.node.checkpointRunningJobs();
      const wallMs = nowMs() - t0;
      const cpu = process.cpuUsage(cpu0);
      const w1 = writtenBytes();
      const delta = node.node.counters.checkpointDeltas > deltas0;
      if (report.skipped || !report.checkpointed.includes(jobId))
        throw new Error(`checkpoint round did not checkpoint job ${jobId}: ${JSON.stringify(report)}`);
      // A pass of the guest's after the capture (or, changing nothing, its return to sleep), then
      // asleep again: its fuel now, after the call, is at least the fuel the capture recorded (the
      // guest may have woken while the round was writing, after the capture), so the next round sees
      // a job that used fuel since its checkpoint and at least one pass since the capture.
      await asleep(client, jobId, await jobFuel(client, jobId));
      const cycle = process.cpuUsage(cpu0);
      return {
        cpuMs: (cpu.user + cpu.system) / 1000,
        wallMs,
        writtenBytes: w0 === undefined || w1 === undefined ? undefined : w1 - w0,
        cycleCpuMs: (cycle.user + cycle.system) / 1000,
        delta,
      };
    };
    const f = await round();
    const first = { cpuMs: f.cpuMs, wallMs: f.wallMs, writtenBytes: f.writtenBytes ?? null };
    const samples = { cpuMs: [] as number[], wallMs: [] as number[], writtenBytes: [] as number[], cycleCpuMs: [] as number[] };
    let deltaRounds = 0;
    for (let i = 0; i < config.runs; i++) {
      const r = await round();
      if (r.delta) deltaRounds++;
      samples.cpuMs.push(r.cpuMs);
      samples.wallMs.push(r.wallMs);
      samples.cycleCpuMs.push(r.cycleCpuMs);
      if (r.writtenBytes !== undefined) samples.writtenBytes.push(r.writtenBytes);
    }
    return {
      first,
      cell: {
        cpuMs: median(samples.cpuMs),
        wallMs: median(samples.wallMs),
        writtenBytes: samples.writtenBytes.length > 0 ? median(samples.writtenBytes) : null,
        cycleCpuMs: median(samples.cycleCpuMs),
        deltaRounds,
        samples,
      },
    };
  } finally {
    await retried(() => client.cancel(jobId));
  }
}

async function benchCurve(config: CheckpointsConfig): Promise<CurveResult> {
  const started = nowMs();
  const dir = tempDir();
  const maxPages = Math.max(256, ...config.curveMib.map((m) => (m * MIB) / 65536));
  const node = await startNode({ dataDir: dir, checkpointIntervalMs: 0, maxMemoryPages: maxPages });
  try {
    const client = benchClient(node, maxPages);
    const cells: { memoryMib: number; first: CurveRow["first"]; changed: CurveCell; idle: CurveCell }[] = [];
    for (const memoryMib of config.curveMib) {
      await settleGarbage();
      const changed = await curveCell(node, client, { memoryMib, changeBytes: config.changeBytes, sleepMs: CURVE_SLEEP_MS }, config);
      await settleGarbage();
      const idle = await curveCell(node, client, { memoryMib, changeBytes: 0, sleepMs: CURVE_SLEEP_MS }, config);
      cells.push({ memoryMib, first: changed.first, changed: changed.cell, idle: idle.cell });
    }
    const base = cells[0]!;
    return {
      durationMs: nowMs() - started,
      changeBytes: config.changeBytes,
      rows: cells.map((c) => ({
        ...c,
        cpuVsSmallest: c.changed.cpuMs / base.changed.cpuMs,
        idleCpuVsSmallest: c.idle.cpuMs / base.idle.cpuMs,
      })),
    };
  } finally {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function printCurve(r: CurveResult, config: CheckpointsConfig): void {
  const bytes = (n: number | null) => (n === null ? "n/a" : fmtBytes(n));
  const smallest = r.rows[0]!.memoryMib;
  printTable({
    title: `CPU per checkpoint round against memory held (one job, ${fmtBytes(r.changeBytes)} changed between rounds, median of ${config.runs} rounds after the first)`,
    headers: [
      "memory held",
      "first round (full) CPU ms",
      "written",
      `CPU ms, ${fmtBytes(r.changeBytes)} changed`,
      "wall ms",
      "written",
      `CPU ÷ ${smallest} MiB`,
      "CPU ms, 0 changed",
      "wall ms",
      "written",
      `CPU ÷ ${smallest} MiB`,
    ],
    rows: r.rows.map((row) => [
      `${row.memoryMib} MiB`,
      fmtMs(row.first.cpuMs),
      bytes(row.first.writtenBytes),
      fmtMs(row.changed.cpuMs),
      fmtMs(row.changed.wallMs),
      bytes(row.changed.writtenBytes),
      fmtRatio(row.cpuVsSmallest),
      fmtMs(row.idle.cpuMs),
      fmtMs(row.idle.wallMs),
      bytes(row.idle.writtenBytes),
      fmtRatio(row.idleCpuVsSmallest),
    ]),
    notes: [
      `node.checkpointRunningJobs() on a node in this process holding one in-process job that rewrites its region (or nothing) and sleeps ${CURVE_SLEEP_MS} ms, over and over; each round is called while it sleeps, after at least one pass since the last round. CPU: process.cpuUsage (user + system, all threads) over the call; written: /proc/self/io wchar over the call. The first round is the job's first checkpoint (necessarily its whole memory). Target (issue 13, section 1): CPU per round grows with bytes changed, not with memory held.`,
      `CPU from the call to the guest's next sleep (work the node leaves for after the call, the round's garbage, plus the guest's pass and the bench's polling), ${fmtBytes(r.changeBytes)} changed / 0 changed: ${r.rows.map((row) => `${row.memoryMib} MiB ${fmtMs(row.changed.cycleCpuMs)} / ${fmtMs(row.idle.cycleCpuMs)} ms`).join(", ")}.`,
      `Kept rounds the node wrote as deltas (its counters), ${fmtBytes(r.changeBytes)} changed / 0 changed: ${r.rows.map((row) => `${row.memoryMib} MiB ${row.changed.deltaRounds} / ${row.idle.deltaRounds} of ${config.runs}`).join(", ")}.`,
    ],
  });
}

// ---------------------------------------------------------------------------------------------

export interface CheckpointsBenchResult {
  config: CheckpointsConfig;
  quick: boolean;
  ab: AbResult;
  curve: CurveResult;
  targets: TargetCheck[];
  durationMs: number;
}

export async function runCheckpointsBench(options: CheckpointsBenchOptions = {}): Promise<CheckpointsBenchResult> {
  const started = nowMs();
  const { config, custom } = checkpointsConfigFromEnv(options.runs);
  const ab = await benchAb(config);
  printAb(ab, config);
  await settleGarbage();
  const curve = await benchCurve(config);
  printCurve(curve, config);
  const held = `${config.jobs} × ${config.jobMib} MiB running`;
  const targets = [
    check(`checkpoints: tiny-job p99, ${held}, on ÷ off`, ab.p99Ratio, "<=", TARGET_CHECKPOINT_P99_RATIO, "×"),
    check(`checkpoints: tiny jobs/s, ${held}, on ÷ off`, ab.throughputRatio, ">=", TARGET_CHECKPOINT_THROUGHPUT_RATIO, "×"),
  ];
  return { config, quick: custom || options.runs !== undefined, ab, curve, targets, durationMs: nowMs() - started };
}
