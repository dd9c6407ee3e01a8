// Runs the time-sharing simulator over sharing rules × loads with the same seed per load (common
// random numbers: every rule sees the same arrivals and service times), and prints its tables:
// mean and p99 response and slowdown per rule, and the moves per job.

import type { ServiceDistribution } from "./distributions.js";
import type { SimCosts } from "./sim-config.js";
import { type SharingRule, simulateTimeSharing, type TsResult } from "./ts-simulator.js";
import type { PolicyOptions } from "../../runtime/balance/index.js";

export interface TsSweepOptions {
  rules: readonly SharingRule[];
  nodes: number;
  loads: readonly number[];
  jobs: number;
  seed: number;
  service: ServiceDistribution;
  knobs?: Omit<PolicyOptions, "kind">;
  costs?: Partial<SimCosts>;
}

export interface TsSweepRow {
  load: number;
  results: Map<SharingRule, TsResult>;
}

export function tsSweep(o: TsSweepOptions, onRow?: (row: TsSweepRow) => void): TsSweepRow[] {
  const rows: TsSweepRow[] = [];
  for (const load of o.loads) {
    const results = new Map<SharingRule, TsResult>();
    for (const rule of o.rules) {
      const { nodes, jobs, seed, service, knobs, costs } = o;
      results.set(
        rule,
        simulateTimeSharing({ rule, nodes, load, jobs, seed, service, ...(knobs ? { knobs } : {}), ...(costs ? { costs } : {}) }),
      );
    }
    const row = { load, results };
    rows.push(row);
    onRow?.(row);
  }
  return rows;
}

const fixed = (x: number, digits = 2): string => (Number.isFinite(x) ? (x >= 1000 ? x.toExponential(2) : x.toFixed(digits)) : "—");

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---:|").join("")}`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

/** One row per load and rule: mean response, mean slowdown, p99 slowdown, p99 response, moves per job. */
export function tsTable(rows: readonly TsSweepRow[], rules: readonly SharingRule[]): string {
  const out: string[][] = [];
  for (const r of rows) {
    for (const rule of rules) {
      const s = r.results.get(rule)!;
      out.push([
        r.load.toFixed(2),
        rule,
        fixed(s.meanResponse),
        fixed(s.meanSlowdown),
        fixed(s.p99Slowdown, 1),
        fixed(s.p99Response, 1),
        ((100 * s.weakTransfers) / s.completed).toFixed(1),
        ((100 * s.strongTransfers) / s.completed).toFixed(1),
      ]);
    }
  }
  return table(["load", "policy", "mean response", "mean slowdown", "p99 slowdown", "p99 response", "weak moves %", "strong moves %"], out);
}

/** Mean slowdown of `rule` ÷ that of `base`, per load: below 1, the rule wins. */
export function slowdownRatios(rows: readonly TsSweepRow[], rule: SharingRule, base: SharingRule): number[] {
  return rows.map((r) => r.results.get(rule)!.meanSlowdown / r.results.get(base)!.meanSlowdown);
}

/** True when every job of every run completed exactly once. */
export function tsAllJobsAccounted(rows: readonly TsSweepRow[]): boolean {
  return rows.every((r) => [...r.results.values()].every((s) => s.lost === 0 && s.duplicated === 0));
}
