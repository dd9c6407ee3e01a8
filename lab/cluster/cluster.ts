// `ferry cluster`'s engine: N real node processes on loopback wired as peers, a Poisson load
// generator of spin jobs with exponential service times, and one measured run per policy, checked
// for exactly-once completion across the nodes' stores.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface, type Interface } from "node:readline";
import { type LifetimeModel, type PolicyKind, mmcMeanResponse, createRng, deriveSeed } from "../../runtime/balance/index.js";
import { simulate } from "../sim/simulator.js";
import { generateSigningKey, publicKeyPem } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import type { JobView } from "../../server/node/job-view.js";
import type { BalanceStats, LiveBalanceOptions } from "../../server/balance/live-balancer.js";
import type { ClusterJobRecord, ClusterNodeCommand } from "./cluster-node.js";
import { calibrateSpin, MAX_SPIN, spinModule, spinResult } from "./spin-guest.js";
import { type ClusterService, serviceLifetime, serviceSampler, serviceText } from "./service-times.js";
import type { LiveMigration } from "../../server/balance/pick.js";
import { percentile } from "../sim/slowdown.js";

export type ClusterArrivals = "single" | "uniform";

export interface ClusterOptions {
  nodes: number;
  policies: PolicyKind[];
  /** Offered load per node ρ (total arrival rate nodes·ρ / mean service time). */
  load: number;
  arrivals: ClusterArrivals;
  /** Jobs per policy run. */
  jobs: number;
  seed: number;
  /** Mean service time of a job run alone, ms (the spin count is calibrated to it). */
  meanServiceMs: number;
  lower: number;
  upper: number;
  maxPolls: number;
  /** D in mean service times (passed to the nodes in ms). */
  retryInterval: number;
  /**
   * Share of one CPU each node's guests may use (the scheduler throttles to it), so N nodes model N
   * servers of a fixed speed even on fewer cores. Default: what keeps their total demand at load ρ
   * under ~40% of this machine's cores (the rest is for moves, the store and the load generator), at most 1.
   */
  cpuShare?: number;
  /** How nodes guess a running job's remaining work, ms (default: exponential, so nothing moves strongly). */
  lifetime?: LifetimeModel;
  /** Service times of the jobs (default exponential); a Pareto tells the nodes its lifetime model too. */
  service?: ClusterService;
  /** How the nodes pick the job a transfer moves (default: the cost model; service-times.ts, pick.ts). */
  migration?: LiveMigration;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

/**
 * Defaults. The thresholds differ from runtime/balance's (0 / 3): with every arrival at one node the
 * receivers must never sit idle waiting for a poll, so a node running one job with none waiting is
 * still a receiver (lower 1) and the gap of 3 keeps the hysteresis (docs/load-sharing.md, "Live cluster").
 */
export const CLUSTER_DEFAULTS = {
  nodes: 4,
  load: 0.8,
  arrivals: "single" as ClusterArrivals,
  jobs: 300,
  seed: 1,
  // Long enough that a move (~12–17 ms here) is small next to a job, as the model assumes.
  meanServiceMs: 200,
  lower: 1,
  upper: 4,
  maxPolls: 3,
  retryInterval: 0.1,
};

export interface PolicyRun {
  policy: PolicyKind;
  submitted: number;
  /** Jobs that ended done exactly once somewhere with the right value. */
  completed: number;
  /** Submitted jobs with no final record anywhere / more than one / a wrong value. */
  lost: number;
  duplicated: number;
  wrong: number;
  meanMs: number;
  p99Ms: number;
  /** Mean and p99 of response ÷ the job's service time run alone (its calibrated spin count). */
  meanSlowdown: number;
  p99Slowdown: number;
  /** Mean time from running to done on the node that finished the job (≥ meanServiceMs under CPU contention). */
  meanExecMs: number;
  polls: number;
  pollTimeouts: number;
  weak: number;
  strong: number;
  empty: number;
  failed: number;
  /** Running jobs picked to move that finished first (the slot went to the next pick). */
  raced: number;
  /** Mean wall time of one successful transfer, ms (the source's stop to the target's commit). */
  meanTransferMs: number;
  /** Wall time from the first arrival to the last completion. */
  durationMs: number;
  /** The simulator's mean response for the same nodes, load, arrivals and policy (default costs), ms. */
  simulatedMs: number;
  /**
   * The M/M/N bound for the service the jobs actually got: mean service = meanExecMs, and the
   * arrival rate as generated (so the load is load·meanExecMs/meanServiceMs). Real nodes never run
   * at exactly the calibrated speed; this is the bound the run must be compared with.
   */
  measuredBoundMs: number;
}

export interface ClusterReport {
  options: Omit<ClusterOptions, "log">;
  cores: number;
  /** Spin iterations per ms measured before the nodes started. */
  itersPerMs: number;
  /** M/M/N mean response time at this load, ms (perfect sharing with free transfers). */
  mmnMs: number;
  runs: PolicyRun[];
}

const WARM_UP_JOBS = 4;
const WARM_UP_SPIN = 30_000_000;

/** A node process and its line protocol (one reply per command, in order). */
class ClusterNode {
  private readonly replies: Array<(line: string) => void> = [];
  private readonly lines: Interface;
  stderr = "";

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly nodeId: string,
    readonly url: string,
    readonly publicKey: string,
    lines: Interface,
  ) {
    this.lines = lines;
    lines.on("line", (line) => this.replies.shift()?.(line));
  }

