// MemoryDirectory: a Directory that is a private tree in this process's memory — the scratch space
// an anonymous job may be given, with no disk behind it. It answers every call as HostDirectory
// does (the same error for the same situation; tests/runtime/resources/directory-behaviour.test.ts
// runs one suite against both), holds no symlinks, and counts what it holds: files' bytes and
// entries past their quotas are ENOSPC. `snapshotTree` / `fromTree` carry it as plain JSON.

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
import { decodeTree, encodeTree, type TreeSnapshot } from "./memory-snapshot.js";
import { type MemoryDir, MemoryFileHandle, type MemoryLimits, type MemoryNode, MemoryTree, setTimesOf } from "./memory-tree.js";

/** Bytes all files of a MemoryDirectory may hold together unless told otherwise (64 MiB). */
export const DEFAULT_MEMORY_MAX_BYTES = 64 * 1024 * 1024;
/** Files and directories a MemoryDirectory may hold unless told otherwise. */
export const DEFAULT_MEMORY_MAX_ENTRIES = 10_000;

export interface MemoryDirectoryOptions {
  /** Refuse every change with EROFS (the seed `files` are still put in). */
  readOnly?: boolean;
  /** Bytes all files may hold together; past it writes are ENOSPC (default 64 MiB). */
  maxBytes?: number;
  /** Files and directories the tree may hold, the root not counted; past it ENOSPC (default 10,000). */
  maxEntries?: number;
  /** What the tree starts with: "a/b.txt" makes the directory "a" too. Strings are UTF-8. */
  files?: Record<string, Uint8Array | string>;
  /** The clock, in nanoseconds since the epoch (default: Date.now, to the millisecond). */
  now?: () => bigint;
}

export class MemoryDirectory implements Directory {
  readonly readOnly: boolean;
  private tree: MemoryTree;

  constructor(options: MemoryDirectoryOptions = {}) {
    this.tree = new MemoryTree(limitsOf(options));
    this.readOnly = this.tree.limits.readOnly;
    if (options.files !== undefined) this.seed(options.files);
  }

  /** The tree as a plain JSON-able object (contents in base64); open handles are not part of it. */
  snapshotTree(): TreeSnapshot {
    return encodeTree(this.tree);
  }

  /** A directory holding `snapshot`'s tree, checked as untrusted input (snapshot_malformed, snapshot_limit). */
  static fromTree(snapshot: TreeSnapshot, options: Omit<MemoryDirectoryOptions, "files"> = {}): MemoryDirectory {
    const directory = new MemoryDirectory({ ...options, files: undefined });
    decodeTree(snapshot, directory.tree);
    return directory;
  }

  stat(path: string): EntryStat {
    return this.tree.statOf(this.nodeAt(segmentsOf(path), path));
  }

  list(path: string): DirEntry[] {
    const node = this.nodeAt(segmentsOf(path), path);
    if (node.kind !== "directory") throw new FsError("ENOTDIR", `${quoted(path)} is not a directory`);
    const entries: DirEntry[] = [];
    for (const [name, child] of node.entries) entries.push({ name, type: child.kind, ino: child.ino });
    return entries.sort(byName);
  }

  mkdir(path: string): void {
    const segments = segmentsOf(path);
    refuseIfReadOnly(this.readOnly, path);
    refuseRoot(segments, "EEXIST", "exists");
    const { dir, name } = this.parentOf(segments, path);
    if (dir.entries.has(name)) throw new FsError("EEXIST", `${quoted(path)} exists`);
    this.tree.add(dir, name, this.tree.newDir(), path);
  }

  rmdir(path: string): void {
    const segments = segmentsOf(path);
    refuseIfReadOnly(this.readOnly, path);
    refuseRoot(segments, "EINVAL", "cannot be removed");
    const { dir, name, node } = this.entryAt(segments, path);
    if (node.kind !== "directory") throw new FsError("ENOTDIR", `${quoted(path)} is not a directory`);
    if (node.entries.size > 0) throw new FsError("ENOTEMPTY", `${quoted(path)} is not empty`);
    this.tree.unlink(dir, name, node);
  }

  unlink(path: string): void {
    const segments = segmentsOf(path);
    refuseIfReadOnly(this.readOnly, path);
    refuseRoot(segments, "EISDIR", "is a directory");
    const { dir, name, node } = this.entryAt(segments, path);
    if (node.kind === "directory") throw new FsError("EISDIR", `${quoted(path)} is a directory`);
    this.tree.unlink(dir, name, node);
  }

  /** rename(2)'s checks in its order: both parents, the source, ancestry, then the kinds at `to`. */
  rename(from: string, to: string): void {
    const [fromSegments, toSegments] = renameEnds(this.readOnly, from, to);
    const source = this.parentOf(fromSegments, from);
    const target = this.parentOf(toSegments, to);
    const node = source.dir.entries.get(source.name);
    if (node === undefined) throw new FsError("ENOENT", `${quoted(from)} does not exist`);
    checkRenameAncestry(from, to);
    const replaced = target.dir.entries.get(target.name);
    if (replaced === node) return;
    if (replaced !== undefined) {
      if (node.kind === "directory" && replaced.kind === "file") throw new FsError("ENOTDIR", `${quoted(to)} is not a directory`);
      if (node.kind === "file" && replaced.kind === "directory") throw new FsError("EISDIR", `${quoted(to)} is a directory`);
      if (replaced.kind === "directory" && replaced.entries.size > 0) throw new FsError("ENOTEMPTY", `${quoted(to)} is not empty`);
      this.tree.unlink(target.dir, target.name, replaced);
    }
    // Moved, not copied: its one name changes, the count of entries does not, the inode stays.
    source.dir.entries.delete(source.name);
    target.dir.entries.set(target.name, node);
    this.tree.touch(source.dir);
    this.tree.touch(target.dir);
    node.ctimeNs = this.tree.limits.now();
  }

