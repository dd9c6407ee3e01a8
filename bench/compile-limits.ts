// Where instrumentation stops being linear, and what the compile caps (runtime/limits.ts) leave:
// every shape of bench/compile-shapes.ts at growing N (CPU time, growth exponent, Binaryen heap),
// each shape at the largest N the default caps accept, and real programs (the example guests plus
// any .wasm named in FERRY_COMPILE_BENCH_MODULES) against the caps. Each measurement runs in a
// child of its own (bench/compile-measure.ts) with the caps lifted, killed at a deadline.
//
//   npm run bench:compile-limits
//   FERRY_COMPILE_BENCH_BUDGET_MS=3000 FERRY_COMPILE_BENCH_SHAPES=loops-with-calls node dist/bench/compile-limits.js
//   FERRY_COMPILE_BENCH_MODULES=a.wasm:b.wasm node dist/bench/compile-limits.js

import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readFunctionStats } from "../runtime/code/code-reader.js";
import { validateModule, type ModuleLimits } from "../runtime/code/validate.js";
import { readModuleStructure } from "../runtime/code/wasm-reader.js";
import { FerryError } from "../runtime/errors.js";
import { Engine } from "../runtime/index.js";
import { CompilePool } from "../runtime/code/compile-pool.js";
import type { MeasureRequest, MeasureResult } from "./compile-measure.js";
import { SHAPES, shape as shapeNamed } from "./compile-shapes.js";
import { fmtInt, fmtMs, machineFacts, median, printTable, repoRoot, writeJsonAtomic } from "./harness.js";

/** Stop growing a shape once one compile costs more CPU than this. */
const BUDGET_MS = Number(process.env.FERRY_COMPILE_BENCH_BUDGET_MS ?? 8000);
/**
 * A child that has not answered by this many times the budget (wall clock) is killed: the shape ran
 * away. Generous, because on a shared 2-core machine wall time runs to several times CPU time.
 */
const DEADLINE_FACTOR = 15;
/** First N of every shape; each row doubles it. */
const FIRST_N = 64;
const LAST_N = 1 << 20;

/** The stat each shape drives (named as in FunctionStats, or "functions"), for the caps table. */
const DRIVES: Record<string, string> = {
  "loops-with-calls": "loops",
  "i64-locals-across-calls": "locals",
  "tiny-functions": "functions",
  "calls-in-one-function": "calls",
  "nested-loops": "maxLoopIfDepth",
  "nested-blocks": "maxDepth",
  "nested-ifs": "maxLoopIfDepth",
  "br-table": "brTableTargets",
  "i32-locals-in-loops": "loops",
  "straight-line": "bodyBytes",
  "deep-expression": "bodyBytes",
  "functions-with-loops": "functions",
};

interface Row {
  n: number;
  bytes: number;
  cpuMs: number;
  wallMs: number;
  heapMiB: number;
  stats: Record<string, number>;
  killed?: boolean;
  error?: string;
}

/** FERRY_COMPILE_BENCH_DEADLINE_MS overrides the deadline (real programs take minutes on a busy machine). */
function measure(request: MeasureRequest): Promise<Omit<Row, "n">> {
  const script = fileURLToPath(new URL("./compile-measure.js", import.meta.url));
  const timeout = Number(process.env.FERRY_COMPILE_BENCH_DEADLINE_MS ?? Math.max(120_000, BUDGET_MS * DEADLINE_FACTOR));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, JSON.stringify(request)],
      { timeout, killSignal: "SIGKILL", maxBuffer: 1 << 20 },
      (error, stdout) => {
        const line = stdout.trim().split("\n").pop() ?? "";
        if (error && !line) {
          resolve({
            bytes: 0,
            cpuMs: Number.NaN,
            wallMs: timeout,
            heapMiB: Number.NaN,
            stats: {},
            killed: true,
            error: error.killed ? `killed at ${timeout} ms` : error.message.split("\n")[0]!,
          });
          return;
        }
        const r = JSON.parse(line) as MeasureResult;
        resolve({
          bytes: r.bytes,
          cpuMs: median(r.cpuMs),
          wallMs: median(r.wallMs),
          heapMiB: r.peakHeapMiB,
          stats: r.stats,
          ...(r.error ? { error: r.error } : {}),
        });
      },
    );
  });
}

