// What a node's live load balancer is configured with, and what it reports (GET /balance).

import type { LifetimeModel, PolicyOptions } from "../../runtime/balance/index.js";

export interface LiveBalanceOptions {
  /** The policy; `retryInterval` (D) is in milliseconds here. */
  policy: PolicyOptions;
  /** Mean service time assumed until jobs have finished here, ms (wait and remaining-work estimates). Default 40. */
  meanServiceMs?: number;
  /** How the remaining work of a running job is guessed, ms. Default exponential with the observed mean. */
  lifetime?: LifetimeModel;
  /** Seed of this node's policy random stream (its node index is mixed in). Default 1. */
  seed?: number;
  /** A poll unanswered after this long counts as a refusal (a late answer is still honoured or cancelled). Default 1000. */
  pollTimeoutMs?: number;
  /** Node ids in policy index order, this node included. Default: this node and its peers, sorted. */
  members?: string[];
  /** Execution-segment size assumed when weighing a strong move, bytes. Default 256 KiB. */
  snapshotBytes?: number;
  /**
   * How a transfer picks its job: "cost-model" (default: chooseMove over the remaining-work guess),
   * or a migration rule of runtime/balance/preemption.ts — "placement" (queued jobs only, weakly) or
   * "preemptive" (the running job, strongly, once its age passes Harchol-Balter & Downey's criterion).
   */
  migration?: "cost-model" | "placement" | "preemptive";
}

export interface BalanceStats {
  enabled: boolean;
  policy: string;
  nodeIndex: number;
  /** Probes this node sent (the policy's count), and of those "give" (sender side) and "take" (receiver side). */
  polls: number;
  givePolls: number;
  takePolls: number;
  /** Polls that found no answer within `pollTimeoutMs` (fed back as refusals). */
  pollTimeouts: number;
  /** Probes from peers this node answered, and how many it accepted. */
  probesAnswered: number;
  probesAccepted: number;
  weak: number;
  strong: number;
  /** Transfers the policy asked for that had nothing worth moving (the reservation was released). */
  empty: number;
  /** Transfers the migration protocol refused or that failed (the job went on here). */
  failed: number;
  /** Running jobs picked to move that finished before they could be stopped (the slot went to the next pick). */
  raced: number;
  /** Wall time of the successful transfers (stop → committed), summed, ms. */
  transferMsSum: number;
  /** Jobs that arrived here by a balancing transfer. */
  jobsIn: number;
  /** Jobs that finished on this node (done, trapped or failed) since the balancer was configured. */
  finished: number;
  /** Time from running to finished here, summed over `finished` jobs, ms (CPU contention shows here). */
  execMsSum: number;
  /** Current view: effective load (with reservations) and reservations held. */
  load: number;
  reserved: number;
}

/** The counters of BalanceStats a balancer keeps itself (the rest are read from its policy). */
export type BalanceCounters = ReturnType<typeof emptyCounters>;

export function emptyCounters() {
  return {
    givePolls: 0,
    takePolls: 0,
    pollTimeouts: 0,
    probesAnswered: 0,
    probesAccepted: 0,
    weak: 0,
    strong: 0,
    empty: 0,
    failed: 0,
    raced: 0,
    transferMsSum: 0,
    jobsIn: 0,
    finished: 0,
    execMsSum: 0,
  };
}
