// What a job's owner does to a live job: pause it (a checkpoint is written), resume it, cancel it.
// Each runs under the job's lock, so it never overlaps a checkpoint or a migration of the same job.

import { ServerError } from "../errors.js";
import type { Checkpoints } from "./checkpoints.js";
import { authorize, controlled, visibleRecord } from "./job-access.js";
import type { JobRunner } from "./job-runner.js";
import type { JobView } from "./job-view.js";
import type { LiveJob } from "./live-job.js";
import type { Caller } from "./placement.js";

export class JobControl {
  constructor(
    private readonly runner: JobRunner,
    private readonly checkpoints: Checkpoints,
  ) {}

  async pause(id: string, caller: Caller): Promise<JobView> {
    const job = controlled(this.runner, id, caller);
    const limits = this.runner.limits;
    return job.exclusive(async () => {
      if (job.record.state !== "running") throw new ServerError("conflict", `job ${id} is ${job.record.state}, not running`);
      // A paused job keeps its memory here until it is resumed or expires: anonymous callers share a few such places.
      if (job.record.owner === null && this.runner.retention.pausedJobs() >= limits.maxAnonymousPausedJobs) {
        throw new ServerError(
          "overloaded",
          `${limits.maxAnonymousPausedJobs} anonymous jobs are paused on this node already; resume or cancel one, or let it run`,
        );
      }
      const r = await job.scheduled!.pause();
      if (r.status === "paused") {
        await this.checkpoints.write(job);
        this.runner.update(job, { state: "paused", fuelUsed: r.fuelUsed });
        this.runner.admission.pump();
      }
      return this.runner.view(job);
    });
  }

  async resume(id: string, caller: Caller): Promise<JobView> {
    const job = controlled(this.runner, id, caller);
    return job.exclusive(async () => {
      if (job.record.state !== "paused") throw new ServerError("conflict", `job ${id} is ${job.record.state}, not paused`);
      await this.runner.wake(job); // a hibernated job comes back from its checkpoint first
      this.runner.update(job, { state: "running" });
      this.runner.run(job);
      return this.runner.view(job);
    });
  }

  async cancel(id: string, caller: Caller): Promise<JobView> {
    const live = this.runner.live.get(id);
    if (!live) return this.cancelStored(id, caller);
    authorize(live.record, caller);
    // A running job is stopped at once, before waiting for the job's lock: whatever holds the lock
    // (a checkpoint waiting for a slice that does not end, say) is itself waiting on the instance,
    // and disposing it ends that wait too. An isolated instance busy in a slice or a host call has
    // its process killed. Anything else (a migration deciding) is waited for.
    const stop = stopper(live);
    if (live.record.state === "running") stop();
    return live.exclusive(async () => {
      if (this.runner.live.get(id) !== live) return this.runner.view(this.runner.store.jobs.require(id)); // it ended or moved meanwhile
      const output = stop();
      this.runner.live.delete(id);
      this.runner.update(live, { state: "cancelled", result: { status: "cancelled" }, ...(output?.byteLength ? { output } : {}) });
      this.runner.admission.pump();
      return this.runner.view(live.record);
    });
  }

  /** A job stored here but not live (queued or paused before a restart, say): its row is all there is to cancel. */
  private cancelStored(id: string, caller: Caller): JobView {
    const record = visibleRecord(this.runner, id, caller);
    if (record.state === "queued" || record.state === "paused" || record.state === "running") {
      this.runner.store.jobs.update(id, { state: "cancelled", result: { status: "cancelled" } }, { expectEpoch: record.epoch });
      if (record.owner === null) this.runner.retention.evictResults(id);
    }
    return this.runner.view(this.runner.store.jobs.require(id));
  }
}

/**
 * Stops the job's instance once (later calls do nothing) and returns the output it wrote, kept like
 * a finished job's (disposing drops the instance's copy).
 */
function stopper(live: LiveJob): () => Uint8Array | undefined {
  let output: Uint8Array | undefined;
  return () => {
    if (!live.instance || live.instance.state === "disposed") return output;
    live.flushOutput(); // followers get every byte before the end
    output ??= live.instance.output().slice();
    live.instance.dispose();
    return output;
  };
}
