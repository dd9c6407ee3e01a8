// What a node counts for /metrics (server/http/metrics.ts): every part of the node adds to one set.

export interface NodeCounters {
  jobsStarted: number;
  jobsFinished: number;
  jobsTrapped: number;
  checkpoints: number;
  /** Of those, incremental ones (the pages changed since the job's last full checkpoint). */
  checkpointDeltas: number;
  /** Running jobs a round left alone because they had used no fuel since their last checkpoint. */
  checkpointsUnchanged: number;
  /** Paused jobs that left the VM (their instance let go, their state in their checkpoint). */
  jobsHibernated: number;
  /** Hibernated jobs brought back (to resume, or to migrate). */
  jobsWoken: number;
  /** Running jobs a checkpoint round had to leave for the next one. */
  checkpointsDeferred: number;
  /** Rounds that did not start because the previous one was still under way. */
  checkpointRoundsSkipped: number;
  /** Anonymous jobs deleted for their age, or to keep the number of finished ones under the cap. */
  anonymousJobsExpired: number;
  modulesUploaded: number;
  migrationsOut: number;
  migrationsIn: number;
}

export function newCounters(): NodeCounters {
  return {
    jobsStarted: 0,
    jobsFinished: 0,
    jobsTrapped: 0,
    checkpoints: 0,
    checkpointDeltas: 0,
    jobsHibernated: 0,
    jobsWoken: 0,
    checkpointsUnchanged: 0,
    checkpointsDeferred: 0,
    checkpointRoundsSkipped: 0,
    anonymousJobsExpired: 0,
    modulesUploaded: 0,
    migrationsOut: 0,
    migrationsIn: 0,
  };
}