  static async spawn(dataDir: string, cpuShare: number): Promise<ClusterNode> {
    const entry = clusterNodeScript();
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
    // With the V8 flags `ferry serve` runs with (bin/ferry.js).
    const child = spawn(process.execPath, ["--single-threaded-gc", entry, "--data-dir", dataDir, "--cpu-share", String(cpuShare)], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: child.stdout! });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once("line", resolve);
      child.once("exit", (code, signal) => reject(new Error(`cluster node exited (${code ?? signal}) before listening: ${stderr}`)));
    });
    const info = JSON.parse(first) as { node: string; url: string; publicKey: string };
    const node = new ClusterNode(child, dataDir, info.node, info.url, info.publicKey, lines);
    child.stderr!.on("data", (d: Buffer) => (node.stderr += d.toString()));
    return node;
  }

  command<T extends object>(command: ClusterNodeCommand): Promise<T & { ok: boolean; error?: string }> {
    return new Promise((resolve, reject) => {
      this.replies.push((line) => {
        const r = JSON.parse(line) as T & { ok: boolean; error?: string };
        if (r.ok) resolve(r);
        else reject(new Error(`node ${this.nodeId}: ${r.error ?? "failed"}`));
      });
      this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    await this.command({ cmd: "stop" }).catch(() => undefined);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
    this.lines.close();
  }
}

/** N node processes on loopback, every one a peer of every other, with the spin module uploaded. */
export class Cluster {
  private constructor(
    readonly nodes: ClusterNode[],
    readonly clients: FerryClient[],
    readonly codeHash: string,
    private readonly dirs: string[],
  ) {}

  static async start(count: number, cpuShare = 1): Promise<Cluster> {
    const dirs = Array.from({ length: count }, () => mkdtempSync(join(tmpdir(), "ferry-cluster-")));
    const started = await Promise.allSettled(dirs.map((d) => ClusterNode.spawn(d, cpuShare)));
    const nodes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s) => s.status === "rejected");
    if (failed) {
      await Promise.all(nodes.map((n) => n.stop()));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      throw (failed as PromiseRejectedResult).reason;
    }
    const key = generateSigningKey();
    const all = nodes.map((n) => ({ nodeId: n.nodeId, url: n.url, publicKey: n.publicKey }));
    await Promise.all(
      nodes.map((n) =>
        n.command({ cmd: "setup", peers: all.filter((p) => p.nodeId !== n.nodeId), clientPublicKey: publicKeyPem(key.publicKey) }),
      ),
    );
    const clients = nodes.map((n) => new FerryClient({ url: n.url, key }));
    const module = spinModule();
    let codeHash = "";
    for (const c of clients) codeHash = (await c.uploadModule(module, { public: false })).codeHash;
    // Warm-up: V8 tiers the guest's loop up only after it has run a while; the first jobs on a fresh
    // node run several times slower and would distort the first policy measured.
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < WARM_UP_JOBS; i++) await c.startJob({ codeHash, args: [WARM_UP_SPIN], sandbox: "in-process", waitMs: 10_000 });
      }),
    );
    return new Cluster(nodes, clients, codeHash, dirs);
  }

  /**
   * A spin job of `n` iterations at node `target`, which its load sharing may move to any other node
   * as the client's (a migration grant per peer; without them it would move only anonymous jobs).
   */
  async submit(target: number, n: number): Promise<JobView> {
    const client = this.clients[target]!;
    const view = await client.startJob({ codeHash: this.codeHash, args: [n], sandbox: "in-process" });
    const peers = this.nodes.filter((_, i) => i !== target).map((p) => p.nodeId);
    // A job that already ended needs no grant (409): nothing to share.
    await client.allowSharing(view.id, { peers }).catch(() => undefined);
    return view;
  }

  /** Sum of the nodes' balancing counters. */
  async stats(): Promise<BalanceStats[]> {
    return Promise.all(this.nodes.map(async (n) => (await n.command<{ stats: BalanceStats }>({ cmd: "stats" })).stats));
  }

  async configure(options: LiveBalanceOptions): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.command({ cmd: "balance", options })));
  }

  /** Every node's final record of each of `ids`. */
  async finalRecords(ids: string[]): Promise<ClusterJobRecord[]> {
    const all = await Promise.all(this.nodes.map(async (n) => (await n.command<{ jobs: ClusterJobRecord[] }>({ cmd: "jobs", ids })).jobs));
    return all.flat();
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

export async function runCluster(options: ClusterOptions): Promise<ClusterReport> {
  const log = options.log ?? (() => undefined);
  const itersPerMs = await calibrateSpin();
  const cpuShare = options.cpuShare ?? defaultCpuShare(options.nodes, options.load);
  log(`calibrated: ${Math.round(itersPerMs)} spin iterations per ms; starting ${options.nodes} nodes at ${cpuShare.toFixed(2)} CPU each`);
  const cluster = await Cluster.start(options.nodes, cpuShare);
  try {
    const runs: PolicyRun[] = [];
    for (const policy of options.policies) {
      // A node runs at cpuShare of full speed: a job alone on it takes meanServiceMs of wall time.
      const run = await runPolicy(cluster, policy, options, itersPerMs * cpuShare);
      log(
        `${policy}: mean ${run.meanMs.toFixed(1)} ms, p99 ${run.p99Ms.toFixed(0)} ms, ${run.weak} weak / ${run.strong} strong, ${run.polls} polls`,
      );
      runs.push(run);
    }
    const { log: _, ...rest } = options;
    void _;
    return { options: { ...rest, cpuShare }, cores: availableParallelism(), itersPerMs, mmnMs: mmnBound(options), runs };
  } finally {
    await cluster.close();
  }
}

/** Each node's CPU share so the cluster's guest work at load ρ uses at most ~60% of the cores. */
export function defaultCpuShare(nodes: number, load: number): number {
  return Math.min(1, (0.4 * availableParallelism()) / (nodes * Math.max(load, 0.1)));
}

/** M/M/N bound with the mean service time the jobs really had (the arrival rate stays as generated). */
export function measuredBound(o: Pick<ClusterOptions, "nodes" | "load" | "meanServiceMs">, execMs: number): number {
  const load = (o.load * execMs) / o.meanServiceMs;
  return mmnBound({ nodes: o.nodes, load, meanServiceMs: execMs });
}

/** M/M/N mean response time in ms, or Infinity when the load is not below 1. */
export function mmnBound(o: Pick<ClusterOptions, "nodes" | "load" | "meanServiceMs">): number {
  return o.load < 1 ? mmcMeanResponse(o.nodes, o.nodes * o.load) * o.meanServiceMs : Infinity;
}

/** One measured run: configure every node with `policy`, generate the jobs, wait for all of them, audit. */
export async function runPolicy(cluster: Cluster, policy: PolicyKind, o: ClusterOptions, itersPerMs: number): Promise<PolicyRun> {
  await cluster.configure({
    policy: { kind: policy, lower: o.lower, upper: o.upper, maxPolls: o.maxPolls, retryInterval: o.retryInterval * o.meanServiceMs },
    meanServiceMs: o.meanServiceMs,
    seed: o.seed,
    ...(o.lifetime ? { lifetime: o.lifetime } : {}),
    ...(o.service && serviceLifetime(o.service, o.meanServiceMs) && !o.lifetime
      ? { lifetime: serviceLifetime(o.service, o.meanServiceMs)! }
      : {}),
    ...(o.migration ? { migration: o.migration } : {}),
  });
  const sampleMs = serviceSampler(o.service ?? { kind: "exp" }, o.meanServiceMs);
  // The same seed gives every policy the same jobs at the same instants.
  const arrivalRng = createRng(deriveSeed(o.seed, 100));
  const serviceRng = createRng(deriveSeed(o.seed, 101));
  const placeRng = createRng(deriveSeed(o.seed, 102));
  const ratePerMs = (o.nodes * o.load) / o.meanServiceMs;
  const submitted = new Map<string, { at: number; n: number }>();
  const submits: Promise<void>[] = [];
  let rejected = 0;
  const start = Date.now();
  let due = 0;
  for (let j = 0; j < o.jobs; j++) {
    due += -Math.log(1 - arrivalRng.next()) / ratePerMs;
    const n = Math.max(1, Math.min(MAX_SPIN, Math.round(sampleMs(serviceRng) * itersPerMs)));
    const target = o.arrivals === "single" ? 0 : placeRng.int(o.nodes);
    const wait = start + due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const at = Date.now();
    submits.push(
      cluster.submit(target, n).then(
        (view) => void submitted.set(view.id, { at, n }),
        () => void rejected++,
      ),
    );
  }
  await Promise.all(submits);
  const expected = submitted.size;
  // Wait until the nodes have finished every job (each counts its own finishes since configure).
  const deadline = Date.now() + 60_000 + 3 * o.jobs * o.meanServiceMs;
  let stats = await cluster.stats();
  while (stats.reduce((s, x) => s + x.finished, 0) < expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    stats = await cluster.stats();
  }
  const records = await cluster.finalRecords([...submitted.keys()]);
  const done = new Map<string, ClusterJobRecord[]>();
  for (const r of records)
    if (r.state === "done" || r.state === "trapped" || r.state === "failed") done.set(r.id, [...(done.get(r.id) ?? []), r]);
  const responses: number[] = [];
  const slowdowns: number[] = [];
  let lost = rejected;
  let duplicated = 0;
  let wrong = 0;
  let last = start;
  for (const [id, { at, n }] of submitted) {
    const finals = done.get(id) ?? [];
    if (finals.length === 0) lost++;
    else if (finals.length > 1) duplicated++;
    const f = finals[0];
    if (!f) continue;
    const value = (f.result as { value?: unknown } | null)?.value;
    if (f.state !== "done" || value !== spinResult(n)) wrong++;
    responses.push(f.updatedAt - at);
    slowdowns.push((f.updatedAt - at) / (n / itersPerMs));
    last = Math.max(last, f.updatedAt);
  }
  const finished = stats.reduce((s, x) => s + x.finished, 0);
  const sorted = [...responses].sort((a, b) => a - b);
  const sum = (k: keyof BalanceStats): number => stats.reduce((s, x) => s + (x[k] as number), 0);
  return {
    policy,
    submitted: o.jobs,
    completed: responses.length - wrong,
    lost,
    duplicated,
    wrong,
    meanMs: responses.reduce((a, b) => a + b, 0) / Math.max(1, responses.length),
    p99Ms: sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]! : NaN,
    meanSlowdown: slowdowns.reduce((a, b) => a + b, 0) / Math.max(1, slowdowns.length),
    p99Slowdown: percentile(Float64Array.from(slowdowns), 0.99),
    meanExecMs: sum("execMsSum") / Math.max(1, finished),
    measuredBoundMs: measuredBound(o, sum("execMsSum") / Math.max(1, finished)),
    polls: sum("polls"),
    pollTimeouts: sum("pollTimeouts"),
    weak: sum("weak"),
    strong: sum("strong"),
    empty: sum("empty"),
    failed: sum("failed"),
    raced: sum("raced"),
    meanTransferMs: sum("transferMsSum") / Math.max(1, sum("weak") + sum("strong")),
    durationMs: last - start,
    simulatedMs: simulatedMean(policy, o),
  };
}

