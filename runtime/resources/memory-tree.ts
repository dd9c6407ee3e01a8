// The state under a MemoryDirectory (memory-directory.ts): its nodes, its byte and entry quotas,
// its inode counter and clock, and MemoryFileHandle. A handle holds the file's node itself, so two
// handles on one file see each other's writes, and a file unlinked while open lives on (and keeps
// counting against the quota) until its last handle closes — as on a real file system.

import type { EntryStat, FileHandle } from "./directory.js";
import { FsError } from "./directory.js";
import { checkOffset, checkWriteEnd, quoted } from "./directory-checks.js";

interface Times {
  ino: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface MemoryFile extends Times {
  kind: "file";
  /** Capacity; the file's bytes are the first `size`, the rest is zero. */
  bytes: Uint8Array;
  size: number;
  /** Names it has in the tree (1, or 0 once unlinked or replaced). */
  links: number;
  /** Open handles on it. */
  opens: number;
}

export interface MemoryDir extends Times {
  kind: "directory";
  entries: Map<string, MemoryNode>;
}

export type MemoryNode = MemoryFile | MemoryDir;

export interface MemoryLimits {
  readOnly: boolean;
  maxBytes: number;
  maxEntries: number;
  now: () => bigint;
}

export class MemoryTree {
  root: MemoryDir;
  /** Bytes of every file still named or open. */
  usedBytes = 0;
  /** Files and directories named in the tree, the root not counted. */
  usedEntries = 0;
  nextIno = 1n;

  constructor(readonly limits: MemoryLimits) {
    this.root = this.newDir();
  }

  newDir(): MemoryDir {
    const t = this.limits.now();
    return { kind: "directory", ino: this.nextIno++, entries: new Map(), atimeNs: t, mtimeNs: t, ctimeNs: t };
  }

  newFile(): MemoryFile {
    const t = this.limits.now();
    return { kind: "file", ino: this.nextIno++, bytes: new Uint8Array(0), size: 0, links: 0, opens: 0, atimeNs: t, mtimeNs: t, ctimeNs: t };
  }

  /** Name `node` in `dir` (a new entry: ENOSPC past the entry quota). */
  add(dir: MemoryDir, name: string, node: MemoryNode, path: string): void {
    if (this.usedEntries + 1 > this.limits.maxEntries) {
      throw new FsError("ENOSPC", `${quoted(path)} would take the directory past ${this.limits.maxEntries} entries`);
    }
    this.usedEntries++;
    dir.entries.set(name, node);
    if (node.kind === "file") node.links++;
    this.touch(dir);
  }

  /** Take the name away; a file's bytes go when no name and no handle keeps it. */
  unlink(dir: MemoryDir, name: string, node: MemoryNode): void {
    dir.entries.delete(name);
    this.usedEntries--;
    this.touch(dir);
    if (node.kind === "file") {
      node.links--;
      node.ctimeNs = this.limits.now();
      this.releaseIfUnused(node);
    }
  }

  releaseIfUnused(file: MemoryFile): void {
    if (file.links > 0 || file.opens > 0) return;
    this.usedBytes -= file.size;
    file.size = 0;
    file.bytes = new Uint8Array(0);
  }

  /** Make `file` `size` bytes long: new bytes read as zero; ENOSPC past the byte quota. */
  resize(file: MemoryFile, size: number, path: string): void {
    if (size > file.size) {
      if (this.usedBytes + (size - file.size) > this.limits.maxBytes) {
        throw new FsError("ENOSPC", `${quoted(path)} would take the directory past ${this.limits.maxBytes} bytes`);
      }
      if (size > file.bytes.byteLength) this.grow(file, size, path);
      else file.bytes.fill(0, file.size, size);
      this.usedBytes += size - file.size;
    } else {
      this.usedBytes -= file.size - size;
    }
    file.size = size;
    this.touch(file);
  }

  /** Mark a change to `node` now (its contents or, for a directory, its names). */
  touch(node: MemoryNode): void {
    node.mtimeNs = node.ctimeNs = this.limits.now();
  }

  statOf(node: MemoryNode): EntryStat {
    const { ino, atimeNs, mtimeNs, ctimeNs } = node;
    if (node.kind === "file") return { type: "file", size: node.size, ino, nlink: node.links, atimeNs, mtimeNs, ctimeNs };
    // A directory's links: its name, its own ".", and each subdirectory's "..".
    let subdirs = 0;
    for (const child of node.entries.values()) if (child.kind === "directory") subdirs++;
    return { type: "directory", size: 0, ino, nlink: 2 + subdirs, atimeNs, mtimeNs, ctimeNs };
  }

  /** Capacity for `size` bytes: doubling, so appends copy the file a logarithmic number of times. */
  private grow(file: MemoryFile, size: number, path: string): void {
    const capacity = Math.max(size, Math.min(file.bytes.byteLength * 2, this.limits.maxBytes));
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(capacity);
    } catch {
      throw new FsError("ENOSPC", `${quoted(path)}: no memory for ${capacity} bytes`);
    }
    bytes.set(file.bytes.subarray(0, file.size));
    file.bytes = bytes;
  }
}

/** An open file of a MemoryDirectory. */
export class MemoryFileHandle implements FileHandle {
  private file: MemoryFile | undefined;

  constructor(
    private readonly tree: MemoryTree,
    file: MemoryFile,
    private readonly path: string,
    private readonly writable: boolean,
  ) {
    this.file = file;
    file.opens++;
  }

  read(into: Uint8Array, position: number): number {
    const file = this.open();
    checkOffset(position, "position");
    if (position >= file.size) return 0;
    const n = Math.min(into.byteLength, file.size - position);
    into.set(file.bytes.subarray(position, position + n));
    return n;
  }

  write(bytes: Uint8Array, position: number): number {
    const file = this.writableFile();
    const end = checkWriteEnd(position, bytes.byteLength);
    if (bytes.byteLength === 0) return 0;
    if (end > file.size) this.tree.resize(file, end, this.path);
    file.bytes.set(bytes, position);
    this.tree.touch(file);
    return bytes.byteLength;
  }

  stat(): EntryStat {
    return this.tree.statOf(this.open());
  }

  setSize(size: number): void {
    const file = this.writableFile();
    checkOffset(size, "size");
    this.tree.resize(file, size, this.path);
  }

  setTimes(atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
    const file = this.open();
    if (this.tree.limits.readOnly) throw new FsError("EROFS", `${quoted(this.path)}: the directory is read-only`);
    setTimesOf(this.tree, file, atimeNs, mtimeNs);
  }

  sync(): void {
    this.open();
  }

  close(): void {
    const file = this.file;
    if (file === undefined) return;
    this.file = undefined;
    file.opens--;
    this.tree.releaseIfUnused(file);
  }

  private open(): MemoryFile {
    if (this.file === undefined) throw new FsError("EBADF", `${quoted(this.path)} is closed`);
    return this.file;
  }

  private writableFile(): MemoryFile {
    const file = this.open();
    if (!this.writable) throw new FsError("EBADF", `${quoted(this.path)} is not open for writing`);
    return file;
  }
}

/** utimensat's rule: an undefined time keeps its value; any change is a change of the inode (ctime). */
export function setTimesOf(tree: MemoryTree, node: MemoryNode, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
  if (atimeNs === undefined && mtimeNs === undefined) return;
  if (atimeNs !== undefined) node.atimeNs = atimeNs;
  if (mtimeNs !== undefined) node.mtimeNs = mtimeNs;
  node.ctimeNs = tree.limits.now();
}
