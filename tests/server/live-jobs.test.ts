// LiveJobs: the node's live jobs, counting the running ones by what runs (not by every job held).
import { describe, expect, it } from "vitest";
import { LiveJob, LiveJobs } from "../../server/node/live-job.js";
import type { JobRecord } from "../../server/store/records.js";

function job(id: string, state: JobRecord["state"]): LiveJob {
  return new LiveJob({ id, state } as JobRecord);
}

describe("LiveJobs", () => {
  it("counts the live jobs in state running through state changes, removals and replacements", () => {
    const live = new LiveJobs();
    const a = job("a", "running");
    const b = job("b", "queued");
    const c = job("c", "paused");
    for (const j of [a, b, c]) live.set(j.id, j);
    expect(live.runningCount()).toBe(1);
    // b starts, c resumes (each noted after its state changed, as JobRunner.update does).
    b.record = { ...b.record, state: "running" };
    live.noteState(b);
    c.record = { ...c.record, state: "running" };
    live.noteState(c);
    expect(live.runningCount()).toBe(3);
    // a pauses, b leaves (cancelled), c is replaced by another live job of the same id that is queued.
    a.record = { ...a.record, state: "paused" };
    live.noteState(a);
    live.delete("b");
    live.set("c", job("c", "queued"));
    expect(live.runningCount()).toBe(0);
    // a runs again; the count follows.
    a.record = { ...a.record, state: "running" };
    live.noteState(a);
    expect(live.runningCount()).toBe(1);
    expect(live.size).toBe(2);
  });
});
