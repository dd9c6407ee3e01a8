// Ferry node benchmarks over real HTTP on loopback: strong-migration downtime between two real nodes
// (paused at the source → running at the target, broken down by protocol step, against a raw POST of
// the same bytes), and throughput / latency of tiny anonymous jobs on one node, loaded from a child
// process. Prints markdown tables and returns the data (bench/run-all.ts writes bench/results/node.json).

import { benchModuleSize, type ModuleSizeRow } from "./module-size.js";
import { fork } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { generateSigningKey } from "../server/auth/index.js";
import { FerryClient } from "../server/client.js";
import type { TransferMark } from "../server/migration/migrator.js";
import { checkpointSnapshot } from "../server/migration/checkpoint-format.js";
import { startNode, type RunningNode } from "../server/node-server.js";
import type { LoadReport, LoadRequest } from "./node-load.js";
import { benchPrecopy, type PrecopyRow } from "./node-precopy.js";
import {
  check,
  collectGarbage,
  fmtBytes,
  fmtInt,
  fmtMs,
  fmtRatio,
  interleave,
  median,
  medians,
  nowMs,
  printTable,
  type TargetCheck,
  watToWasm,
} from "./harness.js";
import { until } from "../tests/helpers/until.js";
import { FILL_FUEL_PER_WORD, FILL_MEMORY_WAT, startPair, tempDir } from "./node-pair.js";

export interface NodeBenchOptions {
  /** Kept rounds per measurement (default 7; at least 5 for reported numbers). */
  runs?: number;
  /** Discarded rounds before them (default 1). */
  warmup?: number;
  /** Length of one throughput round, ms (default 1500). */
  roundMs?: number;
  /** Run only these parts (default both). */
  only?: ReadonlyArray<NodePart>;
}

/** FERRY_BENCH_ONLY names. */
export const NODE_PARTS = ["node-migration", "node-precopy", "node-throughput"] as const;
export type NodePart = (typeof NODE_PARTS)[number];

export const TARGET_DOWNTIME_16MIB_MS = 50;
export const TARGET_JOBS_PER_SECOND = 2000;
/** Tiny jobs ÷ the bare Hono floor at 32 requests in flight (issue 13 section 6). */
export const TARGET_VS_FLOOR_AT_32 = 0.5;

const MIB = 1024 * 1024;
const PAGE_BYTES = 65536;
const MIGRATION_SIZES_MIB = [1, 16, 64] as const;
/** Requests in flight at once from the load process. */
const CONCURRENCY = 32;

/**
 * The migration steps, in order: first the pre-copy while the job still runs (not downtime), then
 * the stop-and-copy of what changed, from the source's pause to the target running the job.
 */
const STEPS = [
  {
    name: "pre-copy pause",
    from: "source:precopy-stopped",
    to: "source:precopy-resumed",
    what: "job paused to copy its state (before the downtime)",
  },
  {
    name: "pre-copy",
    from: "source:precopy-resumed",
    to: "source:precopied",
    what: "encode, send, verify, store the base durably (job running)",
  },
  {
    name: "more rounds",
    from: "source:precopied",
    to: "source:stopped",
    what: "scan for pages changed since the last copy; send them while it pays (job running)",
  },
  { name: "snapshot", from: "source:stopped", to: "source:snapshotted", what: "snapshot({ move: true })" },
  { name: "encode", from: "source:snapshotted", to: "source:encoded", what: "diff against the pre-copy + encodeSnapshot" },
  { name: "send", from: "source:encoded", to: "target:prepare", what: "sign, transmit, read body, verify signature" },
  { name: "decode", from: "target:prepare", to: "target:decoded", what: "decode the delta, apply it to the base" },
  { name: "store", from: "target:decoded", to: "target:stored", what: "stage (restore, paused) + delta blob (fsync) + job rows" },
  { name: "ack", from: "target:stored", to: "source:prepared", what: "PREPARE answer back at the source" },
  { name: "decision", from: "source:prepared", to: "source:decided", what: "decision row at the source (fsync)" },
  { name: "commit", from: "source:decided", to: "target:commit", what: "signed COMMIT to the target" },
  { name: "restore", from: "target:commit", to: "target:running", what: "let the staged instance run, state row" },
] as const satisfies ReadonlyArray<{ name: string; from: TransferMark; to: TransferMark; what: string }>;
type StepName = (typeof STEPS)[number]["name"];

