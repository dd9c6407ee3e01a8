// Opens the metadata database with Ferry's settings and brings its schema up to date, one migration per
// transaction; refuses databases that belong to another program or to a newer Ferry.

import type { Database, Statement } from "better-sqlite3";
import { ServerError } from "../errors.js";
import { sqliteDriver } from "./sqlite-driver.js";
import { APPLICATION_ID, MIGRATIONS, type Migration } from "./schema.js";

export interface OpenDatabaseOptions {
  /** FULL (default) fsyncs every commit; NORMAL may lose the last commits on power loss (never on a process crash). */
  synchronous?: "full" | "normal";
  /** How long a writer waits for another connection's lock before failing (another process, e.g. `ferry admin`). */
  busyTimeoutMs?: number;
  /** Tests pass their own list; everything else uses the schema's. */
  migrations?: readonly Migration[];
}

export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Database {
  const DatabaseConstructor = sqliteDriver(); // store_unavailable when better-sqlite3 is not installed
  let db: Database;
  try {
    db = new DatabaseConstructor(path);
  } catch (e) {
    throw new ServerError("store_corrupt", `cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`);
    // WAL: readers never block the writer, and a commit is one append (plus fsync) to the log.
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal") throw new ServerError("store_corrupt", `${path}: cannot switch to WAL (journal_mode is ${String(mode)})`);
    db.pragma(`synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
    db.pragma("foreign_keys = ON");
    migrate(db, options.migrations ?? MIGRATIONS);
    cacheStatements(db);
    return db;
  } catch (e) {
    db.close();
    // The file exists but is not a database we can read; anything else (a failing migration) is rethrown as is.
    const code = (e as { code?: unknown }).code;
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
      throw new ServerError("store_corrupt", `${path}: ${(e as Error).message}`, { cause: e });
    }
    throw e;
  }
}

/** Distinct SQL texts kept compiled; past this the cache starts over (dynamic filters make a few variants). */
const STATEMENT_CACHE_SIZE = 256;

/**
 * better-sqlite3 compiles the SQL on every `prepare()`, and the tables prepare at each call: compiling
 * was the largest single cost of a tiny job (bench/node.ts). Statements are reused by SQL text; a
 * reused one has pluck mode reset, so a call site that does not ask for it never inherits it. Safe
 * because every statement runs to completion synchronously (none is left iterating).
 */
function cacheStatements(db: Database): void {
  const compile = db.prepare.bind(db);
  const cache = new Map<string, Statement>();
  db.prepare = ((sql: string) => {
    const cached = cache.get(sql);
    if (cached) return cached.reader ? cached.pluck(false) : cached;
    if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
    const statement = compile(sql);
    cache.set(sql, statement);
    return statement;
  }) as Database["prepare"];
}

/** Applies every migration above the database's version; returns the versions before and after. */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): { from: number; to: number } {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i} has version ${m.version}, expected ${i + 1}`);
  });
  const latest = migrations.length;
  const from = checkOwnership(db, latest);
  for (const m of migrations.slice(from)) {
    // IMMEDIATE takes the write lock first, so two processes opening the same directory apply each
    // migration once: the second re-reads the version under the lock and skips what is done.
    db.transaction(() => {
      const current = userVersion(db);
      if (current >= m.version) return;
      if (current !== m.version - 1) throw new ServerError("store_version", `schema at version ${current}, cannot apply ${m.version}`);
      m.up(db);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return { from, to: userVersion(db) };
}

function checkOwnership(db: Database, latest: number): number {
  const version = userVersion(db);
  const app = Number(db.pragma("application_id", { simple: true }));
  if (app !== APPLICATION_ID) {
    const tables = Number(db.prepare("SELECT count(*) FROM sqlite_schema").pluck().get());
    if (app !== 0 || version !== 0 || tables !== 0) {
      throw new ServerError("store_version", "the metadata database was not created by Ferry");
    }
  }
  if (version > latest) {
    throw new ServerError("store_version", `schema version ${version} is newer than this Ferry understands (${latest}); upgrade Ferry`);
  }
  return version;
}

function userVersion(db: Database): number {
  return Number(db.pragma("user_version", { simple: true }));
}
