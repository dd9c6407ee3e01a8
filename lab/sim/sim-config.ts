// Simulator options, their defaults, and normalisation into a fully-specified config. Time unit:
// one mean service time (μ = 1); `load` is the offered load per node, ρ = λ/μ.

import { FerryError } from "../../runtime/light.js";
import {
  type LinkCost,
  MIGRATION_RULES,
  type MigrationRule,
  normalizePolicyOptions,
  type PolicyConfig,
  type PolicyOptions,
} from "../../runtime/balance/index.js";
import { SERVICE_KINDS, serviceByName, type ServiceDistribution, type ServiceKind } from "./distributions.js";

/** Where jobs go on arrival. "local": to their arrival node, then the policy shares load. */
export type Dispatch = "local" | "central" | "shortest-of-d";

/** How arrivals spread over nodes: evenly, all at node 0, or in proportion to the given weights. */
export type ArrivalPattern = "uniform" | "single" | readonly number[];

export interface SimCosts extends LinkCost {
  /** CPU time charged to a node for each poll or answer it sends or receives. */
  cpuPerMessage: number;
  /** Bytes a weak migration ships (code hash + arguments; the code is cached at the target). */
  weakBytes: number;
  /** Bytes a strong migration ships (the execution-segment snapshot). */
  snapshotBytes: number;
}

/** Default costs, in mean service times: ~1% of a job for a network hop, ~0.2% per message handled. */
export const DEFAULT_SIM_COSTS: SimCosts = {
  latency: 0.01,
  bytesPerTime: 12_500_000,
  cpuPerMessage: 0.002,
  cpuPerTransfer: 0.01,
  cpuPerByte: 1e-9,
  weakBytes: 16 * 1024,
  snapshotBytes: 1024 * 1024,
};

/**
 * No costs at all, the mean-field models' assumption: polls, answers and transfers take no time and
 * no CPU, so a round of polls and its transfer complete at the instant of the event that started it.
 */
export const ZERO_SIM_COSTS: SimCosts = {
  latency: 0,
  bytesPerTime: 1, // nothing is shipped: weakBytes and snapshotBytes are 0
  cpuPerMessage: 0,
  cpuPerTransfer: 0,
  cpuPerByte: 0,
  weakBytes: 0,
  snapshotBytes: 0,
};

/**
 * Moves that cost about as much as a mean job: latency 0.05, 0.05 CPU per transfer per side and an
 * 8 MiB snapshot, so a strong move takes ~0.84 and a weak one ~0.15 (the defaults: ~0.12 and
 * ~0.03). The regime where which job moves matters: with cheap moves, moving any old job pays
 * whatever the service distribution.
 */
export const COSTLY_SIM_COSTS: SimCosts = {
  ...DEFAULT_SIM_COSTS,
  latency: 0.05,
  cpuPerTransfer: 0.05,
  snapshotBytes: 8 * 1024 * 1024,
};

export interface SimOptions {
  nodes: number;
  /** Offered load per node ρ (total arrival rate nodes·ρ). */
  load: number;
  /** Jobs to simulate (arrivals). */
  jobs: number;
  /** Leading jobs excluded from statistics (default 10% of `jobs`). */
  warmupJobs?: number;
  seed?: number;
  service?: ServiceKind | ServiceDistribution;
  arrivals?: ArrivalPattern;
  dispatch?: Dispatch;
  /** Queues sampled per arrival by "shortest-of-d" (default 2). */
  d?: number;
  policy?: PolicyOptions;
  costs?: Partial<SimCosts>;
  /** Keep every response time so that p99 can be reported (default true). */
  percentiles?: boolean;
  /**
   * Which job a transfer moves: by the cost model (chooseMove, the default), or by a migration rule
   * of runtime/balance/preemption.ts (placement: the newest queued job; preemptive: the running one
   * once its age passes the criterion) — the FCFS form of the heavy-tail experiment.
   */
  migration?: MigrationRule;
}

export interface SimConfig {
  nodes: number;
  load: number;
  jobs: number;
  warmupJobs: number;
  seed: number;
  service: ServiceDistribution;
  weights: Float64Array | undefined;
  dispatch: Dispatch;
  d: number;
  policy: PolicyConfig;
  costs: SimCosts;
  percentiles: boolean;
  migration: MigrationRule | undefined;
}

