// A guest built without Asyncify cannot pause: when a slice's fuel runs out it gets grace slices,
// each four times the last, and runs on. Whatever the slice it was started with, it ends with the
// value and the fuel of an unsliced run, and its fuel limit still traps it.
import { afterAll, describe, expect, it } from "vitest";
import { Engine } from "../../../runtime/index.js";
import { LOOP_AND_RECURSION } from "../../helpers/fixtures.js";

const engine = new Engine({ metering: true, asyncify: false });
afterAll(() => engine.close());

describe("a guest without Asyncify", () => {
  it("runs to the same value and fuel through growing grace slices, from any first slice", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const whole = await (await engine.instantiate(m)).run("main", [200_000]);
    expect(whole.status).toBe("done");
    for (const fuel of [1, 7, 1_000, 20_000]) {
      const sliced = await (await engine.instantiate(m)).run("main", [200_000], { fuel });
      expect(sliced).toEqual(whole);
    }
  });

  it("traps out_of_fuel at its limit however large the grace has grown", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const whole = await (await engine.instantiate(m)).run("main", [200_000]);
    const limit = whole.fuelUsed - 1;
    const capped = await (await engine.instantiate(m)).run("main", [200_000], { fuel: 10, fuelLimit: limit });
    expect(capped).toMatchObject({ status: "trapped", code: "out_of_fuel" });
    // Charged up to the check that found the limit passed (a region's cost at most past it).
    expect(capped.fuelUsed).toBeGreaterThanOrEqual(limit);
    expect(capped.fuelUsed).toBeLessThanOrEqual(whole.fuelUsed);
  });
});
