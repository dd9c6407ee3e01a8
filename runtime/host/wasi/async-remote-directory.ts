// The child's view of an asynchronous directory the parent holds (an AsyncDirectory given as
// in `wasi.dirs`): the same requests as remote-directory.ts over the same wire (fs-wire.ts), but each
// one awaited — the child sends it as an event and waits with its event loop free, while the guest
// is unwound (settling-directory.ts does the awaiting). A trap answer (the parent's directory failed
// in a way that is not an FsError) is EIO here, as it is in-process.

import {
  type AsyncDirectory,
  type AsyncFileHandle,
  type DirEntry,
  type EntryStat,
  FsError,
  type OpenFileOptions,
} from "../../resources/directory.js";
import { GuestTrap } from "../../traps.js";
import { HOST_CALL_MAX_IO_BYTES, type RemoteAskAsync } from "../interface.js";
import { answerError, type FsOp, fromJson, statFromWire, timeToWire, WASI_FS } from "./fs-wire.js";

const NONE: Uint8Array = new Uint8Array(0);
async function call(
  ask: RemoteAskAsync,
  op: FsOp,
  target: number,
  args: unknown[],
  bytes = NONE,
): Promise<{ value: number; payload: Uint8Array }> {
  let answer: { value: number; payload: Uint8Array };
  try {
    answer = await ask(WASI_FS, { op, target, args, bytes });
  } catch (e) {
    if (e instanceof GuestTrap) throw new FsError("EIO", e.message);
    throw e;
  }
  const failure = answerError(answer);
  if (failure) throw failure;
  return answer;
}

class AsyncRemoteFile implements AsyncFileHandle {
  private closed = false;

  constructor(
    private readonly ask: RemoteAskAsync,
    private readonly handle: number,
  ) {}

  async read(into: Uint8Array, position: number): Promise<number> {
    const want = Math.min(into.byteLength, HOST_CALL_MAX_IO_BYTES);
    const { payload } = await call(this.ask, "fileRead", this.handle, [want, position]);
    if (payload.byteLength > want) throw new FsError("EIO", "the parent answered more than asked");
    into.set(payload);
    return payload.byteLength;
  }

  async write(bytes: Uint8Array, position: number): Promise<number> {
    return (await call(this.ask, "fileWrite", this.handle, [position], bytes.subarray(0, HOST_CALL_MAX_IO_BYTES))).value;
  }

  async stat(): Promise<EntryStat> {
    return statFromWire((await call(this.ask, "fileStat", this.handle, [])).payload);
  }

  async setSize(size: number): Promise<void> {
    await call(this.ask, "fileSetSize", this.handle, [size]);
  }

  async setTimes(atimeNs: bigint | undefined, mtimeNs: bigint | undefined): Promise<void> {
    await call(this.ask, "fileSetTimes", this.handle, [timeToWire(atimeNs), timeToWire(mtimeNs)]);
  }

  async sync(): Promise<void> {
    await call(this.ask, "fileSync", this.handle, []);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await call(this.ask, "fileClose", this.handle, []);
  }
}

export class AsyncRemoteDirectory implements AsyncDirectory {
  readonly asynchronous = true as const;
  constructor(
    private readonly ask: RemoteAskAsync,
    private readonly tree: number,
    readonly readOnly: boolean,
  ) {}

  private async op(op: FsOp, args: unknown[]): Promise<Uint8Array> {
    return (await call(this.ask, op, this.tree, args)).payload;
  }

  async stat(path: string): Promise<EntryStat> {
    return statFromWire(await this.op("stat", [path]));
  }

  async list(path: string): Promise<DirEntry[]> {
    const list = fromJson(await this.op("list", [path])) as Array<{ name: string; type: DirEntry["type"]; ino: string }>;
    return list.map((d) => ({ name: d.name, type: d.type, ino: BigInt(d.ino) }));
  }

  async mkdir(path: string): Promise<void> {
    await this.op("mkdir", [path]);
  }

  async rmdir(path: string): Promise<void> {
    await this.op("rmdir", [path]);
  }

  async unlink(path: string): Promise<void> {
    await this.op("unlink", [path]);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.op("rename", [from, to]);
  }

  async readlink(path: string): Promise<string> {
    return new TextDecoder().decode(await this.op("readlink", [path]));
  }

  async setTimes(path: string, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): Promise<void> {
    await this.op("setTimes", [path, timeToWire(atimeNs), timeToWire(mtimeNs)]);
  }

  async openFile(path: string, options: OpenFileOptions): Promise<AsyncFileHandle> {
    const flags = [path, !!options.create, !!options.exclusive, !!options.truncate, !!options.write];
    const { value } = await call(this.ask, "openFile", this.tree, flags);
    return new AsyncRemoteFile(this.ask, value);
  }
}
