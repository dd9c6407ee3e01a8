// An AsyncDirectory seen as the synchronous Directory the WASI calls are written against: each
// operation is awaited through the instance's pause point (Pausing.settle). The first time, the
// operation starts and the guest unwinds: the call throws Unwinding, which the WASI layer turns into
// an early return (index.ts); the rewind calls the WASI function again with the same arguments, it
// reaches the same operation with the same key and gets the answer. The WASI calls change no session
// state before their last directory operation, so running them again from the start is safe.
//
// A rejection that is an FsError is the directory's answer (ENOENT...); anything else — the
// deadline passed (AwaitTimeout), the link to the far end broke — is EIO.

import {
  type AsyncDirectory,
  type AsyncFileHandle,
  type DirEntry,
  type Directory,
  type EntryStat,
  type FileHandle,
  FsError,
  type OpenFileOptions,
} from "../../resources/directory.js";
import { GuestTrap } from "../../traps.js";
import { type Pausing, UNWOUND } from "../interface.js";

/** Thrown by an operation that started an unwind: the WASI function returns at once (the unwind discards its value). */
export class Unwinding extends Error {}

/** Keys name a file by the handle the far end gave (the same object when a re-entry is answered). */
const fileIds = new WeakMap<AsyncFileHandle, number>();
let nextFileId = 1;

function fileId(file: AsyncFileHandle): number {
  let id = fileIds.get(file);
  if (id === undefined) fileIds.set(file, (id = nextFileId++));
  return id;
}

const t = (time: bigint | undefined): string => (time === undefined ? "-" : time.toString());

/** One awaited operation: its answer, or Unwinding when it has just started. */
function awaited<T>(pausing: Pausing, key: string, start: () => Promise<T>): T {
  let answer: T | typeof UNWOUND;
  try {
    answer = pausing.settle(key, start);
  } catch (e) {
    if (e instanceof FsError || e instanceof GuestTrap) throw e;
    throw new FsError("EIO", e instanceof Error ? e.message : String(e));
  }
  if (answer === UNWOUND) throw new Unwinding();
  return answer;
}

class SettlingFile implements FileHandle {
  private readonly id: number;

  constructor(
    private readonly pausing: Pausing,
    private readonly file: AsyncFileHandle,
  ) {
    this.id = fileId(file);
  }

  private op<T>(what: string, start: () => Promise<T>): T {
    return awaited(this.pausing, `file ${this.id} ${what}`, start);
  }

  read(into: Uint8Array, position: number): number {
    // The far end fills a buffer of its own, never guest memory (which may move or be snapshotted meanwhile).
    const length = into.byteLength;
    const bytes = this.op(`read ${position}+${length}`, async () => {
      const buffer = new Uint8Array(length);
      const n = await this.file.read(buffer, position);
      return buffer.subarray(0, Math.max(0, Math.min(n, length)));
    });
    into.set(bytes);
    return bytes.byteLength;
  }

  write(bytes: Uint8Array, position: number): number {
    const copy = bytes.slice();
    return this.op(`write ${position}+${copy.byteLength}`, () => this.file.write(copy, position));
  }

  stat(): EntryStat {
    return this.op("stat", () => this.file.stat());
  }

  setSize(size: number): void {
    this.op(`size ${size}`, () => this.file.setSize(size));
  }

  setTimes(atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
    this.op(`times ${t(atimeNs)} ${t(mtimeNs)}`, () => this.file.setTimes(atimeNs, mtimeNs));
  }

  sync(): void {
    this.op("sync", () => this.file.sync());
  }

  /** Not awaited: a close also happens outside any call (dispose, a restore), and its answer changes nothing the guest sees. */
  close(): void {
    this.file.close().catch(() => {});
  }
}

export class SettlingDirectory implements Directory {
  constructor(
    private readonly pausing: Pausing,
    private readonly tree: AsyncDirectory,
    /** Names the tree in keys (its preopen's number). */
    private readonly name: number,
  ) {}

  get readOnly(): boolean {
    return this.tree.readOnly;
  }

  private op<T>(what: string, path: string, start: () => Promise<T>): T {
    return awaited(this.pausing, `tree ${this.name} ${what} ${JSON.stringify(path)}`, start);
  }

  stat(path: string): EntryStat {
    return this.op("stat", path, () => this.tree.stat(path));
  }

  list(path: string): DirEntry[] {
    return this.op("list", path, () => this.tree.list(path));
  }

  mkdir(path: string): void {
    this.op("mkdir", path, () => this.tree.mkdir(path));
  }

  rmdir(path: string): void {
    this.op("rmdir", path, () => this.tree.rmdir(path));
  }

  unlink(path: string): void {
    this.op("unlink", path, () => this.tree.unlink(path));
  }

  rename(from: string, to: string): void {
    this.op("rename", `${from}\0${to}`, () => this.tree.rename(from, to));
  }

  readlink(path: string): string {
    return this.op("readlink", path, () => this.tree.readlink(path));
  }

  setTimes(path: string, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
    this.op(`times ${t(atimeNs)} ${t(mtimeNs)}`, path, () => this.tree.setTimes(path, atimeNs, mtimeNs));
  }

  openFile(path: string, options: OpenFileOptions): FileHandle {
    const flags = `${+!!options.create}${+!!options.exclusive}${+!!options.truncate}${+!!options.write}`;
    const file = this.op(`open ${flags}`, path, () => this.tree.openFile(path, options));
    return new SettlingFile(this.pausing, file);
  }
}
