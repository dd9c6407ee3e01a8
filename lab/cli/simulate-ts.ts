// `ferry simulate --policies none,placement,preemptive`: the time-sharing sweep (processor-sharing
// nodes, the sender policy finding receivers, placement of new jobs only against preemptive
// migration of old ones), printed as one table of mean and p99 response and slowdown per load.

import { type MigrationRule, MIGRATION_RULES } from "../../runtime/balance/index.js";
import type { Io } from "../../server/cli/run.js";
import { UsageError } from "../../server/cli/usage.js";
import { type ServiceDistribution, serviceLabel } from "../sim/distributions.js";
import { slowdownRatios, tsAllJobsAccounted, tsSweep, tsTable } from "../sim/ts-sweep.js";
import type { SharingRule } from "../sim/ts-simulator.js";
import type { Knobs } from "./simulate-knobs.js";

export interface TsRun {
  rules: SharingRule[];
  nodes: number;
  loads: number[];
  jobs: number;
  seed: number;
  service: ServiceDistribution;
  knobs: Knobs;
}

/** True when --policies asks for the time-sharing rules; then every policy must be one of them or none. */
export function isTimeSharing(policies: readonly string[]): boolean {
  if (!policies.some((p) => (MIGRATION_RULES as readonly string[]).includes(p))) return false;
  const other = policies.find((p) => p !== "none" && !(MIGRATION_RULES as readonly string[]).includes(p));
  if (other !== undefined) {
    throw new UsageError(`--policies: placement and preemptive run on time-sharing nodes; mix them only with none, not ${other}`);
  }
  return true;
}

export function timeSharingSweep(io: Io, r: TsRun): number {
  const k = r.knobs.policy;
  io.stdout.write(
    `Time-sharing nodes (each job an equal CPU share), ${r.nodes} nodes, ${serviceLabel(r.service)} service (mean 1), ` +
      `${r.jobs} jobs per run (10% warm-up), seed ${r.seed}, sender policy lower ${k.lower ?? 0}, upper ${k.upper ?? 3}, ` +
      `MAX ${k.maxPolls ?? 3}, D ${k.retryInterval ?? 0.5}, ${r.knobs.costsName}\n\n`,
  );
  const rows = tsSweep({
    rules: r.rules,
    nodes: r.nodes,
    loads: r.loads,
    jobs: r.jobs,
    seed: r.seed,
    service: r.service,
    knobs: k,
    costs: r.knobs.costs,
  });
  io.stdout.write(`${tsTable(rows, r.rules)}\n\n`);
  io.stdout.write(
    "Slowdown = response time ÷ the job's own service time. none: every node alone (M/G/1 time-sharing: mean response and " +
      "mean slowdown 1/(1 − load) whatever the service). placement: a loaded node sends only new jobs (weak, restarted). " +
      "preemptive: it sends its oldest job whose age exceeds the strong move's cost ÷ (its other jobs − the receiver's), " +
      "resumed with its age.\n\n",
  );
  if (r.rules.includes("placement") && r.rules.includes("preemptive")) {
    const ratios = slowdownRatios(rows, "preemptive" satisfies MigrationRule, "placement");
    io.stdout.write(
      `Mean slowdown, preemptive ÷ placement: ${rows.map((row, i) => `${row.load.toFixed(2)}: ${ratios[i]!.toFixed(3)}`).join(", ")}\n\n`,
    );
  }
  const ok = tsAllJobsAccounted(rows);
  io.stdout.write(`All jobs completed exactly once: ${ok ? "yes" : "NO"}\n`);
  return ok ? 0 : 4;
}
