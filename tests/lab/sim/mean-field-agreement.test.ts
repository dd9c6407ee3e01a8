// The simulator's single-threshold policies against their mean-field models (N → ∞), with zero
// costs, 200 nodes: a few points cheaply (the full sweep is `ferry simulate --mean-field`,
// docs/load-sharing.md). Tolerance: 200 000 jobs per run put a run's mean within about ±0.6% (one
// standard deviation over 8 seeds) of the long-run mean, and 200 nodes add up to +1.5% (at load 0.9,
// Lp 3: the finite system's fluctuations of the fraction of nodes below T, which the limit lacks);
// 3% is that bias plus 2.5 standard deviations. The seeds are fixed, so the test is deterministic.
import { describe, expect, it } from "vitest";
import { modelCrossover } from "../../../lab/sim/mean-field-sweep.js";
import { ZERO_SIM_COSTS } from "../../../lab/sim/sim-config.js";
import { simulate } from "../../../lab/sim/simulator.js";
import { elzMeanField } from "../../../runtime/balance/mean-field.js";

const TOLERANCE = 0.03;
const POINTS = [
  ["elz-sender", 0.7, 1],
  ["elz-receiver", 0.7, 1],
  ["elz-sender", 0.9, 3],
  ["elz-receiver", 0.9, 3],
] as const;

describe("single-threshold policies, simulator against the mean field", () => {
  it.each(POINTS)("%s at load %s with Lp %s: mean response and jobs moved within 3%", (kind, load, polls) => {
    const r = simulate({
      nodes: 200,
      load,
      jobs: 200_000,
      seed: 1,
      policy: { kind, threshold: 2, maxPolls: polls },
      costs: ZERO_SIM_COSTS,
      percentiles: false,
    });
    expect(r).toMatchObject({ lost: 0, duplicated: 0, emptyTransfers: 0, strongTransfers: 0 });
    const m = elzMeanField({ kind, load, threshold: 2, polls });
    expect(Math.abs(r.meanResponse / m.meanResponse - 1)).toBeLessThan(TOLERANCE);
    expect(Math.abs(r.weakTransfers / r.completed / m.movedPerJob - 1)).toBeLessThan(TOLERANCE);
  });

  it("receiver-initiated overtakes sender-initiated at a load that falls as Lp grows", () => {
    const [c1, c3, c5] = [1, 3, 5].map((lp) => modelCrossover(2, lp)!);
    expect(c1).toBeGreaterThan(c3!);
    expect(c3).toBeGreaterThan(c5!);
    expect(c5).toBeGreaterThan(0.5);
  });
});