export interface MigrationRow {
  mib: number;
  touchedPages: number;
  /** Bytes of the PREPARE body (after a pre-copy: the delta, wrapped as the target's newest checkpoint). */
  snapshotBytes: number;
  /** Median ms: source paused → target running (node-side timestamps). */
  downtimeMs: number;
  /** Median ms per step (medians of each step, so they need not add up to the downtime exactly). */
  stepsMs: Record<StepName, number>;
  /** Median ms: the client's POST /jobs/:id/migrate, call to answer (includes waiting for the slice to end, and COMMIT's answer). */
  clientMs: number;
  /** Median ms: the client's call → the source has the job paused. */
  pauseWaitMs: number;
  /** Median ms: a raw loopback POST of as many bytes to a bare node:http server (fetch, as the peer link uses). */
  rawPostMs: number;
  /** Median ms: one sha256 over the snapshot's bytes (the path has several). */
  sha256Ms: number;
  downtimeVsRawPost: number;
  samples: { downtime: number[]; client: number[]; rawPost: number[]; steps: Record<StepName, number[]> };
}

export interface ThroughputRow {
  variant: string;
  jobsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Node process CPU over the round (ms of CPU per ms of wall: 1.0 = one core busy). */
  nodeCpuUser: number;
  nodeCpuSystem: number;
  /** Event-loop utilisation of the node's main thread over the round. */
  nodeEventLoop: number;
  /** Load process CPU (cores). */
  loadCpu: number;
  /** jobsPerSecond / the HTTP floor's requests per second. */
  vsFloor: number | null;
  samples: { jobsPerSecond: number[]; p50Ms: number[]; p99Ms: number[] };
}

export interface NodeBenchResult {
  config: { runs: number; warmup: number; roundMs: number; concurrency: number; dataDir: string; load: string };
  migration?: { rows: MigrationRow[] };
  precopy?: { rows: PrecopyRow[] };
  throughput?: { rows: ThroughputRow[]; curve: CurveRow[] };
  /** Tiny jobs against their module's size (module-size.ts; with node-throughput). */
  moduleSize?: ModuleSizeRow[] | undefined;
  targets: TargetCheck[];
  durationMs: number;
}

export async function runNodeBench(options: NodeBenchOptions = {}): Promise<NodeBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 7;
  const warmup = options.warmup ?? 1;
  const roundMs = options.roundMs ?? 1500;
  const parts = new Set<NodePart>(options.only ?? NODE_PARTS);
  const targets: TargetCheck[] = [];

  const migration = parts.has("node-migration") ? await benchMigration(runs, warmup) : undefined;
  collectGarbage();
  const precopy = parts.has("node-precopy") ? await benchPrecopy(runs, warmup) : undefined;
  collectGarbage();
  const throughput = parts.has("node-throughput") ? await benchThroughput(runs, warmup, roundMs) : undefined;
  collectGarbage();
  const moduleSize = parts.has("node-throughput") ? await benchModuleSize(runs, warmup) : undefined;
  if (moduleSize) targets.push(moduleSize.target);

  if (migration) {
    const r16 = migration.rows.find((r) => r.mib === 16);
    if (r16) targets.push(check("node: migration downtime, 16 MiB touched", r16.downtimeMs, "<=", TARGET_DOWNTIME_16MIB_MS, "ms"));
  }
  if (throughput) {
    const def = throughput.rows.find((r) => r.variant === DEFAULT_VARIANT);
    if (def) targets.push(check("node: tiny anonymous jobs over HTTP", def.jobsPerSecond, ">=", TARGET_JOBS_PER_SECOND, "jobs/s"));
    const at32 = throughput.curve.find((r) => r.concurrency === 32);
    if (at32) targets.push(check("node: tiny jobs ÷ HTTP floor, 32 in flight", at32.vsFloor, ">=", TARGET_VS_FLOOR_AT_32, "×"));
  }
  return {
    config: { runs, warmup, roundMs, concurrency: CONCURRENCY, dataDir: tmpdir(), load: "child process (node:http keep-alive agent)" },
    migration,
    precopy,
    throughput,
    moduleSize: moduleSize?.rows,
    targets,
    durationMs: nowMs() - started,
  };
}

