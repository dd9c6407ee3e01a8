// The node's durable store: one data directory holding the SQLite metadata database (ferry.db) and the
// content-addressed blobs (blobs/). Opening it migrates the schema and cleans up after a crash.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Database } from "better-sqlite3";
import { BlobStore } from "./blobs.js";
import { CheckpointTable, DEFAULT_CHECKPOINTS_KEPT } from "./checkpoints.js";
import { ClientTable } from "./clients.js";
import { blobReferenced, collectGarbage } from "./gc.js";
import { JobTable } from "./jobs.js";
import { openDatabase } from "./migrate.js";
import { ModuleTable } from "./modules.js";
import { NonceTable } from "./nonces.js";
import { PeerTable } from "./peers.js";
import { PinTable } from "./pins.js";
import type { Migration } from "./schema.js";

export const DATABASE_FILE = "ferry.db";
export const BLOBS_DIR = "blobs";
/** Unreferenced blobs younger than this survive the collection at open: another process may be about to reference them. */
export const DEFAULT_GARBAGE_GRACE_MS = 10 * 60 * 1000;

export interface StoreOptions {
  /** "full" (default): every commit is fsynced. "normal": faster; may lose the last commits on power loss. */
  synchronous?: "full" | "normal";
  busyTimeoutMs?: number;
  /** Checkpoints kept per job (default DEFAULT_CHECKPOINTS_KEPT). */
  checkpointsKept?: number;
  /** Unix milliseconds for created/updated timestamps (default Date.now). */
  clock?: () => number;
  /** Grace period of the garbage collection at open (default DEFAULT_GARBAGE_GRACE_MS). */
  garbageGraceMs?: number;
  /** Tests only: a schema other than the real one. */
  migrations?: readonly Migration[];
}

/** What open() found and cleaned up. */
export interface OpenReport {
  tempFilesRemoved: number;
  blobsCollected: number;
}

export class Store implements Disposable {
  readonly blobs: BlobStore;
  readonly clients: ClientTable;
  readonly modules: ModuleTable;
  readonly jobs: JobTable;
  readonly checkpoints: CheckpointTable;
  readonly nonces: NonceTable;
  readonly peers: PeerTable;
  /** Directories kept here for jobs elsewhere (global references). */
  readonly pins: PinTable;
  readonly openReport: OpenReport;
  private readonly clock: () => number;
  private readonly synchronous: "full" | "normal";

  private constructor(
    readonly dataDir: string,
    private readonly db: Database,
    options: StoreOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.synchronous = options.synchronous ?? "full";
    this.blobs = new BlobStore(join(dataDir, BLOBS_DIR));
    this.clients = new ClientTable(db, this.clock);
    this.modules = new ModuleTable(db, this.blobs, this.clock);
    this.jobs = new JobTable(db, this.blobs, this.clock);
    this.checkpoints = new CheckpointTable(db, this.blobs, this.clock, options.checkpointsKept ?? DEFAULT_CHECKPOINTS_KEPT);
    this.nonces = new NonceTable(db);
    this.peers = new PeerTable(db);
    this.pins = new PinTable(db, this.clock);
    // Crash recovery: temp files of writers that died, then blobs whose row was never committed.
    const tempFilesRemoved = this.blobs.sweepTemp();
    const blobsCollected = this.collectGarbage(options.garbageGraceMs ?? DEFAULT_GARBAGE_GRACE_MS).length;
    this.openReport = { tempFilesRemoved, blobsCollected };
  }

  /** Opens (creating if needed) the data directory; throws store_version / store_corrupt if it cannot be used. */
  static open(dataDir: string, options: StoreOptions = {}): Store {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const db = openDatabase(join(dataDir, DATABASE_FILE), options);
    try {
      return new Store(dataDir, db, options);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Now, on the store's clock (Unix ms): what created/updated timestamps are written with. */
  now(): number {
    return this.clock();
  }

  get schemaVersion(): number {
    return Number(this.db.pragma("user_version", { simple: true }));
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction (all table writes inside commit or roll back together). Write
   * any blobs before calling: blob files are not transactional, so they must exist before rows name them.
   */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /**
   * Like `transaction`, but its commit is fsynced even on a store opened with synchronous "normal"
   * (the WAL is sequential, so everything committed before it becomes durable too). For the writes a
   * protocol promise rests on: a migration's prepared job and its decision.
   */
  durableTransaction<T>(fn: () => T): T {
    if (this.synchronous === "full") return this.transaction(fn);
    this.db.pragma("synchronous = FULL");
    try {
      return this.transaction(fn);
    } finally {
      this.db.pragma("synchronous = NORMAL");
    }
  }

  /** Deletes unreferenced blobs older than `graceMs` (by file time, not the injected clock); returns their hashes. */
  collectGarbage(graceMs = DEFAULT_GARBAGE_GRACE_MS): string[] {
    return collectGarbage(this.db, this.blobs, graceMs, Date.now());
  }

  /** Delete a blob no row refers to (say, a superseded pre-copy base); false if one does. */
  dropUnreferencedBlob(hash: string): boolean {
    if (blobReferenced(this.db, hash)) return false;
    this.blobs.delete(hash);
    return true;
  }

  /** Idempotent. Checkpoints the WAL into the database file so the directory is compact when copied. */
  close(): void {
    if (!this.db.open) return;
    this.db.pragma("wal_checkpoint(TRUNCATE)");
    this.db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
