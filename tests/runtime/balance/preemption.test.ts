// The migration rules: H-B&D's age criterion, and which job placement and preemption pick.
import { describe, expect, it } from "vitest";
import { chooseMigrant, NEW_JOB_AGE, preemptionAge } from "../../../runtime/balance/index.js";

describe("preemptionAge", () => {
  it("is the cost over the jobs the migrant stops sharing with, net of the receiver's", () => {
    expect(preemptionAge(0.8, 3, 0)).toBeCloseTo(0.4, 12); // two others at the source, none at the target
    expect(preemptionAge(0.8, 5, 1)).toBeCloseTo(0.8 / 3, 12);
    expect(preemptionAge(0.8, 2, 1)).toBe(Infinity); // the target is as loaded as the source without it
  });

  it("rejects negative or NaN inputs with a typed error", () => {
    expect(() => preemptionAge(-1, 3, 0)).toThrow(expect.objectContaining({ code: "invalid_option" }));
    expect(() => preemptionAge(1, Number.NaN, 0)).toThrow(expect.objectContaining({ code: "invalid_option" }));
  });
});

describe("chooseMigrant", () => {
  const young = { age: NEW_JOB_AGE / 2, moved: false };
  it("placement sends the newest job that is new and never moved, weakly; nothing else", () => {
    expect(chooseMigrant("placement", [{ age: 5, moved: false }, young, { age: 0.5, moved: false }], 0.8, 0)).toEqual({
      index: 1,
      mode: "weak",
    });
    expect(
      chooseMigrant(
        "placement",
        [
          { age: 0, moved: true },
          { age: 5, moved: false },
        ],
        0.8,
        0,
      ),
    ).toEqual({ index: -1, mode: "none" });
  });

  it("preemptive sends the oldest job past the criterion, strongly; else falls back to placement", () => {
    const jobs = [{ age: 0.5, moved: false }, { age: 3, moved: true }, young];
    expect(chooseMigrant("preemptive", jobs, 0.8, 0)).toEqual({ index: 1, mode: "strong" });
    // Cost 8 over 2 others: 4 needed, nobody is that old: the new job goes weakly.
    expect(chooseMigrant("preemptive", jobs, 8, 0)).toEqual({ index: 2, mode: "weak" });
  });
});
