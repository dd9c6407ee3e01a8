// HostDirectory: a Directory over a real directory on this node's disk (a preopened WASI directory
// an embedder grants). Confinement is its whole job: every path is walked from the root's real path
// one component at a time with lstat, and a symlink met on the way is refused, never followed —
// ENOTCAPABLE in the middle of a path, ELOOP where a file is opened. Files are opened O_NOFOLLOW, so
// a symlink swapped in for the last component after the walk is refused by the kernel, and on Linux
// the opened descriptor's own path is checked to lie under the root, which catches a directory on
// the way swapped for a symlink after the walk. Synchronous fs only, as a WASI host function answers;
// keeping a guest's disk I/O off the node's event loop (design.md, "Containment") is the caller's.
//
// What the walk cannot close, without the openat family Node lacks: an operation by path other than
// open (mkdir, unlink, rename, rmdir, stat, list, readlink, setTimes) races a host process that can
// swap a directory of the tree for a symlink between the walk and the call. The guest itself cannot
// make a symlink through a Directory.

import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
} from "node:fs";
import { join } from "node:path";
import { FerryError } from "../errors.js";
import type { DirEntry, Directory, EntryStat, FileHandle, OpenFileOptions } from "./directory.js";
import { FsError } from "./directory.js";
import {
  byName,
  checkOpenOptions,
  checkRenameAncestry,
  prefixOf,
  quoted,
  refuseIfReadOnly,
  refuseRoot,
  renameEnds,
  segmentsOf,
} from "./directory-checks.js";
import { fsErrorOf, HostFileHandle, secondsOf, statOf, typeOf } from "./host-file.js";
import { inside } from "./resource-names.js";

/** Largest file a guest may make or grow in a HostDirectory unless told otherwise, bytes (1 GiB). */
export const DEFAULT_HOST_MAX_FILE_BYTES = 1024 * 1024 * 1024;

export interface HostDirectoryOptions {
  /** Refuse every change with EROFS. */
  readOnly?: boolean;
  /** Writes and setSize past this many bytes of one file are EFBIG (default 1 GiB). */
  maxFileBytes?: number;
}

const BIG = { bigint: true } as const;

export class HostDirectory implements Directory {
  readonly readOnly: boolean;
  readonly maxFileBytes: number;
  /** The root's real path, resolved once: every walk starts here. */
  private readonly root: string;