function positiveInt(name: string, v: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v < 1 || v > max)
    throw new FerryError("invalid_option", `\`${name}\` must be an integer in 1..${max}, got ${v}`);
  return v;
}

export function normalizeSimOptions(o: SimOptions): SimConfig {
  const nodes = positiveInt("nodes", o.nodes, 100_000);
  if (!(o.load > 0) || !Number.isFinite(o.load)) throw new FerryError("invalid_option", `\`load\` must be a number > 0, got ${o.load}`);
  // Job ids are Int32 in the event queue.
  const jobs = positiveInt("jobs", o.jobs, 2 ** 31 - 1);
  const warmupJobs = o.warmupJobs ?? Math.floor(jobs / 10);
  if (!Number.isInteger(warmupJobs) || warmupJobs < 0 || warmupJobs >= jobs) {
    throw new FerryError("invalid_option", `\`warmupJobs\` must be an integer in 0..jobs−1, got ${warmupJobs}`);
  }
  const dispatch = o.dispatch ?? "local";
  if (!["local", "central", "shortest-of-d"].includes(dispatch)) {
    throw new FerryError("invalid_option", `\`dispatch\` must be local, central or shortest-of-d, got "${String(dispatch)}"`);
  }
  const d = o.d ?? 2;
  if (!Number.isInteger(d) || d < 1 || d > nodes) throw new FerryError("invalid_option", `\`d\` must be an integer in 1..nodes, got ${d}`);
  const policy = normalizePolicyOptions(o.policy ?? { kind: "none" });
  if (dispatch !== "local" && policy.kind !== "none") {
    throw new FerryError("invalid_option", `\`policy\` ${policy.kind} needs dispatch "local"; "${dispatch}" dispatch places jobs itself`);
  }
  const costs = { ...DEFAULT_SIM_COSTS, ...o.costs };
  for (const [name, v] of Object.entries(costs)) {
    if (!(v >= 0) || !Number.isFinite(v)) throw new FerryError("invalid_option", `\`costs.${name}\` must be a finite number ≥ 0, got ${v}`);
  }
  if (!(costs.bytesPerTime > 0)) throw new FerryError("invalid_option", "`costs.bytesPerTime` must be > 0");
  if (costs.latency === 0 && policy.maxPolls === Infinity) {
    // Polls answered at the same instant would loop without time ever advancing.
    throw new FerryError("invalid_option", "`costs.latency` must be > 0 without a probe limit (`maxPolls` Infinity)");
  }
  if (o.migration !== undefined && !(MIGRATION_RULES as readonly string[]).includes(o.migration)) {
    throw new FerryError("invalid_option", `\`migration\` must be one of ${MIGRATION_RULES.join(", ")}, got "${String(o.migration)}"`);
  }
  let service: ServiceDistribution;
  if (typeof o.service === "object") service = o.service;
  else {
    const kind = o.service ?? "exp";
    if (!(SERVICE_KINDS as readonly string[]).includes(kind)) {
      throw new FerryError("invalid_option", `\`service\` must be one of ${SERVICE_KINDS.join(", ")}, got "${String(kind)}"`);
    }
    service = serviceByName(kind);
  }
  return {
    nodes,
    load: o.load,
    jobs,
    warmupJobs,
    seed: (o.seed ?? 1) >>> 0,
    service,
    weights: arrivalWeights(o.arrivals ?? "uniform", nodes),
    dispatch,
    d,
    policy,
    costs,
    percentiles: o.percentiles ?? true,
    migration: o.migration,
  };
}

/** Cumulative arrival weights, or undefined for uniform. */
function arrivalWeights(pattern: ArrivalPattern, nodes: number): Float64Array | undefined {
  if (pattern === "uniform") return undefined;
  const w = pattern === "single" ? [1, ...new Array<number>(nodes - 1).fill(0)] : [...pattern];
  if (w.length !== nodes || w.some((x) => !(x >= 0) || !Number.isFinite(x))) {
    throw new FerryError("invalid_option", `\`arrivals\` weights must be ${nodes} finite numbers ≥ 0`);
  }
  const total = w.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new FerryError("invalid_option", "`arrivals` weights must not all be 0");
  const cumulative = new Float64Array(nodes);
  let sum = 0;
  for (let i = 0; i < nodes; i++) cumulative[i] = sum += w[i]! / total;
  cumulative[nodes - 1] = 1;
  return cumulative;
}
