// Runs every benchmark (`npm run bench`), writes bench/results/<name>.json with the machine facts,
// and ends with a summary of the performance targets, each marked ✓ or ✗.
// FERRY_BENCH_RUNS overrides the kept rounds and FERRY_BENCH_ONLY=metering,snapshot,instantiate,
// sandbox-start,sandbox-call,sandbox-throughput,sandbox-memory (or "sandbox" for all four),
// node-migration,node-precopy,node-throughput (or "node" for all three), containment, cli-start, pause-cost, wasi, global-ref,
// resource-migration, checkpoints, hibernation, dashboard, page-digest picks parts (both for a quick look while tuning; reported numbers use the defaults and every part).

import { join } from "node:path";
import { CHECKPOINTS_PARTS, runCheckpointsBench, type CheckpointsBenchOptions } from "./checkpoints.js";
import { CLI_START_PARTS, runCliStartBench, type CliStartBenchOptions } from "./cli-start.js";
import { CONTAINMENT_PARTS, runContainmentBench, type ContainmentBenchOptions } from "./containment.js";
import { DASHBOARD_PARTS, runDashboardBench, type DashboardBenchOptions } from "./dashboard.js";
import { CORE_PARTS, runCoreBench, type CoreBenchOptions, type CorePart } from "./core.js";
import { GLOBAL_REF_PARTS, runGlobalRefBench, type GlobalRefBenchOptions } from "./global-ref.js";
import { HIBERNATION_PARTS, runHibernationBench, type HibernationBenchOptions } from "./hibernation.js";
import { NODE_PARTS, runNodeBench, type NodeBenchOptions, type NodePart } from "./node.js";
import { PAGE_DIGEST_PARTS, runPageDigestBench, type PageDigestBenchOptions } from "./page-digest.js";
import { PAUSE_COST_PARTS, runPauseCostBench, type PauseCostBenchOptions } from "./pause-cost.js";
import { RESOURCE_MIGRATION_PARTS, runResourceMigrationBench, type ResourceMigrationBenchOptions } from "./resource-migration.js";
import { fmtRatio, machineFacts, mark, printTable, repoRoot, writeJsonAtomic, type TargetCheck } from "./harness.js";
import { SANDBOX_PARTS, runSandboxBench, type SandboxBenchOptions, type SandboxPart } from "./sandbox.js";
import { runWasiBench, WASI_PARTS, type WasiBenchOptions } from "./wasi.js";

