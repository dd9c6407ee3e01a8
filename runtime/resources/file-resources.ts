// A ResourceProvider backed by files under one root directory, for real nodes: a resource name is
// a relative path under the root. Reads see the file as it was at open; a write replaces the file
// atomically on close (temp file, fsync, rename, fsync the directory), so readers never see half.
// Optional quotas bound what the whole root may hold (bytes, and files + directories): a node gives
// each client a root and its disk quota.
//
// Nothing a handle reads or writes is held in the host's memory: every open handle is backed by a
// temp file in the root itself (a hard link to the file read, or the new content being written),
// touched one bounded call at a time without keeping a descriptor open. So a handle costs the host
// a few hundred bytes whatever its size, and the bytes in flight are on disk, under the root, where
// the quota counts them: at every write (through a ledger shared by every handle on the root in this
// process), and exactly, by walking the root, when a writer opens and when it commits.

import { closeSync, constants, linkSync, lstatSync, mkdirSync, openSync, realpathSync, rmSync, type Stats } from "node:fs";
import { join, resolve } from "node:path";
import { commitTempFile } from "../atomic-file.js";
import { FerryError } from "../errors.js";
import { GuestTrap } from "../traps.js";
import type { Access } from "./capabilities.js";
import type { ResourceHandle, ResourceProvider } from "./provider.js";
import { checkName, inside } from "./resource-names.js";
import {
  LEDGERS,
  LIVE_TEMPS,
  measure,
  type OpenHandle,
  type ResourceUsage,
  releaseTemp,
  type RootLedger,
  tempPath,
} from "./root-ledger.js";
import { appendAt, copyInto, isMissing, readAt } from "./temp-file-io.js";

export type { ResourceUsage } from "./root-ledger.js";

/** Largest file a guest may read or write through a FileResources, bytes. */
export const DEFAULT_MAX_RESOURCE_FILE_BYTES = 16 * 1024 * 1024;

export interface FileResourcesOptions {
  /** Largest file a guest may read, or write in one open-to-close. Default 16 MiB. */
  maxFileBytes?: number;
  /** Bytes every file under the root may hold together (a disk quota). Default unlimited. */
  maxTotalBytes?: number;
  /** Files and directories under the root, together. Default unlimited. */
  maxEntries?: number;
}

/** What a write would change: the target's present size and the entries (file, directories) it adds. */
interface WriteTarget {
  /** The target's path, through the root's real directories (the key a writer's credit is held under). */
  path: string;
  existingBytes: number;
  /** The target's inode has other names (a reader's link): replacing it frees nothing. */
  shared: boolean;
  newEntries: number;
}

/** A handle the embedder dropped without close or discard still gives its temp file back, eventually. */
const ABANDONED = new FinalizationRegistry<() => void>((release) => release());

export class FileResources implements ResourceProvider {
  /** The root as given, made absolute. Created (mode 0700) on the first write. */
  readonly root: string;
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;
  readonly maxEntries: number;

  constructor(rootDir: string, options: FileResourcesOptions = {}) {
    if (typeof rootDir !== "string" || rootDir === "" || rootDir.includes("\0"))
      throw new FerryError("invalid_option", "FileResources needs a root directory path");
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
    const source = reading ? this.findSource(realRoot, segments) : undefined;
    if (source === undefined && !writing) return undefined;
    return writing ? this.openWriter(name, realRoot, segments, target!, source, reading) : this.openReader(name, realRoot, source!);
  }

  /** A read-only handle: a hard link to the file as it is now, so a later replacement does not change what it reads. */
  private openReader(name: string, realRoot: string, source: { real: string; size: number }): ResourceHandle {
    const temp = tempPath(realRoot);
    try {
      linkSync(source.real, temp);
    } catch (error) {
      // A file system without hard links: a copy instead (counted like any temp file).
      if (!["EXDEV", "EPERM", "ENOTSUP", "EOPNOTSUPP", "EMLINK"].includes((error as { code?: string }).code ?? "")) throw error;
      copyInto(source.real, temp, this.maxFileBytes, source.real);
      const ledger = LEDGERS.get(realRoot);
      if (ledger) ledger.bytes += lstatSync(temp).size;
    }
    const st = lstatSync(temp);
    if (!st.isFile()) {
      rmSync(temp, { force: true });
      throw new GuestTrap("host_error", "the file changed while it was opened");
    }
    return this.handle({ name, realRoot, temp, reading: true, readable: Math.min(st.size, this.maxFileBytes), writing: undefined });
  }

