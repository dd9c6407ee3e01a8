// Containment benchmark (issue 8 §1 and §4): how long can one hostile in-process guest hold the node's
// event loop? Each hostile shape from fuzz/hostile-shapes.ts runs alone under the node's Scheduler
// with the default 4 ms slice budget while a setImmediate probe records the longest gap between two
// turns of the event loop; a benign spinning guest is the baseline row. Target: the longest gap stays
// within 2 × the slice budget + 5 ms. Every run has a fuel limit, and every shape is finite, so a
// broken meter makes a run long, never endless. Prints a table and returns the data (bench/run-all.ts
// writes it to bench/results/containment.json).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { DEFAULT_SLICE_BUDGET_MS, Engine, FileResources, Scheduler, type Instance, type InstantiateOptions, type RunResult } from "../runtime/index.js";
import {
  bulkMemory,
  callChain,
  fileBytes,
  hostCalls,
  inputBytes,
  memoryGrow,
  recursion,
  resourceLoop,
  type HostileModule,
} from "../fuzz/hostile-shapes.js";
import { check, collectGarbage, fmtMs, fmtRatio, mark, median, nowMs, printTable, type TargetCheck, watToWasm } from "./harness.js";

export interface ContainmentBenchOptions {
  /** Runs per shape; the table reports the median of their longest gaps (default 5). */
  runs?: number;
}

/** FERRY_BENCH_ONLY name. */
export const CONTAINMENT_PARTS = ["containment"] as const;

/** The slice budget the node runs in-process guests with. */
export const SLICE_BUDGET_MS = DEFAULT_SLICE_BUDGET_MS;
/** Issue 8 §4: the longest event-loop gap under any hostile guest. */
export const TARGET_GAP_MS = 2 * SLICE_BUDGET_MS + 5;
/** Each run stops here at the latest when the metering works (~0.1–0.5 s of guest work). */
const RUN_FUEL_LIMIT = 200_000_000;
const MiB = 1024 * 1024;
const MAX_MEMORY_PAGES = 4096;

interface Shape {
  name: string;
  bytes: Uint8Array;
  entry: string;
  args: number[];
  hostile: HostileModule | undefined;
}

/** The baseline: an honest guest spinning in a loop until its fuel limit. */
const BENIGN: Shape = {
  name: "benign: a loop summing integers (baseline)",
  bytes: watToWasm(`(module (func (export "main") (result i64) (local $i i64) (local $sum i64)
    (loop $l (local.set $i (i64.add (local.get $i) (i64.const 1))) (local.set $sum (i64.add (local.get $sum) (local.get $i)))
      (br_if $l (i64.lt_u (local.get $i) (i64.const 1000000000000))))
    (local.get $sum)))`),
  entry: "main",
  args: [],
  hostile: undefined,
};

/** The shapes at the sizes, each finite (what a broken meter lets run is bounded). */
function hostileShapes(): Shape[] {
  const modules = [
    callChain({ depth: 24, fanout: 2, style: "plain", via: "direct", from: "main" }),
    callChain({ depth: 22, fanout: 2, style: "spread", via: "typed-indirect", from: "start" }),
    recursion({ depth: 4_000, postWork: 1_500, cycle: 2, via: "indirect", postIn: "frame" }),
    memoryGrow({ count: MAX_MEMORY_PAGES - 1, delta: 1, repeat: "loop" }),
    memoryGrow({ count: 500, delta: 8, repeat: "straight" }),
    bulkMemory({ op: "copy", bytes: 255 * MiB, count: 4, repeat: "straight" }),
    bulkMemory({ op: "fill", bytes: 255 * MiB, count: 4, repeat: "loop" }),
    hostCalls({ call: "output", bytes: 16 * MiB, count: 4, repeat: "straight" }),
    hostCalls({ call: "log", bytes: 64, count: 4_000, repeat: "straight" }),
    hostCalls({ call: "input", bytes: 16 * MiB, count: 16, repeat: "loop" }),
    resourceLoop({ op: "reopen", fileBytes: 16 * MiB, chunkBytes: MiB, count: 1_000, repeat: "loop" }),
    resourceLoop({ op: "read", fileBytes: 16 * MiB, chunkBytes: MiB, count: 8, repeat: "straight" }),
    resourceLoop({ op: "write", fileBytes: 16 * MiB, chunkBytes: MiB, count: 4, repeat: "helper" }),
    // Tiny files: a commit's cost is its fsyncs, not its bytes.
    resourceLoop({ op: "write", fileBytes: 4_096, chunkBytes: 4_096, count: 64, repeat: "loop" }),
  ];
  return modules.map((m) => ({ name: m.name, bytes: m.bytes, entry: m.entry, args: m.args, hostile: m }));
}

export interface ContainmentRow {
  shape: string;
  /** Longest gap between two event-loop turns during the run, ms, per run. */
  gapsMs: number[];
  /** Median of `gapsMs`. */
  gapMs: number;
  /** monitorEventLoopDelay's max over the run, ms (median over runs): a cross-check of the probe. */
  histogramMaxMs: number;
  targetMs: number;
  ratio: number;
  met: boolean;
  /** How the runs ended ("done", "trapped out_of_fuel", …) and their fuel. */
  ends: string[];
  /** Slices the scheduler gave the job (run + resume calls), median over runs. */
  slices: number;
  /** Wall time of a whole run, ms, median. */
  runMs: number;
}

export interface ContainmentBenchResult {
  config: { runs: number; sliceBudgetMs: number; targetGapMs: number; runFuelLimit: number; maxMemoryPages: number };
  rows: ContainmentRow[];
  targets: TargetCheck[];
  durationMs: number;
}

