// The live pick by a migration rule (pick.ts): placement moves the newest queued job weakly, never
// the running one; preemptive moves the running job strongly once its age passes the criterion.
import { describe, expect, it } from "vitest";
import { liveMigration, type PickInput, pickJob } from "../../../server/balance/pick.js";

const base: PickInput = {
  queued: ["q1", "q2", "q3"],
  oldest: { id: "r", ageMs: 1000 },
  lifetime: { kind: "exponential", mean: 100 },
  meanServiceMs: 100,
  snapshotBytes: 256 * 1024,
  latencyMs: 1,
  transferCpuMs: 3,
  receiverLoad: 1,
};

describe("pickJob by a migration rule", () => {
  it("placement: the newest queued job, weakly, however old the running one", () => {
    expect(pickJob({ ...base, migration: "placement" })).toEqual({ jobId: "q3", mode: "weak" });
    expect(pickJob({ ...base, queued: [], migration: "placement" })).toBeUndefined();
  });

  it("preemptive: the running job strongly once its age exceeds the strong move's cost over the load difference", () => {
    expect(pickJob({ ...base, migration: "preemptive" })).toEqual({ jobId: "r", mode: "strong" });
    // A job that has hardly run is not old enough: the newest queued one goes instead.
    expect(pickJob({ ...base, oldest: { id: "r", ageMs: 1 }, migration: "preemptive" })).toEqual({ jobId: "q3", mode: "weak" });
    // A receiver as loaded as the source would be without it: no strong move pays.
    expect(pickJob({ ...base, receiverLoad: 3, migration: "preemptive" })).toEqual({ jobId: "q3", mode: "weak" });
  });

  it("the default, cost-model, is chooseMove's: with exponential lifetimes the queued job moves weakly", () => {
    expect(pickJob(base)).toEqual({ jobId: "q3", mode: "weak" });
  });

  it("rejects an unknown rule with a typed error", () => {
    expect(liveMigration(undefined)).toBe("cost-model");
    expect(liveMigration("preemptive")).toBe("preemptive");
    expect(() => liveMigration("sometimes")).toThrow(expect.objectContaining({ code: "bad_request" }));
  });
});
