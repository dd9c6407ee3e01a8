// Runs every benchmark (`npm run bench`), writes bench/results/<name>.json with the machine facts,
// and ends with a summary of the performance targets, each marked ✓ or ✗.
// FERRY_BENCH_RUNS overrides the kept rounds and FERRY_BENCH_ONLY=metering,snapshot,instantiate picks
// parts (both for a quick look while tuning; reported numbers use the defaults and every part).

import { join } from "node:path";
import { CORE_PARTS, runCoreBench, type CoreBenchOptions, type CorePart } from "./core.js";
import { fmtRatio, machineFacts, mark, printTable, repoRoot, writeJsonAtomic, type TargetCheck } from "./harness.js";

function optionsFromEnv(): CoreBenchOptions {
  const options: CoreBenchOptions = {};
  const runs = process.env.FERRY_BENCH_RUNS;
  if (runs !== undefined) {
    const n = Number(runs);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FERRY_BENCH_RUNS must be a positive integer, got ${runs}`);
    options.runs = n;
    options.instantiateBatches = Math.max(20, n * 20);
  }
  const only = process.env.FERRY_BENCH_ONLY;
  if (only !== undefined) {
    const parts = only.split(",").map((p) => p.trim());
    const unknown = parts.filter((p) => !(CORE_PARTS as readonly string[]).includes(p));
    if (unknown.length > 0) throw new Error(`FERRY_BENCH_ONLY: unknown part(s) ${unknown.join(", ")}; choose from ${CORE_PARTS.join(", ")}`);
    options.only = parts as CorePart[];
  }
  return options;
}

function formatValue(t: TargetCheck): string {
  if (t.unit === "×") return fmtRatio(t.value);
  return `${t.value.toFixed(1)} ${t.unit}`;
}

function formatLimit(t: TargetCheck): string {
  const limit = t.unit === "×" ? `${t.limit}×` : `${t.limit} ${t.unit}`;
  return `${t.op === "<=" ? "≤" : "≥"} ${limit}`;
}

async function main(): Promise<void> {
  const machine = machineFacts();
  process.stdout.write(`Ferry benchmarks — ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}\n`);

  const core = await runCoreBench(optionsFromEnv());
  const resultsDir = join(repoRoot(), "bench", "results");
  // A quick look (fewer runs or only some parts) must not overwrite the reported results.
  const quick = process.env.FERRY_BENCH_RUNS !== undefined || process.env.FERRY_BENCH_ONLY !== undefined;
  const corePath = join(resultsDir, quick ? "core.quick.json" : "core.json");
  writeJsonAtomic(corePath, { bench: "core", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...core });

  const targets = [...core.targets];
  printTable({
    title: "Targets",
    headers: ["target", "measured", "limit", ""],
    rows: targets.map((t) => [t.target, formatValue(t), formatLimit(t), mark(t.ok)]),
    align: ["left", "right", "right", "left"],
    notes: [`${targets.filter((t) => t.ok).length} of ${targets.length} targets met. Results: ${corePath} (core bench ${(core.durationMs / 1000).toFixed(0)} s).`],
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
