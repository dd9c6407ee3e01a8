// The budgets a caller's jobs get: a registered client's quotas, or the smaller ones every anonymous
// caller shares (their fuel limit is a node option: node-limits.ts, maxAnonymousFuelPerJob).

import { DEFAULT_QUOTAS, type Quotas } from "../formats/grants.js";
import type { ClientRecord } from "../store/records.js";
import { DEFAULT_NODE_LIMITS, type NodeLimits } from "./node-limits.js";

/** Anonymous code is downloaded pure computation: smaller memory and fuel than any client's default. */
export const ANONYMOUS_QUOTAS: Readonly<Quotas> = {
  maxModuleBytes: 0, // anonymous callers cannot upload
  maxMemoryPages: 256, // 16 MiB
  maxFuelPerJob: DEFAULT_NODE_LIMITS.maxAnonymousFuelPerJob,
  // Shared by every anonymous caller on the node: a flood of jobs waits for none of them, it is refused.
  maxConcurrentJobs: 256,
  // Anonymous code binds no resources.
  maxResourceBytes: 0,
  maxResourceEntries: 0,
};

export function quotasOf(client: ClientRecord): Quotas {
  return { ...DEFAULT_QUOTAS, ...client.quotas };
}

/** The anonymous quotas on a node with these limits. */
export function anonymousQuotas(limits: Pick<NodeLimits, "maxAnonymousFuelPerJob">): Readonly<Quotas> {
  return { ...ANONYMOUS_QUOTAS, maxFuelPerJob: limits.maxAnonymousFuelPerJob };
}
