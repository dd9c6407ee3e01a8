// An AsyncDirectory whose every call waits until the test lets it answer: a far directory whose
// delay the test controls exactly (never a timer). Each call is done on the synchronous tree inside
// when it is released (so the far end acts when it answers), or failed, or left hanging.
import type { AsyncDirectory, AsyncFileHandle, DirEntry, Directory, EntryStat, FileHandle, OpenFileOptions } from "../../runtime/index.js";

interface Waiting {
  what: string;
  release(): void;
  fail(error: unknown): void;
}

export class GatedDirectory implements AsyncDirectory {
  readonly asynchronous = true as const;
  /** Calls started and not yet answered, oldest first. */
  readonly waiting: Waiting[] = [];
  /** Every call ever started, by what it asked ("stat a/b"). */
  readonly started: string[] = [];

  constructor(readonly inner: Directory) {}

  get readOnly(): boolean {
    return this.inner.readOnly;
  }

  gate<T>(what: string, run: () => T): Promise<T> {
    this.started.push(what);
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({
        what,
        release: () => {
          try {
            resolve(run());
          } catch (e) {
            reject(e);
          }
        },
        fail: reject,
      });
    });
  }

  /** Answer every call waiting now; returns how many. */
  releaseAll(): number {
    const now = this.waiting.splice(0);
    for (const w of now) w.release();
    return now.length;
  }

  /** Fail every call waiting now with `error`. */
  failAll(error: unknown): number {
    const now = this.waiting.splice(0);
    for (const w of now) w.fail(error);
    return now.length;
  }

  stat(path: string): Promise<EntryStat> {
    return this.gate(`stat ${path}`, () => this.inner.stat(path));
  }
  list(path: string): Promise<DirEntry[]> {
    return this.gate(`list ${path}`, () => this.inner.list(path));
  }
  mkdir(path: string): Promise<void> {
    return this.gate(`mkdir ${path}`, () => this.inner.mkdir(path));
  }
  rmdir(path: string): Promise<void> {
    return this.gate(`rmdir ${path}`, () => this.inner.rmdir(path));
  }
  unlink(path: string): Promise<void> {
    return this.gate(`unlink ${path}`, () => this.inner.unlink(path));
  }
  rename(from: string, to: string): Promise<void> {
    return this.gate(`rename ${from} ${to}`, () => this.inner.rename(from, to));
  }
  readlink(path: string): Promise<string> {
    return this.gate(`readlink ${path}`, () => this.inner.readlink(path));
  }
  setTimes(path: string, a: bigint | undefined, m: bigint | undefined): Promise<void> {
    return this.gate(`times ${path}`, () => this.inner.setTimes(path, a, m));
  }
  openFile(path: string, options: OpenFileOptions): Promise<AsyncFileHandle> {
    return this.gate(`open ${path}`, () => new GatedFile(this, this.inner.openFile(path, options), path));
  }
}

class GatedFile implements AsyncFileHandle {
  constructor(
    private readonly dir: GatedDirectory,
    private readonly file: FileHandle,
    private readonly path: string,
  ) {}
  read(into: Uint8Array, position: number): Promise<number> {
    return this.dir.gate(`read ${this.path}@${position}`, () => this.file.read(into, position));
  }
  write(bytes: Uint8Array, position: number): Promise<number> {
    const copy = bytes.slice();
    return this.dir.gate(`write ${this.path}@${position}`, () => this.file.write(copy, position));
  }
  stat(): Promise<EntryStat> {
    return this.dir.gate(`fstat ${this.path}`, () => this.file.stat());
  }
  setSize(size: number): Promise<void> {
    return this.dir.gate(`size ${this.path}`, () => this.file.setSize(size));
  }
  setTimes(a: bigint | undefined, m: bigint | undefined): Promise<void> {
    return this.dir.gate(`ftimes ${this.path}`, () => this.file.setTimes(a, m));
  }
  sync(): Promise<void> {
    return this.dir.gate(`sync ${this.path}`, () => this.file.sync());
  }
  /** Closing is not gated: the WASI layer does not wait for it. */
  async close(): Promise<void> {
    this.file.close();
  }
}
