// What a node bounds about jobs beyond each caller's quotas: how long one isolated slice may run,
// how long the periodic checkpoint waits for one job, and how much anonymous work (paused jobs,
// finished results, their output) the node keeps and for how long. Each has a documented default
// (docs/http-api.md, docs/sandboxes.md) and can be set per node.

import { ServerError } from "../errors.js";
import { DEFAULT_PEER_CALL_DEADLINE_MS } from "../peers/pin-channel.js";

export interface NodeLimitsOptions {
  /**
   * Wall-clock deadline of one slice of an isolated job, ms: past it the job's sandbox process is
   * killed and the job ends trapped `deadline_exceeded`. A slice is `isolatedSliceFuel` of work, so
   * only a runaway guest (or a host call that never returns) comes near it. Default 30,000.
   */
  isolatedSliceTimeoutMs?: number;
  /** Fuel per slice of an isolated job: a pause or checkpoint waits for at most one slice. Default 50,000,000. */
  isolatedSliceFuel?: number;
  /**
   * How long the periodic checkpoint waits for one job to pause before it moves on to the next,
   * ms. A job it could not checkpoint is tried again the next round (and counted in /metrics).
   * Default 2,000.
   */
  checkpointJobTimeoutMs?: number;
  /**
   * Paused and finished anonymous jobs untouched this long are deleted with their input, output
   * and checkpoints (their id then answers 404), ms. Default 3,600,000 (one hour).
   */
  anonymousTtlMs?: number;
  /** Finished anonymous jobs kept at once; past it the oldest are deleted first. Default 256. */
  maxAnonymousResults?: number;
  /** Anonymous jobs paused at once (each holds its memory); pausing one more is refused with 503. Default 16. */
  maxAnonymousPausedJobs?: number;
  /** Output one anonymous job may write, bytes; past it the job traps `output_limit`. Default 1 MiB. */
  maxAnonymousOutputBytes?: number;
  /** Input one anonymous job may be given, bytes; a larger one is refused with 413. Default 1 MiB. */
  maxAnonymousInputBytes?: number;
  /**
   * Fuel one anonymous job may use (its `fuelLimit` may ask for less, never more); past it the job
   * traps `out_of_fuel`. Default 10^12: minutes of CPU (n-body burns ~10^10 fuel a second on a
   * 2-core VM), long enough to pause, snapshot or move the job, while the other anonymous caps
   * (256 unfinished, 16 paused, 1 MiB in and out, the TTL) bound what it holds.
   */
  maxAnonymousFuelPerJob?: number;
  /**
   * How long a job's call on a directory reached by global reference may wait for its home node
   * (retries included) before the guest gets EIO, ms. Default 10,000 (DEFAULT_PEER_CALL_DEADLINE_MS).
   */
  peerCallDeadlineMs?: number;
  /**
   * A job paused this long leaves the VM (hibernates): its instance is let go and its checkpoint
   * holds it until it is resumed or migrated, ms. Default 10,000.
   */
  hibernateAfterMs?: number;
}

export type NodeLimits = Readonly<Required<NodeLimitsOptions>>;

export const DEFAULT_NODE_LIMITS: NodeLimits = {
  isolatedSliceTimeoutMs: 30_000,
  isolatedSliceFuel: 50_000_000,
  checkpointJobTimeoutMs: 2_000,
  anonymousTtlMs: 60 * 60 * 1000,
  maxAnonymousResults: 256,
  maxAnonymousPausedJobs: 16,
  maxAnonymousOutputBytes: 1024 * 1024,
  maxAnonymousInputBytes: 1024 * 1024,
  maxAnonymousFuelPerJob: 1_000_000_000_000,
  peerCallDeadlineMs: DEFAULT_PEER_CALL_DEADLINE_MS,
  hibernateAfterMs: 10_000,
};

/** setTimeout's range: a longer delay would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** The options over the defaults, each checked: a bad one is refused naming it. */
export function nodeLimits(options: NodeLimitsOptions = {}): NodeLimits {
  const limits = { ...DEFAULT_NODE_LIMITS };
  for (const [key, value] of Object.entries(options) as [keyof NodeLimitsOptions, unknown][]) {
    if (!(key in DEFAULT_NODE_LIMITS))
      throw new ServerError("bad_request", `unknown node limit "${key}" (known: ${Object.keys(DEFAULT_NODE_LIMITS).join(", ")})`);
    if (value === undefined) continue;
    const timer = key.endsWith("Ms");
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || (timer && value > MAX_TIMER_MS)) {
      throw new ServerError(
        "bad_request",
        `node limit ${key} must be a positive integer${timer ? ` of ms up to ${MAX_TIMER_MS}` : ""}, got ${String(value)}`,
      );
    }
    limits[key] = value;
  }
  return limits;
}