/** What the simulator predicts for this run (100 000 jobs, free of CPU contention), in ms. */
export function simulatedMean(policy: PolicyKind, o: ClusterOptions): number {
  const r = simulate({
    nodes: o.nodes,
    load: o.load,
    jobs: SIMULATED_JOBS,
    arrivals: o.arrivals,
    seed: o.seed,
    policy: { kind: policy, lower: o.lower, upper: o.upper, maxPolls: o.maxPolls, retryInterval: o.retryInterval },
    percentiles: false,
  });
  return r.meanResponse * o.meanServiceMs;
}

const SIMULATED_JOBS = 100_000;

/** The report as a markdown table, one row per policy, with the M/M/N bound. */
export function clusterTable(r: ClusterReport): string {
  const o = r.options;
  const head =
    `${o.nodes} nodes, load ${o.load}, arrivals ${o.arrivals}, ${o.jobs} jobs per policy, ${serviceText(o.service ?? { kind: "exp" })} service mean ${o.meanServiceMs} ms` +
    `${o.migration ? `, migration ${o.migration}` : ""}, ` +
    `lower ${o.lower} upper ${o.upper} MAX ${o.maxPolls} D ${o.retryInterval} (${(o.retryInterval * o.meanServiceMs).toFixed(0)} ms), seed ${o.seed}, ${r.cores} cores`;
  const rows = [
    `| policy | mean ms | p99 ms | × M/M/${o.nodes} | mean exec ms | × M/M/${o.nodes} at mean exec | simulated ms | polls | polls/job | weak | strong | ms/move | empty | raced | failed | lost | dup | wrong |`,
    "|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const x of r.runs) {
    rows.push(
      `| ${x.policy} | ${x.meanMs.toFixed(1)} | ${x.p99Ms.toFixed(0)} | ${(x.meanMs / r.mmnMs).toFixed(2)} | ${x.meanExecMs.toFixed(1)} | ${Number.isFinite(x.measuredBoundMs) ? (x.meanMs / x.measuredBoundMs).toFixed(2) : "unstable"} | ${fmt(x.simulatedMs)} | ${x.polls} | ` +
        `${(x.polls / Math.max(1, x.submitted)).toFixed(2)} | ${x.weak} | ${x.strong} | ${x.weak + x.strong ? x.meanTransferMs.toFixed(1) : ""} | ${x.empty} | ${x.raced} | ${x.failed} | ${x.lost} | ${x.duplicated} | ${x.wrong} |`,
    );
  }
  rows.push(
    `| M/M/${o.nodes} bound | ${Number.isFinite(r.mmnMs) ? r.mmnMs.toFixed(1) : "∞"} | | 1.00 | ${o.meanServiceMs} | | | | | | | | | | | | | |`,
  );
  const slowdowns = r.runs.map((x) => `${x.policy} ${x.meanSlowdown.toFixed(2)} (p99 ${x.p99Slowdown.toFixed(1)})`).join(", ");
  return `${head}\n\n${rows.join("\n")}\n\nMean slowdown (response ÷ the job's own service time alone): ${slowdowns}\n\n${CLUSTER_COLUMNS}\n`;
}

