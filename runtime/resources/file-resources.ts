// A ResourceProvider backed by files under one root directory, for real nodes: a resource name is
// a relative path under the root. Reads see the file as it was at open; a write replaces the file
// atomically on close (temp file, fsync, rename, fsync the directory), so readers never see half.
// Optional quotas bound what the whole root may hold (bytes, and files + directories): a node gives
// each client a root and its disk quota. Usage is measured from the directory itself when a writer
// opens and again when it commits, so it is right whoever else wrote there, at the price of a walk
// bounded by the entry quota.

import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, realpathSync, renameSync, rmSync, writeSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { GuestTrap } from "../exec/traps.js";
import { FerryError } from "../errors.js";
import type { Access } from "./capabilities.js";
import type { ResourceHandle, ResourceProvider } from "./provider.js";

/** Largest file a guest may read or write through a FileResources, bytes. */
export const DEFAULT_MAX_RESOURCE_FILE_BYTES = 16 * 1024 * 1024;
/** Temp files are `.ferry-tmp-<hex>` next to their target; guests cannot name them. */
const TEMP_PREFIX = ".ferry-tmp-";
/** Names are paths of these characters only (the capability grammar's), segments never `.`/`..`. */
const SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;
const MAX_NAME_BYTES = 1024;

export interface FileResourcesOptions {
  /** Largest file a guest may read, or write in one open-to-close. Default 16 MiB. */
  maxFileBytes?: number;
  /** Bytes every file under the root may hold together (a disk quota). Default unlimited. */
  maxTotalBytes?: number;
  /** Files and directories under the root, together. Default unlimited. */
  maxEntries?: number;
}

/** What the root holds: bytes of regular files, and entries (files, directories, links). */
export interface ResourceUsage {
  bytes: number;
  entries: number;
}

/** What a write would change: the target's present size and the entries (file, directories) it adds. */
interface WriteTarget {
  existingBytes: number;
  newEntries: number;
}

export class FileResources implements ResourceProvider {
  /** The root as given, made absolute. Created (mode 0700) on the first write. */
  readonly root: string;
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;
  readonly maxEntries: number;

  constructor(rootDir: string, options: FileResourcesOptions = {}) {
    if (typeof rootDir !== "string" || rootDir === "" || rootDir.includes("\0")) throw new FerryError("invalid_option", "FileResources needs a root directory path");
    this.root = resolve(rootDir);
    this.maxFileBytes = limitOption("maxFileBytes", options.maxFileBytes, DEFAULT_MAX_RESOURCE_FILE_BYTES);
    this.maxTotalBytes = limitOption("maxTotalBytes", options.maxTotalBytes, Number.POSITIVE_INFINITY);
    this.maxEntries = limitOption("maxEntries", options.maxEntries, Number.POSITIVE_INFINITY);
  }

  private get limited(): boolean {
    return this.maxTotalBytes !== Number.POSITIVE_INFINITY || this.maxEntries !== Number.POSITIVE_INFINITY;
  }

  /** What the root holds now (zero if it does not exist yet). Stops counting past the entry quota. */
  usage(): ResourceUsage {
    const realRoot = this.realRoot(false);
    return realRoot === undefined ? { bytes: 0, entries: 0 } : measure(realRoot, this.maxEntries);
  }

