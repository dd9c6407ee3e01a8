// `ferry simulate`'s policy knobs (--threshold, --upper/--lower, --max-polls, --retry, --costs):
// parsed, checked against the policies they apply to, and each run's options validated before the
// sweep starts, every refusal a usage error (status 2) naming the option.

import { readFileSync } from "node:fs";
import { isSingleThreshold, normalizePolicyOptions, type PolicyKind, type PolicyOptions } from "../../runtime/balance/index.js";
import { FerryError } from "../../runtime/light.js";
import { UsageError } from "../../server/cli/usage.js";
import { COSTLY_SIM_COSTS, DEFAULT_SIM_COSTS, normalizeSimOptions, type SimCosts, ZERO_SIM_COSTS } from "../sim/sim-config.js";

export interface KnobValues {
  threshold?: string | undefined;
  upper?: string | undefined;
  lower?: string | undefined;
  "max-polls"?: string | undefined;
  retry?: string | undefined;
  costs?: string | undefined;
  "no-probe-limit"?: boolean | undefined;
}

export interface Knobs {
  /** Shared by every policy; maxPolls is the first --max-polls value. */
  policy: Omit<PolicyOptions, "kind">;
  /** Every --max-polls value (several only with --mean-field). */
  polls: number[];
  costs: SimCosts;
  costsName: string;
}

const TWO_THRESHOLD: readonly PolicyKind[] = ["sender", "receiver", "symmetric", "adaptive"];

export function parseKnobs(values: KnobValues, policies: readonly PolicyKind[]): Knobs {
  const single = policies.some(isSingleThreshold);
  const two = policies.some((p) => TWO_THRESHOLD.includes(p));
  const only = (flag: string, given: unknown, applies: boolean, which: string): void => {
    if (given !== undefined && !applies) throw new UsageError(`${flag} applies only to ${which}, and --policies has none`);
  };
  only("--threshold", values.threshold, single, "elz-sender and elz-receiver");
  only("--upper", values.upper, two || policies.includes("none"), "the two-threshold policies");
  only("--lower", values.lower, two || policies.includes("none"), "the two-threshold policies");
  only("--retry", values.retry, two, "sender, receiver, symmetric and adaptive (D)");
  if (values["no-probe-limit"] && (values["max-polls"] !== undefined || values.retry !== undefined)) {
    throw new UsageError("--no-probe-limit sets MAX = ∞ and D = 0: give it without --max-polls and --retry");
  }
  const policy: Omit<PolicyOptions, "kind"> = {};
  if (values.threshold !== undefined) policy.threshold = integer("--threshold", values.threshold, 2, 1_000);
  if (values.upper !== undefined) policy.upper = integer("--upper", values.upper, 0, 1_000);
  if (values.lower !== undefined) policy.lower = integer("--lower", values.lower, 0, 1_000);
  const polls = (values["max-polls"] ?? "").split(",").filter((s) => s.trim() !== "");
  const pollList = polls.map((s) => integer("--max-polls", s.trim(), 1, 1_000));
  if (pollList.length > 0) policy.maxPolls = pollList[0]!;
  if (values.retry !== undefined) {
    const d = Number(values.retry);
    if (values.retry.trim() === "" || !(d > 0) || !Number.isFinite(d))
      throw new UsageError(`--retry (D) must be a number > 0 of mean service times, got "${values.retry}"`);
    policy.retryInterval = d;
  }
  const { costs, name } = parseCosts(values.costs ?? "default");
  return { policy, polls: [...new Set(pollList)], costs, costsName: name };
}

/** zero, default, costly, or a JSON file of some of the cost fields (the rest default). */
function parseCosts(text: string): { costs: SimCosts; name: string } {
  if (text === "zero") return { costs: { ...ZERO_SIM_COSTS }, name: "zero costs" };
  if (text === "default") return { costs: { ...DEFAULT_SIM_COSTS }, name: "default costs" };
  if (text === "costly") return { costs: { ...COSTLY_SIM_COSTS }, name: "costly moves" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(text, "utf8"));
  } catch (e) {
    throw new UsageError(`--costs ${text}: not zero, default, costly or a readable JSON file: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new UsageError(`--costs ${text}: the file must hold a JSON object of cost fields`);
  const costs: SimCosts = { ...DEFAULT_SIM_COSTS };
  for (const [key, v] of Object.entries(parsed)) {
    if (!Object.hasOwn(DEFAULT_SIM_COSTS, key))
      throw new UsageError(`--costs ${text}: unknown field "${key}" (one of ${Object.keys(DEFAULT_SIM_COSTS).join(", ")})`);
    if (typeof v !== "number") throw new UsageError(`--costs ${text}: "${key}" must be a number`);
    costs[key as keyof SimCosts] = v;
  }
  return { costs, name: `costs from ${text}` };
}

const FLAG_OF: Record<string, string> = {
  upper: "--upper/--lower",
  lower: "--upper/--lower",
  threshold: "--threshold",
  maxPolls: "--max-polls",
  retryInterval: "--retry",
  "costs.": "--costs",
};

/** Validate one run's options as the sweep will build them; a refusal names the command-line option. */
export function checkRun(
  kind: PolicyKind,
  policy: Omit<PolicyOptions, "kind">,
  costs: SimCosts,
  nodes: number,
  noProbeLimit: boolean,
): void {
  const options: PolicyOptions = { ...policy, kind, ...(noProbeLimit ? { maxPolls: Infinity, retryInterval: 0 } : {}) };
  try {
    normalizePolicyOptions(options);
    normalizeSimOptions({ nodes, load: 0.5, jobs: 1, policy: options, costs });
  } catch (e) {
    if (!(e instanceof FerryError) || e.code !== "invalid_option") throw e;
    const detail = e.detail ?? e.message;
    const named = Object.keys(FLAG_OF).find((k) => detail.startsWith(`\`${k}`));
    const flag = named ? FLAG_OF[named]! : noProbeLimit ? "--no-probe-limit" : "--policies";
    throw new UsageError(`${flag}: ${kind}: ${detail}`);
  }
}

function integer(name: string, text: string, min: number, max: number): number {
  const n = Number(text.replaceAll("_", ""));
  if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be an integer in ${min}..${max}, got "${text}"`);
  return n;
}
