// The disk side of a HostDirectory (host-directory.ts): Node's error codes as the FsError names a
// Directory reports, Node's bigint stats as an EntryStat, and HostFileHandle — one open descriptor
// of a regular file under the root, read and written at explicit positions.

import { keepShape } from "../shape-anchor.js";
import { type BigIntStats, closeSync, fstatSync, fsyncSync, ftruncateSync, futimesSync, writeSync } from "node:fs";
import type { EntryStat, EntryType, FileHandle, FsErrorName } from "./directory.js";
import { FsError } from "./directory.js";
import { checkOffset, checkWriteEnd, quoted } from "./directory-checks.js";
import { readFully } from "./temp-file-io.js";
import { byteLength, readvFully, writevFully } from "./vectored-io.js";

/** Node's err.code → the name a Directory reports. A Map: a code like "constructor" must not find Object's. */
const NODE_ERRNOS = new Map<string, FsErrorName>([
  ["EACCES", "EACCES"],
  ["EBADF", "EBADF"],
  ["EDQUOT", "ENOSPC"],
  ["EEXIST", "EEXIST"],
  ["EFBIG", "EFBIG"],
  ["EINVAL", "EINVAL"],
  ["EISDIR", "EISDIR"],
  ["ELOOP", "ELOOP"],
  ["EMFILE", "EMFILE"],
  ["ENAMETOOLONG", "ENAMETOOLONG"],
  ["ENFILE", "EMFILE"],
  ["ENOENT", "ENOENT"],
  ["ENOSPC", "ENOSPC"],
  ["ENOTDIR", "ENOTDIR"],
  ["ENOTEMPTY", "ENOTEMPTY"],
  ["EPERM", "EPERM"],
  ["EROFS", "EROFS"],
  ["EXDEV", "EXDEV"],
]);

/**
 * `error` as an FsError about `what` (a tree path). Known codes keep their name; anything else is
 * EIO with Node's message, the root's host path taken out of it (the guest is not told where its
 * tree lives on this node).
 */
export function fsErrorOf(error: unknown, what: string, root: string): FsError {
  if (error instanceof FsError) return error;
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  const errno = typeof code === "string" ? NODE_ERRNOS.get(code) : undefined;
  const call = typeof syscall === "string" ? ` (${syscall})` : "";
  if (errno) return new FsError(errno, `${what}${call}`);
  const message = error instanceof Error ? error.message : String(error);
  return new FsError("EIO", `${what}${call}: ${root.length > 1 ? message.replaceAll(root, "<root>") : message}`);
}

export function typeOf(st: BigIntStats): EntryType {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  return "other";
}

export function statOf(st: BigIntStats): EntryStat {
  return {
    type: typeOf(st),
    size: Number(st.size),
    ino: st.ino,
    nlink: Number(st.nlink),
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
  };
}

/** Nanoseconds as the seconds Node's utimes family takes (exact to the double's precision, ~0.2 µs today). */
export function secondsOf(ns: bigint): number {
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}

/** What a handle may do, fixed when it is opened. */
export interface HostFileAccess {
  writable: boolean;
  /** The directory is read-only: setTimes is EROFS too. */
  readOnlyTree: boolean;
  maxFileBytes: number;
}

/** A descriptor dropped without close (an embedder's bug) is closed when its handle is collected. */
const ABANDONED = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    // Already gone: nothing to release.
  }
});

export class HostFileHandle implements FileHandle {
  private fd: number | undefined;

  constructor(
    fd: number,
    private readonly path: string,
    private readonly access: HostFileAccess,
    private readonly root: string,
  ) {
    this.fd = fd;
    ABANDONED.register(this, fd, this);
  }

  read(into: Uint8Array, position: number): number {
    const fd = this.open();
    checkOffset(position, "position");
    return this.guard(() => readFully(fd, into, position));
  }

  write(bytes: Uint8Array, position: number): number {
    const fd = this.writableFd();
    const end = checkWriteEnd(position, bytes.byteLength);
    if (bytes.byteLength > 0 && end > this.access.maxFileBytes) {
      throw new FsError("EFBIG", `${quoted(this.path)} would grow past ${this.access.maxFileBytes} bytes`);
    }
    return this.guard(() => {
      let done = 0;
      while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
      return done;
    });
  }

  readv(buffers: Uint8Array[], position: number): number {
    const fd = this.open();
    checkOffset(position, "position");
    // Not through guard(): no closure on the path of every WASI read.
    try {
      return readvFully(fd, buffers, position);
    } catch (error) {
      throw this.failed(error);
    }
  }

  /**
   * All of `buffers` in one pwritev. One that would pass the file size limit goes buffer by buffer
   * instead, so the buffers before it are written and the one that passes is EFBIG, as they were.
   */
  writev(buffers: Uint8Array[], position: number): number {
    const fd = this.writableFd();
    const total = byteLength(buffers);
    const end = checkWriteEnd(position, total);
    if (end > this.access.maxFileBytes) {
      let written = 0;
      for (const b of buffers) written += this.write(b, position + written);
      return written;
    }
    try {
      return writevFully(fd, buffers, position, total);
    } catch (error) {
      throw this.failed(error);
    }
  }

  stat(): EntryStat {
    const fd = this.open();
    return this.guard(() => statOf(fstatSync(fd, { bigint: true })));
  }

  setSize(size: number): void {
    const fd = this.writableFd();
    checkOffset(size, "size");
    if (size > this.access.maxFileBytes)
      throw new FsError("EFBIG", `${quoted(this.path)} would grow past ${this.access.maxFileBytes} bytes`);
    this.guard(() => ftruncateSync(fd, size));
  }

  setTimes(atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
    const fd = this.open();
    if (this.access.readOnlyTree) throw new FsError("EROFS", `${quoted(this.path)}: the directory is read-only`);
    if (atimeNs === undefined && mtimeNs === undefined) return;
    this.guard(() => {
      const now = fstatSync(fd, { bigint: true });
      futimesSync(fd, secondsOf(atimeNs ?? now.atimeNs), secondsOf(mtimeNs ?? now.mtimeNs));
    });
  }

  sync(): void {
    const fd = this.open();
    this.guard(() => fsyncSync(fd));
  }

  close(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    ABANDONED.unregister(this);
    this.guard(() => closeSync(fd));
  }

  private open(): number {
    if (this.fd === undefined) throw new FsError("EBADF", `${quoted(this.path)} is closed`);
    return this.fd;
  }

  /** Writing through a handle opened for reading is EBADF, as write(2) on an O_RDONLY descriptor. */
  private writableFd(): number {
    const fd = this.open();
    if (!this.access.writable) throw new FsError("EBADF", `${quoted(this.path)} is not open for writing`);
    return fd;
  }

  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (error) {
      throw this.failed(error);
    }
  }

  private failed(error: unknown): FsError {
    return fsErrorOf(error, quoted(this.path), this.root);
  }
}

// Kept so the class's hidden classes outlive every job (shape-anchor.ts); -1 is never a descriptor
// and a kept sample is never collected, so the finalizer never sees it.
keepShape(new HostFileHandle(-1, "", { writable: false, readOnlyTree: true, maxFileBytes: 0 }, ""));
