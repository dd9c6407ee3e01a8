// Who may see and control a job: an owned job belongs to its owner, an anonymous one to whoever holds
// its (unguessable) id. A job the caller may not see answers exactly like a job that does not exist.

import { ServerError } from "../errors.js";
import type { JobRecord } from "../store/records.js";
import type { JobRunner } from "./job-runner.js";
import type { LiveJob } from "./live-job.js";
import type { Caller } from "./placement.js";

/** Owned jobs belong to their owner; anonymous jobs to whoever holds their (unguessable) id. */
export function authorize(record: JobRecord, caller: Caller): void {
  if (record.owner !== null && record.owner !== caller?.id) throw noJob(record.id, caller);
}

/** The job's record (live or stored) if the caller may see it; else the same 404 as for no job at all. */
export function visibleRecord(runner: JobRunner, id: string, caller: Caller): JobRecord {
  const record = runner.live.get(id)?.record ?? runner.store.jobs.get(id);
  if (!record) throw noJob(id, caller);
  authorize(record, caller);
  return record;
}

/** The live job the caller may control; 409 when it is stored but not live here (ended, moved). */
export function controlled(runner: JobRunner, id: string, caller: Caller): LiveJob {
  const job = runner.live.get(id);
  if (!job) {
    const record = visibleRecord(runner, id, caller);
    throw new ServerError("conflict", `job ${id} is ${record.state}${record.node !== runner.nodeId ? ` on node ${record.node}` : ""}`);
  }
  authorize(job.record, caller);
  return job;
}

/**
 * The one answer for a job the caller cannot see, whether it exists or not (so it tells nothing):
 * to an unsigned request it says what to do if the job is a client's (docs/http-api.md, "Errors").
 */
function noJob(id: string, caller: Caller): ServerError {
  return new ServerError(
    "not_found",
    caller
      ? `no job ${id} among yours or the anonymous ones`
      : `no job ${id} among the anonymous jobs; a client's job answers only requests signed with its owner's key`,
  );
}
