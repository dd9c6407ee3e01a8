// Pluggable load metrics: what "load" means when a node decides it is a sender or a receiver.
// A metric is a pure function of a sample the node takes of itself, plus how much one job moves it.

/**
 * What a node reports about itself whenever it asks its policy something. Nodes may reuse one
 * mutable object between calls: policies read it during the call and never keep it.
 */
export interface LoadSample {
  /** Jobs waiting for the processor (not started, or preempted and ready). */
  ready: number;
  /** Jobs executing right now. */
  running: number;
  /** Jobs started but waiting on something outside the processor (I/O, host calls). */
  blocked: number;
  /** Recent completions per time unit, e.g. from `ThroughputEwma`. */
  throughput: number;
}

export type LoadMetricName = "ready-queue" | "running-blocked" | "throughput";

export interface LoadMetric {
  readonly name: LoadMetricName;
  /** The node's load; higher means busier. */
  value(sample: LoadSample): number;
  /**
   * The most that releasing or accepting one job changes `value`. Thresholds must be more than
   * two of these apart (see thresholds.ts) and reservations are counted in these units.
   */
  readonly perJob: number;
}

/**
 * Ready-queue length, counting the running job: an idle node (0) must look different from a busy
 * one with nothing waiting (1), or receivers could not be told apart. The default.
 */
export const READY_QUEUE: LoadMetric = {
  name: "ready-queue",
  value: (s) => s.ready + s.running,
  perJob: 1,
};

/** Jobs started and not finished. Useful on nodes that interleave many guests (the live node). */
export const RUNNING_BLOCKED: LoadMetric = {
  name: "running-blocked",
  value: (s) => s.running + s.blocked,
  perJob: 1,
};

/** Default time constant of the throughput EWMA, in the caller's time unit. */
export const DEFAULT_THROUGHPUT_TAU = 10;

/**
 * Recent throughput: a busy node completes more. One completion raises the EWMA rate by 1/tau,
 * so that is the most one job moves it.
 */
export function throughputMetric(tau = DEFAULT_THROUGHPUT_TAU): LoadMetric {
  return { name: "throughput", value: (s) => s.throughput, perJob: 1 / tau };
}

export function metricByName(name: LoadMetricName, tau = DEFAULT_THROUGHPUT_TAU): LoadMetric {
  if (name === "ready-queue") return READY_QUEUE;
  if (name === "running-blocked") return RUNNING_BLOCKED;
  return throughputMetric(tau);
}

/**
 * Exponentially weighted rate of events (completions) per time unit with time constant `tau`:
 * the estimate decays by exp(−Δt/tau) and each event adds 1/tau, so a steady rate r reads r.
 * Time is passed in, never read from a clock.
 */
export class ThroughputEwma {
  private rate = 0;
  private at = 0;

  constructor(readonly tau = DEFAULT_THROUGHPUT_TAU) {}

  /** Record `count` events at time `now` (non-decreasing). */
  record(now: number, count = 1): void {
    this.decayTo(now);
    this.rate += count / this.tau;
  }

  /** The rate as seen at `now`. */
  value(now: number): number {
    this.decayTo(now);
    return this.rate;
  }

  private decayTo(now: number): void {
    if (now > this.at) {
      this.rate *= Math.exp(-(now - this.at) / this.tau);
      this.at = now;
    }
  }
}