  open(name: string, access: readonly Access[]): ResourceHandle | undefined {
    const segments = checkName(name);
    const reading = access.includes("read");
    const writing = access.includes("write");
    const realRoot = this.realRoot(writing);
    if (realRoot === undefined) return undefined; // no root yet, so nothing to read
    const target = writing ? this.checkWritable(realRoot, segments) : undefined;
    // Write-only starts afresh; read (and read-write) start from the file's content.
    const existing = reading ? this.readFile(realRoot, segments) : undefined;
    if (existing === undefined && !writing) return undefined;
    const value = existing ?? new Uint8Array(0);
    // Bytes this file may grow to before the disk quota bites (checked exactly again on close).
    let room = Number.POSITIVE_INFINITY;
    if (target && this.limited) {
      const used = measure(realRoot, this.maxEntries);
      this.checkQuota(name, used, target, value.byteLength);
      room = Math.max(this.maxTotalBytes - (used.bytes - target.existingBytes), target.existingBytes);
    }
    let position = 0;
    const appended: Uint8Array[] = [];
    let size = value.byteLength;
    let closed = false;
    return {
      read: (into) => {
        if (!reading) throw new GuestTrap("host_error", `"${name}" is not open for reading`);
        const n = Math.min(into.byteLength, value.byteLength - position);
        into.set(value.subarray(position, position + n));
        position += n;
        return n;
      },
      write: (bytes) => {
        if (!writing) throw new GuestTrap("host_error", `"${name}" is not open for writing`);
        if (size + bytes.byteLength > this.maxFileBytes) throw new GuestTrap("host_error", `"${name}" would grow past ${this.maxFileBytes} bytes`);
        if (size + bytes.byteLength > room) throw new GuestTrap("resource_quota", `"${name}" would take the files past ${this.maxTotalBytes} bytes`);
        appended.push(bytes.slice());
        size += bytes.byteLength;
        return bytes.byteLength;
      },
      close: () => {
        if (closed || !writing) return;
        closed = true;
        this.commit(name, realRoot, segments, Buffer.concat([value, ...appended], size));
      },
    };
  }

