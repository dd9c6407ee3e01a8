// Sender / receiver classification with hysteresis: the gap between the thresholds must be wide
// enough that releasing or accepting one or two jobs never flips a node from one role to the other.

import { FerryError } from "../errors.js";
import type { LoadMetric } from "./load-metric.js";

export interface Thresholds {
  /** At or below this load a node is a receiver. */
  lower: number;
  /** At or above this load a node is a sender. */
  upper: number;
}

export type Role = "sender" | "receiver" | "neutral";

/** Jobs a single decision may release or accept without the node changing role (the lecture's "one or two"). */
export const HYSTERESIS_JOBS = 2;

export function roleOf(load: number, t: Thresholds): Role {
  if (load >= t.upper) return "sender";
  if (load <= t.lower) return "receiver";
  return "neutral";
}

/**
 * Throws `invalid_option` unless upper − lower > HYSTERESIS_JOBS × metric.perJob: a sender
 * (load ≥ upper) that gives two jobs away still has load > lower, and a receiver (load ≤ lower)
 * that accepts two still has load < upper.
 */
export function validateThresholds(t: Thresholds, metric: LoadMetric): void {
  for (const key of ["lower", "upper"] as const) {
    if (!Number.isFinite(t[key])) throw new FerryError("invalid_option", `\`${key}\` must be a finite number, got ${t[key]}`);
  }
  const minGap = HYSTERESIS_JOBS * metric.perJob;
  if (!(t.upper - t.lower > minGap)) {
    throw new FerryError(
      "invalid_option",
      `\`upper\` (${t.upper}) − \`lower\` (${t.lower}) must exceed ${minGap} (${HYSTERESIS_JOBS} jobs of the ` +
        `${metric.name} metric) so that moving one or two jobs never flips sender↔receiver; ` +
        `raise \`upper\` above ${t.lower + minGap} or lower \`lower\` below ${t.upper - minGap}`,
    );
  }
}
