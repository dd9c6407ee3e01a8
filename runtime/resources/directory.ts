// A directory tree a guest may be given (WASI's preopened directories, runtime/host/wasi/): the seam
// between the WASI fd table, which is guest state and travels in snapshots, and where the bytes
// live — a real directory on this node (host-directory.ts), a private in-memory tree
// (memory-directory.ts), or a directory at another process or node reached by calls (the isolated
// sandbox's parent, a global reference).
//
// Every path handed to a Directory is already confined: relative to the tree's root, in normalized
// segments (no "", ".", "..", "/" at either end, no NUL), checked by `normalizeTreePath`. A
// Directory never follows a symbolic link: it reports one as a symlink and refuses to open through
// it, so nothing outside the root can be reached by name. Failures are `FsError`s carrying a POSIX
// error name; the WASI layer turns them into its errno numbers.

/** The POSIX errors a Directory reports (WASI has a number for each). */
export type FsErrorName =
  | "EACCES"
  | "EBADF"
  | "EEXIST"
  | "EFBIG"
  | "EINVAL"
  | "EIO"
  | "EISDIR"
  | "ELOOP"
  | "EMFILE"
  | "ENAMETOOLONG"
  | "ENOENT"
  | "ENOSPC"
  | "ENOTDIR"
  | "ENOTEMPTY"
  | "ENOTCAPABLE"
  | "EPERM"
  | "EROFS"
  | "EXDEV";

export class FsError extends Error {
  constructor(
    readonly errno: FsErrorName,
    message: string,
  ) {
    super(`${errno}: ${message}`);
    this.name = "FsError";
  }
}

export type EntryType = "file" | "directory" | "symlink" | "other";

export interface EntryStat {
  type: EntryType;
  size: number;
  /** Inode-like identity within the tree (stable while the entry exists). */
  ino: bigint;
  nlink: number;
  /** Times in nanoseconds since the epoch. */
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface DirEntry {
  name: string;
  type: EntryType;
  ino: bigint;
}

export interface OpenFileOptions {
  /** Create the file when it does not exist. */
  create?: boolean;
  /** With create: fail EEXIST when it exists. */
  exclusive?: boolean;
  /** Cut it to 0 bytes (needs write). */
  truncate?: boolean;
  /** Open for writing (a read-only tree refuses EROFS). */
  write?: boolean;
}

/** An open regular file. Positions are explicit: the WASI fd table keeps the offset, so it can travel. */
export interface FileHandle {
  /** Copy bytes from `position` into `into`; returns how many (0 at the end). */
  read(into: Uint8Array, position: number): number;
  /** Write `bytes` at `position` (extending the file); returns how many were written. */
  write(bytes: Uint8Array, position: number): number;
  /**
   * Optional, for a tree whose every call is a system call: `read` into each buffer in turn (each
   * filled unless the file ends) and `write` of each in turn, in one call (preadv, pwritev). A WASI
   * read or write names several buffers (C's stdio: the caller's and its own), so this halves the
   * calls of a program reading through stdio. Without them the buffers go one by one.
   */
  readv?(buffers: Uint8Array[], position: number): number;
  writev?(buffers: Uint8Array[], position: number): number;
  stat(): EntryStat;
  setSize(size: number): void;
  setTimes(atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void;
  /** Make what was written durable. */
  sync(): void;
  close(): void;
}

export interface Directory {
  /** A read-only tree refuses every change with EROFS. */
  readonly readOnly: boolean;
  /** The entry at `path` ("" is the root), not following a symlink there. */
  stat(path: string): EntryStat;
  /** The entries of the directory at `path`, sorted by name ("." and ".." not included). */
  list(path: string): DirEntry[];
  mkdir(path: string): void;
  /** Remove an empty directory. */
  rmdir(path: string): void;
  /** Remove a file (or a symlink); a directory is EISDIR. */
  unlink(path: string): void;
  /** Rename within the tree, replacing a file at `to` as POSIX rename does. */
  rename(from: string, to: string): void;
  /** A symlink's target text (never followed); anything else is EINVAL. */
  readlink(path: string): string;
  setTimes(path: string, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void;
  /** Open the regular file at `path`; a directory is EISDIR, a symlink ELOOP. */
  openFile(path: string, options: OpenFileOptions): FileHandle;
  /**
   * The guest has stopped running: a tree that buffers (one reached across a process boundary)
   * pushes out what it holds. Trees that hold nothing back do not need it.
   */
  settle?(): void;
}

/** A FileHandle whose calls answer later: a file served off the event loop, or at another node. */
export interface AsyncFileHandle {
  read(into: Uint8Array, position: number): Promise<number>;
  write(bytes: Uint8Array, position: number): Promise<number>;
  stat(): Promise<EntryStat>;
  setSize(size: number): Promise<void>;
  setTimes(atimeNs: bigint | undefined, mtimeNs: bigint | undefined): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A Directory whose calls answer later: a tree served off the event loop (a node's), or one at
 * another node reached by signed calls (a global reference). Same operations, same FsErrors.
 */
export interface AsyncDirectory {
  /**
   * Marks the asynchronous kind (a Directory has no such field): the WASI layer awaits each of its
   * calls (Pausing.settle: the guest unwinds, the answer comes back through the rewind), in-process
   * and in an isolated child, whose parent awaits it (runtime/host/wasi/fs-server.ts).
   */
  readonly asynchronous: true;
  readonly readOnly: boolean;
  stat(path: string): Promise<EntryStat>;
  list(path: string): Promise<DirEntry[]>;
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  readlink(path: string): Promise<string>;
  setTimes(path: string, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): Promise<void>;
  openFile(path: string, options: OpenFileOptions): Promise<AsyncFileHandle>;
}

/** Whether `d` answers later (an AsyncDirectory) rather than at once (a Directory). */
export function isAsyncDirectory(d: Directory | AsyncDirectory): d is AsyncDirectory {
  return (d as { asynchronous?: unknown }).asynchronous === true;
}

/** Longest path a guest may name, in bytes (PATH_MAX), and longest single name (NAME_MAX). */
export const MAX_TREE_PATH_BYTES = 4096;
export const MAX_TREE_NAME_BYTES = 255;

/**
 * Join `relative` (as a guest passed it) onto `base` (a normalized path inside the tree) and
 * normalize: "." segments and empty ones dropped, ".." taken back lexically. An absolute path, a NUL
 * byte or a ".." that would climb above the root is ENOTCAPABLE; an over-long path or name is
 * ENAMETOOLONG. Lexical ".." is sound because no Directory follows symlinks.
 */
export function normalizeTreePath(base: string, relative: string): string {
  if (relative.includes("\0")) throw new FsError("ENOTCAPABLE", "a path with a NUL byte");
  if (relative.startsWith("/")) throw new FsError("ENOTCAPABLE", `absolute path "${relative}" leaves the directory it was given`);
  if (Buffer.byteLength(relative) > MAX_TREE_PATH_BYTES)
    throw new FsError("ENAMETOOLONG", `a path longer than ${MAX_TREE_PATH_BYTES} bytes`);
  const out = base === "" ? [] : base.split("/");
  for (const part of relative.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) throw new FsError("ENOTCAPABLE", `"${relative}" climbs out of the directory it was given`);
      out.pop();
      continue;
    }
    if (Buffer.byteLength(part) > MAX_TREE_NAME_BYTES) throw new FsError("ENAMETOOLONG", `a name longer than ${MAX_TREE_NAME_BYTES} bytes`);
    out.push(part);
  }
  return out.join("/");
}
