// What a FileResources root holds, as this process knows it: the ledger of its bytes (measured when
// a writer opens, then kept current by every write, commit and discard of any handle on the root),
// the temp files of live handles (any other temp file under a root is debris, removed when seen),
// and the walk that measures a root exactly.

import { randomBytes } from "node:crypto";
import { lstatSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isMissing } from "./temp-file-io.js";

/** Temp files are `.ferry-tmp-<hex>`; guests cannot name them. */
export const TEMP_PREFIX = ".ferry-tmp-";

/** What the root holds: bytes of regular files (open handles' temp files included), and entries (files, directories, links). */
export interface ResourceUsage {
  bytes: number;
  entries: number;
}

/**
 * The bytes under one root as this process knows them: measured when a writer opens, then kept
 * current by every write, commit and discard of any handle on the root, so each write is checked
 * against everything in flight without walking the directory. Shared by every FileResources on the
 * same real root; dropped when no writer is open (the next open measures afresh).
 */
export interface RootLedger {
  bytes: number;
  writers: number;
  /** Targets whose present bytes a writer is replacing: at most one writer is credited per target. */
  credited: Set<string>;
}

export const LEDGERS = new Map<string, RootLedger>();
/** Temp files of handles alive in this process (absolute paths); any other temp file is debris. */
export const LIVE_TEMPS = new Set<string>();

/** One open handle's state: where its bytes are, and (for a writer) what it is replacing. */
export interface OpenHandle {
  /** The resource's name, for messages. */
  name: string;
  realRoot: string;
  temp: string;
  reading: boolean;
  /** Bytes at the start of the temp file the handle may read: the file as it was at open. */
  readable: number;
  /** Bytes the open copied (a read-write open of an existing file), charged to the guest. */
  openedBytes?: number;
  writing:
    | {
        segments: string[];
        ledger: RootLedger;
        credit: number;
        creditKey: string | undefined;
        /** Bytes in the temp file now (the copy of the old content, then every write). */
        size: number;
      }
    | undefined;
}

/** Give a handle's temp file back (if it is still there) and its bytes and credit to the ledger. */
export function releaseTemp(h: OpenHandle): void {
  const w = h.writing;
  if (w) {
    if (w.creditKey !== undefined) w.ledger.credited.delete(w.creditKey);
    w.ledger.writers--;
    if (w.ledger.writers === 0 && LEDGERS.get(h.realRoot) === w.ledger) LEDGERS.delete(h.realRoot);
  }
  if (!LIVE_TEMPS.delete(h.temp)) return; // committed: the temp file is the target now
  let freed = 0;
  try {
    const st = lstatSync(h.temp);
    // A reader's link shares its inode with the file it reads: removing it frees nothing, unless
    // the file was replaced meanwhile and the link held the last name of the old content.
    if (st.isFile() && st.nlink === 1) freed = st.size;
    rmSync(h.temp, { force: true });
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  const ledger = LEDGERS.get(h.realRoot);
  if (ledger) ledger.bytes = Math.max(0, ledger.bytes - freed);
}

export function tempPath(realRoot: string): string {
  return join(realRoot, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
}

/**
 * Bytes and entries under `dir`, without following links; stops once past `maxEntries`. Temp files
 * of live handles count their bytes (they are on the disk) but not as entries (they are transient);
 * an inode with several names counts once. Temp files no live handle owns (a crash, a handle never
 * closed that was collected) are removed on the way.
 */
export function measure(dir: string, maxEntries: number): ResourceUsage {
  const usage: ResourceUsage = { bytes: 0, entries: 0 };
  const linked = new Set<string>();
  const pending = [dir];
  while (pending.length > 0 && usage.entries <= maxEntries) {
    const current = pending.pop()!;
    let names: string[];
    try {
      names = readdirSync(current);
    } catch (error) {
      if (isMissing(error)) continue; // removed while we walked
      throw error;
    }
    for (const name of names) {
      const path = join(current, name);
      const temp = name.startsWith(TEMP_PREFIX);
      if (temp && !LIVE_TEMPS.has(path)) {
        rmSync(path, { force: true, recursive: true });
        continue;
      }
      if (!temp) usage.entries++;
      try {
        const st = lstatSync(path);
        if (st.isDirectory()) pending.push(path);
        else if (st.isFile()) {
          if (st.nlink > 1) {
            const key = `${st.dev}:${st.ino}`;
            if (linked.has(key)) continue;
            linked.add(key);
          }
          usage.bytes += st.size;
        }
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
  }
  return usage;
}
