// Durability of running jobs: a paused job's snapshot goes to the store (pausing writes one), and a
// periodic round pauses each running job briefly, captures it and lets it go on, so a restart
// resumes every job from its last checkpoint.
//
// Incremental: the job's last full checkpoint stays in memory as a base; later checkpoints are the
// pages changed since it (a delta, checkpoint-format.ts), until more than half the memory has
// changed and a new full one becomes the base. A restore reads the base and one delta, never a
// chain. A job that has used no fuel since its last checkpoint has changed nothing: the round skips
// it without pausing it. The loop only captures (the scan and copy of changed pages, while the job
// is paused); encoding, compression, hashing, writing and fsync run in a worker thread
// (SnapshotFileWriter) while the job runs on. The price: a base copy of each checkpointed job's
// memory held here.

import { applyDelta, type Snapshot, SnapshotFileWriter, snapshotStats } from "../../runtime/index.js";
import { deltaCheckpointPrefix } from "../migration/checkpoint-format.js";
import type { JobRunner } from "./job-runner.js";
import type { CheckpointBase, LiveJob } from "./live-job.js";

/** What one periodic checkpoint round did. */
export interface CheckpointRound {
  /** Jobs checkpointed in this round. */
  checkpointed: string[];
  /** Running jobs it could not checkpoint (still pausing after the wait, or a previous attempt still under way): tried again next round. */
  deferred: string[];
  /** Running jobs that used no fuel since their last checkpoint: nothing to write, not paused. */
  unchanged: string[];
  /** True when another round was still under way: rounds never overlap, so this one did nothing. */
  skipped: boolean;
}

/** A delta holding more than this share of the base's pages is written as a new full checkpoint (and base) instead. */
const REBASE_SHARE = 0.5;

export class Checkpoints {
  /** The checkpoint round under way, if any: a round never starts while another runs. */
  private round: Promise<CheckpointRound> | undefined;
  private readonly files = new SnapshotFileWriter();

  constructor(
    private readonly runner: JobRunner,
    /** Whether the node is closing: a round stops between jobs. */
    private readonly closing: () => boolean,
  ) {}

  /**
   * Checkpoint a paused job: capture it (a delta on its base when it has one), then write it off the
   * event loop and record it. The job may run again as soon as the capture is taken (`captured`).
   */
  async write(job: LiveJob, captured?: () => void): Promise<void> {
    const fuel = job.instance!.fuelUsed;
    const epoch = job.record.epoch;
    const { snapshot, base, full } = await this.capture(job);
    const segment = snapshotStats(snapshot, base?.snapshot);
    captured?.();
    try {
      const file = await this.files.write(snapshot, {
        dir: this.runner.store.blobs.incoming,
        pageTable: true, // the base's pages keep their digests: a rebase hashes only the pages that changed
        ...(base ? { prefix: deltaCheckpointPrefix(base.hash) } : {}),
      });
      await this.runner.store.checkpoints.addFile(job.id, file, {
        fuel,
        expectEpoch: epoch,
        segment,
        ...(base ? { baseHash: base.hash } : {}),
      });
      if (full) job.checkpointBase = { snapshot: full, hash: file.sha256 };
      job.checkpointFuel = fuel;
      this.runner.counters.checkpoints++;
      if (base) this.runner.counters.checkpointDeltas++;
    } catch (e) {
      job.checkpointBase = undefined; // the next one is full, whatever went wrong with this one
      throw e;
    }
  }

  /**
   * The paused job's state to write: a delta on its base (`base` set) — or, with no base, or when
   * the delta has grown past REBASE_SHARE of it, the whole (`full` set: it becomes the next base).
   */
  private async capture(job: LiveJob): Promise<{ snapshot: Snapshot; base?: CheckpointBase; full?: Snapshot }> {
    const base = job.checkpointBase;
    if (!base) {
      const whole = await job.snapshot();
      return { snapshot: whole, full: whole };
    }
    const delta = await job.snapshot({ since: base.snapshot });
    if (delta.memory.pages.length <= REBASE_SHARE * Math.max(1, base.snapshot.memory.pages.length)) return { snapshot: delta, base };
    const whole = applyDelta(base.snapshot, delta);
    return { snapshot: whole, full: whole };
  }

