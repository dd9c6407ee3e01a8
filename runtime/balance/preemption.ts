// Which job a time-sharing node sends when its sender policy has found a receiver: only a new job
// (placement, remote execution) or also an old running one (preemptive migration, Harchol-Balter &
// Downey 1997). Pure: the simulator's time-sharing nodes and the live node pick by the same rule.

import { FerryError } from "../errors.js";

/** `placement`: new jobs only, restarted at the target (weak). `preemptive`: old jobs too, resumed there (strong). */
export const MIGRATION_RULES = ["placement", "preemptive"] as const;
export type MigrationRule = (typeof MIGRATION_RULES)[number];

/**
 * A job is "new" while it has received less than this much CPU, in mean service times: about one
 * round of polls at the simulator's default costs (3 polls × 2 × latency 0.01). Restarting it
 * elsewhere wastes at most that; an older job can only move by strong migration.
 */
export const NEW_JOB_AGE = 0.06;

export interface MigrantCandidate {
  /** CPU time the job has received so far, on every node it ran on (its age). */
  age: number;
  /** True once the job has been moved: placement moves a job at most once, as remote execution does. */
  moved: boolean;
}

export type MigrantChoice = { index: number; mode: "weak" | "strong" } | { index: -1; mode: "none" };

/**
 * The age above which a job pays for its strong move, H-B&D's criterion in the form
 * age > cost / (nSrc − 1 − nDst): with P(life > t) ∝ 1/t a job of age a has median remaining life
 * a, and at the source it shares the CPU with nSrc − 1 others, at the target with nDst; moving
 * saves it about a·(nSrc − 1 − nDst) of waiting and costs `cost`. Infinity when the move cannot
 * help (the target is no less loaded than the source without the job).
 */
export function preemptionAge(cost: number, nSrc: number, nDst: number): number {
  if (!(cost >= 0) || !(nSrc >= 0) || !(nDst >= 0)) {
    throw new FerryError("invalid_option", `preemptionAge needs cost, nSrc and nDst ≥ 0, got ${cost}, ${nSrc}, ${nDst}`);
  }
  const others = nSrc - 1 - nDst;
  return others > 0 ? cost / others : Infinity;
}

/**
 * Pick the job to send. Placement: the newest job that has not moved and is still new (age <
 * NEW_JOB_AGE), weakly. Preemptive: the oldest job whose age exceeds `preemptionAge` (it has the
 * longest expected remaining life), strongly; else as placement. `strongCost` is the strong move's
 * delay (transferDelay of the snapshot), `nDst` the most jobs the receiver may have (its threshold).
 */
export function chooseMigrant(rule: MigrationRule, jobs: readonly MigrantCandidate[], strongCost: number, nDst: number): MigrantChoice {
  if (rule === "preemptive") {
    const minAge = preemptionAge(strongCost, jobs.length, nDst);
    let oldest = -1;
    for (let i = 0; i < jobs.length; i++) {
      const a = jobs[i]!.age;
      if (a > minAge && a >= NEW_JOB_AGE && (oldest < 0 || a > jobs[oldest]!.age)) oldest = i;
    }
    if (oldest >= 0) return { index: oldest, mode: "strong" };
  }
  for (let i = jobs.length - 1; i >= 0; i--) {
    const j = jobs[i]!;
    if (!j.moved && j.age < NEW_JOB_AGE) return { index: i, mode: "weak" };
  }
  return { index: -1, mode: "none" };
}
