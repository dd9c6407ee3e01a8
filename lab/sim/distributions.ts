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

/**
 * Bounded Pareto on [k, span·k] with tail index alpha, scaled so that its mean is 1:
 * P(X > t) ∝ t^−α between the bounds. With α = 1 it is Harchol-Balter & Downey's measured lifetime
 * shape, P(life > t) ∝ 1/t for t ≥ k; unbounded its mean would be infinite, so it stops at span·k
 * (their traces' longest processes were finite too) and its mean k·ln(span)/(1 − 1/span) exists.
 */
export function boundedPareto(alpha = DEFAULT_PARETO_ALPHA, span = DEFAULT_PARETO_SPAN): ServiceDistribution {
  if (!(alpha > 0) || !Number.isFinite(alpha) || !(span > 1) || !Number.isFinite(span)) {
    throw new FerryError("invalid_option", `bounded Pareto needs alpha > 0 and span > 1, both finite, got alpha ${alpha}, span ${span}`);
  }
  // Moments of the bounded Pareto with k = 1: E[X^m] = α/(1−p^−α) · (p^(m−α) − 1)/(m − α),
  // and α/(1−p^−α) · ln p where m = α (the limit).
  const norm = alpha / (1 - span ** -alpha);
  const moment = (m: number): number => (m === alpha ? norm * Math.log(span) : (norm * (span ** (m - alpha) - 1)) / (m - alpha));
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

/**
 * Two-phase hyperexponential (H2) with balanced means, the given mean (default 1, the simulator's
 * time unit) and squared coefficient of variation `scv` (C²).
 */
export function hyperexponential(scv = DEFAULT_HYPEREXP_SCV, mean = 1): ServiceDistribution {
  if (!(scv >= 1) || !Number.isFinite(scv)) throw new FerryError("invalid_option", `hyperexponential needs a finite scv ≥ 1, got ${scv}`);
  if (!(mean > 0) || !Number.isFinite(mean))
    throw new FerryError("invalid_option", `hyperexponential needs a finite mean > 0, got ${mean}`);
  const p = (1 + Math.sqrt((scv - 1) / (scv + 1))) / 2;
  const mean1 = mean / (2 * p);
  const mean2 = mean / (2 * (1 - p));
  return {
    kind: "hyperexp",
    mean,
    secondMoment: (scv + 1) * mean * mean,
    // The mixture's hazard falls with age like a heavy tail's; the cost model only needs a guess.
    lifetime: { kind: "exponential", mean },
    sample: (rng) => -Math.log(1 - rng.next()) * (rng.next() < p ? mean1 : mean2),
  };
}

export function serviceByName(kind: ServiceKind): ServiceDistribution {
  if (kind === "exp") return exponential();
  if (kind === "pareto") return boundedPareto();
  if (kind === "hyperexp") return hyperexponential();
  throw new FerryError("invalid_option", `\`service\` must be one of ${SERVICE_KINDS.join(", ")}, got "${String(kind)}"`);
}

/** A service distribution with its parameters, as `ferry simulate` takes it (absent ones default). */
export interface ServiceSpec {
  kind: ServiceKind;
  /** hyperexp: squared coefficient of variation C². */
  scv?: number;
  /** pareto: tail index α. */
  alpha?: number;
  /** pareto: largest ÷ smallest job. */
  span?: number;
}

export function serviceFromSpec(s: ServiceSpec): ServiceDistribution {
  if (s.kind === "pareto") return boundedPareto(s.alpha ?? DEFAULT_PARETO_ALPHA, s.span ?? DEFAULT_PARETO_SPAN);
  if (s.kind === "hyperexp") return hyperexponential(s.scv ?? DEFAULT_HYPEREXP_SCV);
  return serviceByName(s.kind);
}

/** A short label: "exp", "pareto α 1 span 1e+4", "hyperexp C² 4". */
export function serviceLabel(d: ServiceDistribution): string {
  if (d.lifetime.kind === "pareto") {
    const span = d.lifetime.max / d.lifetime.min;
    return `bounded Pareto α ${d.lifetime.alpha}, span ${span.toExponential(0)}`;
  }
  if (d.kind === "hyperexp") return `H2 C² ${(d.secondMoment / (d.mean * d.mean) - 1).toFixed(3).replace(/\.?0+$/, "")}`;
  return "exp";
}
