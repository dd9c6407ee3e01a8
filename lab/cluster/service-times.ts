// The spin jobs' service times in `ferry cluster`: exponential (the default), or the bounded Pareto
// of the heavy-tail experiment (lab/sim/distributions.ts) scaled to the mean service time.

import type { LifetimeModel, Rng } from "../../runtime/balance/index.js";
import { boundedPareto, exponential } from "../sim/distributions.js";

export type ClusterService = { kind: "exp" } | { kind: "pareto"; alpha: number; span: number };

/** A sampler of service times in ms with mean `meanMs`. */
export function serviceSampler(s: ClusterService, meanMs: number): (rng: Rng) => number {
  const d = s.kind === "pareto" ? boundedPareto(s.alpha, s.span) : exponential();
  return (rng) => d.sample(rng) * meanMs;
}

/** What the nodes are told of the lifetimes, ms: the Pareto tail for Pareto jobs (so ages predict), else undefined (exponential with the observed mean). */
export function serviceLifetime(s: ClusterService, meanMs: number): LifetimeModel | undefined {
  if (s.kind !== "pareto") return undefined;
  const l = boundedPareto(s.alpha, s.span).lifetime;
  return l.kind === "pareto" ? { kind: "pareto", alpha: l.alpha, min: l.min * meanMs, max: l.max * meanMs } : undefined;
}

export function serviceText(s: ClusterService): string {
  return s.kind === "pareto" ? `bounded Pareto α ${s.alpha} span ${s.span}` : "exp";
}