  constructor(root: string, options: HostDirectoryOptions = {}) {
    if (options.readOnly !== undefined && typeof options.readOnly !== "boolean") {
      throw new FerryError("invalid_option", "HostDirectory `readOnly` must be a boolean");
    }
    const max = options.maxFileBytes ?? DEFAULT_HOST_MAX_FILE_BYTES;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new FerryError("invalid_option", `HostDirectory \`maxFileBytes\` must be a non-negative integer, got ${String(max)}`);
    }
    // Without O_NOFOLLOW (Windows) a symlink swapped in after the walk would be followed: no tree at all.
    if (constants.O_NOFOLLOW === undefined) {
      throw new FerryError("invalid_option", `HostDirectory needs O_NOFOLLOW, which ${process.platform} does not have`);
    }
    this.readOnly = options.readOnly ?? false;
    this.maxFileBytes = max;
    this.root = realRootOf(root);
  }

  stat(path: string): EntryStat {
    const segments = segmentsOf(path);
    return this.guard(quoted(path), () => statOf(lstatSync(this.locate(segments, path), BIG)));
  }

  list(path: string): DirEntry[] {
    const segments = segmentsOf(path);
    return this.guard(quoted(path), () => {
      const dir = this.directoryAt(segments, path);
      const entries: DirEntry[] = [];
      for (const name of readdirSync(dir)) {
        const st = lstatSync(join(dir, name), { bigint: true, throwIfNoEntry: false });
        // Gone since readdir (or a name that is not valid UTF-8, which Node cannot give back).
        if (st === undefined) continue;
        entries.push({ name, type: typeOf(st), ino: st.ino });
      }
      return entries.sort(byName);
    });
  }

  mkdir(path: string): void {
    const segments = segmentsOf(path);
    refuseIfReadOnly(this.readOnly, path);
    refuseRoot(segments, "EEXIST", "exists");
    this.guard(quoted(path), () => mkdirSync(this.locate(segments, path)));
  }

  rmdir(path: string): void {
    const segments = segmentsOf(path);
    refuseIfReadOnly(this.readOnly, path);
    refuseRoot(segments, "EINVAL", "cannot be removed");
    this.guard(quoted(path), () => rmdirSync(this.locate(segments, path)));
  }

  unlink(path: string): void {
    const segments = segmentsOf(path);
    refuseIfReadOnly(this.readOnly, path);
    refuseRoot(segments, "EISDIR", "is a directory");
    this.guard(quoted(path), () => {
      const target = this.locate(segments, path);
      // Linux says EISDIR by itself, macOS EPERM: ask first, so every host answers alike.
      if (lstatSync(target).isDirectory()) throw new FsError("EISDIR", `${quoted(path)} is a directory`);
      unlinkSync(target);
    });
  }

  rename(from: string, to: string): void {
    const [fromSegments, toSegments] = renameEnds(this.readOnly, from, to);
    this.guard(`${quoted(from)} → ${quoted(to)}`, () => {
      const source = this.locate(fromSegments, from);
      const target = this.locate(toSegments, to);
      lstatSync(source); // ENOENT before the ancestry checks, as rename(2) orders them
      checkRenameAncestry(from, to);
      renameSync(source, target);
    });
  }

  readlink(path: string): string {
    const segments = segmentsOf(path);
    if (segments.length === 0) throw new FsError("EINVAL", "the root of the directory is not a symbolic link");
    return this.guard(quoted(path), () => readlinkSync(this.locate(segments, path)));
  }

  setTimes(path: string, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
    const segments = segmentsOf(path);
    refuseIfReadOnly(this.readOnly, path);
    this.guard(quoted(path), () => {
      const target = this.locate(segments, path);
      const now = lstatSync(target, BIG);
      if (atimeNs === undefined && mtimeNs === undefined) return;
      // lutimes: a symlink's own times, never its target's.
      lutimesSync(target, secondsOf(atimeNs ?? now.atimeNs), secondsOf(mtimeNs ?? now.mtimeNs));
    });
  }

  openFile(path: string, options: OpenFileOptions): FileHandle {
    const segments = segmentsOf(path);
    checkOpenOptions(options, this.readOnly, path);
    return this.guard(quoted(path), () => {
      const target = this.locate(segments, path);
      // O_NONBLOCK: a FIFO put in the tree must not hang the open (it is refused below anyway).
      let flags = (options.write ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NOFOLLOW | constants.O_NONBLOCK;
      if (options.create) flags |= constants.O_CREAT | (options.exclusive ? constants.O_EXCL : 0);
      const fd = openSync(target, flags, 0o666);
      try {
        this.checkOpened(fd, path);
        // Truncated only now that the descriptor is known to be the tree's own regular file.
        if (options.truncate) ftruncateSync(fd, 0);
      } catch (error) {
        closeSync(fd);
        throw error;
      }
      return new HostFileHandle(
        fd,
        path,
        { writable: options.write === true, readOnlyTree: this.readOnly, maxFileBytes: this.maxFileBytes },
        this.root,
      );
    });
  }

  /**
   * The real path of the directory holding the last segment, walked from the root one component
   * at a time with lstat: a symlink on the way is ENOTCAPABLE (never followed), a file ENOTDIR,
   * a missing directory ENOENT. Protected so an attack test can swap a directory after the walk.
   */
  protected parentOf(segments: string[], path: string): string {
    let dir = this.root;
    for (let i = 0; i < segments.length - 1; i++) {
      dir = join(dir, segments[i]!);
      const st = lstatSync(dir);
      if (st.isSymbolicLink())
        throw new FsError("ENOTCAPABLE", `${quoted(path)}: ${prefixOf(segments, i)} is a symbolic link, never followed`);
      if (!st.isDirectory()) throw new FsError("ENOTDIR", `${quoted(path)}: ${prefixOf(segments, i)} is not a directory`);
    }
    return dir;
  }

  /**
   * What was opened must be a regular file under the root. Linux names the file a descriptor
   * refers to: a directory on the way swapped for a symlink between the walk and the open shows
   * there as a path outside the root. Without /proc (another OS, or not mounted) the walk is all.
   */
  private checkOpened(fd: number, path: string): void {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new FsError("EISDIR", `${quoted(path)} is a directory`);
    if (!st.isFile()) throw new FsError("EACCES", `${quoted(path)} is not a regular file`);
    if (process.platform !== "linux") return;
    let opened: string;
    try {
      opened = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return;
    }
    if (!inside(this.root, opened)) throw new FsError("ENOTCAPABLE", `${quoted(path)} led outside the directory while it was opened`);
  }

  /** The host path of the entry at `segments` (the root for none), its parents walked. */
  private locate(segments: string[], path: string): string {
    if (segments.length === 0) return this.root;
    return join(this.parentOf(segments, path), segments[segments.length - 1]!);
  }

  /** The host path of the directory at `segments`, to list: a symlink there is ELOOP, a file ENOTDIR. */
  private directoryAt(segments: string[], path: string): string {
    const dir = this.locate(segments, path);
    const st = lstatSync(dir);
    if (st.isSymbolicLink()) throw new FsError("ELOOP", `${quoted(path)} is a symbolic link, never followed`);
    if (!st.isDirectory()) throw new FsError("ENOTDIR", `${quoted(path)} is not a directory`);
    return dir;
  }

  private guard<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (error) {
      throw fsErrorOf(error, what, this.root);
    }
  }
}

/** The root's real path; a root that is missing or not a directory is the embedder's mistake. */
function realRootOf(root: string): string {
  if (typeof root !== "string" || root === "") throw new FerryError("invalid_option", "HostDirectory root must be a path");
  let real: string;
  try {
    real = realpathSync(root);
  } catch (error) {
    throw new FerryError(
      "invalid_option",
      `HostDirectory root "${root}" cannot be used (${(error as { code?: string }).code ?? String(error)})`,
    );
  }
  if (!statSync(real).isDirectory()) throw new FerryError("invalid_option", `HostDirectory root "${root}" is not a directory`);
  return real;
}
