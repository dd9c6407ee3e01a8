// After a restart: every job this node owned resumes from its last checkpoint, or starts again from
// the beginning if it never had one (or was still queued). Transfers are settled first (the
// migrator's recover: undecided ones abort, so those jobs are this node's again).

import { snapshotDecodeLimits } from "../../runtime/index.js";
import { checkpointSnapshot } from "../migration/checkpoint-format.js";
import { withJobBudget } from "../migration/job-limits.js";
import type { Migrator } from "../migration/migrator.js";
import type { JobRecord } from "../store/records.js";
import type { JobRunner } from "./job-runner.js";
import { releaseStalePins } from "./dir-migration.js";
import { LiveJob } from "./live-job.js";

export async function recoverJobs(runner: JobRunner, migrator: Migrator<LiveJob>): Promise<{ resumed: number; restarted: number }> {
  let resumed = 0;
  let restarted = 0;
  await migrator.recover();
  // Pins made for transfers that did not happen (the jobs are here again) hold nothing for anyone.
  releaseStalePins(runner.store, runner.pins, runner.nodeId);
  for (const record of runner.store.jobs.list({ node: runner.nodeId, state: ["queued", "running", "paused"] })) {
    try {
      if (await recoverJob(runner, record)) resumed++;
      else restarted++;
    } catch (e) {
      runner.store.jobs.update(record.id, {
        state: "failed",
        result: { status: "failed", message: `recovery failed: ${e instanceof Error ? e.message : String(e)}` },
      });
    }
  }
  return { resumed, restarted };
}

/** One job back: true when it resumed from its checkpoint, false when it starts again through admission. */
async function recoverJob(runner: JobRunner, record: JobRecord): Promise<boolean> {
  const checkpoint = runner.store.checkpoints.latest(record.id);
  const job = new LiveJob(record);
  await runner.engines.compiled(runner.engines.engineOf(record.owner), record.codeHash); // fails early if the code is gone
  const input = runner.store.jobs.input(record);
  if (!checkpoint) {
    // Never checkpointed (or still queued): start from the beginning, through admission.
    runner.live.set(record.id, job);
    if (record.state !== "queued") runner.update(job, { state: "queued" });
    await runner.admit(job);
    return false;
  }
  const limits = snapshotDecodeLimits(runner.engines.memoryPagesOf(record.owner));
  await runner.restore(
    job,
    withJobBudget(checkpointSnapshot(runner.store, record.id, limits)!, runner.engines.budgetOf(record)),
    record.sandbox,
    input,
  );
  job.outputSeen = job.instance!.output().byteLength;
  runner.live.set(record.id, job);
  // A paused job goes back out of the VM at once: a node holding many costs its restart no memory.
  if (record.state === "paused") runner.hibernate(job);
  else runner.run(job);
  return true;
}