  readlink(path: string): string {
    const node = this.nodeAt(segmentsOf(path), path);
    throw new FsError("EINVAL", `${quoted(path)} is a ${node.kind}, not a symbolic link`);
  }

  setTimes(path: string, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
    const segments = segmentsOf(path);
    refuseIfReadOnly(this.readOnly, path);
    setTimesOf(this.tree, this.nodeAt(segments, path), atimeNs, mtimeNs);
  }

  openFile(path: string, options: OpenFileOptions): FileHandle {
    const segments = segmentsOf(path);
    checkOpenOptions(options, this.readOnly, path);
    const exclusive = options.create === true && options.exclusive === true;
    if (segments.length === 0) throw new FsError(exclusive ? "EEXIST" : "EISDIR", `the root of the directory is a directory`);
    const { dir, name } = this.parentOf(segments, path);
    let node = dir.entries.get(name);
    if (node !== undefined && exclusive) throw new FsError("EEXIST", `${quoted(path)} exists`);
    if (node?.kind === "directory") throw new FsError("EISDIR", `${quoted(path)} is a directory`);
    if (node === undefined) {
      if (!options.create) throw new FsError("ENOENT", `${quoted(path)} does not exist`);
      node = this.tree.newFile();
      this.tree.add(dir, name, node, path);
    }
    const handle = new MemoryFileHandle(this.tree, node, path, options.write === true);
    if (options.truncate) this.tree.resize(node, 0, path);
    return handle;
  }

  /** The directory holding the last segment: ENOENT for a missing one on the way, ENOTDIR for a file. */
  private parentOf(segments: string[], path: string): { dir: MemoryDir; name: string } {
    let dir = this.tree.root;
    for (let i = 0; i < segments.length - 1; i++) {
      const next = dir.entries.get(segments[i]!);
      if (next === undefined) throw new FsError("ENOENT", `${quoted(path)}: ${prefixOf(segments, i)} does not exist`);
      if (next.kind !== "directory") throw new FsError("ENOTDIR", `${quoted(path)}: ${prefixOf(segments, i)} is not a directory`);
      dir = next;
    }
    return { dir, name: segments[segments.length - 1]! };
  }

  /** The entry at `segments` with the directory holding it (never the root). */
  private entryAt(segments: string[], path: string): { dir: MemoryDir; name: string; node: MemoryNode } {
    const { dir, name } = this.parentOf(segments, path);
    const node = dir.entries.get(name);
    if (node === undefined) throw new FsError("ENOENT", `${quoted(path)} does not exist`);
    return { dir, name, node };
  }

  private nodeAt(segments: string[], path: string): MemoryNode {
    return segments.length === 0 ? this.tree.root : this.entryAt(segments, path).node;
  }

  /** Put the seed files in, making their directories; a bad name or a quota is the embedder's mistake. */
  private seed(files: Record<string, Uint8Array | string>): void {
    for (const [path, content] of Object.entries(files)) {
      const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
      try {
        const segments = segmentsOf(path);
        refuseRoot(segments, "EISDIR", "is a directory");
        let dir = this.tree.root;
        for (const [i, name] of segments.slice(0, -1).entries()) {
          let next = dir.entries.get(name);
          if (next === undefined) this.tree.add(dir, name, (next = this.tree.newDir()), segments.slice(0, i + 1).join("/"));
          if (next.kind !== "directory") throw new FsError("ENOTDIR", `${quoted(name)} is a file`);
          dir = next;
        }
        const name = segments[segments.length - 1]!;
        if (dir.entries.has(name)) throw new FsError("EEXIST", `${quoted(path)} exists`);
        const file = this.tree.newFile();
        this.tree.add(dir, name, file, path);
        this.tree.resize(file, bytes.byteLength, path);
        file.bytes.set(bytes);
      } catch (error) {
        if (!(error instanceof FsError)) throw error;
        throw new FerryError("invalid_option", `MemoryDirectory \`files\`: ${JSON.stringify(path)}: ${error.message}`);
      }
    }
  }
}

function limitsOf(options: MemoryDirectoryOptions): MemoryLimits {
  if (options.readOnly !== undefined && typeof options.readOnly !== "boolean") {
    throw new FerryError("invalid_option", "MemoryDirectory `readOnly` must be a boolean");
  }
  if (options.now !== undefined && typeof options.now !== "function") {
    throw new FerryError("invalid_option", "MemoryDirectory `now` must be a function returning nanoseconds");
  }
  return {
    readOnly: options.readOnly ?? false,
    maxBytes: countOption("maxBytes", options.maxBytes, DEFAULT_MEMORY_MAX_BYTES),
    maxEntries: countOption("maxEntries", options.maxEntries, DEFAULT_MEMORY_MAX_ENTRIES),
    now: options.now ?? (() => BigInt(Date.now()) * 1_000_000n),
  };
}

function countOption(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new FerryError("invalid_option", `MemoryDirectory \`${option}\` must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}