// ---------------------------------------------------------------------------------------------

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

// ---------------------------------------------------------------------------------------------
// a. Migration downtime

/** Dropped constants that make each spin iteration cost ~2000 fuel (as in bench/core.ts). */
const SPIN_PADDING = 1000;

function fillGuestWat(pages: number): string {
  return `(module
  (memory ${pages})
  (func (export "fill") (param $pages i32)
    (local $addr i32) (local $end i32) (local $x i64)
${FILL_MEMORY_WAT}    (loop $spin
      ${"(drop (i32.const 0)) ".repeat(SPIN_PADDING)}
      (br $spin)))
)`;
}

/** A bare node:http server that reads the whole body and answers 200: the floor under any PREPARE. */
async function startSink(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { "content-type": "application/json" }).end(`{"bytes":${body.byteLength}}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sink`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function benchMigration(runs: number, warmup: number): Promise<{ rows: MigrationRow[] }> {
  let marks = new Map<TransferMark, number>();
  let watching = "";
  const pair = await startPair({}, (mark, jobId) => {
    // The first of each mark: pre-copy rounds after the first repeat theirs (see the "more rounds" step).
    if (jobId === watching && !marks.has(mark)) marks.set(mark, nowMs());
  });
  const sink = await startSink();
  try {
    const hashes = new Map<number, string>();
    for (const mib of MIGRATION_SIZES_MIB) {
      const pages = (mib * MIB) / PAGE_BYTES;
      const bytes = watToWasm(fillGuestWat(pages));
      // On both nodes beforehand: the target's one-off module download is not downtime.
      const { codeHash } = await pair.clientA.uploadModule(bytes);
      await pair.clientB.uploadModule(bytes);
      hashes.set(mib, codeHash);
    }
    const payloads = new Map<number, Buffer>(MIGRATION_SIZES_MIB.map((mib) => [mib, randomBytes(mib * MIB + 4096)]));

    const steps = new Map<number, Record<StepName, number[]>>();
    const client = new Map<number, number[]>();
    const pauseWait = new Map<number, number[]>();
    const snapshotBytes = new Map<number, number>();
    for (const mib of MIGRATION_SIZES_MIB) {
      steps.set(mib, Object.fromEntries(STEPS.map((s) => [s.name, []])) as unknown as Record<StepName, number[]>);
      client.set(mib, []);
      pauseWait.set(mib, []);
    }
    let round = 0;
    const migrateSample = (mib: number) => async (): Promise<number> => {
      const pages = (mib * MIB) / PAGE_BYTES;
      const job = await pair.clientA.startJob({ codeHash: hashes.get(mib)!, entry: "fill", args: [pages], sandbox: "in-process" });
      // Filled once it has spent more fuel than the fill can: from then on it only spins.
      const fillFuel = FILL_FUEL_PER_WORD * ((mib * MIB) / 8);
      await until(async () => (await pair.clientA.job(job.id)).fuelUsed > fillFuel, `job ${job.id} to fill ${mib} MiB`, 30_000);
      marks = new Map();
      watching = job.id;
      const t0 = nowMs();
      await pair.clientA.migrate(job.id, pair.b.identity.nodeId);
      const t1 = nowMs();
      watching = "";
      const at = (m: TransferMark): number => {
        const t = marks.get(m);
        if (t === undefined) throw new Error(`migration of ${mib} MiB: no "${m}" mark`);
        return t;
      };
      const downtime = at("target:running") - at("source:stopped");
      // Every touched page arrived (the fill was complete when the job moved).
      const checkpoint = pair.b.store.checkpoints.latest(job.id);
      const stored = checkpointSnapshot(pair.b.store, job.id);
      const storedBytes = (stored?.memory.pages.length ?? 0) * PAGE_BYTES;
      if (!checkpoint || storedBytes < mib * MIB)
        throw new Error(`migration of ${mib} MiB: the target holds ${storedBytes} bytes of memory`);
      snapshotBytes.set(mib, checkpoint.size);
      const view = await pair.clientB.job(job.id);
      if (view.state !== "running" || view.node !== pair.b.identity.nodeId)
        throw new Error(`migration of ${mib} MiB: job is ${view.state} on ${view.node} at the target`);
      await pair.clientB.cancel(job.id);
      if (round >= warmup) {
        const s = steps.get(mib)!;
        for (const step of STEPS) s[step.name].push(at(step.to) - at(step.from));
        client.get(mib)!.push(t1 - t0);
        pauseWait.get(mib)!.push(at("source:stopped") - t0);
      }
      return downtime;
    };
    const rawPostSample = (mib: number) => async (): Promise<number> => {
      const body = payloads.get(mib)!;
      const t0 = nowMs();
      const r = await fetch(sink.url, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: body as Uint8Array<ArrayBuffer>,
      });
      const answer = (await r.json()) as { bytes: number };
      const ms = nowMs() - t0;
      if (answer.bytes !== body.byteLength) throw new Error(`raw POST: the sink read ${answer.bytes} of ${body.byteLength} bytes`);
      return ms;
    };
    const shaSample = (mib: number) => (): number => {
      const body = payloads.get(mib)!;
      const t0 = nowMs();
      createHash("sha256").update(body).digest();
      return nowMs() - t0;
    };
    const variants = MIGRATION_SIZES_MIB.flatMap((mib) => [
      { name: `migrate ${mib}`, sample: migrateSample(mib) },
      { name: `post ${mib}`, sample: rawPostSample(mib) },
      { name: `sha ${mib}`, sample: shaSample(mib) },
    ]);
    // interleave() does not say which round a sample is from: count turns (every variant takes one per
    // round), so the step breakdowns skip the warm-up rounds as its samples do.
    const perRound = variants.length;
    let taken = 0;
    const samples = await interleave(
      variants.map((v) => ({
        name: v.name,
        sample: async () => {
          round = Math.floor(taken / perRound);
          taken++;
          return v.sample();
        },
      })),
      { warmup, runs },
    );
    const med = medians(samples);

    const rows: MigrationRow[] = MIGRATION_SIZES_MIB.map((mib) => {
      const s = steps.get(mib)!;
      const stepsMs = Object.fromEntries(STEPS.map((step) => [step.name, median(s[step.name])])) as Record<StepName, number>;
      const downtimeMs = med[`migrate ${mib}`]!;
      const rawPostMs = med[`post ${mib}`]!;
      return {
        mib,
        touchedPages: (mib * MIB) / PAGE_BYTES,
        snapshotBytes: snapshotBytes.get(mib) ?? 0,
        downtimeMs,
        stepsMs,
        clientMs: median(client.get(mib)!),
        pauseWaitMs: median(pauseWait.get(mib)!),
        rawPostMs,
        sha256Ms: med[`sha ${mib}`]!,
        downtimeVsRawPost: downtimeMs / rawPostMs,
        samples: { downtime: samples.get(`migrate ${mib}`)!, client: client.get(mib)!, rawPost: samples.get(`post ${mib}`)!, steps: s },
      };
    });

    printTable({
      title: `Migration downtime between two real nodes on loopback (median of ${runs} runs, ms)`,
      headers: ["touched memory", "PREPARE body", "downtime", "target", "client call", "raw POST", "downtime ÷ raw POST", "sha256 ×1"],
      rows: rows.map((r) => [
        `${r.mib} MiB`,
        fmtBytes(r.snapshotBytes),
        fmtMs(r.downtimeMs),
        r.mib === 16 ? `≤ ${TARGET_DOWNTIME_16MIB_MS} ${r.downtimeMs <= TARGET_DOWNTIME_16MIB_MS ? "✓" : "✗"}` : "",
        fmtMs(r.clientMs),
        fmtMs(r.rawPostMs),
        fmtRatio(r.downtimeVsRawPost),
        fmtMs(r.sha256Ms),
      ]),
      notes: [
        "downtime: the source has the job paused (its slice ended) → the target has restored it and scheduled it, from node-side timestamps (both nodes in this process, one clock).",
        "client call: POST /jobs/:id/migrate from call to answer, an upper bound (adds the wait for the running slice to end, and COMMIT's answer). raw POST: the same number of bytes to a bare node:http server with fetch, as the peer link sends them.",
      ],
    });
    printTable({
      title: "Migration downtime by step (median of each step, ms)",
      headers: ["step", "what", ...rows.map((r) => `${r.mib} MiB`)],
      rows: [
        ...STEPS.map((step) => [step.name, step.what, ...rows.map((r) => fmtMs(r.stepsMs[step.name]))]),
        ["downtime", "paused at the source → running at the target", ...rows.map((r) => fmtMs(r.downtimeMs))],
        ["(pause wait)", "client call → source paused (not downtime)", ...rows.map((r) => fmtMs(r.pauseWaitMs))],
      ],
      align: ["left", "left", ...rows.map(() => "right" as const)],
    });
    return { rows };
  } finally {
    await sink.close();
    await pair.close();
  }
}

