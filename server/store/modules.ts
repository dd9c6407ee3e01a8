// The modules table and its blobs: uploaded code, content-addressed by sha256 (the runtime's code hash).
// The blob is durable before the row exists, so a row never points at missing bytes.

import type { Database } from "better-sqlite3";
import { ServerError } from "../errors.js";
import type { BlobStore } from "./blobs.js";
import { unreferenced } from "./gc.js";
import type { ModuleRecord } from "./records.js";
import { bool, mapConstraint } from "./sql.js";

export interface NewModule {
  /** null: no owner (e.g. downloaded from a peer). */
  owner: string | null;
  public: boolean;
}

interface ModuleRow {
  code_hash: string;
  owner: string | null;
  public: number;
  size: number;
  created_at: number;
}

/** Verified module bytes kept in memory, at most this many in all: every job start reads its module (twice). */
const MODULE_CACHE_BYTES = 32 * 1024 * 1024;

export class ModuleTable {
  /** Module bytes by code hash, verified when read from disk; modules never change, only go away. */
  private readonly cache = new Map<string, Uint8Array>();
  private cachedBytes = 0;

  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly clock: () => number,
  ) {}

  /**
   * Stores the bytes (validate and instrument them first: nothing is stored on rejection). The same
   * bytes again return the existing record with `created: false`; the uploader becomes one of its
   * owners either way, and an upload marked public publishes it (re-uploading never unpublishes).
   */
  put(bytes: Uint8Array, options: NewModule): { module: ModuleRecord; created: boolean } {
    const { hash, size } = this.blobs.put(bytes);
    const record: ModuleRecord = { codeHash: hash, owner: options.owner, public: options.public, size, createdAt: this.clock() };
    const inserted = this.db.transaction(() => {
      const n = this.db
        .prepare(
          "INSERT INTO modules (code_hash, owner, public, size, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (code_hash) DO NOTHING",
        )
        .run(hash, record.owner, record.public ? 1 : 0, size, record.createdAt).changes;
      if (options.owner !== null)
        this.db.prepare("INSERT OR IGNORE INTO module_owners (code_hash, client_id) VALUES (?, ?)").run(hash, options.owner);
      if (!n && options.public) this.db.prepare("UPDATE modules SET public = 1 WHERE code_hash = ?").run(hash);
      return n;
    })();
    return inserted ? { module: record, created: true } : { module: this.require(hash), created: false };
  }

  /** Make `client` an owner of a stored module (say, one whose job migrated in from a node where it ran it). */
  addOwner(codeHash: string, client: string): void {
    this.require(codeHash);
    this.db.prepare("INSERT OR IGNORE INTO module_owners (code_hash, client_id) VALUES (?, ?)").run(codeHash, client);
  }

  /** Whether `client` is one of the module's owners (it uploaded the bytes, or a job of its migrated in with them). */
  ownedBy(codeHash: string, client: string): boolean {
    return this.db.prepare("SELECT 1 FROM module_owners WHERE code_hash = ? AND client_id = ?").get(codeHash, client) !== undefined;
  }

  /** Whether `client` may use the module: it is public, or the client uploaded its bytes. */
  visibleTo(codeHash: string, client: string | null, module: ModuleRecord | undefined = this.get(codeHash)): boolean {
    if (!module) return false;
    if (module.public) return true;
    if (client === null) return false;
    return this.ownedBy(codeHash, client);
  }

  get(codeHash: string): ModuleRecord | undefined {
    const row = this.db.prepare<[string], ModuleRow>("SELECT * FROM modules WHERE code_hash = ?").get(codeHash);
    return row && toRecord(row);
  }

  require(codeHash: string): ModuleRecord {
    const module = this.get(codeHash);
    if (!module) throw new ServerError("not_found", `no module ${codeHash}`);
    return module;
  }

  /** The module's bytes, verified against its hash (store_corrupt if they were damaged on disk). */
  read(codeHash: string): Uint8Array {
    this.require(codeHash);
    const cached = this.cache.get(codeHash);
    if (cached) return cached;
    const bytes = this.blobs.read(codeHash);
    if (bytes.byteLength <= MODULE_CACHE_BYTES / 4) {
      while (this.cachedBytes + bytes.byteLength > MODULE_CACHE_BYTES) this.uncache(this.cache.keys().next().value!);
      this.cache.set(codeHash, bytes);
      this.cachedBytes += bytes.byteLength;
    }
    return bytes;
  }

  private uncache(codeHash: string): void {
    const bytes = this.cache.get(codeHash);
    if (!bytes) return;
    this.cache.delete(codeHash);
    this.cachedBytes -= bytes.byteLength;
  }

  list(filter: { owner?: string; public?: boolean } = {}): ModuleRecord[] {
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    if (filter.owner !== undefined) {
      where.push("owner = :owner");
      params.owner = filter.owner;
    }
    if (filter.public !== undefined) {
      where.push("public = :public");
      params.public = filter.public ? 1 : 0;
    }
    const sql = `SELECT * FROM modules${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, code_hash`;
    return this.db.prepare<[Record<string, string | number>], ModuleRow>(sql).all(params).map(toRecord);
  }

  /**
   * The modules `client` may use — public ones, and private ones it uploaded — newest first, at most
   * `limit`, created before the module `before` if given. `mine`: whether the client owns each.
   */
  visibleList(client: string | null, options: { limit: number; before?: ModuleRecord }): Array<ModuleRecord & { mine: boolean }> {
    const params: Record<string, string | number> = { client: client ?? "", limit: options.limit };
    let cursor = "";
    if (options.before) {
      // Same millisecond: the order they were stored in (rowid).
      cursor = "AND (m.created_at < :at OR (m.created_at = :at AND m.rowid < (SELECT rowid FROM modules WHERE code_hash = :hash)))";
      params.at = options.before.createdAt;
      params.hash = options.before.codeHash;
    }
    const rows = this.db
      .prepare<[Record<string, string | number>], ModuleRow & { mine: number }>(
        `SELECT m.*, o.client_id IS NOT NULL AS mine
         FROM modules m LEFT JOIN module_owners o ON o.code_hash = m.code_hash AND o.client_id = :client
         WHERE (m.public = 1 OR o.client_id IS NOT NULL) ${cursor}
         ORDER BY m.created_at DESC, m.rowid DESC LIMIT :limit`,
      )
      .all(params);
    return rows.map((r) => ({ ...toRecord(r), mine: client !== null && r.mine === 1 }));
  }

  setPublic(codeHash: string, isPublic: boolean): ModuleRecord {
    const changed = this.db.prepare("UPDATE modules SET public = ? WHERE code_hash = ?").run(isPublic ? 1 : 0, codeHash).changes;
    if (changed === 0) throw new ServerError("not_found", `no module ${codeHash}`);
    return this.require(codeHash);
  }

  /** Forgets the module and removes its bytes; a conflict while any job still uses it. */
  delete(codeHash: string): void {
    const orphans = this.db.transaction(() => {
      const changed = mapConstraint(
        `module ${codeHash}`,
        () => this.db.prepare("DELETE FROM modules WHERE code_hash = ?").run(codeHash).changes,
      );
      if (changed === 0) throw new ServerError("not_found", `no module ${codeHash}`);
      return unreferenced(this.db, [codeHash]);
    })();
    this.uncache(codeHash);
    for (const hash of orphans) this.blobs.delete(hash);
  }
}

function toRecord(row: ModuleRow): ModuleRecord {
  return { codeHash: row.code_hash, owner: row.owner, public: bool(row.public), size: row.size, createdAt: row.created_at };
}
