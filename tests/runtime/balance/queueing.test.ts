// Closed forms the simulator is validated against, checked against textbook values.
import { describe, expect, it } from "vitest";
import { erlangC, mg1MeanResponse, mm1MeanResponse, mmcMeanResponse, supermarketMeanResponse } from "../../../runtime/balance/queueing.js";
import { isFerryError } from "../../../runtime/errors.js";

/** Erlang C straight from its definition, as an independent check of the recursion. */
function erlangCDirect(c: number, a: number): number {
  let sum = 0;
  let term = 1;
  for (let k = 0; k < c; k++) {
    sum += term;
    term *= a / (k + 1);
  }
  const top = (term * c) / (c - a); // a^c/c! · c/(c − a)
  return top / (sum + top);
}

describe("queueing closed forms", () => {
  it("M/M/1 mean response is 1/(μ − λ)", () => {
    expect(mm1MeanResponse(0.5)).toBeCloseTo(2, 12);
    expect(mm1MeanResponse(0.9)).toBeCloseTo(10, 12);
    expect(mm1MeanResponse(1, 4)).toBeCloseTo(1 / 3, 12);
  });

  it("Erlang C matches known values and the direct formula", () => {
    expect(erlangC(1, 0.7)).toBeCloseTo(0.7, 12); // M/M/1: P(wait) = ρ
    expect(erlangC(2, 1)).toBeCloseTo(1 / 3, 12);
    for (const [c, a] of [
      [5, 4],
      [20, 18],
      [20, 10],
      [100, 95],
    ] as const)
      expect(erlangC(c, a)).toBeCloseTo(erlangCDirect(c, a), 10);
  });

  it("M/M/c mean response reduces to M/M/1 for c = 1 and matches M/M/2 by hand", () => {
    expect(mmcMeanResponse(1, 0.8)).toBeCloseTo(5, 12);
    expect(mmcMeanResponse(2, 1)).toBeCloseTo(4 / 3, 12); // C = 1/3, Wq = C/(2 − 1)
  });

  it("supermarket model sums λ^(2^i − 2)", () => {
    expect(supermarketMeanResponse(0.5)).toBeCloseTo(1 + 0.5 ** 2 + 0.5 ** 6 + 0.5 ** 14 + 0.5 ** 30, 12);
    expect(supermarketMeanResponse(0.9)).toBeCloseTo(2.614, 3);
    // d = 3: Σ λ^((3^i − 3)/2) = 1 + λ^3 + λ^12 + ...
    expect(supermarketMeanResponse(0.5, 3)).toBeCloseTo(1 + 0.5 ** 3 + 0.5 ** 12 + 0.5 ** 39, 12);
  });

  it("M/G/1 (Pollaczek–Khinchine) equals M/M/1 for exponential service", () => {
    expect(mg1MeanResponse(0.8, 1, 2)).toBeCloseTo(5, 12);
    expect(mg1MeanResponse(0.5, 1, 1)).toBeCloseTo(1.5, 12); // M/D/1
  });

  it("rejects unstable or meaningless parameters with invalid_option", () => {
    for (const f of [
      () => mm1MeanResponse(1),
      () => mmcMeanResponse(4, 4),
      () => erlangC(0, 0.5),
      () => supermarketMeanResponse(1.2),
      () => supermarketMeanResponse(0.5, 1),
    ]) {
      let caught: unknown;
      try {
        f();
      } catch (e) {
        caught = e;
      }
      expect(isFerryError(caught, "invalid_option")).toBe(true);
    }
  });
});
