// The single-threshold policies in the simulator next to their mean-field models: mean response
// time per variant, Lp and load over several replications (seeds), its 95% confidence interval, the
// relative error of the model, and the load where receiver-initiated starts to beat sender-initiated.

import { elzMeanField, type SingleThresholdKind } from "../../runtime/balance/index.js";
import type { SimCosts } from "./sim-config.js";
import { simulate } from "./simulator.js";

export interface ModelSweepOptions {
  kinds: readonly SingleThresholdKind[];
  nodes: number;
  loads: readonly number[];
  /** Lp values. */
  polls: readonly number[];
  threshold: number;
  jobs: number;
  /** Independent runs per point, seeds seed, seed + 1, …; the CI is over them. */
  replications: number;
  seed: number;
  costs: Partial<SimCosts>;
}

export interface ModelPoint {
  kind: SingleThresholdKind;
  polls: number;
  load: number;
  /** Mean over the replications of each run's mean response time. */
  sim: number;
  /** Half-width of the 95% confidence interval of `sim` (Student t over the replications), NaN with one. */
  halfWidth: number;
  model: number;
  /** sim / model − 1. */
  error: number;
  /** Jobs lost or completed twice over all replications (must be 0). */
  unaccounted: number;
}

/** Student t quantiles t(0.975, ν) for ν = 1..19; 1.96 beyond. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093,
];

export function meanAndHalfWidth(xs: readonly number[]): { mean: number; halfWidth: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, halfWidth: NaN };
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  return { mean, halfWidth: (T975[n - 2] ?? 1.96) * Math.sqrt(variance / n) };
}

export function modelSweep(o: ModelSweepOptions, onPoint?: (p: ModelPoint) => void): ModelPoint[] {
  const points: ModelPoint[] = [];
  for (const polls of o.polls) {
    for (const kind of o.kinds) {
      for (const load of o.loads) {
        const runs: number[] = [];
        let unaccounted = 0;
        for (let r = 0; r < o.replications; r++) {
          const s = simulate({
            nodes: o.nodes,
            load,
            jobs: o.jobs,
            seed: o.seed + r,
            policy: { kind, threshold: o.threshold, maxPolls: polls },
            costs: o.costs,
            percentiles: false,
          });
          runs.push(s.meanResponse);
          unaccounted += s.lost + s.duplicated;
        }
        const { mean, halfWidth } = meanAndHalfWidth(runs);
        const model = elzMeanField({ kind, load, threshold: o.threshold, polls }).meanResponse;
        const point = { kind, polls, load, sim: mean, halfWidth, model, error: mean / model - 1, unaccounted };
        points.push(point);
        onPoint?.(point);
      }
    }
  }
  return points;
}

/**
 * The load in (0.01, 0.99) above which the model's receiver-initiated variant responds faster than
 * its sender-initiated one (bisection on the difference), or undefined if it does not change sign.
 */
export function modelCrossover(threshold: number, polls: number): number | undefined {
  const diff = (load: number): number =>
    elzMeanField({ kind: "elz-sender", load, threshold, polls }).meanResponse -
    elzMeanField({ kind: "elz-receiver", load, threshold, polls }).meanResponse;
  let lo = 0.01;
  let dlo = diff(lo);
  for (let hi = 0.02; hi < 0.995; hi += 0.01) {
    const dhi = diff(hi);
    if (dlo < 0 !== dhi < 0) {
      let a = lo;
      let b = hi;
      for (let i = 0; i < 40; i++) {
        const m = (a + b) / 2;
        if (diff(m) < 0 === dlo < 0) a = m;
        else b = m;
      }
      return (a + b) / 2;
    }
    lo = hi;
    dlo = dhi;
  }
  return undefined;
}

/** The same from the simulated points: linear interpolation between the two loads where the sign changes. */
export function simCrossover(points: readonly ModelPoint[], polls: number): number | undefined {
  const at = (kind: SingleThresholdKind): Map<number, number> =>
    new Map(points.filter((p) => p.kind === kind && p.polls === polls).map((p) => [p.load, p.sim]));
  const s = at("elz-sender");
  const r = at("elz-receiver");
  const loads = [...s.keys()].filter((l) => r.has(l)).sort((a, b) => a - b);
  for (let i = 1; i < loads.length; i++) {
    const [a, b] = [loads[i - 1]!, loads[i]!];
    const [da, db] = [s.get(a)! - r.get(a)!, s.get(b)! - r.get(b)!];
    if (da < 0 !== db < 0) return a + ((b - a) * da) / (da - db);
  }
  return undefined;
}

const pct = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(2)}%` : "—");

export const MODEL_TABLE_HEADER = "| policy | Lp | load | simulated | ±95% CI | mean field | error |\n|:--|---:|---:|---:|---:|---:|---:|";

export function modelRow(p: ModelPoint): string {
  const ci = Number.isFinite(p.halfWidth) ? `±${((100 * p.halfWidth) / p.sim).toFixed(2)}%` : "—";
  return `| ${p.kind} | ${p.polls} | ${p.load.toFixed(2)} | ${p.sim.toFixed(4)} | ${ci} | ${p.model.toFixed(4)} | ${pct(p.error)} |`;
}

export function modelTable(points: readonly ModelPoint[]): string {
  return [MODEL_TABLE_HEADER, ...points.map(modelRow)].join("\n");
}

export function crossoverTable(points: readonly ModelPoint[], threshold: number, polls: readonly number[]): string {
  const fmt = (x: number | undefined): string => (x === undefined ? "none in range" : x.toFixed(3));
  const lines = ["| Lp | crossover, mean field | crossover, simulated |", "|---:|---:|---:|"];
  for (const lp of polls) lines.push(`| ${lp} | ${fmt(modelCrossover(threshold, lp))} | ${fmt(simCrossover(points, lp))} |`);
  return lines.join("\n");
}
