// Small helpers shared by the tables: constraint violations as typed errors, JSON columns, booleans.

import { ServerError } from "../errors.js";
import type { Json } from "./records.js";

/** Runs `fn`, turning SQLite constraint violations into `conflict` (duplicate key, missing referenced row). */
export function mapConstraint<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("SQLITE_CONSTRAINT")) {
      const kind =
        code === "SQLITE_CONSTRAINT_FOREIGNKEY"
          ? "refers to a missing row or is still referenced"
          : "already exists or breaks a constraint";
      throw new ServerError("conflict", `${what} ${kind}`, { cause: e });
    }
    throw e;
  }
}

/** Parses a JSON column; a row that does not parse was not written by this code. */
export function parseJsonColumn<T = Json>(table: string, column: string, text: string | null): T {
  if (text === null) return null as T;
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new ServerError("store_corrupt", `${table}.${column} is not valid JSON`, { cause: e });
  }
}

export function bool(value: number): boolean {
  return value !== 0;
}

/**
 * Ids name directories (a client's resource root is resources/<id>), so "." and ".." — the
 * directory itself and the data directory above it — are not ids.
 */
export const ID_PATTERN = /^(?!\.\.?$)[A-Za-z0-9._-]{1,64}$/;

export function checkId(kind: string, id: string): void {
  if (!ID_PATTERN.test(id))
    throw new ServerError("bad_request", `${kind} id "${id}" must be 1-64 of A-Z a-z 0-9 . _ - (and not "." or "..")`);
}
