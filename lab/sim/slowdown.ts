// Percentiles of measured samples (response times, slowdowns), shared by both simulators' reports.

/** The q-quantile (0 < q ≤ 1) of `samples` by the nearest-rank rule; sorts `samples` in place. NaN when empty. */
export function percentile(samples: Float64Array, q: number): number {
  const n = samples.length;
  if (n === 0) return NaN;
  samples.sort();
  return samples[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
}