/** What each column of the table means (README, `npm run demo`). */
export const CLUSTER_COLUMNS = [
  "Columns: mean/p99 ms — response time of a job, submit to done (lower is better);",
  `× M/M/N — mean over the M/M/N bound for the nominal service time (one pooled queue, perfect sharing: no policy does better; 1.00 is ideal);`,
  "mean exec ms — how long jobs really ran (more than nominal when nodes share cores); × M/M/N at mean exec — the same ratio for that service time;",
  "simulated ms — the simulator's mean for the same policy and load; polls, polls/job — load-sharing probes sent;",
  "weak/strong — jobs moved by restart / by snapshot; ms/move — one transfer, the source's stop to the target's commit;",
  "empty — accepted probes with no job left to send; raced — jobs picked to move that finished first; failed — transfers that did not commit;",
  "lost/dup/wrong — jobs that never finished / finished twice / with a wrong value: must all be 0.",
].join("\n");

function fmt(ms: number): string {
  return ms >= 10_000 ? ms.toExponential(2) : ms.toFixed(1);
}

/**
 * The node processes run the compiled cluster-node.js beside this file — its dist/ twin when this
 * file runs from TypeScript (vitest), which `npm run build` writes.
 */
function clusterNodeScript(): string {
  const here = fileURLToPath(import.meta.url);
  const compiled = here.endsWith(".ts") ? here.replace(/\/lab\/cluster\/cluster\.ts$/, "/dist/lab/cluster/cluster.js") : here;
  return join(dirname(compiled), "cluster-node.js");
}
