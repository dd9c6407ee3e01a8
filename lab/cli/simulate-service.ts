// `ferry simulate --service exp|h2|pareto` with its parameters (--scv for H2, --alpha and --span
// for the bounded Pareto): parsed into a service distribution, every refusal a usage error (status
// 2) naming the option.

import { FerryError } from "../../runtime/light.js";
import { UsageError } from "../../server/cli/usage.js";
import { type ServiceDistribution, type ServiceKind, type ServiceSpec, serviceFromSpec } from "../sim/distributions.js";

export interface ServiceValues {
  service: string;
  scv?: string | undefined;
  alpha?: string | undefined;
  span?: string | undefined;
}

/** The names --service takes; h2 is hyperexp. */
const SERVICE_NAMES: Record<string, ServiceKind> = { exp: "exp", h2: "hyperexp", hyperexp: "hyperexp", pareto: "pareto" };

export function parseService(v: ServiceValues): { kind: ServiceKind; distribution: ServiceDistribution } {
  const kind = SERVICE_NAMES[v.service];
  if (kind === undefined) throw new UsageError(`--service must be one of exp, h2, pareto, got "${v.service}"`);
  if (v.scv !== undefined && kind !== "hyperexp") throw new UsageError("--scv applies only to --service h2");
  if (v.alpha !== undefined && kind !== "pareto") throw new UsageError("--alpha applies only to --service pareto");
  if (v.span !== undefined && kind !== "pareto") throw new UsageError("--span applies only to --service pareto");
  const spec: ServiceSpec = { kind };
  if (v.scv !== undefined) spec.scv = number("--scv", v.scv, 1, 10_000, "a squared coefficient of variation C² in 1..10000");
  if (v.alpha !== undefined) spec.alpha = number("--alpha", v.alpha, 0.1, 10, "a tail index in 0.1..10");
  if (v.span !== undefined) spec.span = number("--span", v.span, 1.01, 1e12, "the largest ÷ smallest job, in 1.01..1e12");
  try {
    return { kind, distribution: serviceFromSpec(spec) };
  } catch (e) {
    if (e instanceof FerryError && e.code === "invalid_option") throw new UsageError(`--service ${v.service}: ${e.detail ?? e.message}`);
    throw e;
  }
}

function number(name: string, text: string, min: number, max: number, what: string): number {
  const x = Number(text);
  if (text.trim() === "" || !(x >= min && x <= max)) throw new UsageError(`${name} must be ${what}, got "${text}"`);
  return x;
}
