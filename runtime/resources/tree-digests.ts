// What an earlier capture of a tree learnt, so the next one need not read a file that has not
// changed: a file's digest is reused when its identity, size, mtime and ctime are those the earlier
// capture saw, and its last change (ctime) was well before that capture began — so the bytes it
// read were already the final ones. ctime, not mtime alone: a program can set a file's mtime back
// (utimes), never its ctime. The margin covers the file system's coarse timestamps (a clock tick,
// milliseconds on Linux); a tree on a file system whose clock is not this host's should not use it.
//
// Pre-copy is the use: the rounds read every file while the job runs; at the stop, the final capture
// re-reads only what the job touched since, so the downtime does not pay for the whole tree again.

import type { EntryStat } from "./directory.js";

/** A change this close to (or after) the start of the capture that read the file may not be in what it read. */
const RACY_MARGIN_NS = 100_000_000n;

interface Seen {
  ino: bigint;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  sha256: string;
  /** When the capture that read it began (host clock, ns). */
  captureNs: bigint;
}

export class TreeDigests {
  private readonly seen = new Map<string, Seen>();
  private captureNs = 0n;

  constructor(private readonly nowNs: () => bigint = () => BigInt(Date.now()) * 1_000_000n) {}

  /** A capture begins (what it records is stamped with this moment). */
  begin(): void {
    this.captureNs = this.nowNs();
  }

  /** The digest of `path` if it certainly has not changed since an earlier capture read it. */
  known(path: string, st: EntryStat): string | undefined {
    const s = this.seen.get(path);
    if (!s || s.ino !== st.ino || s.size !== st.size || s.mtimeNs !== st.mtimeNs || s.ctimeNs !== st.ctimeNs) return undefined;
    return st.ctimeNs < s.captureNs - RACY_MARGIN_NS ? s.sha256 : undefined;
  }

  /** `path`, stat'ed as `st` before it was read, has digest `sha256`. */
  record(path: string, st: EntryStat, sha256: string): void {
    this.seen.set(path, { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, sha256, captureNs: this.captureNs });
  }
}
