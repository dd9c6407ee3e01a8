// Which blobs metadata still refers to, and the collector that deletes the rest. Blob files are
// deleted only after the transaction that dropped their last reference has committed.

import type { Database } from "better-sqlite3";
import type { BlobStore } from "./blobs.js";

const REFERENCES = `
  SELECT 1 FROM modules WHERE code_hash = :hash
  UNION ALL SELECT 1 FROM checkpoints WHERE snapshot_hash = :hash OR base_hash = :hash
  UNION ALL SELECT 1 FROM jobs WHERE input_hash = :hash OR output_hash = :hash OR trees_hash = :hash
  LIMIT 1`;

export function blobReferenced(db: Database, hash: string): boolean {
  return db.prepare(REFERENCES).get({ hash }) !== undefined;
}

/** Of `hashes`, the ones nothing refers to any more (call inside the transaction that dropped them). */
export function unreferenced(db: Database, hashes: Iterable<string | null>): string[] {
  const out = new Set<string>();
  for (const h of hashes) if (h !== null && !blobReferenced(db, h)) out.add(h);
  return [...out];
}

/**
 * Deletes blobs no row refers to and older than `graceMs`: left by a crash between writing a blob and
 * committing its row, or between committing a delete and removing the file. The grace period keeps
 * blobs that another writer has put but not yet referenced.
 */
export function collectGarbage(db: Database, blobs: BlobStore, graceMs: number, nowMs: number): string[] {
  const removed: string[] = [];
  for (const { hash, mtimeMs } of blobs.list()) {
    if (nowMs - mtimeMs < graceMs || blobReferenced(db, hash)) continue;
    blobs.delete(hash);
    removed.push(hash);
  }
  return removed;
}
