// The child's view of a preopened directory the parent holds: every Directory and FileHandle call
// is one blocking request over the host-call channel (fs-wire.ts), and an error answer is the
// FsError the parent's Directory raised. The WASI layer above is the same as in-process, so a guest
// sees the same answers in either sandbox; the parent checks every request again (fs-server.ts).

import {
  type DirEntry,
  type Directory,
  type EntryStat,
  type FileHandle,
  FsError,
  type OpenFileOptions,
} from "../../resources/directory.js";
import { HOST_CALL_MAX_IO_BYTES, type RemoteAsk } from "../interface.js";
import { FS_ERRORS, type FsOp, fromJson, WASI_FS } from "./fs-wire.js";

const NONE: Uint8Array = new Uint8Array(0);

function call(ask: RemoteAsk, op: FsOp, target: number, args: unknown[], bytes = NONE): { value: number; payload: Uint8Array } {
  const answer = ask(WASI_FS, { op, target, args, bytes });
  if (answer.value < 0) {
    const name = FS_ERRORS[-answer.value - 1] ?? "EIO";
    throw new FsError(name, new TextDecoder().decode(answer.payload));
  }
  return answer;
}

function statOf(payload: Uint8Array): EntryStat {
  const s = fromJson(payload) as Record<string, string | number>;
  return {
    type: s.type as EntryStat["type"],
    size: Number(s.size),
    ino: BigInt(s.ino!),
    nlink: Number(s.nlink),
    atimeNs: BigInt(s.atimeNs!),
    mtimeNs: BigInt(s.mtimeNs!),
    ctimeNs: BigInt(s.ctimeNs!),
  };
}

const time = (t: bigint | undefined): string | null => (t === undefined ? null : t.toString());

class RemoteFile implements FileHandle {
  private closed = false;
  constructor(
    private readonly ask: RemoteAsk,
    private readonly handle: number,
  ) {}
  read(into: Uint8Array, position: number): number {
    const want = Math.min(into.byteLength, HOST_CALL_MAX_IO_BYTES);
    const { payload } = call(this.ask, "fileRead", this.handle, [want, position]);
    if (payload.byteLength > want) throw new FsError("EIO", "the parent answered more than asked");
    into.set(payload);
    return payload.byteLength;
  }
  write(bytes: Uint8Array, position: number): number {
    return call(this.ask, "fileWrite", this.handle, [position], bytes.subarray(0, HOST_CALL_MAX_IO_BYTES)).value;
  }
  stat(): EntryStat {
    return statOf(call(this.ask, "fileStat", this.handle, []).payload);
  }
  setSize(size: number): void {
    call(this.ask, "fileSetSize", this.handle, [size]);
  }
  setTimes(atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
    call(this.ask, "fileSetTimes", this.handle, [time(atimeNs), time(mtimeNs)]);
  }
  sync(): void {
    call(this.ask, "fileSync", this.handle, []);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    call(this.ask, "fileClose", this.handle, []);
  }
}

export class RemoteDirectory implements Directory {
  constructor(
    private readonly ask: RemoteAsk,
    private readonly tree: number,
    readonly readOnly: boolean,
  ) {}
  stat(path: string): EntryStat {
    return statOf(call(this.ask, "stat", this.tree, [path]).payload);
  }
  list(path: string): DirEntry[] {
    const list = fromJson(call(this.ask, "list", this.tree, [path]).payload) as Array<{
      name: string;
      type: DirEntry["type"];
      ino: string;
    }>;
    return list.map((d) => ({ name: d.name, type: d.type, ino: BigInt(d.ino) }));
  }
  mkdir(path: string): void {
    call(this.ask, "mkdir", this.tree, [path]);
  }
  rmdir(path: string): void {
    call(this.ask, "rmdir", this.tree, [path]);
  }
  unlink(path: string): void {
    call(this.ask, "unlink", this.tree, [path]);
  }
  rename(from: string, to: string): void {
    call(this.ask, "rename", this.tree, [from, to]);
  }
  readlink(path: string): string {
    return new TextDecoder().decode(call(this.ask, "readlink", this.tree, [path]).payload);
  }
  setTimes(path: string, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
    call(this.ask, "setTimes", this.tree, [path, time(atimeNs), time(mtimeNs)]);
  }
  openFile(path: string, options: OpenFileOptions): FileHandle {
    const { value } = call(this.ask, "openFile", this.tree, [
      path,
      !!options.create,
      !!options.exclusive,
      !!options.truncate,
      !!options.write,
    ]);
    return new RemoteFile(this.ask, value);
  }
}