export async function runContainmentBench(options: ContainmentBenchOptions = {}): Promise<ContainmentBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 5;
  const engine = new Engine({ maxMemoryPages: MAX_MEMORY_PAGES });
  const root = mkdtempSync(join(tmpdir(), "ferry-containment-"));
  const rows: ContainmentRow[] = [];
  try {
    for (const shape of [BENIGN, ...hostileShapes()]) {
      const module = await engine.compile(shape.bytes);
      const gaps: number[] = [];
      const histogramMax: number[] = [];
      const ends: string[] = [];
      const slices: number[] = [];
      const runMs: number[] = [];
      for (let run = 0; run < runs; run++) {
        const options: InstantiateOptions = { sandbox: "in-process", ...hostOptions(shape.hostile, root) };
        const instance = await engine.instantiate(module, options);
        collectGarbage();
        let calls = 0;
        const counted = countSlices(instance, () => calls++);
        const m = await measure(() => new Scheduler().start(counted, shape.entry, shape.args, { fuelLimit: RUN_FUEL_LIMIT }).result);
        instance.dispose();
        gaps.push(m.longestGapMs);
        histogramMax.push(m.histogramMaxMs);
        ends.push(describe(m.result));
        slices.push(calls);
        runMs.push(m.runMs);
      }
      const gapMs = median(gaps);
      rows.push({
        shape: shape.name,
        gapsMs: gaps,
        gapMs,
        histogramMaxMs: median(histogramMax),
        targetMs: TARGET_GAP_MS,
        ratio: gapMs / TARGET_GAP_MS,
        met: gapMs <= TARGET_GAP_MS,
        ends: [...new Set(ends)],
        slices: median(slices),
        runMs: median(runMs),
      });
    }
  } finally {
    await engine.close();
    rmSync(root, { recursive: true, force: true });
  }

  const hostile = rows.slice(1);
  const worst = hostile.reduce((a, b) => (b.gapMs > a.gapMs ? b : a));
  const targets = [check(`containment: longest event-loop gap under a hostile in-process guest (worst: ${worst.shape})`, worst.gapMs, "<=", TARGET_GAP_MS, "ms")];
  printTable({
    title: `Containment: longest event-loop gap while one guest runs in-process under the Scheduler (slice budget ${SLICE_BUDGET_MS} ms; median of ${runs} runs)`,
    headers: ["guest", "longest gap", "target", "gap / target", "met", "histogram max", "slices", "run", "ended"],
    rows: rows.map((r) => [r.shape, `${fmtMs(r.gapMs)} ms`, `${fmtMs(r.targetMs)} ms`, fmtRatio(r.ratio), mark(r.met), `${fmtMs(r.histogramMaxMs)} ms`, String(r.slices), `${fmtMs(r.runMs)} ms`, r.ends.join("; ")]),
    align: ["left", "right", "right", "right", "left", "right", "right", "right", "left"],
    notes: [
      `target = 2 × slice budget + 5 ms. longest gap: the longest time between two turns of a setImmediate probe while the job ran (one guest alone; the scheduler yields between slices). histogram max: perf_hooks.monitorEventLoopDelay's max (1 ms resolution; its first tick only starts the clock, so it misses a block in the run's first turn, which the probe sees). Each run has a ${RUN_FUEL_LIMIT.toLocaleString("en-US")}-fuel limit; every shape is finite.`,
    ],
  });
  return {
    config: { runs, sliceBudgetMs: SLICE_BUDGET_MS, targetGapMs: TARGET_GAP_MS, runFuelLimit: RUN_FUEL_LIMIT, maxMemoryPages: MAX_MEMORY_PAGES },
    rows,
    targets,
    durationMs: nowMs() - started,
  };
}

/** Input, output and log room, and a fresh resource root holding the shape's files. */
function hostOptions(m: HostileModule | undefined, root: string): InstantiateOptions {
  if (!m) return {};
  const options: InstantiateOptions = {
    trust: m.host.trust,
    input: inputBytes(m.host.inputBytes),
    maxOutputBytes: Math.max(m.host.outputBytes, 1),
    maxLogBytes: Math.max(m.host.logBytes, 1),
  };
  if (m.host.trust === "authenticated") {
    const dir = mkdtempSync(join(root, "run-"));
    for (const f of m.host.files) {
      const path = join(dir, ...f.name.split("/"));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, fileBytes(f.bytes));
    }
    options.capabilities = m.host.capabilities;
    options.resources = new FileResources(dir);
  }
  return options;
}

/** The same instance, counting the slices the scheduler gives it (each run or resume call). */
function countSlices(instance: Instance, onSlice: () => void): Instance {
  return new Proxy(instance, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if ((key === "run" || key === "resume") && typeof value === "function") {
        return (...args: unknown[]) => {
          onSlice();
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Run `job` while a setImmediate probe and the event-loop delay histogram watch the loop. */
async function measure(job: () => Promise<RunResult>): Promise<{ longestGapMs: number; histogramMaxMs: number; runMs: number; result: RunResult }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let stopped = false;
  let longest = 0;
  let last = nowMs();
  const probe = (): void => {
    const now = nowMs();
    longest = Math.max(longest, now - last);
    last = now;
    if (!stopped) setImmediate(probe);
  };
  histogram.enable();
  const t0 = nowMs();
  last = t0;
  setImmediate(probe);
  const result = await job();
  const runMs = nowMs() - t0;
  // The gap that ended with the job's last slice counts too.
  longest = Math.max(longest, nowMs() - last);
  stopped = true;
  histogram.disable();
  return { longestGapMs: longest, histogramMaxMs: histogram.max / 1e6, runMs, result };
}

function describe(r: RunResult): string {
  return r.status === "trapped" ? `trapped ${r.code}` : r.status;
}
