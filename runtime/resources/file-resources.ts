// A ResourceProvider backed by files under one root directory, for real nodes: a resource name is
// a relative path under the root. Reads see the file as it was at open; a write replaces the file
// atomically on close (temp file, fsync, rename, fsync the directory), so readers never see half.

import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, realpathSync, renameSync, rmSync, writeSync } from "node:fs";
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
}

export class FileResources implements ResourceProvider {
  /** The root as given, made absolute. Created (mode 0700) on the first write. */
  readonly root: string;
  readonly maxFileBytes: number;

  constructor(rootDir: string, options: FileResourcesOptions = {}) {
    if (typeof rootDir !== "string" || rootDir === "" || rootDir.includes("\0")) throw new FerryError("invalid_option", "FileResources needs a root directory path");
    const max = options.maxFileBytes ?? DEFAULT_MAX_RESOURCE_FILE_BYTES;
    if (!Number.isSafeInteger(max) || max < 0) throw new FerryError("invalid_option", `\`maxFileBytes\` must be a non-negative integer, got ${String(max)}`);
    this.root = resolve(rootDir);
    this.maxFileBytes = max;
  }

  open(name: string, access: readonly Access[]): ResourceHandle | undefined {
    const segments = checkName(name);
    const reading = access.includes("read");
    const writing = access.includes("write");
    const realRoot = this.realRoot(writing);
    if (realRoot === undefined) return undefined; // no root yet, so nothing to read
    if (writing) this.checkWritable(realRoot, segments);
    // Write-only starts afresh; read (and read-write) start from the file's content.
    const existing = reading ? this.readFile(realRoot, segments) : undefined;
    if (existing === undefined && !writing) return undefined;
    const value = existing ?? new Uint8Array(0);
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
        appended.push(bytes.slice());
        size += bytes.byteLength;
        return bytes.byteLength;
      },
      close: () => {
        if (closed || !writing) return;
        closed = true;
        const all = new Uint8Array(size);
        all.set(value);
        let at = value.byteLength;
        for (const chunk of appended) {
          all.set(chunk, at);
          at += chunk.byteLength;
        }
        this.commit(realRoot, segments, all);
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
      const out = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.byteLength;
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Refuse (before the guest writes anything) a target whose existing directories lead outside
   * the root, or that is itself a symlink or a directory. Missing directories are made on close.
   */
  private checkWritable(realRoot: string, segments: string[]): void {
    let dir = realRoot;
    for (const segment of segments.slice(0, -1)) {
      const next = join(dir, segment);
      let st;
      try {
        st = lstatSync(next);
      } catch (error) {
        if (isMissing(error)) return;
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
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  /** temp + fsync + rename + fsync(dir), in the target's real directory, checked to be inside the root. */
  private commit(realRoot: string, segments: string[], bytes: Uint8Array): void {
    this.checkWritable(realRoot, segments);
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