  /**
   * The periodic checkpoint round: pause each running job briefly, capture it, let it go on. One
   * job at a time (one capture in memory at once), each waited for at most checkpointJobTimeoutMs:
   * a job that does not pause by then (a slice that does not end) is left to finish its attempt
   * on its own and deferred — skipped by later rounds while that attempt is under way — so one slow
   * or stuck job never holds up the others' checkpoints. Rounds never overlap: one asked for while
   * another runs does nothing (`skipped`).
   */
  runRound(): Promise<CheckpointRound> {
    if (this.round !== undefined) {
      this.runner.counters.checkpointRoundsSkipped++;
      return Promise.resolve({ checkpointed: [], deferred: [], unchanged: [], skipped: true });
    }
    const round = this.checkpointAll().finally(() => {
      this.round = undefined;
    });
    this.round = round;
    return round;
  }

  /** Stop the writer (a write in flight fails; its job keeps its previous checkpoint). */
  close(): Promise<void> {
    return this.files.close();
  }

  private async checkpointAll(): Promise<CheckpointRound> {
    const report: CheckpointRound = { checkpointed: [], deferred: [], unchanged: [], skipped: false };
    const writes: Array<{ id: string; written: Promise<boolean> }> = [];
    for (const job of [...this.runner.live.values()]) {
      if (this.closing()) break;
      if (job.record.state !== "running" || !job.scheduled) continue;
      if (job.checkpointing) {
        report.deferred.push(job.id); // the previous round's attempt still waits for it to pause
        continue;
      }
      if (job.checkpointFuel !== undefined && job.instance?.fuelUsed === job.checkpointFuel) {
        report.unchanged.push(job.id);
        continue;
      }
      let captured!: () => void;
      const capture = new Promise<boolean>((resolve) => {
        captured = () => resolve(true);
      });
      const attempt = job
        .exclusive(() => this.checkpointRunning(job, captured))
        .catch(() => false) // a failed checkpoint leaves the previous one; the job goes on
        .finally(() => {
          job.checkpointing = undefined;
        });
      job.checkpointing = attempt;
      // The wait bounds the pause and the capture; the write goes on off the loop while the round
      // moves to the next job.
      const paused = await within(Promise.race([capture, attempt]), this.runner.limits.checkpointJobTimeoutMs);
      if (paused === undefined) report.deferred.push(job.id);
      else if (paused) writes.push({ id: job.id, written: attempt });
    }
    for (const w of writes) if (await w.written) report.checkpointed.push(w.id);
    this.runner.counters.checkpointsDeferred += report.deferred.length;
    this.runner.counters.checkpointsUnchanged += report.unchanged.length;
    return report;
  }

  /**
   * Under the job's lock: pause it, capture it, let it go on, then write what was captured (the lock
   * is held until the checkpoint is recorded, so no pause or migration overtakes it). False if it
   * was not running to the end.
   */
  private async checkpointRunning(job: LiveJob, captured: () => void): Promise<boolean> {
    if (job.record.state !== "running" || !job.scheduled || !this.runner.live.has(job.id)) return false;
    const r = await job.scheduled.pause();
    if (r.status !== "paused" || job.instance?.state !== "paused") {
      // It finished (or was cancelled) while we asked; the runner's watch records the end.
      return false;
    }
    let resumed = false;
    const goOn = () => {
      if (resumed) return;
      resumed = true;
      this.runner.update(job, { fuelUsed: r.fuelUsed });
      this.runner.run(job);
      captured();
    };
    try {
      await this.write(job, goOn);
    } finally {
      goOn(); // a capture that failed lets the job go on all the same
    }
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