/** The largest N whose module the default caps accept (N grows until refused, then bisects). */
function largestAccepted(name: string, limits: ModuleLimits): number {
  const accepts = (n: number): boolean => {
    try {
      validateModule(shapeNamed(name).build(n), limits);
      return true;
    } catch (e) {
      if (e instanceof FerryError && e.code === "module_limit") return false;
      throw e;
    }
  };
  let lo = 1;
  let hi = 2;
  while (accepts(hi) && hi < LAST_N) {
    lo = hi;
    hi *= 2;
  }
  if (accepts(hi)) return hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (accepts(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The default compile time limit of a module of `bytes` bytes (no worker is started to ask). */
const timeLimit = (bytes: number): number => new CompilePool().timeLimitMs(bytes);

const fmtCpu = (r: Row): string => (r.killed ? `> ${fmtInt(r.wallMs)} (killed)` : fmtMs(r.cpuMs));

async function main(): Promise<void> {
  const started = Date.now();
  const machine = machineFacts();
  const limits = new Engine().config.limits;
  process.stdout.write(
    `Compile limits — ${machine.cpuModel}, ${machine.cores} cores, load ${machine.loadAverage.map((l) => l.toFixed(1)).join(" ")}, budget ${BUDGET_MS} ms CPU\n`,
  );
  const only = process.env.FERRY_COMPILE_BENCH_SHAPES?.split(",").map((s) => s.trim());
  const shapes = SHAPES.filter((s) => !only || only.includes(s.name));
  const parts = process.env.FERRY_COMPILE_BENCH_PARTS?.split(",").map((s) => s.trim()) ?? ["growth", "caps", "programs"];

  // 1. Growth: N doubles until one compile costs more than the budget.
  const growth: Record<string, Row[]> = {};
  for (const s of parts.includes("growth") ? shapes : []) {
    const rows: Row[] = [];
    for (let n = FIRST_N; n <= LAST_N; n *= 2) {
      const quick = rows.length === 0 || rows[rows.length - 1]!.cpuMs < 1000;
      const row: Row = { n, ...(await measure({ shape: s.name, n, reps: quick ? 3 : 1 })) };
      rows.push(row);
      if (row.killed || row.error || row.cpuMs > BUDGET_MS) break;
    }
    growth[s.name] = rows;
    printTable({
      title: `${s.name}: N = ${s.unit}`,
      headers: ["N", "bytes", DRIVES[s.name] ?? "", "CPU ms", "wall ms", "× per 2N", "Binaryen heap MiB"],
      rows: rows.map((r, i) => {
        const prev = rows[i - 1];
        // 2 = linear, 4 = quadratic (once N is large enough for the fixed cost of a compile not to count).
        const ratio = prev && !r.killed ? r.cpuMs / prev.cpuMs : Number.NaN;
        return [
          fmtInt(r.n),
          fmtInt(r.bytes),
          fmtInt(r.stats[DRIVES[s.name] ?? ""] ?? 0),
          fmtCpu(r),
          r.killed ? "—" : fmtMs(r.wallMs),
          Number.isNaN(ratio) ? "" : ratio.toFixed(2),
          r.killed ? "—" : r.heapMiB.toFixed(0),
        ];
      }),
      notes: rows.some((r) => r.error && !r.killed) ? [`error: ${rows.find((r) => r.error)!.error}`] : [],
    });
  }

  // 2. Each shape at the largest N the default caps accept: the worst a module can cost per shape.
  const atCaps: Array<{ shape: string; n: number; refusedBy: string; row: Row }> = [];
  for (const s of parts.includes("caps") ? shapes : []) {
    const n = largestAccepted(s.name, limits);
    let refusedBy = "";
    try {
      validateModule(s.build(n + 1), limits);
    } catch (e) {
      refusedBy = e instanceof FerryError ? (e.detail ?? "").replace(/^function \d+ has /, "") : String(e);
    }
    atCaps.push({ shape: s.name, n, refusedBy, row: { n, ...(await measure({ shape: s.name, n, reps: 1 })) } });
  }
  if (atCaps.length > 0)
    printTable({
      title: "Each shape at the default caps (largest N accepted)",
      headers: ["shape", "N", "bytes", "CPU ms", "time limit ms", "Binaryen heap MiB", "N + 1 is refused for"],
      rows: atCaps.map((c) => [
        c.shape,
        fmtInt(c.n),
        fmtInt(c.row.bytes),
        fmtCpu(c.row),
        fmtInt(timeLimit(c.row.bytes)),
        c.row.killed ? "—" : c.row.heapMiB.toFixed(0),
        c.refusedBy,
      ]),
      align: ["left", "right", "right", "right", "right", "right", "left"],
      notes: ["Time limit: the default wall-clock limit of compiling a module of that size (runtime/limits.ts)."],
    });

  // 3. Real programs against the caps.
  const guestsDir = join(repoRoot(), "build", "guests");
  const files = [
    ...(existsSync(guestsDir)
      ? readdirSync(guestsDir)
          .filter((f) => f.endsWith(".wasm"))
          .map((f) => join(guestsDir, f))
      : []),
    ...(process.env.FERRY_COMPILE_BENCH_MODULES?.split(":").filter(Boolean) ?? []),
  ];
  const programs: Array<{ file: string; row: Row }> = [];
  for (const file of parts.includes("programs") ? files : []) {
    const row: Row = { n: 0, ...(await measure({ file, reps: 1 })) };
    // Stats come from the bytes here, so a compile that was killed still shows where the program stands.
    const bytes = new Uint8Array(readFileSync(file));
    row.bytes = bytes.byteLength;
    row.stats = { functions: 0 };
    readFunctionStats(bytes, readModuleStructure(bytes), (f) => {
      row.stats.functions!++;
      for (const [k, v] of Object.entries(f)) if (k !== "index") row.stats[k] = Math.max(row.stats[k] ?? 0, v);
    });
    programs.push({ file, row });
  }
  const capOf: Record<string, number> = {
    bodyBytes: limits.maxFunctionBodyBytes,
    locals: limits.maxFunctionLocals,
    loops: limits.maxFunctionLoops,
    calls: limits.maxFunctionCalls,
    maxDepth: limits.maxNestingDepth,
    maxLoopIfDepth: limits.maxLoopIfDepth,
    brTableTargets: limits.maxBrTableTargets,
    functions: limits.maxFunctions,
  };
  const stats = Object.keys(capOf);
  if (programs.length > 0)
    printTable({
      title: "Real programs: largest per-function value (share of the cap)",
      headers: ["module", "bytes", ...stats, "CPU ms", "time limit ms", "heap MiB"],
      rows: [
        ["(cap)", fmtInt(limits.maxModuleBytes), ...stats.map((k) => fmtInt(capOf[k]!)), "", "", ""],
        ...programs.map((p) => [
          p.file.split("/").pop()!,
          fmtInt(p.row.bytes),
          ...stats.map((k) => `${fmtInt(p.row.stats[k] ?? 0)} (${(((p.row.stats[k] ?? 0) / capOf[k]!) * 100).toFixed(0)}%)`),
          fmtCpu(p.row),
          fmtInt(timeLimit(p.row.bytes)),
          p.row.killed ? "—" : p.row.heapMiB.toFixed(0),
        ]),
      ],
      notes: programs.some((p) => p.row.error) ? programs.filter((p) => p.row.error).map((p) => `${p.file}: ${p.row.error}`) : [],
    });

  const quick = ["SHAPES", "BUDGET_MS", "PARTS"].some((v) => process.env[`FERRY_COMPILE_BENCH_${v}`] !== undefined);
  // FERRY_COMPILE_BENCH_TAG names a partial run's file (parts run side by side on a busy machine).
  const tag = process.env.FERRY_COMPILE_BENCH_TAG ?? (quick ? "quick" : "");
  const out = join(repoRoot(), "bench", "results", tag ? `compile-limits.${tag}.json` : "compile-limits.json");
  writeJsonAtomic(out, {
    bench: "compile-limits",
    machine: { ...machine, loadAverageAfter: machineFacts().loadAverage },
    budgetMs: BUDGET_MS,
    limits,
    growth,
    atCaps,
    programs,
    durationMs: Date.now() - started,
  });
  process.stdout.write(`\nResults: ${out} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
