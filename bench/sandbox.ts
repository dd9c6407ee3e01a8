// Sandbox benchmarks: what containment costs. In-process instances against the isolated sandbox
// (child processes, warm pool and cold start) and worker threads as the middle point: start + first
// call, per-call overhead, throughput of tiny jobs, memory per live instance. Prints a markdown
// table and returns the data (bench/run-all.ts writes it to bench/results/sandbox.json).

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Engine, type GuestModule, type Instance, normalizePlacement } from "../runtime/index.js";
import { IsolatedPool, type IsolatedPoolOptions } from "../runtime/sandbox/isolated/pool.js";
import type { IsolatedInstance } from "../runtime/sandbox/isolated/isolated-instance.js";
import {
  check,
  fmtBytes,
  fmtInt,
  fmtMs,
  fmtUs,
  interleave,
  median,
  medians,
  nowMs,
  printTable,
  settleGarbage,
  type TargetCheck,
  watToWasm,
} from "./harness.js";

export interface SandboxBenchOptions {
  /** Kept rounds per measurement (default 7). */
  runs?: number;
  /** Discarded rounds before them (default 2). */
  warmup?: number;
  /** Jobs per throughput round (default 10,000; cold start runs JOBS_COLD). */
  jobs?: number;
  /** Run only these parts (default all). */
  only?: ReadonlyArray<SandboxPart>;
}

/** FERRY_BENCH_ONLY names (prefixed: run-all shares the variable with the core bench). */
export const SANDBOX_PARTS = ["sandbox-start", "sandbox-call", "sandbox-throughput", "sandbox-memory"] as const;
export type SandboxPart = (typeof SANDBOX_PARTS)[number];

export const TARGET_IN_PROCESS_START_US = 50;
export const TARGET_ISOLATED_DISPATCH_US = 1000;
export const TARGET_ISOLATED_COLD_MS = 60;

/** Jobs in flight at once for the pooled variants (one child or worker each). */
const CONCURRENCY = 4;
/** Cold start spawns a child per job: a smaller count, reported as jobs/s all the same. */
const JOBS_COLD = 100;
const TINY_WAT = `(module (memory 1) (func (export "main") (result i32) (i32.const 42)))`;

export type VariantName = "in-process" | "worker (warm)" | "worker (cold)" | "isolated (warm)" | "isolated (cold)" | "bare node";

export interface SandboxBenchResult {
  config: { runs: number; warmup: number; jobs: number; jobsCold: number; concurrency: number; memoryInstances: Record<string, number> };
  /** Start an instance + first call of the tiny guest, µs per op (median of rounds). */
  startUs?: Partial<Record<VariantName, number>>;
  /** A trivial call on a live instance, µs per call. */
  callUs?: Partial<Record<VariantName, number>>;
  /** instantiate + run + dispose, jobs per second. */
  jobsPerSecond?: Partial<Record<VariantName, number>>;
  /** Resident memory per live instance, bytes (isolated: the child's RSS plus the host's share). */
  memoryBytes?: Partial<
    Record<VariantName, { perInstance: number; perInstancePss: number; hostShare: number; childRss?: number; childPss?: number }>
  >;
  samples: Record<string, number[]>;
  targets: TargetCheck[];
  durationMs: number;
}

class WrongAnswer extends Error {}

export async function runSandboxBench(options: SandboxBenchOptions = {}): Promise<SandboxBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 7;
  const warmup = options.warmup ?? 2;
  const jobs = options.jobs ?? 10_000;
  const parts = new Set<SandboxPart>(options.only ?? SANDBOX_PARTS);

  const engine = new Engine();
  const module = await engine.compile(watToWasm(TINY_WAT));
  const env = new Bench(engine, module);
  const samples: Record<string, number[]> = {};
  const result: SandboxBenchResult = {
    config: { runs, warmup, jobs, jobsCold: JOBS_COLD, concurrency: CONCURRENCY, memoryInstances: {} },
    samples,
    targets: [],
    durationMs: 0,
  };
  try {
    if (parts.has("sandbox-start")) result.startUs = await env.start(runs, warmup, samples);
    if (parts.has("sandbox-call")) result.callUs = await env.call(runs, warmup, samples);
    if (parts.has("sandbox-throughput")) result.jobsPerSecond = await env.throughput(Math.min(runs, 3), jobs, samples);
    if (parts.has("sandbox-memory")) result.memoryBytes = await env.memory(Math.min(runs, 3), result.config.memoryInstances);
  } finally {
    await env.close();
  }

  if (result.startUs) {
    result.targets.push(
      check("sandbox: in-process start + first call", result.startUs["in-process"]!, "<=", TARGET_IN_PROCESS_START_US, "µs"),
      check(
        "sandbox: isolated dispatch on a warm pool (start + first call)",
        result.startUs["isolated (warm)"]!,
        "<=",
        TARGET_ISOLATED_DISPATCH_US,
        "µs",
      ),
      check("sandbox: isolated cold start + first call", result.startUs["isolated (cold)"]! / 1000, "<=", TARGET_ISOLATED_COLD_MS, "ms"),
    );
  }
  printSummary(result);
  result.durationMs = nowMs() - started;
  return result;
}

