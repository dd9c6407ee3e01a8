// A global reference's proxy at the node a job moved to: an AsyncDirectory whose every call runs at
// the directory's home node, through the pin the home node keeps for the job (PinChannel: signed,
// numbered, retried until a deadline, then EIO). Its answers are the FsErrors the home node's
// Directory raised, so a guest sees the same errors it would at home.

import {
  type AsyncDirectory,
  type AsyncFileHandle,
  type DirEntry,
  type EntryStat,
  type FsOp,
  HOST_CALL_MAX_IO_BYTES,
  type OpenFileOptions,
  type RemoteAnswer,
  statFromWire,
  timeToWire,
} from "../../runtime/index.js";
import { PinChannel, type PinChannelOptions } from "./pin-channel.js";

export { DEFAULT_PEER_CALL_ATTEMPT_MS, DEFAULT_PEER_CALL_DEADLINE_MS } from "./pin-channel.js";

export interface PeerDirectoryOptions extends PinChannelOptions {
  /** The pin's access is "r": changes are refused here too (the home node refuses them anyway). */
  readOnly: boolean;
}

const NONE = new Uint8Array(0);

class PeerFile implements AsyncFileHandle {
  private closed = false;
  constructor(
    private readonly channel: PinChannel,
    private readonly handle: number,
  ) {}
  private call(op: FsOp, args: unknown[], bytes: Uint8Array = NONE): Promise<RemoteAnswer> {
    return this.channel.call({ op, target: this.handle, args, bytes });
  }
  /** At most 1 MiB a call, as a host call moves: a shorter read, as POSIX allows. */
  async read(into: Uint8Array, position: number): Promise<number> {
    const { payload } = await this.call("fileRead", [Math.min(into.byteLength, HOST_CALL_MAX_IO_BYTES), position]);
    into.set(payload.subarray(0, into.byteLength));
    return Math.min(payload.byteLength, into.byteLength);
  }
  /** At most 1 MiB a call: a shorter write, as POSIX allows. */
  async write(bytes: Uint8Array, position: number): Promise<number> {
    return (await this.call("fileWrite", [position], bytes.subarray(0, HOST_CALL_MAX_IO_BYTES))).value;
  }
  async stat(): Promise<EntryStat> {
    return statFromWire((await this.call("fileStat", [])).payload);
  }
  async setSize(size: number): Promise<void> {
    await this.call("fileSetSize", [size]);
  }
  async setTimes(atimeNs: bigint | undefined, mtimeNs: bigint | undefined): Promise<void> {
    await this.call("fileSetTimes", [timeToWire(atimeNs), timeToWire(mtimeNs)]);
  }
  async sync(): Promise<void> {
    await this.call("fileSync", []);
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.call("fileClose", []);
  }
}

export class PeerDirectory implements AsyncDirectory {
  /** Marks an AsyncDirectory (the directory seam's tag for trees that answer later). */
  readonly asynchronous = true as const;
  readonly readOnly: boolean;
  private readonly channel: PinChannel;

  constructor(options: PeerDirectoryOptions) {
    this.readOnly = options.readOnly;
    this.channel = new PinChannel(options);
  }
  /** The pin's tree is the home node's tree 0: directory calls name it. */
  private call(op: FsOp, args: unknown[]): Promise<RemoteAnswer> {
    return this.channel.call({ op, target: 0, args, bytes: NONE });
  }
  async stat(path: string): Promise<EntryStat> {
    return statFromWire((await this.call("stat", [path])).payload);
  }
  async list(path: string): Promise<DirEntry[]> {
    const list = JSON.parse(new TextDecoder().decode((await this.call("list", [path])).payload)) as Array<{
      name: string;
      type: DirEntry["type"];
      ino: string;
    }>;
    return list.map((d) => ({ name: d.name, type: d.type, ino: BigInt(d.ino) }));
  }
  async mkdir(path: string): Promise<void> {
    await this.call("mkdir", [path]);
  }
  async rmdir(path: string): Promise<void> {
    await this.call("rmdir", [path]);
  }
  async unlink(path: string): Promise<void> {
    await this.call("unlink", [path]);
  }
  async rename(from: string, to: string): Promise<void> {
    await this.call("rename", [from, to]);
  }
  async readlink(path: string): Promise<string> {
    return new TextDecoder().decode((await this.call("readlink", [path])).payload);
  }
  async setTimes(path: string, atimeNs: bigint | undefined, mtimeNs: bigint | undefined): Promise<void> {
    await this.call("setTimes", [path, timeToWire(atimeNs), timeToWire(mtimeNs)]);
  }
  async openFile(path: string, options: OpenFileOptions): Promise<AsyncFileHandle> {
    const { value } = await this.call("openFile", [path, !!options.create, !!options.exclusive, !!options.truncate, !!options.write]);
    return new PeerFile(this.channel, value);
  }
}
