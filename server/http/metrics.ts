// GET /metrics in the Prometheus text exposition format (version 0.0.4): the node's job counters and
// gauges, its compile pool's, its module cache's and the process's memory, one metric a row.

import type { FerryNode } from "../node/ferry-node.js";

/** One metric: name, type, help text, value. */
type Metric = [name: string, type: "counter" | "gauge", help: string, value: number];

export function metricsText(node: FerryNode): string {
  const metrics = [...jobMetrics(node), ...compileMetrics(node), ...cacheMetrics(node), ...processMetrics()];
  const lines = metrics.flatMap(([name, type, help, value]) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    `${name}{node="${node.id}"} ${value}`,
  ]);
  return `${lines.join("\n")}\n`;
}

function jobMetrics(node: FerryNode): Metric[] {
  const load = node.load();
  const c = node.counters;
  return [
    ["ferry_jobs_started_total", "counter", "Jobs started on this node.", c.jobsStarted],
    ["ferry_jobs_finished_total", "counter", "Jobs that finished here (done or trapped).", c.jobsFinished],
    ["ferry_jobs_trapped_total", "counter", "Jobs that ended with a trap.", c.jobsTrapped],
    ["ferry_checkpoints_total", "counter", "Snapshots written to the store.", c.checkpoints],
    ["ferry_jobs_hibernated_total", "counter", "Paused jobs that left the VM (their state in their checkpoint).", c.jobsHibernated],
    ["ferry_jobs_woken_total", "counter", "Hibernated jobs brought back from their checkpoint (to resume or migrate).", c.jobsWoken],
    [
      "ferry_checkpoint_deltas_total",
      "counter",
      "Of those, incremental: the pages changed since the job's last full checkpoint.",
      c.checkpointDeltas,
    ],
    [
      "ferry_checkpoints_unchanged_total",
      "counter",
      "Running jobs a checkpoint round left alone: no fuel used since their last checkpoint.",
      c.checkpointsUnchanged,
    ],
    [
      "ferry_checkpoints_deferred_total",
      "counter",
      "Running jobs a checkpoint round could not checkpoint (slow to pause, or still busy); each is tried again the next round.",
      c.checkpointsDeferred,
    ],
    [
      "ferry_checkpoint_rounds_skipped_total",
      "counter",
      "Checkpoint rounds not started because the previous one was still under way.",
      c.checkpointRoundsSkipped,
    ],
    [
      "ferry_anonymous_jobs_expired_total",
      "counter",
      "Anonymous jobs deleted for their age or to keep finished ones under the cap.",
      c.anonymousJobsExpired,
    ],
    ["ferry_modules_uploaded_total", "counter", "Modules accepted that were new to the client uploading them.", c.modulesUploaded],
    ["ferry_migrations_out_total", "counter", "Jobs handed to a peer.", c.migrationsOut],
    ["ferry_migrations_in_total", "counter", "Jobs taken over from a peer.", c.migrationsIn],
    ["ferry_jobs_running", "gauge", "Jobs running now.", load.running],
    ["ferry_jobs_paused", "gauge", "Jobs paused now.", load.paused],
    ["ferry_inprocess_queue", "gauge", "In-process jobs waiting for a slice.", load.inProcessQueue],
  ];
}

function compileMetrics(node: FerryNode): Metric[] {
  const compiles = node.compilePool.stats;
  return [
    ["ferry_modules_compiled_total", "counter", "Modules validated and instrumented (in compile workers).", compiles.compiled],
    [
      "ferry_modules_refused_total",
      "counter",
      "Modules a compile worker refused (invalid, over a cap, over the time or memory limit).",
      compiles.refused,
    ],
    [
      "ferry_modules_refused_from_memory_total",
      "counter",
      "Compiles refused at once: the same bytes were refused before.",
      compiles.refusedFromMemory,
    ],
    ["ferry_compile_timeouts_total", "counter", "Compiles stopped at the compile time limit.", compiles.timedOut],
    ["ferry_compile_workers", "gauge", "Compile worker threads alive now.", compiles.workersAlive],
    ["ferry_compile_queue", "gauge", "Compiles waiting for a worker now.", compiles.queued],
    ["ferry_compiles_running", "gauge", "Compiles a worker is running now.", compiles.running],
  ];
}

function cacheMetrics(node: FerryNode): Metric[] {
  const cache = node.moduleCache.stats;
  return [
    ["ferry_module_cache_hits_total", "counter", "Compiles answered from the on-disk module cache (no worker, no Binaryen).", cache.hits],
    ["ferry_module_cache_stored_total", "counter", "Instrumented modules written to the module cache.", cache.stored],
    [
      "ferry_module_cache_rejected_total",
      "counter",
      "Module cache entries found damaged or not the module's, deleted and compiled again.",
      cache.rejected,
    ],
    ["ferry_module_cache_evicted_total", "counter", "Module cache entries deleted to keep it within its size.", cache.evicted],
  ];
}

function processMetrics(): Metric[] {
  const memory = process.memoryUsage();
  return [["ferry_process_resident_memory_bytes", "gauge", "Resident set size of the node process.", memory.rss]];
}
