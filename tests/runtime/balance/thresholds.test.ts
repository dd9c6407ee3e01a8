// Sender/receiver hysteresis: thresholds too close together are rejected, and a valid gap means
// moving one or two jobs never turns a sender into a receiver or back.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { READY_QUEUE, RUNNING_BLOCKED, ThroughputEwma, metricByName, throughputMetric } from "../../../runtime/balance/load-metric.js";
import { normalizePolicyOptions } from "../../../runtime/balance/policy-options.js";
import { HYSTERESIS_JOBS, roleOf, validateThresholds } from "../../../runtime/balance/thresholds.js";
import { FerryError } from "../../../runtime/errors.js";

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof FerryError ? e.code : "not a FerryError";
  }
  return undefined;
}

describe("thresholds", () => {
  it("classifies by the thresholds: ≥ upper sender, ≤ lower receiver", () => {
    const t = { lower: 0, upper: 3 };
    expect([0, 1, 2, 3, 7].map((l) => roleOf(l, t))).toEqual(["receiver", "neutral", "neutral", "sender", "sender"]);
  });

  it("rejects a gap of two jobs or less with invalid_option naming both options", () => {
    expect(codeOf(() => validateThresholds({ lower: 0, upper: 2 }, READY_QUEUE))).toBe("invalid_option");
    expect(codeOf(() => validateThresholds({ lower: 1, upper: 1 }, READY_QUEUE))).toBe("invalid_option");
    expect(codeOf(() => normalizePolicyOptions({ kind: "sender", lower: 1, upper: 3 }))).toBe("invalid_option");
    try {
      validateThresholds({ lower: 0, upper: 2 }, READY_QUEUE);
    } catch (e) {
      expect((e as FerryError).detail).toContain("`upper`");
      expect((e as FerryError).detail).toContain("`lower`");
    }
    expect(codeOf(() => validateThresholds({ lower: 0, upper: 3 }, READY_QUEUE))).toBeUndefined();
    // The gap scales with what one job means to the metric.
    expect(codeOf(() => validateThresholds({ lower: 0, upper: 0.25 }, throughputMetric(10)))).toBeUndefined();
    expect(codeOf(() => validateThresholds({ lower: 0, upper: 0.2 }, throughputMetric(10)))).toBe("invalid_option");
  });

  it("never flips sender↔receiver when one or two jobs move, for any accepted thresholds", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 20 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 40 }),
        (lower, gap, load) => {
          const t = { lower, upper: lower + gap };
          if (codeOf(() => validateThresholds(t, READY_QUEUE)) !== undefined) return gap <= HYSTERESIS_JOBS;
          for (let k = 1; k <= HYSTERESIS_JOBS; k++) {
            if (roleOf(load, t) === "sender" && roleOf(load - k, t) === "receiver") return false;
            if (roleOf(load, t) === "receiver" && roleOf(load + k, t) === "sender") return false;
          }
          return true;
        },
      ),
    );
  });
});

describe("load metrics", () => {
  const sample = { ready: 4, running: 1, blocked: 2, throughput: 0.7 };
  it("ready-queue counts waiting and running jobs, running-blocked the started ones, throughput the EWMA", () => {
    expect(READY_QUEUE.value(sample)).toBe(5);
    expect(RUNNING_BLOCKED.value(sample)).toBe(3);
    expect(metricByName("throughput", 5).value(sample)).toBe(0.7);
    expect(metricByName("throughput", 5).perJob).toBe(0.2);
  });

  it("throughput EWMA converges to a steady completion rate", () => {
    const ewma = new ThroughputEwma(10);
    for (let t = 0; t < 500; t += 0.5) ewma.record(t); // 2 per time unit
    expect(ewma.value(500)).toBeGreaterThan(1.9);
    expect(ewma.value(500)).toBeLessThan(2.2);
    expect(ewma.value(600)).toBeLessThan(0.01); // decays when nothing completes
  });
});