  /** The root's real path; created first when about to write. Undefined if it does not exist. */
  private realRoot(create: boolean): string | undefined {
    if (create) mkdirSync(this.root, { recursive: true, mode: 0o700 });
    try {
      return realpathSync(this.root);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** The file's bytes, or undefined if there is none. Symlinks are followed only within the root. */
  private readFile(realRoot: string, segments: string[]): Uint8Array | undefined {
    let real: string;
    try {
      real = realpathSync(join(realRoot, ...segments));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    if (!inside(realRoot, real)) throw new GuestTrap("host_error", `"${segments.join("/")}" leads outside the resource root`);
    const fd = openSync(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new GuestTrap("host_error", `"${segments.join("/")}" is not a regular file`);
      if (st.size > this.maxFileBytes) throw new GuestTrap("host_error", `"${segments.join("/")}" is larger than ${this.maxFileBytes} bytes`);
      // Read to EOF, not to the size seen: the file may change under us; never past the limit.
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (;;) {
        const buf = new Uint8Array(Math.min(Math.max(st.size - total, 0) + 1, 1024 * 1024));
        const n = readSync(fd, buf, 0, buf.byteLength, null);
        if (n === 0) break;
        total += n;
        if (total > this.maxFileBytes) throw new GuestTrap("host_error", `"${segments.join("/")}" is larger than ${this.maxFileBytes} bytes`);
        chunks.push(buf.subarray(0, n));
      }
      return Buffer.concat(chunks, total);
    } finally {
      closeSync(fd);
    }
  }

  /** Trap `resource_quota` if replacing the target by `bytes` bytes takes the root past a quota. */
  private checkQuota(name: string, used: ResourceUsage, target: WriteTarget, bytes: number): void {
    // A write that adds nothing is always allowed, so a root over a lowered quota can still shrink.
    if (target.newEntries > 0 && used.entries + target.newEntries > this.maxEntries) {
      throw new GuestTrap("resource_quota", `"${name}" would take the files and directories past ${this.maxEntries}`);
    }
    if (bytes > target.existingBytes && used.bytes - target.existingBytes + bytes > this.maxTotalBytes) {
      throw new GuestTrap("resource_quota", `"${name}" would take the files past ${this.maxTotalBytes} bytes`);
    }
  }

  /**
   * Refuse (before the guest writes anything) a target whose existing directories lead outside
   * the root, or that is itself a symlink or a directory. Missing directories are made on close.
   */
  private checkWritable(realRoot: string, segments: string[]): WriteTarget {
    let dir = realRoot;
    const dirs = segments.slice(0, -1);
    for (const [i, segment] of dirs.entries()) {
      const next = join(dir, segment);
      let st;
      try {
        st = lstatSync(next);
      } catch (error) {
        // This directory and the ones below it are new, and so is the file.
        if (isMissing(error)) return { existingBytes: 0, newEntries: dirs.length - i + 1 };
        throw error;
      }
      if (st.isSymbolicLink()) {
        const real = realpathSync(next);
        if (!inside(realRoot, real)) throw new GuestTrap("host_error", `"${segments.join("/")}" leads outside the resource root`);
        dir = real;
      } else dir = next;
      if (!lstatSync(dir).isDirectory()) throw new GuestTrap("host_error", `"${segments.join("/")}": ${segment} is not a directory`);
    }
    const target = join(dir, segments[segments.length - 1]!);
    try {
      const st = lstatSync(target);
      if (st.isSymbolicLink()) throw new GuestTrap("host_error", `"${segments.join("/")}" is a symbolic link: writes replace regular files only`);
      if (!st.isFile()) throw new GuestTrap("host_error", `"${segments.join("/")}" is not a regular file`);
      return { existingBytes: st.size, newEntries: 0 };
    } catch (error) {
      if (!isMissing(error)) throw error;
      return { existingBytes: 0, newEntries: 1 };
    }
  }

  /** temp + fsync + rename + fsync(dir), in the target's real directory, checked to be inside the root. */
  private commit(name: string, realRoot: string, segments: string[], bytes: Uint8Array): void {
    const change = this.checkWritable(realRoot, segments);
    // Measured again: other writers (other jobs of the same client) may have committed meanwhile.
    if (this.limited) this.checkQuota(name, measure(realRoot, this.maxEntries), change, bytes.byteLength);
    let dir = realRoot;
    for (const segment of segments.slice(0, -1)) {
      const next = join(dir, segment);
      try {
        mkdirSync(next, { mode: 0o700 });
      } catch (error) {
        if ((error as { code?: string }).code !== "EEXIST") throw error;
      }
      dir = realpathSync(next);
      if (!inside(realRoot, dir)) throw new GuestTrap("host_error", `"${segments.join("/")}" leads outside the resource root`);
    }
    const target = join(dir, segments[segments.length - 1]!);
    const temp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      let at = 0;
      while (at < bytes.byteLength) at += writeSync(fd, bytes, at, bytes.byteLength - at);
      fsyncSync(fd);
    } catch (error) {
      closeSync(fd);
      rmSync(temp, { force: true });
      throw error;
    }
    closeSync(fd);
    try {
      renameSync(temp, target);
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
    const dirFd = openSync(dir, constants.O_RDONLY);
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}

/** Bytes and entries under `dir`, without following links; stops once past `maxEntries`. */
function measure(dir: string, maxEntries: number): ResourceUsage {
  const usage: ResourceUsage = { bytes: 0, entries: 0 };
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
      usage.entries++;
      try {
        const st = lstatSync(join(current, name));
        if (st.isDirectory()) pending.push(join(current, name));
        else if (st.isFile()) usage.bytes += st.size;
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
  }
  return usage;
}

function limitOption(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (value !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(value) || value < 0)) {
    throw new FerryError("invalid_option", `\`${option}\` must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

/** The name's path segments, or a host_error trap for anything that is not a plain relative path. */
function checkName(name: string): string[] {
  const bad = (why: string): never => {
    throw new GuestTrap("host_error", `resource name ${JSON.stringify(name.slice(0, 80))} ${why}`);
  };
  if (typeof name !== "string" || name === "") bad("is empty");
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) bad(`is longer than ${MAX_NAME_BYTES} bytes`);
  if (name.includes("\0")) bad("contains a NUL byte");
  if (name.startsWith("/") || name.includes("\\")) bad("must be a relative path with / separators");
  const segments = name.split("/");
  for (const s of segments) {
    if (s === "" || s === "." || s === "..") bad("has an empty, . or .. segment");
    if (!SEGMENT.test(s)) bad("may contain only letters, digits, . _ - and /");
    if (s.startsWith(TEMP_PREFIX)) bad(`may not start a segment with ${TEMP_PREFIX}`);
  }
  return segments;
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "ENOENT" || code === "ENOTDIR";
}
