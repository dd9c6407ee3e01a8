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

/**
 * Past the cap, eviction goes this share of it below (at least the cap itself): one count and one
 * age query then serve the next cap/16 endings, not each one.
 */
const EVICTION_SLACK_SHARE = 1 / 16;

export class AnonymousRetention {
  /**
   * Finished anonymous jobs stored, as this node counted them since it last asked the store: exact
   * after each eviction, then one more per job that ends here. Jobs deleted another way make it
   * too high (the next ending asks the store again); the periodic sweep asks the store too.
   */
  private finishedKnown: number | undefined;

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
    return { expired: expired + this.evictToCap() };
  }

  /**
   * One more anonymous job ended (`keep`): keep at most maxAnonymousResults finished anonymous jobs,
   * the least recently changed going first (never `keep`). Runs as each ends, so a flood of short
   * jobs never holds more than the cap; past it, eviction leaves EVICTION_SLACK_SHARE of the cap
   * free, so the store is counted once per that many endings rather than at every one.
   */
  evictResults(keep?: string): number {
    if (this.finishedKnown !== undefined && ++this.finishedKnown <= this.limits.maxAnonymousResults) return 0;
    return this.evictToCap(keep);
  }

  /** Count the finished anonymous jobs in the store and, past the cap, delete the oldest down to the cap less the slack. */
  private evictToCap(keep?: string): number {
    const cap = this.limits.maxAnonymousResults;
    const count = this.store.jobs.countAnonymous(FINISHED_JOB_STATES);
    this.finishedKnown = count;
    if (count <= cap) return 0;
    const over = count - (cap - Math.floor(cap * EVICTION_SLACK_SHARE));
    const oldest = this.store.jobs
      .anonymousByAge(FINISHED_JOB_STATES, { limit: over + 1 })
      .filter((r) => r.id !== keep)
      .slice(0, over);
    const evicted = this.store.jobs.deleteMany(oldest).length;
    this.counters.anonymousJobsExpired += evicted;
    this.finishedKnown = count - evicted;
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
