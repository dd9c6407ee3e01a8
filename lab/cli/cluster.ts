// `ferry cluster`: start N real nodes as processes on loopback, drive them with a Poisson load of
// spin jobs, and print per policy the measured response times and balancing traffic next to the
// M/M/N bound (docs/load-sharing.md, "Live cluster").

import { parseArgs } from "node:util";
import { POLICY_KINDS, type PolicyKind } from "../../runtime/balance/index.js";
import { CLUSTER_DEFAULTS, clusterTable, runCluster } from "../cluster/cluster.js";
import type { Io } from "../../server/cli/run.js";
import { UsageError } from "../../server/cli/usage.js";
import { LAB_HELP } from "./help.js";
import type { ClusterService } from "../cluster/service-times.js";

const DEFAULT_POLICIES = "none,sender,receiver,symmetric,adaptive";

export async function clusterCommand(argv: string[], io: Io): Promise<number> {
  const d = CLUSTER_DEFAULTS;
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      nodes: { type: "string", default: String(d.nodes) },
      policy: { type: "string", default: DEFAULT_POLICIES },
      load: { type: "string", default: String(d.load) },
      arrivals: { type: "string", default: d.arrivals },
      jobs: { type: "string", default: String(d.jobs) },
      seed: { type: "string", default: String(d.seed) },
      "service-ms": { type: "string", default: String(d.meanServiceMs) },
      lower: { type: "string", default: String(d.lower) },
      upper: { type: "string", default: String(d.upper) },
      "max-polls": { type: "string", default: String(d.maxPolls) },
      "retry-interval": { type: "string", default: String(d.retryInterval) },
      "cpu-share": { type: "string" },
      service: { type: "string", default: "exp" },
      alpha: { type: "string" },
      span: { type: "string" },
      migration: { type: "string", default: "cost-model" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${LAB_HELP.cluster}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`ferry cluster takes no positional arguments, got "${positionals[0]}"`);
  const policies = values.policy
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (policies.length === 0) throw new UsageError("--policy needs at least one policy");
  for (const p of policies)
    if (!(POLICY_KINDS as readonly string[]).includes(p))
      throw new UsageError(`--policy: unknown policy "${p}" (one of ${POLICY_KINDS.join(", ")})`);
  const arrivals = values.arrivals;
  if (arrivals !== "single" && arrivals !== "uniform") throw new UsageError(`--arrivals must be single or uniform, got "${arrivals}"`);
  const service = clusterService(values);
  const migration = values.migration;
  if (migration !== "cost-model" && migration !== "placement" && migration !== "preemptive")
    throw new UsageError(`--migration must be cost-model, placement or preemptive, got "${migration}"`);
  const report = await runCluster({
    service,
    ...(migration === "cost-model" ? {} : { migration }),
    nodes: integer("--nodes", values.nodes, 2, 16),
    policies: [...new Set(policies)] as PolicyKind[],
    load: number("--load", values.load, 0, 1),
    arrivals,
    jobs: integer("--jobs", values.jobs, 10, 100_000),
    seed: integer("--seed", values.seed, 0, 2 ** 32 - 1),
    meanServiceMs: number("--service-ms", values["service-ms"], 1, 10_000),
    lower: number("--lower", values.lower, -1e9, 1e9),
    upper: number("--upper", values.upper, -1e9, 1e9),
    maxPolls: integer("--max-polls", values["max-polls"], 1, 1_000),
    retryInterval: number("--retry-interval", values["retry-interval"], 0, 1_000),
    ...(values["cpu-share"] === undefined ? {} : { cpuShare: number("--cpu-share", values["cpu-share"], 0.01, 1) }),
    log: (line) => void io.stderr.write(`${line}\n`),
  });
  io.stdout.write(values.json ? `${JSON.stringify(report)}\n` : clusterTable(report));
  const sound = report.runs.every((r) => r.lost === 0 && r.duplicated === 0 && r.wrong === 0);
  if (!values.json) io.stdout.write(`Every job completed exactly once with the right value: ${sound ? "yes" : "NO"}\n`);
  return sound ? 0 : 4;
}

/** --service exp, or pareto with --alpha (default 1) and --span (default 1000). */
function clusterService(v: { service: string; alpha?: string | undefined; span?: string | undefined }): ClusterService {
  if (v.service !== "exp" && v.service !== "pareto") throw new UsageError(`--service must be exp or pareto, got "${v.service}"`);
  if (v.service === "exp") {
    if (v.alpha !== undefined || v.span !== undefined) throw new UsageError("--alpha and --span apply only to --service pareto");
    return { kind: "exp" };
  }
  return {
    kind: "pareto",
    alpha: v.alpha === undefined ? 1 : number("--alpha", v.alpha, 0.09, 10.01),
    span: v.span === undefined ? 1000 : number("--span", v.span, 1, 1e9),
  };
}

function integer(name: string, text: string, min: number, max: number): number {
  const n = Number(text.replaceAll("_", ""));
  if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be an integer in ${min}..${max}, got "${text}"`);
  return n;
}

/** A number in the open interval (min, max). */
function number(name: string, text: string, min: number, max: number): number {
  const x = Number(text);
  if (text.trim() === "" || !(x > min && x < max))
    throw new UsageError(`${name} must be a number between ${min} and ${max} (exclusive), got "${text}"`);
  return x;
}
