// The simulator against queueing theory, within 3% at loads 0.5, 0.8 and 0.9: no sharing is
// M/M/1, a central queue is M/M/c, join-the-shortest-of-2 over many nodes is the supermarket model.
// Each estimate averages several seeds after a 10% warm-up; heavier loads get more jobs because
// the variance of a queue's mean response time grows like 1/(1 − ρ)^4.
import { describe, expect, it } from "vitest";
import { mg1MeanResponse, mm1MeanResponse, mmcMeanResponse, supermarketMeanResponse } from "../../../runtime/balance/queueing.js";
import type { SimOptions } from "../../../lab/sim/sim-config.js";
import { simulate } from "../../../lab/sim/simulator.js";

const LOADS = [0.5, 0.8, 0.9] as const;
const TOLERANCE = 0.03;

/** Mean response over `seeds` independent runs; also checks that every job completed exactly once. */
function estimate(o: Omit<SimOptions, "seed">, seeds: number): number {
  let sum = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const r = simulate({ ...o, seed, percentiles: false });
    expect(r).toMatchObject({ lost: 0, duplicated: 0, completed: o.jobs });
    sum += r.meanResponse;
  }
  return sum / seeds;
}

const relativeError = (simulated: number, exact: number): number => Math.abs(simulated / exact - 1);

describe("simulator against closed forms", () => {
  it.each(LOADS)("no sharing matches M/M/1 at load %s", (load) => {
    const seeds = load === 0.9 ? 8 : load === 0.8 ? 4 : 2;
    const sim = estimate({ nodes: 20, load, jobs: 1_000_000, policy: { kind: "none" } }, seeds);
    expect(relativeError(sim, mm1MeanResponse(load))).toBeLessThan(TOLERANCE);
  });

  it.each(LOADS)("a central queue matches M/M/20 (Erlang C) at load %s", (load) => {
    const sim = estimate({ nodes: 20, load, jobs: 300_000, dispatch: "central" }, 4);
    expect(relativeError(sim, mmcMeanResponse(20, 20 * load))).toBeLessThan(TOLERANCE);
  });

  it.each(LOADS)("join-the-shortest-of-2 over 500 nodes matches the supermarket model at load %s", (load) => {
    const sim = estimate({ nodes: 500, load, jobs: 300_000, dispatch: "shortest-of-d", d: 2 }, 4);
    expect(relativeError(sim, supermarketMeanResponse(load))).toBeLessThan(TOLERANCE);
  });

  it("heavier-tailed service (hyperexponential, SCV 4) matches M/G/1 at load 0.5", () => {
    const sim = estimate({ nodes: 20, load: 0.5, jobs: 1_000_000, service: "hyperexp" }, 2);
    expect(relativeError(sim, mg1MeanResponse(0.5, 1, 5))).toBeLessThan(TOLERANCE);
  });

  it("a seed reproduces a run exactly", () => {
    const o: SimOptions = { nodes: 10, load: 0.8, jobs: 50_000, seed: 11, policy: { kind: "symmetric" } };
    expect(simulate(o)).toEqual(simulate(o));
  });
});
