// Cost model for what a sender moves: a queued job by weak migration (code + arguments, restarts
// from the beginning) or the running job by strong migration (snapshot, resumes where it stopped).

import { FerryError } from "../errors.js";

/** The link and CPU prices of moving bytes between two nodes, in the driver's time unit. */
export interface LinkCost {
  /** One-way network delay. */
  latency: number;
  /** Transfer rate, bytes per time unit. */
  bytesPerTime: number;
  /** CPU time each side spends per transfer (serialise / restore), on top of per-byte work. */
  cpuPerTransfer: number;
  /** CPU time each side spends per byte (encode, checksum, decode). */
  cpuPerByte: number;
}

export interface MoveCandidates {
  /** Jobs waiting in the ready queue (the last one is the weak-migration candidate). */
  queued: number;
  /** Bytes a weak migration ships: code reference + arguments (code is content-addressed and usually cached). */
  weakBytes: number;
  /** Expected time the last queued job still has to wait here before it starts. */
  localWait: number;
  /** Expected time a job shipped now waits at the target before it starts (0 for an idle receiver). */
  targetWait: number;
  /** The running job, if any. */
  running?: {
    /** Size of its execution segment snapshot. */
    snapshotBytes: number;
    /** Estimated remaining work (see `estimateRemainingWork`). */
    remainingWork: number;
  };
}

export type MoveDecision = { mode: "weak"; gain: number } | { mode: "strong"; gain: number } | { mode: "none" };

/** Time from starting a transfer of `bytes` until the job can run at the target. */
export function transferDelay(bytes: number, link: LinkCost): number {
  return link.latency + bytes / link.bytesPerTime + 2 * (link.cpuPerTransfer + bytes * link.cpuPerByte);
}

/**
 * Which job to move, by net saving of response time summed over the jobs affected:
 * - weak, the last queued job: it starts after transfer + targetWait instead of localWait;
 *   nobody else is affected (it was last).
 * - strong, the running job: every queued job behind it starts `remainingWork` earlier, while the
 *   job itself loses transfer + targetWait. Pays only when the running job is expected to run long
 *   and others wait for it (Harchol-Balter & Downey: with heavy-tailed lifetimes, old jobs).
 * Returns the better positive saving, or none.
 */
export function chooseMove(c: MoveCandidates, link: LinkCost): MoveDecision {
  for (const [name, v] of Object.entries({ queued: c.queued, localWait: c.localWait, targetWait: c.targetWait, weakBytes: c.weakBytes })) {
    if (!(v >= 0)) throw new FerryError("invalid_option", `\`${name}\` must be a number ≥ 0, got ${v}`);
  }
  const weakGain = c.queued > 0 ? c.localWait - (transferDelay(c.weakBytes, link) + c.targetWait) : -Infinity;
  const strongGain = c.running
    ? c.queued * c.running.remainingWork - (transferDelay(c.running.snapshotBytes, link) + c.targetWait)
    : -Infinity;
  if (weakGain <= 0 && strongGain <= 0) return { mode: "none" };
  return strongGain > weakGain ? { mode: "strong", gain: strongGain } : { mode: "weak", gain: weakGain };
}

/** What the node knows of the service-time distribution, to guess a running job's remaining work. */
export type LifetimeModel =
  /** Memoryless: remaining work is the mean whatever the age. */
  | { kind: "exponential"; mean: number }
  /** Pareto tail with index alpha > 1: E[remaining | age a] = a / (alpha − 1), capped at `max − a`. */
  | { kind: "pareto"; alpha: number; min: number; max: number };

export function estimateRemainingWork(age: number, model: LifetimeModel): number {
  if (model.kind === "exponential") return model.mean;
  // Below the minimum every job is still running: remaining = E[X] − age.
  const expected = age < model.min ? (model.alpha * model.min) / (model.alpha - 1) - age : age / (model.alpha - 1);
  return Math.max(0, Math.min(expected, model.max - age));
}
