// A node's periodic work: the checkpoint round, the anonymous jobs' expiry, the sweep of
// unreferenced blobs, and the hibernation of jobs paused for a while. Every timer is unref'd (a
// node never keeps its process up by itself) and cleared when the node closes.

import { ServerError } from "../errors.js";
import type { NodeLimits } from "./node-limits.js";

/** How often unreferenced blobs are swept. */
const GARBAGE_SWEEP_MS = 10 * 60 * 1000;

export interface NodeTimerWork {
  checkpoint(): void;
  expire(): unknown;
  collectGarbage(): unknown;
  hibernate(): Promise<unknown>;
}

/** Start the node's timers (`checkpointIntervalMs` 0: no periodic checkpoints). */
export function startNodeTimers(checkpointIntervalMs: number, limits: NodeLimits, work: NodeTimerWork): NodeJS.Timeout[] {
  if (!Number.isSafeInteger(checkpointIntervalMs) || checkpointIntervalMs < 0)
    throw new ServerError("bad_request", `checkpointIntervalMs must be a non-negative integer, got ${checkpointIntervalMs}`);
  const timers: NodeJS.Timeout[] = [];
  if (checkpointIntervalMs > 0) timers.push(setInterval(() => work.checkpoint(), checkpointIntervalMs));
  // A store being closed makes these throw; the next sweep (or the next start) catches up.
  const expiryMs = Math.max(1_000, Math.min(60_000, Math.floor(limits.anonymousTtlMs / 4)));
  timers.push(setInterval(() => ignoreErrors(() => work.expire()), expiryMs));
  // Blobs younger than the store's grace period (10 min) are left alone: a pre-copied base waits
  // unreferenced for its PREPARE, and a blob is written before the row that refers to it.
  timers.push(setInterval(() => ignoreErrors(() => work.collectGarbage()), GARBAGE_SWEEP_MS));
  // Paused jobs out of the VM; one sweep at a time (a sweep waits for each job's lock).
  let sweeping = false;
  const hibernateEveryMs = Math.max(50, Math.min(1_000, Math.floor(limits.hibernateAfterMs / 2)));
  timers.push(
    setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      work
        .hibernate()
        .catch(() => undefined)
        .finally(() => {
          sweeping = false;
        });
    }, hibernateEveryMs),
  );
  for (const t of timers) t.unref();
  return timers;
}

function ignoreErrors(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // a store being closed; the next sweep catches up
  }
}
