// Durability of running jobs: a paused job's snapshot goes to the store (pausing writes one), and a
// periodic round pauses each running job briefly, snapshots it and lets it go on, so a restart
// resumes every job from its last checkpoint. (Incremental checkpoints are issue 13's.)

import { encodeSnapshot } from "../../runtime/index.js";
import type { JobRunner } from "./job-runner.js";
import type { LiveJob } from "./live-job.js";

/** What one periodic checkpoint round did. */
export interface CheckpointRound {
  /** Jobs checkpointed in this round. */
  checkpointed: string[];
  /** Running jobs it could not checkpoint (still pausing after the wait, or a previous attempt still under way): tried again next round. */
  deferred: string[];
  /** True when another round was still under way: rounds never overlap, so this one did nothing. */
  skipped: boolean;
}

export class Checkpoints {
  /** The checkpoint round under way, if any: a round never starts while another runs. */
  private round: Promise<CheckpointRound> | undefined;

  constructor(
    private readonly runner: JobRunner,
    /** Whether the node is closing: a round stops between jobs. */
    private readonly closing: () => boolean,
  ) {}

  /** Snapshot a paused job into the store. */
  async write(job: LiveJob): Promise<void> {
    const snapshot = await job.snapshot();
    this.runner.store.checkpoints.add(job.id, encodeSnapshot(snapshot), { fuel: job.instance!.fuelUsed, expectEpoch: job.record.epoch });
    this.runner.counters.checkpoints++;
  }

  /**
   * The periodic checkpoint round: pause each running job briefly, snapshot it, let it go on. One
   * job at a time (one snapshot in memory at once), each waited for at most checkpointJobTimeoutMs:
   * a job that does not pause by then (a slice that does not end) is left to finish its attempt
   * on its own and deferred — skipped by later rounds while that attempt is under way — so one slow
   * or stuck job never holds up the others' checkpoints. Rounds never overlap: one asked for while
   * another runs does nothing (`skipped`).
   */
  runRound(): Promise<CheckpointRound> {
    if (this.round !== undefined) {
      this.runner.counters.checkpointRoundsSkipped++;
      return Promise.resolve({ checkpointed: [], deferred: [], skipped: true });
    }
    const round = this.checkpointAll().finally(() => {
      this.round = undefined;
    });
    this.round = round;
    return round;
  }

  private async checkpointAll(): Promise<CheckpointRound> {
    const report: CheckpointRound = { checkpointed: [], deferred: [], skipped: false };
    for (const job of [...this.runner.live.values()]) {
      if (this.closing()) break;
      if (job.record.state !== "running" || !job.scheduled) continue;
      if (job.checkpointing) {
        report.deferred.push(job.id); // the previous round's attempt still waits for it to pause
        continue;
      }
      const attempt = job
        .exclusive(() => this.checkpointRunning(job))
        .catch(() => false) // a failed checkpoint leaves the previous one; the job goes on
        .finally(() => {
          job.checkpointing = undefined;
        });
      job.checkpointing = attempt;
      const done = await within(attempt, this.runner.limits.checkpointJobTimeoutMs);
      if (done === undefined) report.deferred.push(job.id);
      else if (done) report.checkpointed.push(job.id);
    }
    this.runner.counters.checkpointsDeferred += report.deferred.length;
    return report;
  }

  /** Under the job's lock: pause it, snapshot it, let it go on. False if it was not running to the end. */
  private async checkpointRunning(job: LiveJob): Promise<boolean> {
    if (job.record.state !== "running" || !job.scheduled || !this.runner.live.has(job.id)) return false;
    const r = await job.scheduled.pause();
    if (r.status !== "paused" || job.instance?.state !== "paused") {
      // It finished (or was cancelled) while we asked; the runner's watch records the end.
      return false;
    }
    await this.write(job);
    this.runner.update(job, { fuelUsed: r.fuelUsed });
    this.runner.run(job);
    return true;
  }
}

/** True when `p` settles true within `ms`, false when it settles false, undefined if the time runs out first. */
async function within(p: Promise<boolean>, ms: number): Promise<boolean | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
