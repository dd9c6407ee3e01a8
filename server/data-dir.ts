// A node's data directory before anything is stored in it: checked (a directory, this user's,
// writable), created only when asked, and owned by one process at a time (docs/store.md, "One
// owner per data directory").
//
// The owner lock is an exclusive SQLite lock on <data-dir>/owner.lock (locking_mode=EXCLUSIVE): an
// fcntl/LockFileEx lock the kernel drops when its process dies however it dies, kill -9 included,
// so a dead owner never blocks a restart, and no pid is ever trusted to say who is alive (pids are
// reused). The lock works between connections of one process too (two nodes in one test process).
// <data-dir>/owner.json only *describes* the owner (pid, command, start time) for the message a
// second process prints; it is never what decides.

import type { Database } from "better-sqlite3";
import { mkdirSync, readFileSync, rmSync, statSync, accessSync, constants, type Stats } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../runtime/light.js";
import { ServerError } from "./errors.js";
import { processAlive } from "./process-alive.js";
import { sqliteDriver } from "./store/sqlite-driver.js";

export const OWNER_LOCK_FILE = "owner.lock";
export const OWNER_INFO_FILE = "owner.json";

export interface OwnerInfo {
  pid: number;
  /** What holds it, e.g. "ferry serve". */
  command: string;
  host: string;
  /** Unix ms. */
  since: number;
}

export interface DataDirLock {
  readonly dir: string;
  /** Idempotent: drops the lock and the owner description. */
  release(): void;
}

/**
 * Checks that `dir` can be a data directory: an existing directory of this user that this process
 * may write, or — with `create` — a path where one can be made (then made, mode 0700). Returns the
 * first directory it created (undefined if none), so a caller that fails later can remove exactly
 * what it made. Throws data_dir_unusable naming the problem and what to do.
 */
export function prepareDataDir(dir: string, options: { create: boolean }): { created: string | undefined } {
  const unusable = (problem: string): never => {
    throw new ServerError("data_dir_unusable", `${dir} ${problem}`);
  };
  let stats: Stats | undefined;
  try {
    stats = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR") unusable("is not a directory: part of the path is a file; choose another --data-dir");
    if (code === "EACCES") unusable("cannot be reached: permission denied on a directory above it");
    if (code !== "ENOENT") throw e;
  }
  if (!stats) {
    if (!options.create)
      unusable(
        "does not exist (a node creates its data directory on its first start; pass --create to make an empty one here, or check the path)",
      );
    try {
      return { created: mkdirSync(dir, { recursive: true, mode: 0o700 }) };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return unusable(
        `cannot be created (${code === "EACCES" || code === "EPERM" ? "permission denied" : code === "ENOTDIR" || code === "EEXIST" ? "part of the path is a file" : code === "EROFS" ? "read-only file system" : (code ?? String(e))}); choose another --data-dir`,
      );
    }
  }
  if (!stats.isDirectory()) unusable("is a file, not a directory; choose another --data-dir");
  // Another user's directory: writing into it would leave files its owner cannot use (and root could).
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid)
    unusable(`belongs to another user (uid ${stats.uid}; this process runs as uid ${uid}); run as that user, or choose another --data-dir`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    unusable("is not writable by this user; fix its permissions (chmod u+rwx) or choose another --data-dir");
  }
  return { created: undefined };
}

/**
 * Makes this process the data directory's one owner, or throws data_dir_in_use naming the owner's
 * pid without changing anything. `command` says what the owner is ("ferry serve").
 */
export function lockDataDir(dir: string, command: string): DataDirLock {
  const lockPath = join(dir, OWNER_LOCK_FILE);
  const DatabaseConstructor = sqliteDriver(); // store_unavailable when better-sqlite3 is not installed
  let db: Database;
  try {
    db = new DatabaseConstructor(lockPath, { timeout: 0 });
  } catch (e) {
    throw new ServerError("data_dir_unusable", `${dir}: cannot open ${OWNER_LOCK_FILE} (${(e as Error).message})`, { cause: e });
  }
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    // A write takes the EXCLUSIVE lock; in this locking mode it is kept until the connection closes.
    db.exec("BEGIN EXCLUSIVE; PRAGMA user_version = 1; COMMIT;");
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code === "SQLITE_BUSY") throw new ServerError("data_dir_in_use", inUseMessage(dir));
    throw new ServerError("data_dir_unusable", `${dir}: ${OWNER_LOCK_FILE} cannot be locked (${(e as Error).message})`, { cause: e });
  }
  const info: OwnerInfo = { pid: process.pid, command, host: hostname(), since: Date.now() };
  try {
    writeFileAtomic(join(dir, OWNER_INFO_FILE), new TextEncoder().encode(`${JSON.stringify(info)}\n`));
  } catch (e) {
    db.close();
    throw new ServerError("data_dir_unusable", `${dir}: cannot write ${OWNER_INFO_FILE} (${(e as Error).message})`, { cause: e });
  }
  let released = false;
  return {
    dir,
    release: () => {
      if (released) return;
      released = true;
      rmSync(join(dir, OWNER_INFO_FILE), { force: true });
      db.close();
    },
  };
}

/** Who holds it, as far as owner.json tells (a stale description from a dead owner is not repeated). */
function inUseMessage(dir: string): string {
  const owner = readOwner(dir);
  const who =
    owner && (owner.host !== hostname() || processAlive(owner.pid))
      ? `${owner.command} (pid ${owner.pid}${owner.host === hostname() ? "" : ` on ${owner.host}`}, since ${new Date(owner.since).toISOString()})`
      : "another process";
  return `${resolve(dir)} is in use by ${who}; stop it first, or give this one another --data-dir`;
}

function readOwner(dir: string): OwnerInfo | undefined {
  try {
    const o = JSON.parse(readFileSync(join(dir, OWNER_INFO_FILE), "utf8")) as Partial<OwnerInfo>;
    if (typeof o.pid !== "number" || typeof o.command !== "string" || typeof o.since !== "number") return undefined;
    return { pid: o.pid, command: o.command, since: o.since, host: typeof o.host === "string" ? o.host : hostname() };
  } catch {
    return undefined;
  }
}