  /** A write handle: its new content grows in a temp file, checked against the quota at every write. */
  private openWriter(
    name: string,
    realRoot: string,
    segments: string[],
    target: WriteTarget,
    source: { real: string; size: number } | undefined,
    reading: boolean,
  ): ResourceHandle {
    const { ledger, entries } = this.ledger(realRoot);
    // The bytes of the file this writer replaces come back at commit, so it may reuse them — but
    // only one writer per target at a time, or N writers of one file would each spend them again.
    const credit = target.existingBytes > 0 && !target.shared && !ledger.credited.has(target.path) ? target.existingBytes : 0;
    const initial = source?.size ?? 0; // read-write appends to a copy of what is there
    if (this.limited) {
      if (target.newEntries > 0 && entries + target.newEntries > this.maxEntries) {
        throw new GuestTrap("resource_quota", `"${name}" would take the files and directories past ${this.maxEntries}`);
      }
      if (initial > credit && ledger.bytes - credit + initial > this.maxTotalBytes) {
        throw new GuestTrap("resource_quota", `"${name}" would take the files past ${this.maxTotalBytes} bytes`);
      }
    }
    const temp = tempPath(realRoot);
    if (source) copyInto(source.real, temp, this.maxFileBytes, segments.join("/"));
    else closeSync(openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
    const size = lstatSync(temp).size;
    ledger.bytes += size;
    ledger.writers++;
    if (credit > 0) ledger.credited.add(target.path);
    // The copy of the file this writer starts from is work the guest pays for (runtime/host/ferry-resources/session.ts).
    const openedBytes = source ? size : 0;
    return this.handle({
      name,
      realRoot,
      temp,
      reading,
      readable: reading ? size : 0,
      openedBytes,
      writing: { segments, ledger, credit, creditKey: credit > 0 ? target.path : undefined, size },
    });
  }

  private handle(h: OpenHandle): ResourceHandle {
    LIVE_TEMPS.add(h.temp);
    let position = 0;
    let ended = false;
    // What the finaliser runs: it must not reach the handle object itself.
    const release = (): void => releaseTemp(h);
    const end = (): boolean => {
      if (ended) return false;
      ended = true;
      ABANDONED.unregister(handle);
      return true;
    };
    const handle: ResourceHandle = {
      openedBytes: h.openedBytes ?? 0,
      read: (into) => {
        if (ended) throw new GuestTrap("host_error", `"${h.name}" is closed`);
        if (!h.reading) throw new GuestTrap("host_error", `"${h.name}" is not open for reading`);
        const n = Math.min(into.byteLength, h.readable - position);
        if (n <= 0) return 0;
        const got = readAt(h.temp, into.subarray(0, n), position);
        position += got;
        return got;
      },
      write: (bytes) => {
        if (ended) throw new GuestTrap("host_error", `"${h.name}" is closed`);
        const w = h.writing;
        if (!w) throw new GuestTrap("host_error", `"${h.name}" is not open for writing`);
        const n = bytes.byteLength;
        if (w.size + n > this.maxFileBytes) throw new GuestTrap("host_error", `"${h.name}" would grow past ${this.maxFileBytes} bytes`);
        // In flight counts: the root's bytes now (every handle's temp file included) plus this write,
        // less what this writer's commit frees. Growing no further than the file it replaces is
        // always allowed, so a root over a lowered quota can still shrink.
        if (n > 0 && w.size + n > w.credit && w.ledger.bytes - w.credit + n > this.maxTotalBytes) {
          throw new GuestTrap("resource_quota", `"${h.name}" would take the files past ${this.maxTotalBytes} bytes`);
        }
        appendAt(h.temp, bytes, w.size);
        w.size += n;
        w.ledger.bytes += n;
        return n;
      },
      close: () => {
        if (!end()) return;
        try {
          if (h.writing) this.commit(h);
        } finally {
          release();
        }
      },
      discard: () => {
        if (end()) release();
      },
    };
    ABANDONED.register(handle, release, handle);
    return handle;
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

  /** The root's ledger, measured afresh (a writer is opening: see anything written by others meanwhile). */
  private ledger(realRoot: string): { ledger: RootLedger; entries: number } {
    let ledger = LEDGERS.get(realRoot);
    if (!ledger) {
      ledger = { bytes: 0, writers: 0, credited: new Set() };
      LEDGERS.set(realRoot, ledger);
    }
    const used = this.limited ? measure(realRoot, this.maxEntries) : { bytes: ledger.bytes, entries: 0 };
    ledger.bytes = used.bytes;
    return { ledger, entries: used.entries };
  }

  /** The file to read: its real path (inside the root) and size, or undefined if there is none. */
  private findSource(realRoot: string, segments: string[]): { real: string; size: number } | undefined {
    let real: string;
    try {
      real = realpathSync(join(realRoot, ...segments));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    if (!inside(realRoot, real)) throw new GuestTrap("host_error", `"${segments.join("/")}" leads outside the resource root`);
    const st = lstatSync(real);
    if (!st.isFile()) throw new GuestTrap("host_error", `"${segments.join("/")}" is not a regular file`);
    if (st.size > this.maxFileBytes) throw new GuestTrap("host_error", `"${segments.join("/")}" is larger than ${this.maxFileBytes} bytes`);
    return { real, size: st.size };
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
      let st: Stats;
      try {
        st = lstatSync(next);
      } catch (error) {
        // This directory and the ones below it are new, and so is the file.
        if (isMissing(error))
          return { path: join(next, ...segments.slice(i + 1)), existingBytes: 0, shared: false, newEntries: dirs.length - i + 1 };
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
      if (st.isSymbolicLink())
        throw new GuestTrap("host_error", `"${segments.join("/")}" is a symbolic link: writes replace regular files only`);
      if (!st.isFile()) throw new GuestTrap("host_error", `"${segments.join("/")}" is not a regular file`);
      return { path: target, existingBytes: st.size, shared: st.nlink > 1, newEntries: 0 };
    } catch (error) {
      if (!isMissing(error)) throw error;
      return { path: target, existingBytes: 0, shared: false, newEntries: 1 };
    }
  }

  /** Rename the complete temp file over the target (checked again to be inside the root), durably (runtime/atomic-file.ts). */
  private commit(h: OpenHandle): void {
    const w = h.writing!;
    const change = this.checkWritable(h.realRoot, w.segments);
    // The target's old bytes come back unless another name (a reader's link) keeps them.
    const freed = change.shared ? 0 : change.existingBytes;
    this.checkCommitQuota(h, change, freed);
    const dir = this.makeDirectories(h.realRoot, w.segments);
    try {
      commitTempFile(h.temp, join(dir, w.segments[w.segments.length - 1]!), () => {
        // The temp file is now the target: its bytes stay counted, the replaced file's leave.
        LIVE_TEMPS.delete(h.temp);
        w.ledger.bytes -= freed;
        w.size = 0; // nothing of this writer's is in flight any more
      });
    } catch (error) {
      if ((error as { code?: string }).code === "EXDEV")
        throw new GuestTrap("host_error", `"${w.segments.join("/")}" lies on another file system than the resource root`);
      throw error;
    }
  }

  /**
   * Measured again: other writers (other jobs of the same client, an admin) may have changed the
   * root meanwhile. The walk counts this writer's temp file already.
   */
  private checkCommitQuota(h: OpenHandle, change: WriteTarget, freed: number): void {
    if (!this.limited) return;
    const w = h.writing!;
    const used = measure(h.realRoot, this.maxEntries);
    if (change.newEntries > 0 && used.entries + change.newEntries > this.maxEntries) {
      throw new GuestTrap("resource_quota", `"${h.name}" would take the files and directories past ${this.maxEntries}`);
    }
    if (w.size > change.existingBytes && used.bytes - freed > this.maxTotalBytes) {
      throw new GuestTrap("resource_quota", `"${h.name}" would take the files past ${this.maxTotalBytes} bytes`);
    }
    w.ledger.bytes = used.bytes;
  }

  /** The target's directories, made where missing and each checked to stay inside the root; returns the last. */
  private makeDirectories(realRoot: string, segments: string[]): string {
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
    return dir;
  }
}

function limitOption(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (value !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(value) || value < 0)) {
    throw new FerryError("invalid_option", `\`${option}\` must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}
