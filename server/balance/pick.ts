// Which job a balancing transfer moves, and how: the last queued one weakly, or the oldest running
// one (by the work it has had on every node) strongly when that pays — by the runtime's cost model
// (chooseMove) over this node's estimates of the link to the peer and of the running job's
// remaining work; or by a migration rule of runtime/balance/preemption.ts (placement: queued jobs
// only; preemptive: the running job once its age passes Harchol-Balter & Downey's criterion).

import {
  chooseMigrant,
  chooseMove,
  estimateRemainingWork,
  type LifetimeModel,
  type LinkCost,
  MIGRATION_RULES,
  type MigrationRule,
  transferDelay,
} from "../../runtime/balance/index.js";
import { ServerError } from "../errors.js";

/** How the balancer picks: by the cost model (the default), or by a migration rule. */
export type LiveMigration = "cost-model" | MigrationRule;

/** `migration` from the balancer's options, checked. */
export function liveMigration(m: unknown): LiveMigration {
  if (m === undefined || m === "cost-model") return "cost-model";
  if ((MIGRATION_RULES as readonly unknown[]).includes(m)) return m as MigrationRule;
  throw new ServerError("bad_request", `migration must be cost-model, ${MIGRATION_RULES.join(" or ")}, got ${JSON.stringify(m)}`);
}

/** A weak transfer ships the job header (code hash, entry, arguments); the code is usually cached. */
const WEAK_BYTES = 1024;
/** Initial link estimates on loopback, refined by measured poll round trips and transfer times. */
export const INITIAL_LATENCY_MS = 1;
export const INITIAL_TRANSFER_CPU_MS = 3;
const BYTES_PER_MS = 100_000;
const CPU_MS_PER_BYTE = 1e-6;

export interface PickInput {
  /** Queued jobs that may move to the peer, oldest first. */
  queued: readonly string[];
  /** The oldest running job that may move to the peer, and its age: the ms of work it has had on every node (job-age.ts). */
  oldest: { id: string; ageMs: number } | undefined;
  lifetime: LifetimeModel;
  meanServiceMs: number;
  snapshotBytes: number;
  /** One-way latency to the peer and CPU per transfer, as measured so far, ms. */
  latencyMs: number;
  transferCpuMs: number;
  /** Default cost-model. */
  migration?: LiveMigration;
  /** The most jobs a receiver that accepted may have (its `lower` threshold): the rules' n_dst. */
  receiverLoad?: number;
}

export function pickJob(p: PickInput): { jobId: string; mode: "weak" | "strong" } | undefined {
  const remaining = p.oldest ? estimateRemainingWork(p.oldest.ageMs, p.lifetime) : 0;
  const link: LinkCost = { latency: p.latencyMs, bytesPerTime: BYTES_PER_MS, cpuPerTransfer: p.transferCpuMs, cpuPerByte: CPU_MS_PER_BYTE };
  if (p.migration !== undefined && p.migration !== "cost-model") return pickByRule(p.migration, p, link);
  const decision = chooseMove(
    {
      queued: p.queued.length,
      weakBytes: WEAK_BYTES,
      localWait: Math.max(0, remaining + (p.queued.length - 1) * p.meanServiceMs),
      targetWait: 0, // it answered as a receiver, or asked as one
      ...(p.oldest ? { running: { snapshotBytes: p.snapshotBytes, remainingWork: remaining } } : {}),
    },
    link,
  );
  if (decision.mode === "weak") return { jobId: p.queued[p.queued.length - 1]!, mode: "weak" };
  if (decision.mode === "strong") return { jobId: p.oldest!.id, mode: "strong" };
  return undefined;
}

/**
 * The rule's choice, in mean service times as the rules count: the running job with its age, the
 * queued ones new (age 0, never run here; the newest last). The strong move costs its delay by the
 * link estimates.
 */
function pickByRule(rule: MigrationRule, p: PickInput, link: LinkCost): { jobId: string; mode: "weak" | "strong" } | undefined {
  const mean = p.meanServiceMs;
  const ids = [...(p.oldest ? [p.oldest.id] : []), ...p.queued];
  const candidates = [
    ...(p.oldest ? [{ age: p.oldest.ageMs / mean, moved: false }] : []),
    ...p.queued.map(() => ({ age: 0, moved: false })),
  ];
  const choice = chooseMigrant(rule, candidates, transferDelay(p.snapshotBytes, link) / mean, p.receiverLoad ?? 0);
  return choice.mode === "none" ? undefined : { jobId: ids[choice.index]!, mode: choice.mode };
}
