// Options of the load-sharing policies, their documented defaults, and normalisation of loose
// input into a fully-specified config (rejecting bad values up front with the option's name).

import { FerryError } from "../errors.js";
import { READY_QUEUE, type LoadMetric } from "./load-metric.js";
import { validateThresholds } from "./thresholds.js";

export const POLICY_KINDS = ["none", "sender", "receiver", "symmetric", "adaptive", "elz-sender", "elz-receiver"] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

/**
 * The single-threshold policies of Eager, Lazowska & Zahorjan (1986): `elz-sender` (their
 * *Threshold*: a job arriving at a node whose queue would reach T probes up to Lp = `maxPolls`
 * random nodes and goes to the first whose queue is below T) and `elz-receiver` (a node whose queue
 * falls below T when a job completes probes up to Lp nodes and takes a waiting job from the first
 * with ≥ T). One threshold, no gap, no D: each arrival or completion is one round of at most Lp polls.
 */
export const SINGLE_THRESHOLD_KINDS = ["elz-sender", "elz-receiver"] as const;
export type SingleThresholdKind = (typeof SINGLE_THRESHOLD_KINDS)[number];

export function isSingleThreshold(kind: PolicyKind): kind is SingleThresholdKind {
  return kind === "elz-sender" || kind === "elz-receiver";
}

/** Default lower threshold: with the ready-queue metric, only an idle node is a receiver. */
export const DEFAULT_LOWER_THRESHOLD = 0;
/** Default upper threshold: three jobs (one running, two waiting) make a sender; gap 3 > 2 jobs. */
export const DEFAULT_UPPER_THRESHOLD = 3;
/** T of the single-threshold kinds, in jobs (queued + running): a busy node's arrival probes, a node with < 2 jobs accepts. */
export const DEFAULT_THRESHOLD = 2;
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
  /** T of the single-threshold kinds (`elz-sender`, `elz-receiver`): an integer ≥ 2 jobs of the ready-queue metric. */
  threshold?: number;
  /** MAX of the two-threshold kinds, Lp of the single-threshold ones (finite there). Infinity removes the probe limit (the thrashing experiment). */
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
    threshold: o.threshold ?? DEFAULT_THRESHOLD,
    maxPolls: o.maxPolls ?? DEFAULT_MAX_POLLS,
    retryInterval: o.retryInterval ?? DEFAULT_RETRY_INTERVAL,
    reservationTimeout: o.reservationTimeout ?? Math.max(20 * (o.retryInterval ?? DEFAULT_RETRY_INTERVAL), 20),
    backoffFactor: o.backoffFactor ?? DEFAULT_BACKOFF_FACTOR,
    maxBackoffMultiple: o.maxBackoffMultiple ?? DEFAULT_MAX_BACKOFF_MULTIPLE,
  };
  if (isSingleThreshold(c.kind)) validateSingleThreshold(c);
  else validateThresholds(c, c.metric);
  if (!(c.maxPolls >= 1) || (c.maxPolls !== Infinity && !Number.isInteger(c.maxPolls))) {
    throw new FerryError("invalid_option", `\`maxPolls\` must be a positive integer or Infinity (no probe limit), got ${c.maxPolls}`);
  }
  if (!(c.reservationTimeout > 0) || !Number.isFinite(c.reservationTimeout)) {
    throw new FerryError("invalid_option", `\`reservationTimeout\` must be a finite number > 0, got ${c.reservationTimeout}`);
  }
  if (!(c.retryInterval >= 0) || !Number.isFinite(c.retryInterval)) {
    throw new FerryError("invalid_option", `\`retryInterval\` (D) must be a finite number ≥ 0, got ${c.retryInterval}`);
  }
  if (c.maxPolls !== Infinity && c.retryInterval === 0 && !isSingleThreshold(c.kind)) {
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

/**
 * T counts jobs (queued + running) and must leave a donor at ≥ T a waiting job to give, so T ≥ 2
 * (with T = 1 an arrival at an idle node would look for another idle node, a move that changes
 * nothing, and a donor with one job has only the running one). Lp must be finite: a round is one
 * event's polls, with no D to stop an unbounded one.
 */
function validateSingleThreshold(c: PolicyConfig): void {
  if (c.metric !== READY_QUEUE) {
    throw new FerryError("invalid_option", `\`metric\` of ${c.kind} must be ready-queue (T counts jobs), got ${c.metric.name}`);
  }
  if (!Number.isInteger(c.threshold) || c.threshold < 2) {
    throw new FerryError("invalid_option", `\`threshold\` (T) of ${c.kind} must be an integer ≥ 2 jobs, got ${c.threshold}`);
  }
  if (!Number.isFinite(c.maxPolls)) {
    throw new FerryError("invalid_option", `\`maxPolls\` (Lp) of ${c.kind} must be a finite positive integer, got ${c.maxPolls}`);
  }
}
