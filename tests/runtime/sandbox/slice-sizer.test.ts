// SliceSizer: fuel per slice from each slice's own fuel and wall time (the scheduler passes the fuel
// of the slice alone, so a job continued after a pause or a migration is sized by its speed).
import { describe, expect, it } from "vitest";
import { SliceSizer } from "../../../runtime/sandbox/in-process/slice-sizer.js";

describe("SliceSizer", () => {
  it("grows towards the budget at the measured rate and never past it", () => {
    const sizer = new SliceSizer({ sliceBudgetMs: 4, initialSliceFuel: 20_000 });
    // 1,000 fuel per ms: the budget is about 4,000 fuel.
    for (let k = 0; k < 20; k++) sizer.observe(sizer.nextFuel(), sizer.nextFuel() / 1_000);
    expect(sizer.nextFuel()).toBeLessThanOrEqual(4_000);
    expect(sizer.nextFuel()).toBeGreaterThan(2_000);
  });

  it("ignores slices that ran nothing, or stopped early too fast to time", () => {
    const sizer = new SliceSizer({ initialSliceFuel: 20_000 });
    sizer.observe(0, 5);
    sizer.observe(5_000, 0.01);
    expect(sizer.nextFuel()).toBe(20_000);
  });

  it("grows a slice that used all its fuel too fast to time (a fast machine's first slices)", () => {
    const sizer = new SliceSizer({ initialSliceFuel: 20_000, maxSliceFuel: 1_000_000 });
    sizer.observe(20_000, 0.004);
    expect(sizer.nextFuel()).toBe(80_000);
    for (let k = 0; k < 5; k++) sizer.observe(sizer.nextFuel(), 0.004);
    expect(sizer.nextFuel()).toBe(1_000_000);
  });
});
