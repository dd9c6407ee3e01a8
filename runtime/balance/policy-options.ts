// Options of the load-sharing policies, their documented defaults, and normalisation of loose
// input into a fully-specified config (rejecting bad values up front with the option's name).

import { FerryError } from "../errors.js";
import { READY_QUEUE, type LoadMetric } from "./load-metric.js";
import { validateThresholds } from "./thresholds.js";

export const POLICY_KINDS = ["none", "sender", "receiver", "symmetric", "adaptive"] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

/** Default lower threshold: with the ready-queue metric, only an idle node is a receiver. */
export const DEFAULT_LOWER_THRESHOLD = 0;
/** Default upper threshold: three jobs (one running, two waiting) make a sender; gap 3 > 2 jobs. */
export const DEFAULT_UPPER_THRESHOLD = 3;
/** MAX: polls in one round before the node must wait D (the probe limit). */
export const DEFAULT_MAX_POLLS = 3;
/** D: wait after a round of MAX failed polls, in the driver's time unit (simulator: mean service times). */
export const DEFAULT_RETRY_INTERVAL = 0.5;
/** Adaptive variant: each further failed round multiplies the wait by this. */
export const DEFAULT_BACKOFF_FACTOR = 2;
/** Adaptive variant: the wait never exceeds D × this. */
export const DEFAULT_MAX_BACKOFF_MULTIPLE = 64;

export interface PolicyOptions {
  kind: PolicyKind;
  metric?: LoadMetric;
  lower?: number;
  upper?: number;
  /** Infinity removes the probe limit (the thrashing experiment). */
  maxPolls?: number;
  retryInterval?: number;
  /**
   * A reservation (an accepted give, an outstanding or accepted take) whose job has not arrived after
   * this long is dropped, so lost "job in" messages cannot pin a slot forever. Default max(20·D, 20).
   */
  reservationTimeout?: number;
  backoffFactor?: number;
  maxBackoffMultiple?: number;
}

export type PolicyConfig = Required<PolicyOptions>;

export function normalizePolicyOptions(o: PolicyOptions): PolicyConfig {
  if (!(POLICY_KINDS as readonly string[]).includes(o.kind)) {
    throw new FerryError("invalid_option", `\`kind\` must be one of ${POLICY_KINDS.join(", ")}, got "${String(o.kind)}"`);
  }
  const c: PolicyConfig = {
    kind: o.kind,
    metric: o.metric ?? READY_QUEUE,
    lower: o.lower ?? DEFAULT_LOWER_THRESHOLD,
    upper: o.upper ?? DEFAULT_UPPER_THRESHOLD,
    maxPolls: o.maxPolls ?? DEFAULT_MAX_POLLS,
    retryInterval: o.retryInterval ?? DEFAULT_RETRY_INTERVAL,
    reservationTimeout: o.reservationTimeout ?? Math.max(20 * (o.retryInterval ?? DEFAULT_RETRY_INTERVAL), 20),
    backoffFactor: o.backoffFactor ?? DEFAULT_BACKOFF_FACTOR,
    maxBackoffMultiple: o.maxBackoffMultiple ?? DEFAULT_MAX_BACKOFF_MULTIPLE,
  };
  validateThresholds(c, c.metric);
  if (!(c.maxPolls >= 1) || (c.maxPolls !== Infinity && !Number.isInteger(c.maxPolls))) {
    throw new FerryError("invalid_option", `\`maxPolls\` must be a positive integer or Infinity (no probe limit), got ${c.maxPolls}`);
  }
  if (!(c.reservationTimeout > 0) || !Number.isFinite(c.reservationTimeout)) {
    throw new FerryError("invalid_option", `\`reservationTimeout\` must be a finite number > 0, got ${c.reservationTimeout}`);
  }
  if (!(c.retryInterval >= 0) || !Number.isFinite(c.retryInterval)) {
    throw new FerryError("invalid_option", `\`retryInterval\` (D) must be a finite number ≥ 0, got ${c.retryInterval}`);
  }
  if (c.maxPolls !== Infinity && c.retryInterval === 0) {
    throw new FerryError(
      "invalid_option",
      "`retryInterval` (D) must be > 0 with a probe limit; set `maxPolls: Infinity` to poll without pause",
    );
  }
  if (!(c.backoffFactor >= 1) || !Number.isFinite(c.backoffFactor)) {
    throw new FerryError("invalid_option", `\`backoffFactor\` must be a finite number ≥ 1, got ${c.backoffFactor}`);
  }
  if (!(c.maxBackoffMultiple >= 1) || !Number.isFinite(c.maxBackoffMultiple)) {
    throw new FerryError("invalid_option", `\`maxBackoffMultiple\` must be a finite number ≥ 1, got ${c.maxBackoffMultiple}`);
  }
  return c;
}