function optionsFromEnv(): {
  core: CoreBenchOptions | undefined;
  sandbox: SandboxBenchOptions | undefined;
  node: NodeBenchOptions | undefined;
  containment: ContainmentBenchOptions | undefined;
  cliStart: CliStartBenchOptions | undefined;
  pauseCost: PauseCostBenchOptions | undefined;
  wasi: WasiBenchOptions | undefined;
  globalRef: GlobalRefBenchOptions | undefined;
  resourceMigration: ResourceMigrationBenchOptions | undefined;
  checkpoints: CheckpointsBenchOptions | undefined;
  hibernation: HibernationBenchOptions | undefined;
  dashboard: DashboardBenchOptions | undefined;
  pageDigest: PageDigestBenchOptions | undefined;
} {
  const options: CoreBenchOptions = {};
  const containment: ContainmentBenchOptions = {};
  let containmentSelected = true;
  const cliStart: CliStartBenchOptions = {};
  let cliStartSelected = true;
  const pauseCost: PauseCostBenchOptions = {};
  let pauseCostSelected = true;
  const wasi: WasiBenchOptions = {};
  let wasiSelected = true;
  const globalRef: GlobalRefBenchOptions = {};
  let globalRefSelected = true;
  const resourceMigration: ResourceMigrationBenchOptions = {};
  let resourceMigrationSelected = true;
  const checkpoints: CheckpointsBenchOptions = {};
  let checkpointsSelected = true;
  const hibernation: HibernationBenchOptions = {};
  let hibernationSelected = true;
  const dashboard: DashboardBenchOptions = {};
  let dashboardSelected = true;
  const pageDigest: PageDigestBenchOptions = {};
  let pageDigestSelected = true;
  const pausedJobs = process.env.FERRY_BENCH_PAUSED_JOBS;
  if (pausedJobs !== undefined) {
    const n = Number(pausedJobs);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FERRY_BENCH_PAUSED_JOBS must be a positive integer, got ${pausedJobs}`);
    hibernation.pausedJobs = n;
  }
  const sandbox: SandboxBenchOptions = {};
  const node: NodeBenchOptions = {};
  const runs = process.env.FERRY_BENCH_RUNS;
  if (runs !== undefined) {
    const n = Number(runs);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FERRY_BENCH_RUNS must be a positive integer, got ${runs}`);
    options.runs = n;
    options.instantiateBatches = Math.max(20, n * 20);
    sandbox.runs = n;
    node.runs = n;
    containment.runs = n;
    cliStart.runs = n;
    pauseCost.runs = n;
    wasi.runs = n;
    globalRef.runs = n;
    resourceMigration.runs = n;
    checkpoints.runs = n;
    hibernation.runs = n;
    dashboard.runs = n;
    pageDigest.runs = n;
  }
  const only = process.env.FERRY_BENCH_ONLY;
  if (only !== undefined) {
    const parts = only
      .split(",")
      .map((p) => p.trim())
      .flatMap((p) => (p === "sandbox" ? [...SANDBOX_PARTS] : p === "node" ? [...NODE_PARTS] : [p]));
    const known: readonly string[] = [
      ...CORE_PARTS,
      ...SANDBOX_PARTS,
      ...NODE_PARTS,
      ...CONTAINMENT_PARTS,
      ...CLI_START_PARTS,
      ...PAUSE_COST_PARTS,
      ...WASI_PARTS,
      ...GLOBAL_REF_PARTS,
      ...RESOURCE_MIGRATION_PARTS,
      ...CHECKPOINTS_PARTS,
      ...HIBERNATION_PARTS,
      ...DASHBOARD_PARTS,
      ...PAGE_DIGEST_PARTS,
    ];
    const unknown = parts.filter((p) => !known.includes(p));
    if (unknown.length > 0)
      throw new Error(`FERRY_BENCH_ONLY: unknown part(s) ${unknown.join(", ")}; choose from ${known.join(", ")} (or sandbox, node)`);
    options.only = parts.filter((p) => (CORE_PARTS as readonly string[]).includes(p)) as CorePart[];
    sandbox.only = parts.filter((p) => (SANDBOX_PARTS as readonly string[]).includes(p)) as SandboxPart[];
    node.only = parts.filter((p) => (NODE_PARTS as readonly string[]).includes(p)) as NodePart[];
    containmentSelected = parts.some((p) => (CONTAINMENT_PARTS as readonly string[]).includes(p));
    cliStartSelected = parts.some((p) => (CLI_START_PARTS as readonly string[]).includes(p));
    pauseCostSelected = parts.some((p) => (PAUSE_COST_PARTS as readonly string[]).includes(p));
    wasiSelected = parts.some((p) => (WASI_PARTS as readonly string[]).includes(p));
    globalRefSelected = parts.some((p) => (GLOBAL_REF_PARTS as readonly string[]).includes(p));
    resourceMigrationSelected = parts.some((p) => (RESOURCE_MIGRATION_PARTS as readonly string[]).includes(p));
    checkpointsSelected = parts.some((p) => (CHECKPOINTS_PARTS as readonly string[]).includes(p));
    hibernationSelected = parts.some((p) => (HIBERNATION_PARTS as readonly string[]).includes(p));
    dashboardSelected = parts.some((p) => (DASHBOARD_PARTS as readonly string[]).includes(p));
    pageDigestSelected = parts.some((p) => (PAGE_DIGEST_PARTS as readonly string[]).includes(p));
  }
  return {
    core: options.only?.length === 0 ? undefined : options,
    sandbox: sandbox.only?.length === 0 ? undefined : sandbox,
    node: node.only?.length === 0 ? undefined : node,
    containment: containmentSelected ? containment : undefined,
    cliStart: cliStartSelected ? cliStart : undefined,
    pauseCost: pauseCostSelected ? pauseCost : undefined,
    wasi: wasiSelected ? wasi : undefined,
    globalRef: globalRefSelected ? globalRef : undefined,
    resourceMigration: resourceMigrationSelected ? resourceMigration : undefined,
    checkpoints: checkpointsSelected ? checkpoints : undefined,
    hibernation: hibernationSelected ? hibernation : undefined,
    dashboard: dashboardSelected ? dashboard : undefined,
    pageDigest: pageDigestSelected ? pageDigest : undefined,
  };
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
  // `npm run bench` runs with the flags `ferry serve` runs with (bin/ferry.js), so the node's rows are the node's.
  process.stdout.write(`Node flags: ${process.execArgv.join(" ") || "(none)"}\n`);

  const selected = optionsFromEnv();
  const resultsDir = join(repoRoot(), "bench", "results");
  // A quick look (fewer runs or only some parts) must not overwrite the reported results.
  const quick = process.env.FERRY_BENCH_RUNS !== undefined || process.env.FERRY_BENCH_ONLY !== undefined;
  const targets: TargetCheck[] = [];
  const written: string[] = [];

  if (selected.core) {
    const core = await runCoreBench(selected.core);
    const corePath = join(resultsDir, quick ? "core.quick.json" : "core.json");
    writeJsonAtomic(corePath, { bench: "core", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...core });
    targets.push(...core.targets);
    written.push(`${corePath} (core bench ${(core.durationMs / 1000).toFixed(0)} s)`);
  }
  if (selected.sandbox) {
    const sandbox = await runSandboxBench(selected.sandbox);
    const sandboxPath = join(resultsDir, quick ? "sandbox.quick.json" : "sandbox.json");
    writeJsonAtomic(sandboxPath, { bench: "sandbox", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...sandbox });
    targets.push(...sandbox.targets);
    written.push(`${sandboxPath} (sandbox bench ${(sandbox.durationMs / 1000).toFixed(0)} s)`);
  }
  if (selected.node) {
    const node = await runNodeBench(selected.node);
    // Both node parts at the default runs make a full node result, even when FERRY_BENCH_ONLY left the rest out.
    const nodeQuick = process.env.FERRY_BENCH_RUNS !== undefined || (selected.node.only?.length ?? NODE_PARTS.length) < NODE_PARTS.length;
    const nodePath = join(resultsDir, nodeQuick ? "node.quick.json" : "node.json");
    writeJsonAtomic(nodePath, { bench: "node", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...node });
    targets.push(...node.targets);
    written.push(`${nodePath} (node bench ${(node.durationMs / 1000).toFixed(0)} s)`);
  }
  if (selected.containment) {
    const containment = await runContainmentBench(selected.containment);
    // Its one part at the default runs is a full containment result, even when FERRY_BENCH_ONLY left the rest out.
    const containmentPath = join(resultsDir, process.env.FERRY_BENCH_RUNS !== undefined ? "containment.quick.json" : "containment.json");
    writeJsonAtomic(containmentPath, {
      bench: "containment",
      machine: { ...machine, loadAverageAfter: machineFacts().loadAverage },
      ...containment,
    });
    targets.push(...containment.targets);
    written.push(`${containmentPath} (containment bench ${(containment.durationMs / 1000).toFixed(0)} s)`);
  }
  if (selected.cliStart) {
    const cli = await runCliStartBench(selected.cliStart);
    const cliPath = join(resultsDir, process.env.FERRY_BENCH_RUNS !== undefined ? "cli-start.quick.json" : "cli-start.json");
    writeJsonAtomic(cliPath, { bench: "cli-start", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...cli });
    targets.push(...cli.targets);
    written.push(`${cliPath} (CLI start-up bench ${(cli.durationMs / 1000).toFixed(0)} s)`);
  }
  if (selected.pauseCost) {
    const pause = await runPauseCostBench(selected.pauseCost);
    const pausePath = join(resultsDir, process.env.FERRY_BENCH_RUNS !== undefined ? "pause-cost.quick.json" : "pause-cost.json");
    writeJsonAtomic(pausePath, { bench: "pause-cost", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...pause });
    targets.push(...pause.targets);
    written.push(`${pausePath} (pause-cost bench ${(pause.durationMs / 1000).toFixed(0)} s)`);
  }
  if (selected.wasi) {
    const wasi = await runWasiBench(selected.wasi);
    const wasiPath = join(resultsDir, process.env.FERRY_BENCH_RUNS !== undefined ? "wasi.quick.json" : "wasi.json");
    writeJsonAtomic(wasiPath, { bench: "wasi", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...wasi });
    targets.push(...wasi.targets);
    written.push(`${wasiPath} (WASI bench ${(wasi.durationMs / 1000).toFixed(0)} s)`);
  }
  if (selected.globalRef) {
    const gref = await runGlobalRefBench(selected.globalRef);
    const grefPath = join(resultsDir, process.env.FERRY_BENCH_RUNS !== undefined ? "global-ref.quick.json" : "global-ref.json");
    writeJsonAtomic(grefPath, { bench: "global-ref", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...gref });
    targets.push(...gref.targets);
    written.push(`${grefPath} (global-reference bench ${(gref.durationMs / 1000).toFixed(0)} s)`);
  }

  if (selected.resourceMigration) {
    const rm = await runResourceMigrationBench(selected.resourceMigration);
    const rmPath = join(
      resultsDir,
      process.env.FERRY_BENCH_RUNS !== undefined ? "resource-migration.quick.json" : "resource-migration.json",
    );
    writeJsonAtomic(rmPath, { bench: "resource-migration", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...rm });
    written.push(`${rmPath} (resource-migration bench ${(rm.durationMs / 1000).toFixed(0)} s)`);
  }
  if (selected.checkpoints) {
    const ck = await runCheckpointsBench(selected.checkpoints);
    // Its one part at the defaults (no FERRY_BENCH_RUNS, no FERRY_CK_*) is a full result, even when FERRY_BENCH_ONLY left the rest out.
    const ckPath = join(resultsDir, ck.quick ? "checkpoints.quick.json" : "checkpoints.json");
    writeJsonAtomic(ckPath, { bench: "checkpoints", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...ck });
    targets.push(...ck.targets);
    written.push(`${ckPath} (checkpoint bench ${(ck.durationMs / 1000).toFixed(0)} s)`);
  }
  if (selected.hibernation) {
    const hib = await runHibernationBench(selected.hibernation);
    // A smaller FERRY_BENCH_PAUSED_JOBS or fewer runs is a quick look.
    const hibQuick = process.env.FERRY_BENCH_RUNS !== undefined || process.env.FERRY_BENCH_PAUSED_JOBS !== undefined;
    const hibPath = join(resultsDir, hibQuick ? "hibernation.quick.json" : "hibernation.json");
    writeJsonAtomic(hibPath, { bench: "hibernation", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...hib });
    targets.push(...hib.targets);
    written.push(`${hibPath} (hibernation bench ${(hib.durationMs / 1000).toFixed(0)} s)`);
  }

  if (selected.dashboard) {
    const dash = await runDashboardBench(selected.dashboard);
    const dashQuick = process.env.FERRY_BENCH_RUNS !== undefined || process.env.FERRY_BENCH_DASHBOARD_JOBS !== undefined;
    const dashPath = join(resultsDir, dashQuick ? "dashboard.quick.json" : "dashboard.json");
    writeJsonAtomic(dashPath, { bench: "dashboard", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...dash });
    targets.push(...dash.targets);
    written.push(`${dashPath} (dashboard bench ${(dash.durationMs / 1000).toFixed(0)} s)`);
  }
  if (selected.pageDigest) {
    const pd = await runPageDigestBench(selected.pageDigest);
    // Its one part at the default runs is a full result, even when FERRY_BENCH_ONLY left the rest out.
    const pdPath = join(resultsDir, process.env.FERRY_BENCH_RUNS !== undefined ? "page-digest.quick.json" : "page-digest.json");
    writeJsonAtomic(pdPath, { bench: "page-digest", machine: { ...machine, loadAverageAfter: machineFacts().loadAverage }, ...pd });
    targets.push(...pd.targets);
    written.push(`${pdPath} (page-digest bench ${(pd.durationMs / 1000).toFixed(0)} s)`);
  }

  printTable({
    title: "Targets",
    headers: ["target", "measured", "limit", ""],
    rows: targets.map((t) => [t.target, formatValue(t), formatLimit(t), mark(t.ok)]),
    align: ["left", "right", "right", "left"],
    notes: [`${targets.filter((t) => t.ok).length} of ${targets.length} targets met. Results: ${written.join(", ")}.`],
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
