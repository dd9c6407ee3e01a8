// A WASI program's file descriptors: what each number stands for — one of the three streams, a
// directory or a file inside one of its preopened trees (by path, never by host descriptor), its
// offset, rights and flags. That is all of it guest state: it travels in snapshots (image.ts) and the
// open host file behind an entry is reopened by path wherever the job runs next.

import type { FileHandle } from "../../resources/directory.js";
import { ERRNO } from "./abi.js";
import { WasiErrno } from "./guest-view.js";

export type FdKind = "stdin" | "stdout" | "stderr" | "directory" | "file";

export interface FdEntry {
  kind: FdKind;
  /** Directory and file: which preopened tree (index into the session's preopens). */
  tree: number;
  /** Directory and file: the normalized path inside that tree ("" is its root). */
  path: string;
  /** File and stdin: the position the next read or write uses. */
  offset: number;
  rights: bigint;
  inheriting: bigint;
  fdflags: number;
  /** Opened for writing (a file). */
  write: boolean;
  /** Set on the fds the program was given at start: the preopen's guest path. */
  preopen?: string;
  /** The open host file (a file entry): opened on first use, never captured. */
  handle?: FileHandle;
}

/** Most descriptors a program may hold at once, the three streams and the preopens included. */
export const MAX_WASI_FDS = 256;

export class FdTable {
  readonly entries = new Map<number, FdEntry>();

  get size(): number {
    return this.entries.size;
  }

  get(fd: number): FdEntry {
    const entry = this.entries.get(fd >>> 0);
    if (!entry) throw new WasiErrno(ERRNO.BADF, `fd ${fd >>> 0} is not open`);
    return entry;
  }

  /** The lowest free number, as POSIX gives them; EMFILE past MAX_WASI_FDS. */
  add(entry: FdEntry): number {
    if (this.entries.size >= MAX_WASI_FDS) throw new WasiErrno(ERRNO.MFILE, `more than ${MAX_WASI_FDS} descriptors open`);
    let fd = 0;
    while (this.entries.has(fd)) fd++;
    this.entries.set(fd, shaped(entry));
    return fd;
  }

  set(fd: number, entry: FdEntry): void {
    this.entries.set(fd, shaped(entry));
  }

  /**
   * Forget `fd` and close the file behind it. The fd is gone whatever happens; a failure closing
   * (a write the file's buffer could not deliver, remote-channel.ts) is still the call's answer,
   * as close(2) reports one.
   */
  close(fd: number): void {
    const entry = this.get(fd);
    this.entries.delete(fd >>> 0);
    const handle = entry.handle;
    entry.handle = undefined;
    handle?.close();
  }

  /** Forget `fd` quietly (fd_renumber replacing it, as dup2 does). */
  drop(fd: number): void {
    const entry = this.entries.get(fd >>> 0);
    this.entries.delete(fd >>> 0);
    if (entry) closeQuietly(entry);
  }

  /** Close every host file (the instance ended; the entries stay for a snapshot already taken). */
  closeAll(): void {
    for (const entry of this.entries.values()) closeQuietly(entry);
  }
}

/**
 * The entry as the table keeps it: every field present, in one order, made at one place, so every
 * entry of every job has the same hidden class and the session's kept sample (session.ts) keeps it
 * alive (shape-anchor.ts). Entries made as literals at five places, with or without `preopen` and
 * `handle`, had several, and the ones only open files had died with each job.
 */
function shaped(e: FdEntry): FdEntry {
  return {
    kind: e.kind,
    tree: e.tree,
    path: e.path,
    offset: e.offset,
    rights: e.rights,
    inheriting: e.inheriting,
    fdflags: e.fdflags,
    write: e.write,
    preopen: e.preopen,
    handle: e.handle,
  };
}

function closeQuietly(entry: FdEntry): void {
  const handle = entry.handle;
  entry.handle = undefined;
  try {
    handle?.close();
  } catch {
    // a file that fails to close must not keep the others open
  }
}
