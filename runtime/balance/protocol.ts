// The events a node feeds its load-sharing policy and the actions the policy asks for. Nodes are
// numbered 0..nodeCount−1; the simulator delivers messages through its event queue, the live node
// over HTTP. Nothing here knows about either.

import type { LoadSample } from "./load-metric.js";

/** "give": a sender asks "can you take a job?"; "take": a receiver asks "have you a job for me?". */
export type ProbeKind = "give" | "take";

export type Message =
  /** A poll. `id` is unique per sending node; answers, transfers and cancels quote it. */
  | { readonly kind: "probe"; readonly probe: ProbeKind; readonly id: number; readonly from: number }
  /** Answer to a probe. Accepting a "give" reserves a slot; accepting a "take" comes with a transfer. */
  | { readonly kind: "answer"; readonly probe: ProbeKind; readonly id: number; readonly from: number; readonly accept: boolean }
  /** A sender that had a "give" accepted but no longer has a job to spare releases the reservation. */
  | { readonly kind: "cancel"; readonly id: number; readonly from: number };

export type PolicyEvent =
  /** The node starts: receivers begin to poll. */
  | { readonly type: "start" }
  /** A job arrived from outside (load went up). */
  | { readonly type: "arrival" }
  /**
   * A job finished or was transferred away (load went down); `moved` true for the latter (the
   * single-threshold receiver polls only when a job completes).
   */
  | { readonly type: "departure"; readonly moved?: boolean }
  /** A timer the policy set has fired. */
  | { readonly type: "timer"; readonly token: number }
  | { readonly type: "message"; readonly message: Message }
  /**
   * A transfer the policy reserved for has been delivered (the job, if any, is already in the
   * node's queue). `job` false: the sender had nothing worth moving after all.
   */
  | { readonly type: "job-in"; readonly from: number; readonly probe: ProbeKind; readonly id: number; readonly job: boolean };

export type PolicyAction =
  | { readonly type: "send"; readonly to: number; readonly message: Message }
  /**
   * Move one job to `to` (the node picks which and how — see migration-cost.ts). The node must
   * deliver exactly one `job-in` for it at `to`, with `job: false` if it had nothing to move, and
   * then tell this policy "departure" if a job left.
   */
  | { readonly type: "transfer"; readonly to: number; readonly probe: ProbeKind; readonly id: number }
  /** Call back with `{ type: "timer", token }` at time `at` (the policy ignores stale tokens). */
  | { readonly type: "set-timer"; readonly at: number; readonly token: number };

/** Everything a policy exposes to the node driving it. */
export interface LoadSharingPolicy {
  /**
   * Advance the state machine by one event at time `now` (non-decreasing), given the node's
   * current load; appends the actions to `out` in the order they must be carried out.
   */
  handle(now: number, event: PolicyEvent, load: LoadSample, out: PolicyAction[]): void;
  /** Polls this node has sent so far. */
  readonly pollsSent: number;
  /** Reservations currently counted in this node's load (slots promised to incoming jobs). */
  readonly reserved: number;
}