// ---------------------------------------------------------------------------------------------
// b. Throughput of tiny anonymous jobs

const DEFAULT_VARIANT = "node (default store: synchronous=NORMAL, migration decisions fsynced)";
const TINY_WAT = `(module (func (export "main") (result i32) (i32.const 42)))`;

interface LoadTarget {
  name: string;
  url: string;
  path: string;
  body: string;
  expectStatus: number;
  expectText: string;
}

class LoadProcess {
  private readonly child = fork(fileURLToPath(new URL("./node-load.js", import.meta.url)), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });

  run(req: LoadRequest): Promise<LoadReport> {
    return new Promise((resolve, reject) => {
      this.child.once("message", (m: LoadReport | { error: string }) => ("error" in m ? reject(new Error(m.error)) : resolve(m)));
      this.child.send(req);
    });
  }

  close(): void {
    this.child.disconnect();
  }
}

async function benchThroughput(runs: number, warmup: number, roundMs: number): Promise<{ rows: ThroughputRow[]; curve: CurveRow[] }> {
  const key = generateSigningKey();
  const dirs: string[] = [];
  const nodes: RunningNode[] = [];
  const targets: LoadTarget[] = [];
  const startJobNode = async (name: string, synchronous: "full" | "normal") => {
    const dir = tempDir();
    dirs.push(dir);
    const n = await startNode({ dataDir: dir, checkpointIntervalMs: 0, store: { synchronous } });
    nodes.push(n);
    n.store.clients.add({ publicKey: key.publicKey, quotas: {}, capabilities: [] });
    const { codeHash } = await new FerryClient({ url: n.url, key }).uploadModule(watToWasm(TINY_WAT), { public: true });
    targets.push({
      name,
      url: n.url,
      path: "/jobs",
      body: JSON.stringify({ codeHash, waitMs: 10_000 }),
      expectStatus: 201,
      expectText: '"value":42',
    });
  };
  await startJobNode(DEFAULT_VARIANT, "normal");
  await startJobNode("node, store synchronous=FULL (every commit fsynced)", "full");
  // The floor: Hono on @hono/node-server answering a constant JSON, same body parsing, no node behind it.
  const floorApp = new Hono();
  floorApp.post("/jobs", async (c) => {
    const body = (await c.req.json()) as { codeHash?: string };
    return c.json({ state: "done", codeHash: body.codeHash, result: { status: "done", value: 42 } }, 201);
  });
  const floor = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: floorApp.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  const floorUrl = `http://127.0.0.1:${(floor.address() as AddressInfo).port}`;
  const FLOOR = "HTTP floor (Hono, constant answer)";
  targets.push({ name: FLOOR, url: floorUrl, path: "/jobs", body: targets[0]!.body, expectStatus: 201, expectText: '"value":42' });

  const load = new LoadProcess();
  const perRound = new Map<
    string,
    { jps: number[]; p50: number[]; p99: number[]; user: number[]; sys: number[]; elu: number[]; loadCpu: number[] }
  >(targets.map((t) => [t.name, { jps: [], p50: [], p99: [], user: [], sys: [], elu: [], loadCpu: [] }]));
  let taken = 0;
  let curve: CurveRow[] = [];
  try {
    const samples = await interleave(
      targets.map((t) => ({
        name: t.name,
        sample: async () => {
          const round = Math.floor(taken / targets.length);
          taken++;
          const cpu0 = process.cpuUsage();
          const elu0 = performance.eventLoopUtilization();
          const t0 = nowMs();
          const report = await load.run({
            url: t.url,
            path: t.path,
            body: t.body,
            concurrency: CONCURRENCY,
            durationMs: roundMs,
            expectStatus: t.expectStatus,
            expectText: t.expectText,
          });
          const wall = nowMs() - t0;
          const cpu = process.cpuUsage(cpu0);
          const elu = performance.eventLoopUtilization(elu0);
          if (report.failed > 0)
            throw new Error(
              `${t.name}: ${report.failed} of ${report.failed + report.completed} requests failed, first: ${report.firstFailure}`,
            );
          const jps = report.completed / (report.wallMs / 1000);
          if (round >= warmup) {
            const r = perRound.get(t.name)!;
            r.jps.push(jps);
            r.p50.push(percentile(report.latenciesMs, 50));
            r.p99.push(percentile(report.latenciesMs, 99));
            r.user.push(cpu.user / 1000 / wall);
            r.sys.push(cpu.system / 1000 / wall);
            r.elu.push(elu.utilization);
            r.loadCpu.push((report.cpuUserMs + report.cpuSystemMs) / report.wallMs);
          }
          return jps;
        },
      })),
      { warmup, runs },
    );
    void samples;
    curve = await concurrencyCurve(load, targets[0]!, targets[targets.length - 1]!, roundMs);
  } finally {
    load.close();
    await new Promise<void>((resolve) => floor.close(() => resolve()));
    for (const n of nodes) await n.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  const floorJps = median(perRound.get(FLOOR)!.jps);
  const rows: ThroughputRow[] = targets.map((t) => {
    const r = perRound.get(t.name)!;
    const jobsPerSecond = median(r.jps);
    return {
      variant: t.name,
      jobsPerSecond,
      p50Ms: median(r.p50),
      p99Ms: median(r.p99),
      nodeCpuUser: median(r.user),
      nodeCpuSystem: median(r.sys),
      nodeEventLoop: median(r.elu),
      loadCpu: median(r.loadCpu),
      vsFloor: t.name === FLOOR ? null : jobsPerSecond / floorJps,
      samples: { jobsPerSecond: r.jps, p50Ms: r.p50, p99Ms: r.p99 },
    };
  });
  printTable({
    title: `Tiny anonymous jobs through HTTP on one node (${CONCURRENCY} in flight, ${(roundMs / 1000).toFixed(1)} s rounds, median of ${runs})`,
    headers: ["variant", "jobs/s", "target", "× floor", "p50 ms", "p99 ms", "node CPU user+sys", "event loop busy", "load process CPU"],
    rows: rows.map((r) => [
      r.variant,
      fmtInt(r.jobsPerSecond),
      r.variant === DEFAULT_VARIANT ? `≥ ${fmtInt(TARGET_JOBS_PER_SECOND)} ${r.jobsPerSecond >= TARGET_JOBS_PER_SECOND ? "✓" : "✗"}` : "",
      r.vsFloor === null ? "" : fmtRatio(r.vsFloor),
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      `${r.nodeCpuUser.toFixed(2)} + ${r.nodeCpuSystem.toFixed(2)}`,
      `${(r.nodeEventLoop * 100).toFixed(0)} %`,
      r.loadCpu.toFixed(2),
    ]),
    notes: [
      "Each job: POST /jobs { codeHash, waitMs } unsigned (anonymous, in-process sandbox) of a public module whose main returns 42; the answer carries the result (checked). Load comes from a child process over keep-alive connections; node CPU is in cores (1.00 = one core busy).",
    ],
  });
  printCurve(curve);
  return { rows, curve };
}

/** Jobs/s of the default node and of the HTTP floor at one number of requests in flight. */
export interface CurveRow {
  concurrency: number;
  nodeJobsPerSecond: number;
  floorPerSecond: number;
  /** node ÷ floor. */
  vsFloor: number;
  /** Requests that failed over the level's rounds (both targets), and the first one's answer. */
  failed: number;
  firstFailure: string | null;
}

/** In-flight requests the curve is measured at (the issue: 1..256). */
const CURVE_CONCURRENCY = [1, 4, 16, 32, 64, 128, 256] as const;
const CURVE_RUNS = 3;

/**
 * The default node against the floor at each concurrency: interleaved rounds (node, floor, node, …),
 * medians of CURVE_RUNS after one discarded, rounds of half the main table's length.
 */
async function concurrencyCurve(load: LoadProcess, node: LoadTarget, floor: LoadTarget, roundMs: number): Promise<CurveRow[]> {
  const rows: CurveRow[] = [];
  for (const concurrency of CURVE_CONCURRENCY) {
    let failed = 0;
    let firstFailure: string | null = null;
    // A failed job is counted, not fatal: past some concurrency the node refuses or fails jobs, and
    // where that starts is part of the curve.
    const jps = async (t: LoadTarget): Promise<number> => {
      const report = await load.run({ ...t, concurrency, durationMs: roundMs / 2 });
      failed += report.failed;
      firstFailure ??= report.firstFailure;
      return report.completed / (report.wallMs / 1000);
    };
    const samples = await interleave(
      [
        { name: "node", sample: () => jps(node) },
        { name: "floor", sample: () => jps(floor) },
      ],
      { warmup: 1, runs: CURVE_RUNS },
    );
    const m = medians(samples);
    rows.push({ concurrency, nodeJobsPerSecond: m.node!, floorPerSecond: m.floor!, vsFloor: m.node! / m.floor!, failed, firstFailure });
  }
  return rows;
}

function printCurve(curve: readonly CurveRow[]): void {
  printTable({
    title: "Tiny anonymous jobs against requests in flight (default node vs the HTTP floor, interleaved)",
    headers: ["in flight", "node jobs/s", "floor req/s", "node ÷ floor", "failed"],
    rows: curve.map((r) => [
      fmtInt(r.concurrency),
      fmtInt(r.nodeJobsPerSecond),
      fmtInt(r.floorPerSecond),
      fmtRatio(r.vsFloor),
      fmtInt(r.failed),
    ]),
    notes: [
      `Medians of ${CURVE_RUNS} rounds after one discarded, each half the table above's round; same node, floor and load process as the table above. Target (issue 13): node ÷ floor ≥ ${TARGET_VS_FLOOR_AT_32}× at 32 in flight. Jobs/s counts answered jobs; "failed": requests whose answer was not the job's 42 (the first: ${curve.find((r) => r.firstFailure)?.firstFailure?.slice(0, 200) ?? "none"}).`,
    ],
  });
}
