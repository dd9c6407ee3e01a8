// Service-time distributions with mean 1 (the simulator's time unit is one mean service time):
// exponential, bounded Pareto and balanced hyperexponential, each with the moments the closed
// forms need and the lifetime model the migration cost model uses to guess remaining work.

import { FerryError } from "../../runtime/light.js";
import type { LifetimeModel, Rng } from "../../runtime/balance/index.js";

export const SERVICE_KINDS = ["exp", "pareto", "hyperexp"] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];

export interface ServiceDistribution {
  readonly kind: ServiceKind;
  readonly mean: number;
  readonly secondMoment: number;
  readonly lifetime: LifetimeModel;
  sample(rng: Rng): number;
}

export function exponential(): ServiceDistribution {
  return {
    kind: "exp",
    mean: 1,
    secondMoment: 2,
    lifetime: { kind: "exponential", mean: 1 },
    sample: (rng) => -Math.log(1 - rng.next()),
  };
}

/** Default tail index of the bounded Pareto: heavy (infinite variance without the bound). */
export const DEFAULT_PARETO_ALPHA = 1.5;
/** Default ratio of the largest to the smallest job of the bounded Pareto. */
export const DEFAULT_PARETO_SPAN = 10_000;

/** Bounded Pareto on [k, span·k] with tail index alpha, scaled so that its mean is 1. */
export function boundedPareto(alpha = DEFAULT_PARETO_ALPHA, span = DEFAULT_PARETO_SPAN): ServiceDistribution {
  if (!(alpha > 0) || alpha === 1 || alpha === 2 || !(span > 1)) {
    throw new FerryError("invalid_option", `bounded Pareto needs alpha > 0 (not 1 or 2) and span > 1, got alpha ${alpha}, span ${span}`);
  }
  // Moments of the bounded Pareto with k = 1: E[X^m] = α/(1−p^−α) · (p^(m−α) − 1)/(m − α).
  const norm = alpha / (1 - span ** -alpha);
  const moment = (m: number): number => (norm * (span ** (m - alpha) - 1)) / (m - alpha);
  const k = 1 / moment(1);
  const tail = 1 - span ** -alpha;
  return {
    kind: "pareto",
    mean: 1,
    secondMoment: k * k * moment(2),
    lifetime: { kind: "pareto", alpha, min: k, max: k * span },
    sample: (rng) => k / (1 - rng.next() * tail) ** (1 / alpha),
  };
}

/** Default squared coefficient of variation of the hyperexponential. */
export const DEFAULT_HYPEREXP_SCV = 4;

/** Two-phase hyperexponential with balanced means, mean 1 and squared coefficient of variation `scv`. */
export function hyperexponential(scv = DEFAULT_HYPEREXP_SCV): ServiceDistribution {
  if (!(scv >= 1)) throw new FerryError("invalid_option", `hyperexponential needs scv ≥ 1, got ${scv}`);
  const p = (1 + Math.sqrt((scv - 1) / (scv + 1))) / 2;
  const mean1 = 1 / (2 * p);
  const mean2 = 1 / (2 * (1 - p));
  return {
    kind: "hyperexp",
    mean: 1,
    secondMoment: scv + 1,
    // The mixture's hazard falls with age like a heavy tail's; the cost model only needs a guess.
    lifetime: { kind: "exponential", mean: 1 },
    sample: (rng) => -Math.log(1 - rng.next()) * (rng.next() < p ? mean1 : mean2),
  };
}

export function serviceByName(kind: ServiceKind): ServiceDistribution {
  if (kind === "exp") return exponential();
  if (kind === "pareto") return boundedPareto();
  if (kind === "hyperexp") return hyperexponential();
  throw new FerryError("invalid_option", `\`service\` must be one of ${SERVICE_KINDS.join(", ")}, got "${String(kind)}"`);
}
