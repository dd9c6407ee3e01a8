// The node's recent moves out (GET /migrations, the dashboard's live feed): which job went where,
// strong or weak, its downtime (stopped here → decided), the bytes sent and the pre-copy rounds.
// Fed by the migration's own named instants (TransferProbe), so the protocol code knows nothing of it;
// kept in memory, the last MIGRATION_LOG_SIZE moves: a restart forgets them, like /balance's counters.

import type { TransferBytes, TransferMark, TransferProbe } from "../migration/migrator.js";
import type { Store } from "../store/store.js";
import type { Caller } from "./placement.js";

/** Moves remembered (newest kept). */
export const MIGRATION_LOG_SIZE = 200;
/** Transfers under way tracked at once; a transfer that fails never reaches its decision and is dropped past this. */
const OPEN_TRANSFERS = 64;

/** One move out of this node, as GET /migrations serves it. */
export interface MigrationEntry {
  /** Unix ms of the decision (the job became the target's). */
  at: number;
  /** The job's id — only for its owner; null for everyone else (an id reaches an anonymous job). */
  job: string | null;
  from: string;
  to: string;
  mode: "strong" | "weak";
  /** Stopped here → decided, ms: what the job's owner waited. */
  downtimeMs: number | null;
  /** Bodies sent: the pre-copy rounds and the PREPARE. */
  bytes: number;
  precopyRounds: number;
}

interface Open {
  stoppedAt?: number;
  bytes: number;
  rounds: number;
  strong: boolean;
}

interface Logged extends Omit<MigrationEntry, "job"> {
  job: string;
  owner: string | null;
}

export class MigrationLog {
  private readonly entries: Logged[] = [];
  private readonly open = new Map<string, Open>();

  constructor(
    private readonly nodeId: string,
    private readonly store: Store,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** The probe to give the migrator: records, then calls `next` (a test's or bench's own probe). */
  probe(next?: TransferProbe): TransferProbe {
    return (mark, jobId, nodeId, bytes) => {
      this.mark(mark, jobId, bytes);
      next?.(mark, jobId, nodeId, bytes);
    };
  }

  /** Newest first; job ids only where `caller` owns the job. */
  visibleTo(caller: Caller, limit = MIGRATION_LOG_SIZE): MigrationEntry[] {
    return this.entries
      .slice(-limit)
      .reverse()
      .map(({ owner, job, ...e }) => ({ ...e, job: caller !== null && owner === caller.id ? job : null }));
  }

  private mark(mark: TransferMark, jobId: string, bytes?: TransferBytes): void {
    if (!mark.startsWith("source:")) return;
    const t = this.openOf(jobId);
    if (mark === "source:precopied") t.rounds++;
    if (mark === "source:precopied" || mark === "source:encoded") t.bytes += bytes?.body ?? 0;
    if (mark === "source:stopped") t.stoppedAt = this.clock();
    if (mark === "source:snapshotted") t.strong = true;
    if (mark === "source:decided") this.decided(jobId, t);
  }

  private openOf(jobId: string): Open {
    let t = this.open.get(jobId);
    if (!t) {
      t = { bytes: 0, rounds: 0, strong: false };
      this.open.set(jobId, t);
      // A transfer that failed never decides: the oldest such entry goes when too many are open.
      if (this.open.size > OPEN_TRANSFERS) this.open.delete(this.open.keys().next().value as string);
    }
    return t;
  }

  private decided(jobId: string, t: Open): void {
    this.open.delete(jobId);
    const record = this.store.jobs.get(jobId);
    this.entries.push({
      at: Date.now(),
      job: jobId,
      owner: record?.owner ?? null,
      from: this.nodeId,
      to: record?.node ?? "?",
      // Pre-copy rounds only happen before a strong move; a snapshot is taken only for one.
      mode: t.strong || t.rounds > 0 ? "strong" : "weak",
      downtimeMs: t.stoppedAt === undefined ? null : Math.round((this.clock() - t.stoppedAt) * 10) / 10,
      bytes: t.bytes,
      precopyRounds: t.rounds,
    });
    if (this.entries.length > MIGRATION_LOG_SIZE) this.entries.splice(0, this.entries.length - MIGRATION_LOG_SIZE);
  }
}
