// Which job a balancing transfer moves, and how: the last queued one weakly, or the oldest running
// one strongly when that pays — by the runtime's cost model (chooseMove) over this node's estimates
// of the link to the peer and of the running job's remaining work.

import { chooseMove, estimateRemainingWork, type LifetimeModel, type LinkCost } from "../../runtime/balance/index.js";

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
}

export function pickJob(p: PickInput): { jobId: string; mode: "weak" | "strong" } | undefined {
  const remaining = p.oldest ? estimateRemainingWork(p.oldest.ageMs, p.lifetime) : 0;
  const link: LinkCost = { latency: p.latencyMs, bytesPerTime: BYTES_PER_MS, cpuPerTransfer: p.transferCpuMs, cpuPerByte: CPU_MS_PER_BYTE };
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
