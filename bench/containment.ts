// Containment benchmark (issue 8 §1 and §4): how long can one hostile guest hold the node's event
// loop? Each hostile shape from fuzz/hostile-shapes.ts runs alone under the node's Scheduler with the
// default 4 ms slice budget, placed as a node places it, while a setImmediate probe records the
// longest gap between two turns of the host's event loop; a benign spinning guest is the baseline
// row. Anonymous shapes run in-process; resource shapes run isolated with their files served by the
// resource worker (OffThreadFileResources), as the node runs a client's job. The same resource shapes
// also run in-process with a synchronous FileResources: an embedder's choice through the Engine API,
// which the node never makes, reported but not held to the target. Target: the longest gap of what
// the node runs stays within 2 × the slice budget + 5 ms. Every run has a fuel limit, and every shape
// is finite, so a broken meter makes a run long, never endless. Prints a table and returns the data
// (bench/run-all.ts writes it to bench/results/containment.json).

import { mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { threadId } from "node:worker_threads";
import {
  DEFAULT_SLICE_BUDGET_MS,
  Engine,
  FileResources,
  MemoryResources,
  OffThreadFileResources,
  ResourceThread,
  Scheduler,
  type Instance,
  type InstantiateOptions,
  type RunResult,
} from "../runtime/index.js";
import {
  bulkMemory,
  callChain,
  fileBytes,
  hostCalls,
  inputBytes,
  memoryGrow,
  recursion,
  resourceLoop,
  RESOURCE_CAPABILITY,
  RESOURCE_NAME,
  type HostNeeds,
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
/** The node's deadline for one isolated slice (node-limits.ts isolatedSliceTimeoutMs). */
const ISOLATED_SLICE_TIMEOUT_MS = 30_000;

/**
 * Where a shape runs: `in-process` (the node's anonymous jobs), `isolated` with the resource worker
 * (the node's client jobs), `control`: isolated with the files in memory (no disk at all: what the
 * isolated sandbox itself costs the host's loop), or `embedder`: in-process with a synchronous
 * FileResources, which only a program using the Engine API directly can choose.
 */
type Placement = "in-process" | "isolated" | "control" | "embedder";

interface Shape {
  name: string;
  /** No guest: the probe alone runs this long (what the machine itself adds to a gap). */
  idleMs?: number;
  bytes: Uint8Array;
  entry: string;
  args: number[];
  host: HostNeeds | undefined;
  placement: Placement;
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
  host: undefined,
  placement: "in-process",
};

/**
 * A read-write open copies the existing file whole before the guest writes a byte, and the close
 * commits the copy (fsync, rename): 8 × a 16 MiB file, opened read-write and closed at once.
 */
function readWriteReopen(
  count: number,
  bytes: number,
): { name: string; bytes: Uint8Array; entry: string; args: number[]; host: HostNeeds } {
  return {
    name: `resource read-write reopen loop, ${count} × a ${bytes}-byte file (a copy and a commit each)`,
    bytes: watToWasm(`(module
      (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
      (import "ferry" "resource_close" (func $close (param i32)))
      (memory 1) (data (i32.const 0) "${RESOURCE_NAME}")
      (func (export "main") (result i32) (local $i i32)
        (loop $again (call $close (call $open (i32.const 0) (i32.const ${RESOURCE_NAME.length}) (i32.const 3)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const ${count}))))
        (local.get $i)))`),
    entry: "main",
    args: [],
    host: {
      trust: "authenticated",
      inputBytes: 0,
      outputBytes: 0,
      logBytes: 0,
      files: [{ name: RESOURCE_NAME, bytes }],
      capabilities: [RESOURCE_CAPABILITY],
      memoryPages: 1,
    },
  };
}

/** The host idle but for the probe, as long as the longest isolated file rows run: the machine's own noise. */
const IDLE: Shape = {
  name: "idle host: the probe alone for 1 s (what the machine adds)",
  idleMs: 1_000,
  bytes: new Uint8Array(0),
  entry: "",
  args: [],
  host: undefined,
  placement: "control",
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
  const shapes = [...modules, readWriteReopen(8, 16 * MiB)];
  const placed: Shape[] = [];
  // Resource shapes as the node runs them, then as only an embedder can; everything else in-process.
  for (const placement of ["in-process", "isolated", "control", "embedder"] as const) {
    for (const m of shapes) {
      const resources = m.host.trust === "authenticated";
      if (resources === (placement === "in-process")) continue;
      const where = {
        "in-process": "",
        isolated: " [isolated, files on the resource worker]",
        control: " [control: isolated, files in memory]",
        embedder: " [embedder: in-process, sync FileResources]",
      }[placement];
      placed.push({ name: `${m.name}${where}`, bytes: m.bytes, entry: m.entry, args: m.args, host: m.host, placement });
    }
  }
  return placed;
}

export interface ContainmentRow {
  shape: string;
  /** in-process / isolated: as the node runs it (held to the target); control: isolated without disk; embedder: the Engine API's in-process choice. */
  placement: Placement;
  /** Longest gap between two event-loop turns during the run, ms, per run. */
  gapsMs: number[];
  /** Median of `gapsMs`. */
  gapMs: number;
  /** monitorEventLoopDelay's max over the run, ms (median over runs): a cross-check of the probe. */
  histogramMaxMs: number;
  /**
   * The longest gap less the time the host's thread waited for a CPU during it (Linux schedstat),
   * ms, median over runs: what other processes on a loaded machine add is taken out. Undefined
   * where schedstat is not available.
   */
  gapLessCpuWaitMs: number | undefined;
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
  /** The isolated rows' resource calls: how many the resource worker answered, and on which threads (never the host's). */
  resourceWorker: { served: number; servedOn: number[]; hostThreadId: number };
  targets: TargetCheck[];
  durationMs: number;
}

export async function runContainmentBench(options: ContainmentBenchOptions = {}): Promise<ContainmentBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 5;
  const engine = new Engine({ maxMemoryPages: MAX_MEMORY_PAGES, isolated: { size: 1 } });
  const root = mkdtempSync(join(tmpdir(), "ferry-containment-"));
  const thread = new ResourceThread();
  const rows: ContainmentRow[] = [];
  try {
    for (const shape of [BENIGN, IDLE, ...hostileShapes()]) {
      const module = shape.idleMs === undefined ? await engine.compile(shape.bytes) : undefined;
      const gaps: number[] = [];
      const histogramMax: number[] = [];
      const lessWait: number[] = [];
      const ends: string[] = [];
      const slices: number[] = [];
      const runMs: number[] = [];
      for (let run = 0; run < runs; run++) {
        let calls = 0;
        let m: Awaited<ReturnType<typeof measure>>;
        if (module) {
          const instance = await engine.instantiate(module, hostOptions(shape, root, thread));
          collectGarbage();
          const counted = countSlices(instance, () => calls++);
          m = await measure(() => new Scheduler().start(counted, shape.entry, shape.args, { fuelLimit: RUN_FUEL_LIMIT }).result);
          instance.dispose();
        } else {
          collectGarbage();
          m = await measure(
            () =>
              new Promise<RunResult>((done) =>
                setTimeout(() => done({ status: "done", value: null, fuelUsed: 0 } as RunResult), shape.idleMs),
              ),
          );
        }
        gaps.push(m.longestGapMs);
        histogramMax.push(m.histogramMaxMs);
        if (m.gapLessCpuWaitMs !== undefined) lessWait.push(m.gapLessCpuWaitMs);
        ends.push(describe(m.result));
        slices.push(calls);
        runMs.push(m.runMs);
      }
      const gapMs = median(gaps);
      rows.push({
        shape: shape.name,
        placement: shape.placement,
        gapsMs: gaps,
        gapMs,
        histogramMaxMs: median(histogramMax),
        gapLessCpuWaitMs: lessWait.length > 0 ? median(lessWait) : undefined,
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
    await thread.close();
    rmSync(root, { recursive: true, force: true });
  }

  // What the node runs is held to the target; the control and the embedder's rows are not the node's.
  const nodeRows = rows.filter((r) => r.shape !== BENIGN.name).filter((r) => r.placement === "in-process" || r.placement === "isolated");
  const worst = nodeRows.reduce((a, b) => (b.gapMs > a.gapMs ? b : a));
  const targets = [
    check(
      `containment: longest event-loop gap under a hostile guest as the node runs it (worst: ${worst.shape})`,
      worst.gapMs,
      "<=",
      TARGET_GAP_MS,
      "ms",
    ),
  ];
  const { served, servedOn } = thread.stats;
  printTable({
    title: `Containment: longest event-loop gap of the host while one guest runs under the Scheduler (slice budget ${SLICE_BUDGET_MS} ms; median of ${runs} runs)`,
    headers: ["guest", "longest gap", "target", "gap / target", "met", "less CPU wait", "histogram max", "slices", "run", "ended"],
    rows: rows.map((r) => [
      r.shape,
      `${fmtMs(r.gapMs)} ms`,
      `${fmtMs(r.targetMs)} ms`,
      fmtRatio(r.ratio),
      r.placement === "embedder" ? "(not the node's)" : r.placement === "control" ? "(control)" : mark(r.met),
      r.gapLessCpuWaitMs === undefined ? "—" : `${fmtMs(r.gapLessCpuWaitMs)} ms`,
      `${fmtMs(r.histogramMaxMs)} ms`,
      String(r.slices),
      `${fmtMs(r.runMs)} ms`,
      r.ends.join("; "),
    ]),
    align: ["left", "right", "right", "right", "left", "right", "right", "right", "right", "left"],
    notes: [
      `target = 2 × slice budget + 5 ms, for what the node runs: anonymous shapes in-process, resource shapes isolated with their files served by the resource worker (${served.toLocaleString("en-US")} resource calls answered on thread ${servedOn.join(", ")}; the host is thread ${threadId}). [control] rows run the same shapes isolated with the files in memory (MemoryResources: no disk at all), so what isolation itself costs the host's loop (children started, messages, GC) is told apart from disk I/O. [embedder] rows run the resource shapes in-process with a synchronous FileResources, which the node never does (it refuses in-process jobs that import resources). longest gap: the longest time between two turns of a setImmediate probe while the job ran (one guest alone; the scheduler yields between slices). less CPU wait: the longest gap less the time the host's thread sat runnable waiting for a CPU during it (/proc/thread-self/schedstat), so a loaded machine's other processes are taken out; what remains is the host's own work, or its thread blocked (or the VM not running it). histogram max: perf_hooks.monitorEventLoopDelay's max (1 ms resolution; its first tick only starts the clock, so it misses a block in the run's first turn, which the probe sees). Each run has a ${RUN_FUEL_LIMIT.toLocaleString("en-US")}-fuel limit; every shape is finite.`,
    ],
  });
  return {
    config: {
      runs,
      sliceBudgetMs: SLICE_BUDGET_MS,
      targetGapMs: TARGET_GAP_MS,
      runFuelLimit: RUN_FUEL_LIMIT,
      maxMemoryPages: MAX_MEMORY_PAGES,
    },
    rows,
    resourceWorker: { served, servedOn, hostThreadId: threadId },
    targets,
    durationMs: nowMs() - started,
  };
}

/** Where it runs, input, output and log room, and a fresh resource root holding the shape's files. */
function hostOptions(shape: Shape, root: string, thread: ResourceThread): InstantiateOptions {
  const sandbox = shape.placement === "isolated" || shape.placement === "control" ? "isolated" : "in-process";
  const options: InstantiateOptions = { sandbox, ...(sandbox === "isolated" ? { timeoutMs: ISOLATED_SLICE_TIMEOUT_MS } : {}) };
  const host = shape.host;
  if (!host) return options;
  Object.assign(options, {
    trust: host.trust,
    input: inputBytes(host.inputBytes),
    maxOutputBytes: Math.max(host.outputBytes, 1),
    maxLogBytes: Math.max(host.logBytes, 1),
  });
  if (host.trust === "authenticated") {
    const dir = mkdtempSync(join(root, "run-"));
    for (const f of host.files) {
      const path = join(dir, ...f.name.split("/"));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, fileBytes(f.bytes));
    }
    options.capabilities = host.capabilities;
    options.resources =
      shape.placement === "control"
        ? new MemoryResources(Object.fromEntries(host.files.map((f) => [f.name, fileBytes(f.bytes)])))
        : sandbox === "isolated"
          ? new OffThreadFileResources(dir, {}, thread)
          : new FileResources(dir);
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
async function measure(
  job: () => Promise<RunResult>,
): Promise<{ longestGapMs: number; histogramMaxMs: number; gapLessCpuWaitMs: number | undefined; runMs: number; result: RunResult }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const waited = cpuWaitMs();
  let stopped = false;
  let longest = 0;
  let longestLessWait = 0;
  let last = nowMs();
  let lastWait = waited?.() ?? 0;
  const probe = (): void => {
    const now = nowMs();
    longest = Math.max(longest, now - last);
    if (waited) {
      const wait = waited();
      longestLessWait = Math.max(longestLessWait, now - last - (wait - lastWait));
      lastWait = wait;
    }
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
  if (waited) longestLessWait = Math.max(longestLessWait, nowMs() - last - (waited() - lastWait));
  return {
    longestGapMs: longest,
    histogramMaxMs: histogram.max / 1e6,
    gapLessCpuWaitMs: waited ? longestLessWait : undefined,
    runMs,
    result,
  };
}

/**
 * Time this thread has spent runnable but waiting for a CPU, ms (the second field of Linux's
 * /proc/thread-self/schedstat, ns), read with one pread of an open descriptor; undefined elsewhere.
 */
function cpuWaitMs(): (() => number) | undefined {
  if (schedstat === undefined) {
    try {
      schedstat = openSync("/proc/thread-self/schedstat", "r"); // the main thread's, kept for the process
    } catch {
      schedstat = null;
    }
  }
  if (schedstat === null) return undefined;
  const fd = schedstat;
  const buf = Buffer.alloc(128);
  return () => {
    const n = readSync(fd, buf, 0, buf.byteLength, 0);
    return Number(buf.toString("latin1", 0, n).split(" ")[1]) / 1e6;
  };
}

let schedstat: number | null | undefined;

function describe(r: RunResult): string {
  return r.status === "trapped" ? `trapped ${r.code}` : r.status;
}
