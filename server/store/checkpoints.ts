// The checkpoints table: a running job's periodic snapshots, newest last. Each job keeps its last N,
// and the full checkpoint any of those is a delta of (base_hash, checkpoint-format.ts); pruning
// removes the other rows and then the snapshot blobs nothing else refers to.

import type { Database } from "better-sqlite3";
import { ServerError } from "../errors.js";
import type { BlobStore } from "./blobs.js";
import { unreferenced } from "./gc.js";
import type { CheckpointRecord, SegmentStats } from "./records.js";

/** Enough to survive one checkpoint that turns out unreadable; snapshots of big guests are big. */
export const DEFAULT_CHECKPOINTS_KEPT = 2;

interface CheckpointRow {
  job_id: string;
  seq: number;
  snapshot_hash: string;
  size: number;
  fuel: number;
  created_at: number;
  base_hash: string | null;
  memory_pages: number | null;
  touched_pages: number | null;
  saved_frame_bytes: number | null;
}

export interface CheckpointOptions {
  fuel: number;
  /** The job must be at this epoch (one that has moved on is a conflict). */
  expectEpoch?: number;
  /** The blob is a delta of this full checkpoint's blob, which must be one of the job's rows. */
  baseHash?: string;
  /** What the snapshot holds (checkpoint-format.ts segmentStats), kept in the row. */
  segment?: SegmentStats;
}

export class CheckpointTable {
  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly clock: () => number,
    private readonly keep: number,
  ) {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new ServerError("bad_request", `checkpoints kept must be ≥ 1, got ${keep}`);
  }

  /**
   * Stores an encoded snapshot as the job's newest checkpoint (blob durable first, then the row, in one
   * transaction with the pruning of older rows). With `expectEpoch`, a job that has moved on is a conflict.
   */
  add(jobId: string, snapshot: Uint8Array, options: CheckpointOptions): CheckpointRecord {
    const { hash, size } = this.blobs.put(snapshot);
    return this.insert(jobId, hash, size, options);
  }

  private insert(jobId: string, hash: string, size: number, options: CheckpointOptions): CheckpointRecord {
    const { record, orphans } = this.db
      .transaction(() => {
        const epoch = this.db.prepare<[string], number>("SELECT epoch FROM jobs WHERE id = ?").pluck().get(jobId);
        if (epoch === undefined) throw new ServerError("not_found", `no job ${jobId}`);
        if (options.expectEpoch !== undefined && epoch !== options.expectEpoch) {
          throw new ServerError("conflict", `job ${jobId} is at epoch ${epoch}, not ${options.expectEpoch}`);
        }
        const baseHash = options.baseHash ?? null;
        if (
          baseHash !== null &&
          !this.db.prepare("SELECT 1 FROM checkpoints WHERE job_id = ? AND snapshot_hash = ?").get(jobId, baseHash)
        ) {
          throw new ServerError("conflict", `job ${jobId} has no checkpoint ${baseHash} for a delta to build on`);
        }
        const last = this.db.prepare<[string], number | null>("SELECT max(seq) FROM checkpoints WHERE job_id = ?").pluck().get(jobId) ?? 0;
        const record: CheckpointRecord = { jobId, seq: last + 1, snapshotHash: hash, size, fuel: options.fuel, createdAt: this.clock() };
        if (baseHash !== null) record.baseHash = baseHash;
        if (options.segment) record.segment = { ...options.segment };
        const g = options.segment;
        this.db
          .prepare(
            `INSERT INTO checkpoints (job_id, seq, snapshot_hash, size, fuel, created_at, base_hash, memory_pages, touched_pages, saved_frame_bytes)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            jobId,
            record.seq,
            hash,
            size,
            record.fuel,
            record.createdAt,
            baseHash,
            g?.memoryPages ?? null,
            g?.touchedPages ?? null,
            g?.savedFrameBytes ?? null,
          );
        // Older than the last `keep`, and not the base of a delta among them (or of the new one).
        const pruned = this.db
          .prepare<[{ job: string; cut: number }], string>(
            `DELETE FROM checkpoints WHERE job_id = @job AND seq <= @cut AND snapshot_hash NOT IN
               (SELECT base_hash FROM checkpoints WHERE job_id = @job AND seq > @cut AND base_hash IS NOT NULL)
             RETURNING snapshot_hash`,
          )
          .pluck()
          .all({ job: jobId, cut: record.seq - this.keep });
        return { record, orphans: unreferenced(this.db, pruned) };
      })
      .immediate();
    // After the commit: a crash here leaves orphan blobs (collected at the next open), never a dangling row.
    for (const h of orphans) this.blobs.delete(h);
    return record;
  }

  /**
   * A checkpoint row for a blob already stored durably (a pre-copied migration base), without
   * hashing or writing it again. It must exist; the row references it from now on.
   */
  addStored(jobId: string, hash: string, size: number, options: CheckpointOptions): CheckpointRecord {
    if (!this.blobs.has(hash)) throw new ServerError("not_found", `no stored blob ${hash}`);
    return this.insert(jobId, hash, size, options);
  }

  /**
   * A checkpoint whose blob a writer off the event loop made (a complete, fsynced temp file in the
   * blob store's `incoming` directory, and its sha256): moved into place, then the row.
   */
  async addFile(
    jobId: string,
    file: { temp: string; sha256: string; size: number },
    options: CheckpointOptions,
  ): Promise<CheckpointRecord> {
    await this.blobs.adopt(file.temp, file.sha256, file.size);
    return this.insert(jobId, file.sha256, file.size, options);
  }

  latest(jobId: string): CheckpointRecord | undefined {
    const row = this.db.prepare<[string], CheckpointRow>("SELECT * FROM checkpoints WHERE job_id = ? ORDER BY seq DESC LIMIT 1").get(jobId);
    return row && toRecord(row);
  }

  /** Oldest first. */
  list(jobId: string): CheckpointRecord[] {
    return this.db.prepare<[string], CheckpointRow>("SELECT * FROM checkpoints WHERE job_id = ? ORDER BY seq").all(jobId).map(toRecord);
  }

  /** The snapshot bytes, verified against their hash (store_corrupt if damaged). */
  read(checkpoint: CheckpointRecord): Uint8Array {
    return this.blobs.read(checkpoint.snapshotHash);
  }
}

function toRecord(row: CheckpointRow): CheckpointRecord {
  const record: CheckpointRecord = {
    jobId: row.job_id,
    seq: row.seq,
    snapshotHash: row.snapshot_hash,
    size: row.size,
    fuel: row.fuel,
    createdAt: row.created_at,
  };
  if (row.base_hash !== null) record.baseHash = row.base_hash;
  if (row.memory_pages !== null && row.touched_pages !== null && row.saved_frame_bytes !== null)
    record.segment = { memoryPages: row.memory_pages, touchedPages: row.touched_pages, savedFrameBytes: row.saved_frame_bytes };
  return record;
}
