// A snapshot carries the fuel budget of the run it was taken from, inside its continuation header.
// Whoever wrote the snapshot (a peer, a checkpoint from before a quota changed) must not decide how
// much this node lets the job run: before a job is restored here its budget is set from the job's
// record — what the owner asked for, capped by this node's quota — never taken from the snapshot.
// (Memory is capped by the engine that restores it, deadlines by the node's sandbox options.)

import type { Snapshot } from "../../runtime/index.js";
import { decodeImage, encodeImage } from "../../runtime/light.js";

export interface JobBudget {
  /** Total fuel the run may use (the record's fuelLimit, capped by the quota it runs under here). */
  fuelLimit: number;
  /** Fuel the run has used according to this node's record. */
  fuelUsed: number;
}

/**
 * `snapshot` with its run's fuel budget replaced by `budget`: the limit is the record's, and the fuel
 * used so far is the larger of the snapshot's and the record's (so neither can hand out fuel).
 */
export function withJobBudget(snapshot: Snapshot, budget: JobBudget): Snapshot {
  const { header, stack, capacity } = decodeImage(snapshot.continuation);
  const fuelConsumed = Math.max(header.fuelConsumed, budget.fuelUsed);
  if (header.fuelLimit === budget.fuelLimit && header.fuelConsumed === fuelConsumed) return snapshot;
  return { ...snapshot, continuation: encodeImage({ ...header, fuelLimit: budget.fuelLimit, fuelConsumed }, stack, capacity) };
}
