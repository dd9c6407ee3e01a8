// Mean-field (N → ∞) models of the single-threshold policies of Eager, Lazowska & Zahorjan with
// zero costs: every node is a birth–death chain on its queue length k (jobs, the one in service
// included; μ = 1, external arrivals λ = load), coupled to the others only through the fraction of
// nodes below / at or above T. docs/load-sharing.md derives it; the simulator is checked against it.

import { FerryError } from "../errors.js";
import type { SingleThresholdKind } from "./policy-options.js";

export interface MeanFieldOptions {
  kind: SingleThresholdKind;
  /** Per-node arrival rate λ, in (0, 1). */
  load: number;
  /** T, an integer ≥ 1. */
  threshold: number;
  /** Lp, polls per round, an integer ≥ 0 (0: no sharing, M/M/1). */
  polls: number;
}

export interface MeanFieldResult {
  /** Mean response time E[K]/λ (Little's law). */
  meanResponse: number;
  /** E[K], jobs per node. */
  meanJobs: number;
  /** π_k, the stationary fraction of nodes with k jobs (truncated where it is below 1e-17). */
  distribution: Float64Array;
  /** Jobs moved per job arriving (R/λ for the sender, G/λ for the receiver). */
  movedPerJob: number;
  /** Fixed-point iterations used. */
  iterations: number;
}

const MAX_ITERATIONS = 100_000;
const TOLERANCE = 1e-13;
/** Longest chain kept: at λ < 1 the tail is geometric, so this is reached only very close to 1. */
const MAX_LENGTH = 1_000_000;

/**
 * Sender (Threshold(T, Lp)): with p = Σ_{j<T} π_j, an arrival at k ≥ T − 1 stays with probability
 * (1 − p)^Lp; the moved ones, R = λ·Σ_{k≥T−1} π_k·(1 − (1 − p)^Lp) per node, land uniformly on the
 * nodes below T (R/p each). up_k = λ + R/p (k < T − 1), λ(1 − p)^Lp + R/p (k = T − 1), λ(1 − p)^Lp
 * (k ≥ T); down = μ.
 * Receiver(T, Lp): with s = Σ_{k≥T} π_k, a completion that leaves a node below T (from 1 ≤ k ≤ T)
 * takes a job with probability 1 − (1 − s)^Lp, so the node stays at k; each donor (k ≥ T) loses jobs
 * at G/s, G = μ·Σ_{1≤k≤T} π_k·(1 − (1 − s)^Lp). up = λ; down_k = μ(1 − s)^Lp (1 ≤ k < T),
 * μ(1 − s)^Lp + G/s (k = T), μ + G/s (k > T).
 * Solved by damped iteration on π from M/M/1 until no π_k moves by more than 1e-13.
 */
export function elzMeanField(o: MeanFieldOptions): MeanFieldResult {
  const { kind, load: lambda, threshold: t, polls } = o;
  if (kind !== "elz-sender" && kind !== "elz-receiver") {
    throw new FerryError("invalid_option", `\`kind\` must be elz-sender or elz-receiver, got "${String(kind)}"`);
  }
  if (!(lambda > 0 && lambda < 1)) throw new FerryError("invalid_option", `\`load\` must be in (0, 1), got ${lambda}`);
  if (!Number.isInteger(t) || t < 1) throw new FerryError("invalid_option", `\`threshold\` must be an integer ≥ 1, got ${t}`);
  if (!Number.isInteger(polls) || polls < 0) throw new FerryError("invalid_option", `\`polls\` must be an integer ≥ 0, got ${polls}`);
  const step = kind === "elz-sender" ? senderChain : receiverChain;
  let pi = mm1(lambda);
  for (let i = 1; i <= MAX_ITERATIONS; i++) {
    const { next, moved } = step(pi, lambda, t, polls);
    let diff = 0;
    const n = Math.max(pi.length, next.length);
    const mixed = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const a = pi[k] ?? 0;
      const b = next[k] ?? 0;
      diff = Math.max(diff, Math.abs(a - b));
      mixed[k] = 0.5 * (a + b);
    }
    if (diff < TOLERANCE) {
      let meanJobs = 0;
      for (let k = 0; k < next.length; k++) meanJobs += k * next[k]!;
      return { meanResponse: meanJobs / lambda, meanJobs, distribution: next, movedPerJob: moved / lambda, iterations: i };
    }
    pi = mixed;
  }
  throw new FerryError("invalid_option", `mean field of ${kind} at load ${lambda}, T ${t}, Lp ${polls} did not converge`);
}

interface Step {
  next: Float64Array;
  /** Jobs moved per node per time unit under the π the step started from. */
  moved: number;
}

function senderChain(pi: Float64Array, lambda: number, t: number, polls: number): Step {
  let p = 0;
  for (let j = 0; j < t; j++) p += pi[j] ?? 0;
  const stay = (1 - p) ** polls;
  let atOrAbove = 0; // Σ_{k ≥ T−1} π_k
  for (let k = t - 1; k < pi.length; k++) atOrAbove += pi[k]!;
  const moved = lambda * atOrAbove * (1 - stay);
  const landing = p > 0 ? moved / p : 0;
  const up = (k: number): number => (k < t - 1 ? lambda + landing : k === t - 1 ? lambda * stay + landing : lambda * stay);
  return { next: birthDeath(up, () => 1, t), moved };
}

function receiverChain(pi: Float64Array, lambda: number, t: number, polls: number): Step {
  let below = 0;
  for (let k = 0; k < t; k++) below += pi[k] ?? 0;
  const s = Math.max(0, 1 - below);
  const miss = (1 - s) ** polls;
  let low = 0; // Σ_{1≤k≤T} π_k
  for (let k = 1; k <= t; k++) low += pi[k] ?? 0;
  const moved = low * (1 - miss);
  const lose = s > 0 ? moved / s : 0;
  const down = (k: number): number => (k < t ? miss : k === t ? miss + lose : 1 + lose);
  return { next: birthDeath(() => lambda, down, t), moved };
}

/** Stationary distribution of a birth–death chain by detailed balance, normalised, cut where negligible. */
function birthDeath(up: (k: number) => number, down: (k: number) => number, t: number): Float64Array {
  const terms: number[] = [1];
  let sum = 1;
  let x = 1;
  for (let k = 0; k < MAX_LENGTH; k++) {
    x = (x * up(k)) / down(k + 1);
    terms.push(x);
    sum += x;
    if (k > t + 1 && x < 1e-17 * sum) break;
  }
  const out = new Float64Array(terms.length);
  for (let k = 0; k < terms.length; k++) out[k] = terms[k]! / sum;
  return out;
}

function mm1(lambda: number): Float64Array {
  return birthDeath(
    () => lambda,
    () => 1,
    0,
  );
}
