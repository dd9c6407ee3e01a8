// The cost model: queued jobs move weakly; the running job moves strongly only when it is expected
// to run long enough, with enough jobs behind it, to pay for shipping its snapshot.
import { describe, expect, it } from "vitest";
import { chooseMove, estimateRemainingWork, transferDelay, type LinkCost } from "../../../runtime/balance/migration-cost.js";

const link: LinkCost = { latency: 0.01, bytesPerTime: 1_000_000, cpuPerTransfer: 0.01, cpuPerByte: 0 };

describe("migration cost model", () => {
  it("transfer delay is latency + bytes/rate + CPU on both sides", () => {
    expect(transferDelay(500_000, link)).toBeCloseTo(0.01 + 0.5 + 0.02, 12);
  });

  it("moves the last queued job weakly when the target is idle and the wait here is long", () => {
    expect(
      chooseMove({ queued: 3, weakBytes: 1000, localWait: 3, targetWait: 0, running: { snapshotBytes: 1e6, remainingWork: 1 } }, link),
    ).toMatchObject({ mode: "weak" });
  });

  it("moves nothing when the target would make the job wait as long", () => {
    expect(chooseMove({ queued: 1, weakBytes: 1000, localWait: 0.5, targetWait: 0.6 }, link)).toEqual({ mode: "none" });
    expect(
      chooseMove({ queued: 0, weakBytes: 1000, localWait: 0, targetWait: 0, running: { snapshotBytes: 1000, remainingWork: 50 } }, link),
    ).toEqual({ mode: "none" });
  });

  it("moves the running job strongly when it is expected to run long and jobs wait behind it", () => {
    const d = chooseMove(
      { queued: 2, weakBytes: 1000, localWait: 20, targetWait: 0, running: { snapshotBytes: 1e6, remainingWork: 19 } },
      link,
    );
    expect(d.mode).toBe("strong"); // 2 × 19 − 1.03 > 20 − 0.03
  });

  it("estimates remaining work: the mean for exponential lifetimes, growing with age for Pareto", () => {
    expect(estimateRemainingWork(100, { kind: "exponential", mean: 1 })).toBe(1);
    const pareto = { kind: "pareto", alpha: 1.5, min: 0.1, max: 1000 } as const;
    expect(estimateRemainingWork(0, pareto)).toBeCloseTo(0.3, 12); // E[X] = α·min/(α − 1)
    expect(estimateRemainingWork(10, pareto)).toBeCloseTo(20, 12); // age/(α − 1)
    expect(estimateRemainingWork(999, pareto)).toBe(1); // capped by the bound
  });
});
