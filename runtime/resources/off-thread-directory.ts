// A HostDirectory served off the host's event loop: an AsyncDirectory whose every call runs in the
// process's resource worker (resource-thread.ts, directory-worker.ts), as OffThreadFileResources
// does for `ferry.resource_*`. For isolated WASI guests, whose file-system calls the parent answers
// asynchronously anyway (runtime/host/wasi/fs-server.ts): a read, a write or an fsync costs the
// host's event loop one message, not the disk's latency. The tree is `path` under `base` (made,
// component by component and never through a symlink, at the first call when `create`), so a
// node can bind a client's directory by name without touching the disk on its own thread.

import { FerryError } from "../errors.js";
import { MAX_HOST_IO_BYTES } from "../limits.js";
import type { AsyncDirectory, AsyncFileHandle, DirEntry, EntryStat, OpenFileOptions } from "./directory.js";
import { FsError, normalizeTreePath } from "./directory.js";
import type { DirectoryMethod, DirectorySpec, FileMethod } from "./directory-worker.js";
import { sharedResourceThread, type ResourceThread } from "./resource-thread.js";

export interface OffThreadDirectoryOptions {
  /** Refuse every change with EROFS. */
  readOnly?: boolean;
  /** Make the tree (under `base`) at the first call when it does not exist (default false: ENOENT). */
  create?: boolean;
  /** Writes past this many bytes of one file are EFBIG (HostDirectory's default: 1 GiB). */
  maxFileBytes?: number;
}

export class OffThreadDirectory implements AsyncDirectory {
  readonly asynchronous = true as const;
  readonly readOnly: boolean;
  private readonly spec: DirectorySpec;

  /** The tree `path` (relative, normalized: no "..", no absolute path) under `base`, an absolute directory the host owns. */
  constructor(
    base: string,
    path: string,
    options: OffThreadDirectoryOptions = {},
    private readonly thread: ResourceThread = sharedResourceThread(),
  ) {
    if (typeof base !== "string" || !base.startsWith("/") || base.includes("\0"))
      throw new FerryError("invalid_option", `OffThreadDirectory base must be an absolute path, got ${JSON.stringify(base)}`);
    let normal: string;
    try {
      normal = normalizeTreePath("", path);
    } catch (e) {
      throw new FerryError("invalid_option", `OffThreadDirectory path ${JSON.stringify(path)}: ${(e as Error).message}`);
    }
    if (normal !== path) throw new FerryError("invalid_option", `OffThreadDirectory path ${JSON.stringify(path)} is not normalized`);
    const max = options.maxFileBytes;
    if (max !== undefined && (!Number.isSafeInteger(max) || max < 0))
      throw new FerryError("invalid_option", `OffThreadDirectory \`maxFileBytes\` must be a non-negative integer, got ${String(max)}`);
    this.readOnly = options.readOnly ?? false;
    this.spec = {
      base,
      path,
      readOnly: this.readOnly,
      create: options.create ?? false,
      ...(max === undefined ? {} : { maxFileBytes: max }),
    };
  }

  private async call<T>(method: DirectoryMethod, args: unknown[]): Promise<T> {
    return (await this.thread.call({ op: "dir", spec: this.spec, method, args })).result as T;
  }

  stat(path: string): Promise<EntryStat> {
    return this.call("stat", [path]);
  }

  list(path: string): Promise<DirEntry[]> {
    return this.call("list", [path]);
  }

  mkdir(path: string): Promise<void> {
    return this.call("mkdir", [path]);
  }

  rmdir(path: string): Promise<void> {
    return this.call("rmdir", [path]);
  }

  unlink(path: string): Promise<void> {
    return this.call("unlink", [path]);
  }

  rename(from: string, to: string): Promise<void> {
    return this.call("rename", [from, to]);
  }

  readlink(path: string): Promise<string> {
    return this.call("readlink", [path]);
  }

  setTimes(path: string, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): Promise<void> {
    return this.call("setTimes", [path, atimeNs, mtimeNs]);
  }

  async openFile(path: string, options: OpenFileOptions): Promise<AsyncFileHandle> {
    const generation = this.thread.liveGeneration;
    const id = await this.call<number>("openFile", [path, { ...options }]);
    this.thread.fileOpen(generation, id, true);
    return new OffThreadFile(this.thread, generation, id, path);
  }
}

/** A file open in the resource worker; lost (EIO) if that worker stops. */
class OffThreadFile implements AsyncFileHandle {
  private closed = false;

  constructor(
    private readonly thread: ResourceThread,
    private readonly generation: number,
    private readonly id: number,
    private readonly path: string,
  ) {}

  private async call<T>(method: FileMethod, args: unknown[], bytes?: Uint8Array): Promise<T> {
    if (this.closed) throw new FsError("EBADF", `"${this.path}" is closed`);
    if (this.thread.liveGeneration !== this.generation)
      throw new FsError("EIO", `"${this.path}" was lost when the resource worker stopped`);
    const request = { op: "dirFile" as const, handle: this.id, method, args, ...(bytes ? { bytes } : {}) };
    // A write's bytes are a copy of its own (write() made it): moved to the worker, not cloned again.
    return (await this.thread.call(request, bytes ? [bytes.buffer as ArrayBuffer] : [])).result as T;
  }

  async read(into: Uint8Array, position: number): Promise<number> {
    const got = await this.call<Uint8Array>("read", [Math.min(into.byteLength, MAX_HOST_IO_BYTES), position]);
    into.set(got);
    return got.byteLength;
  }

  write(bytes: Uint8Array, position: number): Promise<number> {
    // At most one host call's worth (a short write: the caller writes the rest), copied into a buffer
    // of its own (a Buffer's slice() would be a view) that is then moved, not cloned, to the worker.
    return this.call("write", [position], new Uint8Array(bytes.subarray(0, MAX_HOST_IO_BYTES)));
  }

  stat(): Promise<EntryStat> {
    return this.call("stat", []);
  }

  setSize(size: number): Promise<void> {
    return this.call("setSize", [size]);
  }

  setTimes(atimeNs: bigint | undefined, mtimeNs: bigint | undefined): Promise<void> {
    return this.call("setTimes", [atimeNs, mtimeNs]);
  }

  sync(): Promise<void> {
    return this.call("sync", []);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const live = this.thread.liveGeneration === this.generation;
    try {
      if (live) await this.call("close", []);
    } finally {
      this.closed = true;
      this.thread.fileOpen(this.generation, this.id, false);
    }
  }
}
