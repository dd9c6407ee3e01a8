// `ferry simulate`: sweep load-sharing policies over a range of loads in the discrete-event
// simulator, print markdown tables next to the M/M/1 and M/M/c bounds, and optionally plot them;
// with --mean-field, the single-threshold policies next to their mean-field models.

import { parseArgs } from "node:util";
import {
  DEFAULT_LOWER_THRESHOLD,
  DEFAULT_MAX_POLLS,
  DEFAULT_RETRY_INTERVAL,
  DEFAULT_THRESHOLD,
  DEFAULT_UPPER_THRESHOLD,
  isSingleThreshold,
  MIGRATION_RULES,
  POLICY_KINDS,
  type PolicyKind,
  type SingleThresholdKind,
} from "../../runtime/balance/index.js";
import { crossoverTable, MODEL_TABLE_HEADER, modelRow, modelSweep } from "../sim/mean-field-sweep.js";
import { serviceLabel } from "../sim/distributions.js";
import { allJobsAccounted, boundLabels, responseTable, slowdownTable, trafficTable } from "../sim/report.js";
import { plotSvg, type Series } from "../sim/svg-plot.js";
import { sweep } from "../sim/sweep.js";
import { writeFileAtomic } from "../../runtime/light.js";
import type { Io } from "../../server/cli/run.js";
import { UsageError } from "../../server/cli/usage.js";
import { LAB_HELP } from "./help.js";
import { checkWritableFile } from "../../server/cli/paths.js";
import { checkRun, type Knobs, parseKnobs } from "./simulate-knobs.js";
import { parseService } from "./simulate-service.js";
import { isTimeSharing, timeSharingSweep } from "./simulate-ts.js";
import type { SharingRule } from "../sim/ts-simulator.js";

const DEFAULT_POLICIES = "none,sender,receiver,symmetric";
const DEFAULT_LOADS = "0.1..0.95";
const DEFAULT_STEP = 0.05;
const DEFAULT_NODES = 20;
const DEFAULT_JOBS = 100_000;
/** Most runs one invocation may ask for (policies × loads), so a typo cannot start an hour-long sweep. */
const MAX_RUNS = 2_000;

