// Markdown tables of a sweep: mean response time per load and policy next to the closed-form
// bounds, the slowdowns and p99s, then the load-sharing traffic (polls and transfers per job).

import type { PolicyKind } from "../../runtime/balance/index.js";
import type { SweepRow } from "./sweep.js";

export interface TableLabels {
  single: string;
  pooled: string;
}

export function boundLabels(service: string, nodes: number): TableLabels {
  return service === "exp" ? { single: "M/M/1", pooled: `M/M/${nodes}` } : { single: "M/G/1", pooled: `M/G/${nodes}≈` };
}

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---:|").join("")}`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}

const num = (x: number): string => (Number.isFinite(x) ? (x >= 1000 ? x.toExponential(2) : x.toFixed(3)) : "—");

export function responseTable(rows: readonly SweepRow[], policies: readonly PolicyKind[], labels: TableLabels): string {
  return table(
    ["load", labels.single, ...policies, labels.pooled],
    rows.map((r) => [
      r.load.toFixed(2),
      num(r.singleBound),
      ...policies.map((p) => num(r.results.get(p)!.meanResponse)),
      num(r.pooledBound),
    ]),
  );
}

export function trafficTable(rows: readonly SweepRow[], policies: readonly PolicyKind[]): string {
  const shared = policies.filter((p) => p !== "none");
  return table(
    ["load", ...shared.flatMap((p) => [`${p} polls/job`, `${p} moved %`])],
    rows.map((r) => [
      r.load.toFixed(2),
      ...shared.flatMap((p) => {
        const s = r.results.get(p)!;
        return [(s.polls / s.completed).toFixed(2), ((100 * (s.weakTransfers + s.strongTransfers)) / s.completed).toFixed(1)];
      }),
    ]),
  );
}

/** True when every job of every run completed exactly once. */
export function allJobsAccounted(rows: readonly SweepRow[]): boolean {
  return rows.every((r) => [...r.results.values()].every((s) => s.lost === 0 && s.duplicated === 0));
}

/** Per load and policy: mean slowdown (response ÷ the job's service time), its p99, and the p99 response time. */
export function slowdownTable(rows: readonly SweepRow[], policies: readonly PolicyKind[]): string {
  return table(
    ["load", ...policies.flatMap((p) => [`${p} slowdown`, `${p} p99 slowdown`, `${p} p99 response`])],
    rows.map((r) => [
      r.load.toFixed(2),
      ...policies.flatMap((p) => {
        const s = r.results.get(p)!;
        return [num(s.meanSlowdown), num(s.p99Slowdown), num(s.p99Response)];
      }),
    ]),
  );
}
