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

  it("holds no job it no longer has or that no longer runs, even when nothing asks for the count", () => {
    // A node without maxRunningJobs never asks runningCount(): the set must still let go of every
    // finished job (it kept each one, its instance and its memory's address space, until ~12,900
    // jobs later the node could not allocate Wasm memory at all).
    const live = new LiveJobs();
    for (let i = 0; i < 1000; i++) {
      const j = job(`j${i}`, "running");
      live.set(j.id, j);
      if (i % 2 === 0) {
        j.record = { ...j.record, state: "done" };
        live.noteState(j);
      }
      live.delete(j.id);
    }
    expect(live.size).toBe(0);
    expect(live.tracked).toBe(0);
    const a = job("a", "running");
    live.set("a", a);
    live.set("a", job("a", "queued"));
    expect(live.tracked).toBe(0);
    live.clear();
    expect(live.tracked).toBe(0);
  });
});
