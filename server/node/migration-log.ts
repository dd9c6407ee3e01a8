// The node's recent moves (GET /migrations, the dashboard's live feed and a job's history): out —
// which job went where, strong or weak, its downtime (stopped here → decided), the bytes sent and the
// pre-copy rounds — and in, as the receiving side saw it: from where, the bytes and rounds received,
// and its share of the downtime (PREPARE received → running here). Fed by the migration's own named
// instants (TransferProbe), so the protocol code knows nothing of it; kept in memory, the last
// MIGRATION_LOG_SIZE moves of both directions: a restart forgets them, like /balance's counters.

import { preparedFrom, type TransferBytes, type TransferMark, type TransferProbe } from "../migration/migrator.js";
import type { Store } from "../store/store.js";
import type { Caller } from "./placement.js";

/** Moves remembered (newest kept). */
export const MIGRATION_LOG_SIZE = 200;
/** Transfers under way tracked at once; a transfer that fails never reaches its decision and is dropped past this. */
const OPEN_TRANSFERS = 64;

/** One move out of or into this node, as GET /migrations serves it. */
export interface MigrationEntry {
  /** "out": this node sent the job; "in": it received it. */
  direction: "out" | "in";
  /** Unix ms of the decision (out) or of the job running here (in). */
  at: number;
  /** The job's id — only for its owner; null for everyone else (an id reaches an anonymous job). */
  job: string | null;
  from: string;
  to: string;
  mode: "strong" | "weak";
  /**
   * Out: stopped here → decided, ms, what the job's owner waited. In: PREPARE received → running here,
   * the part of that wait the receiver saw (the sender's stop, snapshot and upload come before it).
   */
  downtimeMs: number | null;
  /** Bodies sent (out) or received (in): the pre-copy rounds and the PREPARE. */
  bytes: number;
  precopyRounds: number;
}

interface Open {
  /** Out: the job stopped here; in: the PREPARE arrived. */
  stoppedAt?: number;
  bytes: number;
  rounds: number;
  strong: boolean;
  /** In: the node that sent it. */
  from?: string;
}

interface Logged extends Omit<MigrationEntry, "job"> {
  job: string;
  owner: string | null;
}

export class MigrationLog {
  private readonly entries: Logged[] = [];
  /** Transfers under way, out and in (a job may be both at once only across epochs, so apart). */
  private readonly open = new Map<string, Open>();
  private readonly openIn = new Map<string, Open>();

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
    const out = mark.startsWith("source:");
    const t = this.openOf(out ? this.open : this.openIn, jobId);
    if (mark === "source:precopied" || mark === "target:precopied") t.rounds++;
    if (mark === "source:precopied" || mark === "source:encoded" || mark === "target:precopied" || mark === "target:prepare")
      t.bytes += bytes?.body ?? 0;
    if (mark === "source:stopped" || mark === "target:prepare") t.stoppedAt = this.clock();
    if (mark === "source:snapshotted" || mark === "target:decoded") t.strong = true;
    if (mark === "target:stored") {
      const record = this.store.jobs.get(jobId);
      t.from = record ? preparedFrom(record) : undefined;
    }
    if (mark === "source:decided") this.decided(jobId, t, "out");
    if (mark === "target:running") this.decided(jobId, t, "in");
  }

  private openOf(open: Map<string, Open>, jobId: string): Open {
    let t = open.get(jobId);
    if (!t) {
      t = { bytes: 0, rounds: 0, strong: false };
      open.set(jobId, t);
      // A transfer that failed never decides: the oldest such entry goes when too many are open.
      if (open.size > OPEN_TRANSFERS) open.delete(open.keys().next().value as string);
    }
    return t;
  }

  private decided(jobId: string, t: Open, direction: "out" | "in"): void {
    (direction === "out" ? this.open : this.openIn).delete(jobId);
    const record = this.store.jobs.get(jobId);
    this.entries.push({
      direction,
      at: Date.now(),
      job: jobId,
      owner: record?.owner ?? null,
      from: direction === "out" ? this.nodeId : (t.from ?? "?"),
      to: direction === "out" ? (record?.node ?? "?") : this.nodeId,
      // Pre-copy rounds only happen before a strong move; a snapshot is taken (and decoded) only for one.
      mode: t.strong || t.rounds > 0 ? "strong" : "weak",
      downtimeMs: t.stoppedAt === undefined ? null : Math.round((this.clock() - t.stoppedAt) * 10) / 10,
      bytes: t.bytes,
      precopyRounds: t.rounds,
    });
    if (this.entries.length > MIGRATION_LOG_SIZE) this.entries.splice(0, this.entries.length - MIGRATION_LOG_SIZE);
  }
}
