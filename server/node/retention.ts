// Anonymous retention: anonymous jobs keep their results (and paused ones their memory) on the
// node's disk for a while only — nobody can list them, and anyone may start them. Paused and
// finished ones untouched for anonymousTtlMs are deleted; finished ones past maxAnonymousResults go
// oldest first whenever one ends.

import { ServerError } from "../errors.js";
import { FINISHED_JOB_STATES, type JobRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import type { NodeCounters } from "./counters.js";
import type { LiveJob } from "./live-job.js";
import type { NodeLimits } from "./node-limits.js";

export class AnonymousRetention {
  constructor(
    private readonly store: Store,
    private readonly limits: NodeLimits,
    private readonly counters: NodeCounters,
    private readonly live: Map<string, LiveJob>,
  ) {}

  /** Anonymous jobs paused here now (each holds its memory). */
  pausedJobs(): number {
    let n = 0;
    for (const j of this.live.values()) if (j.record.owner === null && j.record.state === "paused") n++;
    return n;
  }

  /** Anonymous jobs live here now (their concurrency quota is the node's). */
  liveJobs(): number {
    let n = 0;
    for (const j of this.live.values()) if (j.record.owner === null) n++;
    return n;
  }

  /**
   * Delete anonymous jobs nobody has touched for anonymousTtlMs (by the store's clock): paused ones
   * (their instance is dropped) and finished ones, each with its input, output and checkpoints; then
   * the oldest finished ones past maxAnonymousResults. Their ids answer 404 from then on. Running
   * and queued jobs are never expired (their fuel bounds them).
   */
  expire(now: number): { expired: number } {
    const before = now - this.limits.anonymousTtlMs;
    let expired = 0;
    for (const job of [...this.live.values()]) {
      if (job.record.owner !== null || job.record.state !== "paused" || job.record.updatedAt > before) continue;
      job.instance?.dispose();
      this.live.delete(job.id);
      if (this.forget(job.record)) expired++;
      job.emit({ type: "state", state: "cancelled", result: { status: "expired" } });
    }
    for (;;) {
      const stale = this.store.jobs.anonymousByAge(FINISHED_JOB_STATES, { changedBefore: before + 1, limit: 256 });
      for (const record of stale) if (this.forget(record)) expired++;
      if (stale.length < 256) break;
    }
    return { expired: expired + this.evictResults() };
  }

  /**
   * Keep at most maxAnonymousResults finished anonymous jobs: the least recently changed go first
   * (never `keep`, the job that just ended). Runs whenever an anonymous job ends, so a flood of
   * short jobs never holds more than the cap between two sweeps.
   */
  evictResults(keep?: string): number {
    const over = this.store.jobs.countAnonymous(FINISHED_JOB_STATES) - this.limits.maxAnonymousResults;
    if (over <= 0) return 0;
    let evicted = 0;
    for (const record of this.store.jobs.anonymousByAge(FINISHED_JOB_STATES, { limit: over + 1 })) {
      if (evicted === over) break;
      if (record.id !== keep && this.forget(record)) evicted++;
    }
    return evicted;
  }

  /** Delete a job that is not live here, with every blob only it used; false if it changed meanwhile. */
  private forget(record: JobRecord): boolean {
    try {
      this.store.jobs.delete(record.id, { expectEpoch: record.epoch });
    } catch (e) {
      if (e instanceof ServerError && (e.code === "conflict" || e.code === "not_found")) return false;
      throw e;
    }
    this.counters.anonymousJobsExpired++;
    return true;
  }
}