export async function simulateCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      policies: { type: "string", default: DEFAULT_POLICIES },
      nodes: { type: "string", default: String(DEFAULT_NODES) },
      loads: { type: "string", default: DEFAULT_LOADS },
      step: { type: "string" },
      jobs: { type: "string", default: String(DEFAULT_JOBS) },
      seed: { type: "string", default: "1" },
      service: { type: "string", default: "exp" },
      scv: { type: "string" },
      alpha: { type: "string" },
      span: { type: "string" },
      arrivals: { type: "string", default: "uniform" },
      "no-probe-limit": { type: "boolean", default: false },
      threshold: { type: "string" },
      upper: { type: "string" },
      lower: { type: "string" },
      "max-polls": { type: "string" },
      retry: { type: "string" },
      costs: { type: "string" },
      "mean-field": { type: "boolean", default: false },
      replications: { type: "string" },
      plot: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${LAB_HELP.simulate}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`ferry simulate takes no positional arguments, got "${positionals[0]}"`);
  const named = parsePolicies(values.policies);
  const timeSharing = isTimeSharing(named);
  // placement and preemptive are the sender policy with a migration rule: its knobs apply.
  const policies = timeSharing ? named.map((p) => (p === "none" ? "none" : "sender")) : (named as PolicyKind[]);
  const nodes = parseInteger("--nodes", values.nodes, 1, 10_000);
  const loads = parseLoads(values.loads, values.step);
  const jobs = parseInteger("--jobs", values.jobs, 100, 100_000_000);
  const seed = parseInteger("--seed", values.seed, 0, 2 ** 32 - 1);
  const { kind: service, distribution } = parseService(values);
  const arrivals = parseChoice("--arrivals", values.arrivals, ["uniform", "single"] as const);
  const knobs = parseKnobs(values, policies);
  const noProbeLimit = values["no-probe-limit"];
  if (timeSharing) {
    for (const [flag, given] of [
      ["--no-probe-limit", noProbeLimit],
      ["--mean-field", values["mean-field"]],
      ["--plot", values.plot !== undefined],
      ["--replications", values.replications !== undefined],
      ["--arrivals single", arrivals !== "uniform"],
    ] as const) {
      if (given) throw new UsageError(`${flag} does not apply to placement and preemptive (time-sharing nodes)`);
    }
    if (knobs.polls.length > 1) throw new UsageError("--max-polls takes one value, or a list with --mean-field");
    checkRun("sender", knobs.policy, knobs.costs, nodes, false);
    const rules = named as SharingRule[];
    return timeSharingSweep(io, { rules, nodes, loads, jobs, seed, service: distribution, knobs });
  }
  for (const kind of policies) checkRun(kind, knobs.policy, knobs.costs, nodes, noProbeLimit);
  const replications = values.replications === undefined ? 1 : parseInteger("--replications", values.replications, 1, 20);
  if (values["mean-field"]) {
    if (values.plot !== undefined) throw new UsageError("--plot draws the policy sweep, not --mean-field");
    if (service !== "exp" || arrivals !== "uniform")
      throw new UsageError("--mean-field: the models assume exp service and uniform arrivals (--service exp --arrivals uniform)");
    const kinds = policies.filter(isSingleThreshold);
    if (kinds.length !== policies.length) throw new UsageError("--mean-field: --policies must be elz-sender and/or elz-receiver");
    const runs = kinds.length * loads.length * Math.max(1, knobs.polls.length) * replications;
    if (runs > MAX_RUNS) throw new UsageError(`--mean-field asks for ${runs} runs; at most ${MAX_RUNS}`);
    return meanField(io, { kinds, nodes, loads, jobs, seed, replications, knobs });
  }
  if (values.replications !== undefined) throw new UsageError("--replications applies to --mean-field");
  if (knobs.polls.length > 1) throw new UsageError("--max-polls takes one value, or a list with --mean-field");
  if (policies.length * loads.length > MAX_RUNS) {
    throw new UsageError(`--policies × --loads asks for ${policies.length * loads.length} runs; at most ${MAX_RUNS} (use a larger --step)`);
  }
  if (values.plot !== undefined) checkWritableFile("--plot", values.plot); // before the sweep, not after it

  const rows = sweep({
    policies,
    nodes,
    loads,
    jobs,
    seed,
    service: distribution,
    arrivals,
    noProbeLimit,
    knobs: knobs.policy,
    costs: knobs.costs,
  });
  const labels = boundLabels(service, nodes);
  io.stdout.write(
    `Mean response time (mean service time = 1), ${nodes} nodes, ${serviceLabel(distribution)} service, ${arrivals} arrivals, ` +
      `${jobs} jobs per run, seed ${seed}, ${knobText(policies, knobs, noProbeLimit)}, ${knobs.costsName}\n\n${responseTable(rows, policies, labels)}\n\n` +
      `Lower is better. ${labels.single}: every node alone, no sharing (the bound to beat); ${labels.pooled}: one pooled queue, perfect sharing (no policy does better).\n\n` +
      `Slowdown (response time ÷ the job's own service time) and p99 response time\n\n${slowdownTable(rows, policies)}\n\n` +
      `Load-sharing traffic\n\n${trafficTable(rows, policies)}\n\n` +
      `All jobs completed exactly once: ${allJobsAccounted(rows) ? "yes" : "NO"}\n`,
  );
  if (values.plot !== undefined) {
    const series: Series[] = [
      // The two bounds: no sharing at all (each node alone) and perfect sharing (one pooled queue).
      { label: labels.single, dashed: true, points: rows.map((r) => [r.load, r.singleBound] as const) },
      ...policies.map((p) => ({ label: p, points: rows.map((r) => [r.load, r.results.get(p)!.meanResponse] as const) })),
      { label: labels.pooled, dashed: true, points: rows.map((r) => [r.load, r.pooledBound] as const) },
    ];
    const svg = plotSvg(series, {
      title: `Load sharing, ${nodes} nodes, ${service} service${values["no-probe-limit"] ? ", no probe limit" : ""}`,
      xLabel: "offered load per node ρ",
      yLabel: "mean response time, lower is better (log scale)",
      note: `dashed: ${labels.single} = every node alone, no sharing (the bound to beat); ${labels.pooled} = one pooled queue, perfect sharing (no policy does better)`,
    });
    try {
      writeFileAtomic(values.plot, new TextEncoder().encode(svg));
    } catch (e) {
      throw new UsageError(`--plot ${values.plot}: cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    io.stdout.write(`Plot written to ${values.plot}\n`);
  }
  return allJobsAccounted(rows) ? 0 : 4;
}

/** The knobs in force, for the table's heading. */
function knobText(policies: readonly PolicyKind[], k: Knobs, noProbeLimit: boolean): string {
  const parts: string[] = [];
  if (policies.some((p) => !isSingleThreshold(p))) {
    parts.push(`lower ${k.policy.lower ?? DEFAULT_LOWER_THRESHOLD}, upper ${k.policy.upper ?? DEFAULT_UPPER_THRESHOLD}`);
    parts.push(
      noProbeLimit
        ? "no probe limit"
        : `MAX ${k.policy.maxPolls ?? DEFAULT_MAX_POLLS}, D ${k.policy.retryInterval ?? DEFAULT_RETRY_INTERVAL}`,
    );
  }
  if (policies.some(isSingleThreshold))
    parts.push(`T ${k.policy.threshold ?? DEFAULT_THRESHOLD}, Lp ${k.policy.maxPolls ?? DEFAULT_MAX_POLLS}`);
  return parts.join(", ");
}

interface MeanFieldRun {
  kinds: SingleThresholdKind[];
  nodes: number;
  loads: number[];
  jobs: number;
  seed: number;
  replications: number;
  knobs: Knobs;
}

/** --mean-field: each single-threshold variant, Lp and load simulated against its mean-field model. */
function meanField(io: Io, r: MeanFieldRun): number {
  const threshold = r.knobs.policy.threshold ?? DEFAULT_THRESHOLD;
  const polls = r.knobs.polls.length > 0 ? r.knobs.polls : [DEFAULT_MAX_POLLS];
  io.stdout.write(
    `Single-threshold policies, simulated vs mean field (N → ∞), T ${threshold}, ${r.nodes} nodes, exp service, ` +
      `${r.jobs} jobs per run (10% warm-up), ${r.replications} replication(s) from seed ${r.seed}, ${r.knobs.costsName}` +
      `${r.knobs.costsName === "zero costs" ? "" : " (the model assumes none)"}\n\n`,
  );
  io.stdout.write(`${MODEL_TABLE_HEADER}\n`); // row by row: a full sweep runs for minutes
  const points = modelSweep({ ...r, polls, threshold, costs: r.knobs.costs }, (p) => io.stdout.write(`${modelRow(p)}\n`));
  const worst = Math.max(...points.map((p) => Math.abs(p.error)));
  const widest = Math.max(...points.map((p) => p.halfWidth / p.sim));
  const ok = points.every((p) => p.unaccounted === 0);
  io.stdout.write(
    `\nLargest |error| ${(100 * worst).toFixed(2)}%; widest 95% CI ±${Number.isFinite(widest) ? (100 * widest).toFixed(2) : "—"}%.\n\n`,
  );
  if (r.kinds.length === 2) {
    io.stdout.write(`Receiver-initiated responds faster above the crossover load:\n\n${crossoverTable(points, threshold, polls)}\n\n`);
  }
  io.stdout.write(`All jobs completed exactly once: ${ok ? "yes" : "NO"}\n`);
  return ok ? 0 : 4;
}

function parsePolicies(text: string): (PolicyKind | SharingRule)[] {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (names.length === 0) throw new UsageError("--policies needs at least one policy");
  const known: readonly string[] = [...POLICY_KINDS, ...MIGRATION_RULES];
  for (const n of names) {
    if (!known.includes(n)) throw new UsageError(`--policies: unknown policy "${n}" (one of ${known.join(", ")})`);
  }
  return [...new Set(names)] as (PolicyKind | SharingRule)[];
}

function parseInteger(name: string, text: string, min: number, max: number): number {
  const n = Number(text.replaceAll("_", ""));
  if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be an integer in ${min}..${max}, got "${text}"`);
  return n;
}

function parseLoad(name: string, text: string): number {
  const x = Number(text);
  if (text.trim() === "" || !(x > 0 && x < 1))
    throw new UsageError(`${name}: a load must be a number strictly between 0 and 1, got "${text}"`);
  return x;
}

/** "0.1..0.95" with --step, or a comma list "0.5,0.8,0.9". */
function parseLoads(text: string, stepText: string | undefined): number[] {
  const range = text.split("..");
  if (range.length === 1) {
    if (stepText !== undefined) throw new UsageError("--step only applies to a --loads range such as 0.1..0.95");
    const loads = text.split(",").map((s) => parseLoad("--loads", s.trim()));
    return [...new Set(loads)].sort((a, b) => a - b);
  }
  if (range.length !== 2) throw new UsageError(`--loads must be a range LO..HI or a list A,B,C, got "${text}"`);
  const lo = parseLoad("--loads", range[0]!);
  const hi = parseLoad("--loads", range[1]!);
  if (hi < lo) throw new UsageError(`--loads ${text}: the range must go upwards`);
  const step = stepText === undefined ? DEFAULT_STEP : Number(stepText);
  if (!(step > 0) || !Number.isFinite(step)) throw new UsageError(`--step must be a number > 0, got "${stepText}"`);
  const count = Math.floor((hi - lo) / step + 1e-9) + 1;
  if (count > MAX_RUNS) throw new UsageError(`--step ${step} gives ${count} loads; at most ${MAX_RUNS}`);
  const loads = Array.from({ length: count }, (_, i) => Number((lo + i * step).toFixed(10)));
  if (loads[loads.length - 1]! < hi - 1e-9) loads.push(hi);
  return loads;
}

function parseChoice<T extends string>(name: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`${name} must be one of ${choices.join(", ")}, got "${text}"`);
  return text as T;
}
