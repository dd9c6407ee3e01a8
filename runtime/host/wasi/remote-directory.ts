// The child's view of a preopened directory the parent holds: every Directory and FileHandle call
// is a blocking request over the host-call channel (fs-wire.ts; small reads and writes buffered by
// remote-channel.ts, which all the child's trees share), and an error answer is the FsError the
// parent's Directory raised. The WASI layer above is the same as in-process, so a guest
// sees the same answers in either sandbox; the parent checks every request again (fs-server.ts).

import type { DirEntry, Directory, EntryStat, FileHandle, OpenFileOptions } from "../../resources/directory.js";
import { type FsOp, fromJson, statFromWire, timeToWire } from "./fs-wire.js";
import type { RemoteFsChannel } from "./remote-channel.js";

class RemoteFile implements FileHandle {
  private closed = false;
  constructor(
    private readonly channel: RemoteFsChannel,
    private readonly handle: number,
  ) {}
  read(into: Uint8Array, position: number): number {
    return this.channel.read(this.handle, into, position);
  }
  write(bytes: Uint8Array, position: number): number {
    return this.channel.write(this.handle, bytes, position);
  }
  stat(): EntryStat {
    return statFromWire(this.channel.fileCall("fileStat", this.handle, []).payload);
  }
  setSize(size: number): void {
    this.channel.fileCall("fileSetSize", this.handle, [size]);
  }
  setTimes(atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
    this.channel.fileCall("fileSetTimes", this.handle, [timeToWire(atimeNs), timeToWire(mtimeNs)]);
  }
  sync(): void {
    this.channel.fileCall("fileSync", this.handle, []);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.fileCall("fileClose", this.handle, []);
  }
}

export class RemoteDirectory implements Directory {
  constructor(
    private readonly channel: RemoteFsChannel,
    private readonly tree: number,
    readonly readOnly: boolean,
  ) {}
  settle(): void {
    this.channel.settle();
  }
  private call(op: FsOp, args: unknown[]): { value: number; payload: Uint8Array } {
    return this.channel.call(op, this.tree, args);
  }
  stat(path: string): EntryStat {
    return statFromWire(this.call("stat", [path]).payload);
  }
  list(path: string): DirEntry[] {
    const list = fromJson(this.call("list", [path]).payload) as Array<{
      name: string;
      type: DirEntry["type"];
      ino: string;
    }>;
    return list.map((d) => ({ name: d.name, type: d.type, ino: BigInt(d.ino) }));
  }
  mkdir(path: string): void {
    this.call("mkdir", [path]);
  }
  rmdir(path: string): void {
    this.call("rmdir", [path]);
  }
  unlink(path: string): void {
    this.call("unlink", [path]);
  }
  rename(from: string, to: string): void {
    this.call("rename", [from, to]);
  }
  readlink(path: string): string {
    return new TextDecoder().decode(this.call("readlink", [path]).payload);
  }
  setTimes(path: string, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): void {
    this.call("setTimes", [path, timeToWire(atimeNs), timeToWire(mtimeNs)]);
  }
  openFile(path: string, options: OpenFileOptions): FileHandle {
    const { value } = this.call("openFile", [path, !!options.create, !!options.exclusive, !!options.truncate, !!options.write]);
    return new RemoteFile(this.channel, value);
  }
}
