// Closed forms from queueing theory that the simulator is validated against (μ = 1 unless given):
// M/M/1, M/M/c (Erlang C), M/G/1 (Pollaczek–Khinchine) and the supermarket model (JSQ(d), N → ∞).

import { FerryError } from "../errors.js";

function requireStable(lambda: number, capacity: number, what: string): void {
  if (!(lambda > 0) || !(lambda < capacity)) {
    throw new FerryError("invalid_option", `${what}: arrival rate must be in (0, ${capacity}), got ${lambda}`);
  }
}

/** M/M/1 mean response (sojourn) time 1/(μ − λ). */
export function mm1MeanResponse(lambda: number, mu = 1): number {
  requireStable(lambda, mu, "M/M/1");
  return 1 / (mu - lambda);
}

/**
 * Erlang C: probability that an arrival to an M/M/c queue with offered load a = λ/μ waits.
 * Uses the Erlang B recursion B(k) = a·B(k−1) / (k + a·B(k−1)), which is stable for large c.
 */
export function erlangC(c: number, offered: number): number {
  if (!Number.isInteger(c) || c < 1) throw new FerryError("invalid_option", `Erlang C: servers must be a positive integer, got ${c}`);
  requireStable(offered, c, "Erlang C");
  let b = 1;
  for (let k = 1; k <= c; k++) b = (offered * b) / (k + offered * b);
  const rho = offered / c;
  return b / (1 - rho * (1 - b));
}

/** M/M/c mean response time: C(c, λ/μ) / (cμ − λ) + 1/μ. `lambda` is the total arrival rate. */
export function mmcMeanResponse(c: number, lambda: number, mu = 1): number {
  requireStable(lambda, c * mu, "M/M/c");
  return erlangC(c, lambda / mu) / (c * mu - lambda) + 1 / mu;
}

/**
 * Supermarket model (Mitzenmacher; Vvedenskaya et al.): each arrival joins the shortest of d
 * random queues among infinitely many, per-queue arrival rate λ < 1, μ = 1. Mean time in system
 * Σ_{i≥1} λ^((d^i − d)/(d − 1)); for d = 2 that is Σ λ^(2^i − 2).
 */
export function supermarketMeanResponse(lambda: number, d = 2): number {
  requireStable(lambda, 1, "supermarket model");
  if (!Number.isInteger(d) || d < 2) throw new FerryError("invalid_option", `supermarket model: d must be an integer ≥ 2, got ${d}`);
  let sum = 0;
  for (let i = 1; i < 64; i++) {
    const term = lambda ** ((d ** i - d) / (d - 1));
    sum += term;
    if (term < 1e-16) break;
  }
  return sum;
}

/** M/G/1 mean response time (Pollaczek–Khinchine): E[S] + λE[S²] / (2(1 − λE[S])). */
export function mg1MeanResponse(lambda: number, meanService: number, secondMoment: number): number {
  requireStable(lambda * meanService, 1, "M/G/1");
  return meanService + (lambda * secondMoment) / (2 * (1 - lambda * meanService));
}