/** The pools and the tiny module every variant runs. */
class Bench {
  private readonly pools = new Map<string, IsolatedPool>();

  constructor(
    private readonly engine: Engine,
    private readonly module: GuestModule,
  ) {}

  private async pool(name: string, options: IsolatedPoolOptions): Promise<IsolatedPool> {
    let pool = this.pools.get(name);
    if (!pool) {
      pool = new IsolatedPool(options);
      this.pools.set(name, pool);
      await pool.warm();
    }
    return pool;
  }

  private async instantiate(pool: IsolatedPool | undefined): Promise<Instance> {
    if (!pool) return this.engine.instantiate(this.module);
    return pool.instantiate(this.module, this.engine.config, normalizePlacement({ sandbox: "isolated", trust: "authenticated" }));
  }

  private async job(pool: IsolatedPool | undefined): Promise<void> {
    const instance = await this.instantiate(pool);
    const r = await instance.run("main");
    if (r.status !== "done" || r.value !== 42)
      throw new WrongAnswer(`tiny guest returned ${r.status === "done" ? String(r.value) : r.status}`);
    instance.dispose();
  }

  /** Pools by variant: undefined is in-process. */
  private async pools4(): Promise<Record<Exclude<VariantName, "bare node">, IsolatedPool | undefined>> {
    return {
      "in-process": undefined,
      "worker (warm)": await this.pool("worker-warm", { size: CONCURRENCY, transport: "worker" }),
      "worker (cold)": await this.pool("worker-cold", { size: 0, transport: "worker" }),
      "isolated (warm)": await this.pool("isolated-warm", { size: CONCURRENCY }),
      "isolated (cold)": await this.pool("isolated-cold", { size: 0 }),
    };
  }

  async start(runs: number, warmup: number, samples: Record<string, number[]>): Promise<Partial<Record<VariantName, number>>> {
    const pools = await this.pools4();
    const batch: Record<VariantName, number> = {
      "in-process": 200,
      "worker (warm)": 20,
      "worker (cold)": 1,
      "isolated (warm)": 20,
      "isolated (cold)": 1,
      "bare node": 1,
    };
    const variants = (Object.keys(batch) as VariantName[]).map((name) => ({
      name,
      sample: async () => {
        if (name === "bare node") return (await bareNodeMs()) * 1000;
        const pool = pools[name];
        const t0 = nowMs();
        for (let i = 0; i < batch[name]; i++) await this.job(pool);
        return ((nowMs() - t0) * 1000) / batch[name];
      },
    }));
    const s = await interleave(variants, { warmup, runs: runs * 2, gcBetween: false });
    record(samples, "start µs", s);
    const m = medians(s) as Record<VariantName, number>;
    return m;
  }

  async call(runs: number, warmup: number, samples: Record<string, number[]>): Promise<Partial<Record<VariantName, number>>> {
    const pools = await this.pools4();
    const names: VariantName[] = ["in-process", "worker (warm)", "isolated (warm)"];
    const live = new Map<VariantName, Instance>();
    for (const n of names) live.set(n, await this.instantiate(pools[n as keyof typeof pools]));
    const calls: Record<string, number> = { "in-process": 5000, "worker (warm)": 500, "isolated (warm)": 500 };
    const variants = names.map((name) => ({
      name,
      sample: async () => {
        const instance = live.get(name)!;
        const t0 = nowMs();
        for (let i = 0; i < calls[name]!; i++) {
          const r = await instance.run("main");
          if (r.status !== "done") throw new WrongAnswer(`call ended ${r.status}`);
        }
        return ((nowMs() - t0) * 1000) / calls[name]!;
      },
    }));
    const s = await interleave(variants, { warmup, runs, gcBetween: false });
    for (const i of live.values()) i.dispose();
    record(samples, "call µs", s);
    return medians(s) as Record<VariantName, number>;
  }

