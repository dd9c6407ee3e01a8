// The budgets a caller's jobs get: a registered client's quotas, or the fixed, smaller ones every
// anonymous caller shares.

import { DEFAULT_QUOTAS, type Quotas } from "../auth/grants.js";
import type { ClientRecord } from "../store/records.js";

/** Anonymous code is downloaded pure computation: smaller memory and fuel than any client's default. */
export const ANONYMOUS_QUOTAS: Readonly<Quotas> = {
  maxModuleBytes: 0, // anonymous callers cannot upload
  maxMemoryPages: 256, // 16 MiB
  maxFuelPerJob: 1_000_000_000,
  // Shared by every anonymous caller on the node: a flood of jobs waits for none of them, it is refused.
  maxConcurrentJobs: 256,
  // Anonymous code binds no resources.
  maxResourceBytes: 0,
  maxResourceEntries: 0,
};

export function quotasOf(client: ClientRecord): Quotas {
  return { ...DEFAULT_QUOTAS, ...client.quotas };
}
