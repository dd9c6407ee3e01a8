// Runs a grid of simulations (policies × loads) with the same seed per load, so every policy sees
// the same arrivals and service times (common random numbers), and adds the closed-form bounds.

import { mg1MeanResponse, mmcMeanResponse, type PolicyKind, type PolicyOptions } from "../../runtime/balance/index.js";
import { type ServiceDistribution, type ServiceKind, serviceByName } from "./distributions.js";
import type { ArrivalPattern, SimCosts } from "./sim-config.js";
import { simulate, type SimResult } from "./simulator.js";

export interface SweepOptions {
  policies: readonly PolicyKind[];
  nodes: number;
  loads: readonly number[];
  jobs: number;
  seed: number;
  /** A kind with its default parameters, or a distribution (`serviceFromSpec`). */
  service: ServiceKind | ServiceDistribution;
  arrivals: ArrivalPattern;
  /** Remove the probe limit (MAX = ∞, D = 0): the thrashing experiment. */
  noProbeLimit: boolean;
  /** The policies' knobs (thresholds, MAX or Lp, D), the same for every policy; defaults when absent. */
  knobs?: Omit<PolicyOptions, "kind">;
  costs?: Partial<SimCosts>;
}

export interface SweepRow {
  load: number;
  /** No sharing at all, each node alone: M/M/1 (M/G/1 by Pollaczek–Khinchine for other services). */
  singleBound: number;
  /** Perfect sharing, one queue for all nodes: M/M/c (Lee–Longton approximation for other services). */
  pooledBound: number;
  results: Map<PolicyKind, SimResult>;
}

/** Closed-form bounds at per-node load ρ for `nodes` servers and the given service distribution. */
export function bounds(service: ServiceKind | ServiceDistribution, nodes: number, load: number): { single: number; pooled: number } {
  const s = typeof service === "string" ? serviceByName(service) : service;
  const scv = s.secondMoment / (s.mean * s.mean) - 1;
  const single = mg1MeanResponse(load, s.mean, s.secondMoment);
  // Lee–Longton: Wq(M/G/c) ≈ (1 + scv)/2 · Wq(M/M/c); exact for exponential service (scv = 1).
  const pooled = s.mean + ((1 + scv) / 2) * (mmcMeanResponse(nodes, nodes * load) - 1) * s.mean;
  return { single, pooled };
}

export function sweep(o: SweepOptions, onRow?: (row: SweepRow) => void): SweepRow[] {
  const rows: SweepRow[] = [];
  for (const load of o.loads) {
    const results = new Map<PolicyKind, SimResult>();
    for (const kind of o.policies) {
      results.set(
        kind,
        simulate({
          nodes: o.nodes,
          load,
          jobs: o.jobs,
          seed: o.seed,
          service: o.service,
          arrivals: o.arrivals,
          policy: { ...o.knobs, kind, ...(o.noProbeLimit ? { maxPolls: Infinity, retryInterval: 0 } : {}) },
          ...(o.costs ? { costs: o.costs } : {}),
        }),
      );
    }
    const b = bounds(o.service, o.nodes, load);
    const row = { load, singleBound: b.single, pooledBound: b.pooled, results };
    rows.push(row);
    onRow?.(row);
  }
  return rows;
}