  async throughput(runs: number, jobs: number, samples: Record<string, number[]>): Promise<Partial<Record<VariantName, number>>> {
    const pools = await this.pools4();
    const names: VariantName[] = ["in-process", "worker (warm)", "worker (cold)", "isolated (warm)", "isolated (cold)"];
    const count = (n: VariantName): number => (n.endsWith("(cold)") ? Math.min(JOBS_COLD, jobs) : jobs);
    const variants = names.map((name) => ({
      name,
      sample: async () => {
        const pool = pools[name as keyof typeof pools];
        const total = count(name);
        let next = 0;
        // In-process jobs share one thread: more lanes add nothing but bookkeeping.
        const lanes = pool ? CONCURRENCY : 1;
        const t0 = nowMs();
        await Promise.all(
          Array.from({ length: lanes }, async () => {
            while (next < total) {
              next++;
              await this.job(pool);
            }
          }),
        );
        return total / ((nowMs() - t0) / 1000);
      },
    }));
    const s = await interleave(variants, { warmup: 0, runs, gcBetween: true });
    record(samples, "jobs/s", s);
    return medians(s) as Record<VariantName, number>;
  }

  async memory(runs: number, counts: Record<string, number>): Promise<SandboxBenchResult["memoryBytes"]> {
    // Fresh pools with no idle children, so every child measured hosts one of the instances.
    const setups: Array<{ name: VariantName; n: number; options?: IsolatedPoolOptions }> = [
      { name: "in-process", n: 500 },
      { name: "worker (warm)", n: 8, options: { size: 0, transport: "worker" } },
      { name: "isolated (warm)", n: 8, options: { size: 0 } },
    ];
    const out: NonNullable<SandboxBenchResult["memoryBytes"]> = {};
    for (const { name, n, options } of setups) {
      counts[name] = n;
      const per: number[] = [];
      const host: number[] = [];
      const child: number[] = [];
      const childPss: number[] = [];
      for (let round = 0; round < runs; round++) {
        const pool = options ? new IsolatedPool({ ...options, maxChildren: n }) : undefined;
        await settleGarbage();
        const before = process.memoryUsage();
        const live: Instance[] = [];
        for (let i = 0; i < n; i++) {
          const instance = pool
            ? await pool.instantiate(this.module, this.engine.config, normalizePlacement({ sandbox: "isolated", trust: "authenticated" }))
            : await this.engine.instantiate(this.module);
          await instance.run("main");
          live.push(instance);
        }
        await settleGarbage();
        const after = process.memoryUsage();
        // RSS moves in whole pages and reuses freed ones, so small per-instance costs hide in it;
        // the heap's growth shows them. Worker threads' heaps are outside ours: only RSS sees those.
        // An in-process instance's linear memory is counted at its size: V8 reuses freed Wasm
        // backing stores, so `external` may not grow, and RSS counts only pages already touched.
        const linearMemory = name === "in-process" ? this.module.segment.initialMemoryPages * 65536 * n : 0;
        const heapGrowth = after.heapUsed - before.heapUsed + linearMemory;
        const hostShare = Math.max(after.rss - before.rss, heapGrowth, 0) / n;
        const isolatedPids = name === "isolated (warm)" ? live.map((i) => (i as IsolatedInstance).pid!) : [];
        const childRss = isolatedPids.length ? median(isolatedPids.map((pid) => procMemory(pid).rss)) : 0;
        const childPssNow = isolatedPids.length ? median(isolatedPids.map((pid) => procMemory(pid).pss)) : 0;
        per.push(hostShare + childRss);
        host.push(hostShare);
        child.push(childRss);
        childPss.push(childPssNow);
        for (const i of live) i.dispose();
        await pool?.close();
      }
      out[name] = {
        perInstance: median(per),
        perInstancePss: median(host) + median(childPss),
        hostShare: median(host),
        ...(name === "isolated (warm)" ? { childRss: median(child), childPss: median(childPss) } : {}),
      };
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}

/** Node alone: spawn with an IPC channel and wait for its first message (the floor under cold start). */
function bareNodeMs(): Promise<number> {
  const t0 = nowMs();
  const child = spawn(process.execPath, ["-e", "process.send('ready')"], {
    stdio: ["ignore", "ignore", "ignore", "ipc"],
    serialization: "advanced",
    env: {},
  });
  return new Promise((resolve, reject) => {
    child.once("message", () => {
      const ms = nowMs() - t0;
      child.kill("SIGKILL");
      resolve(ms);
    });
    child.once("error", reject);
  });
}

/**
 * A process's resident memory from /proc, bytes (0 where /proc is missing). RSS counts every page
 * it maps, including Node's code shared with every other child; PSS splits shared pages between
 * their users, which is closer to what one more child costs.
 */
function procMemory(pid: number): { rss: number; pss: number } {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? 0) * 1024;
    return { rss: kb("Rss"), pss: kb("Pss") };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

function record(into: Record<string, number[]>, what: string, s: Map<string, number[]>): void {
  for (const [name, xs] of s) into[`${what}|${name}`] = xs;
}

const COLUMNS: VariantName[] = ["in-process", "worker (warm)", "worker (cold)", "isolated (warm)", "isolated (cold)"];

function fmtTime(us: number | undefined): string {
  if (us === undefined) return "—";
  return us >= 1000 ? `${fmtMs(us / 1000)} ms` : `${fmtUs(us)} µs`;
}

function printSummary(r: SandboxBenchResult): void {
  const rows: string[][] = [];
  if (r.startUs) rows.push(["start + first call", ...COLUMNS.map((c) => fmtTime(r.startUs![c]))]);
  if (r.callUs) rows.push(["trivial call on a live instance", ...COLUMNS.map((c) => fmtTime(r.callUs![c]))]);
  if (r.jobsPerSecond)
    rows.push([
      `throughput (instantiate + run + dispose), jobs/s`,
      ...COLUMNS.map((c) => (r.jobsPerSecond![c] === undefined ? "—" : fmtInt(r.jobsPerSecond![c]!))),
    ]);
  if (r.memoryBytes) {
    // Cold and warm instances live alike once started (one child each): measured once, as warm.
    const mem = (c: VariantName): string => {
      const m = r.memoryBytes![c];
      return m ? fmtBytes(Math.round(m.perInstance)) : "—";
    };
    rows.push(["memory per live instance (RSS)", ...COLUMNS.map(mem)]);
    const pss = (c: VariantName): string => {
      const m = r.memoryBytes![c];
      return m ? fmtBytes(Math.round(m.perInstancePss)) : "—";
    };
    rows.push(["memory per live instance (PSS)", ...COLUMNS.map(pss)]);
  }
  const bare = r.startUs?.["bare node"];
  printTable({
    title: `Sandboxes side by side: tiny WAT \`main\` → 42 (medians of interleaved rounds)`,
    headers: ["", ...COLUMNS],
    rows,
    notes: [
      "in-process: `engine.instantiate(module)` (a GuestInstance in the host's thread). isolated: `IsolatedPool` of child processes (permission model, heap cap; one live instance per child); worker: the same pool over worker_threads.",
      `warm: children started beforehand (pool size ${CONCURRENCY}); cold: \`size: 0\`, so every instance starts a new child (spawn → ready → compile → instantiate → call) and dispose kills it.`,
      `throughput: ${fmtInt(r.config.jobs)} jobs (${r.config.jobsCold} for cold start), ${r.config.concurrency} in flight at once for the pooled variants, one at a time in-process. memory: RSS growth of the host per instance (in-process: the JS heap's growth plus the instance's linear memory at its size, since V8 reuses freed Wasm memory and RSS counts only touched pages), plus each child's own RSS for isolated; PSS counts the child's pages shared with other processes (Node's code) pro rata, closer to what one more child costs. Worker threads live inside the host's RSS (cold = warm once started).`,
      ...(bare !== undefined
        ? [`Floor under cold start: \`node -e "process.send()"\` with an IPC channel takes ${fmtMs(bare / 1000)} ms here.`]
        : []),
    ],
  });
}
