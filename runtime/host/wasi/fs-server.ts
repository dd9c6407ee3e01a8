// The parent's end of an isolated WASI program's file-system calls: the trusted end. It holds the
// directories the placement gave the job and the files the child has open in them, and checks
// every request again — the tree exists, the path is confined (normalized, inside the tree), the
// handle is this instance's, the sizes are bounded — before a Directory sees it. A tree may answer
// at once (Directory) or later (AsyncDirectory: served off the event loop, or elsewhere); every
// call is awaited, so the child waits either way and the parent's event loop never does.

import {
  type AsyncDirectory,
  type AsyncFileHandle,
  type Directory,
  type FileHandle,
  FsError,
  normalizeTreePath,
} from "../../resources/directory.js";
import { HOST_CALL_MAX_IO_BYTES, type ParentGrant, type RemoteAnswer, type RemoteCall, type RemoteServer } from "../interface.js";
import { MAX_WASI_FDS } from "./fd-table.js";
import { type FsRequest, fsErrorAnswer, toJson, WASI_FS } from "./fs-wire.js";

const NONE = new Uint8Array(0);
const encoder = new TextEncoder();

const time = (t: unknown): bigint | undefined => (t === null ? undefined : BigInt(t as string));

/** A path from the child, held to what the WASI layer sends: already normalized, inside the tree. */
function confined(path: unknown): string {
  const p = path as string;
  let normal: string;
  try {
    normal = normalizeTreePath("", p);
  } catch (e) {
    if (e instanceof FsError) throw e;
    throw new FsError("ENOTCAPABLE", "a path outside the directory");
  }
  if (normal !== p) throw new FsError("ENOTCAPABLE", `"${p}" is not a normalized path inside the directory`);
  return p;
}

export class WasiFsServer implements RemoteServer {
  private readonly files = new Map<number, FileHandle | AsyncFileHandle>();
  private nextHandle = 1;
  /** Set by abandon: a file whose asynchronous open answers after it is closed at once. */
  private abandoned = false;

  constructor(private readonly directories: readonly (Directory | AsyncDirectory)[]) {}

  get held(): number {
    return this.files.size;
  }

  async answer(call: RemoteCall, request: unknown): Promise<RemoteAnswer> {
    if (call !== WASI_FS) throw new Error(`the WASI interface has no remote call ${call.name}`);
    try {
      return await this.run(request as FsRequest);
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      return fsErrorAnswer(e);
    }
  }

  private tree(index: number): Directory | AsyncDirectory {
    const d = this.directories[index];
    if (!d) throw new FsError("EBADF", `no directory ${index} was given to this instance`);
    return d;
  }

  private file(handle: number): FileHandle | AsyncFileHandle {
    const f = this.files.get(handle);
    if (!f) throw new FsError("EBADF", `file handle ${handle} is not open`);
    return f;
  }

  private async run({ op, target, args, bytes }: FsRequest): Promise<RemoteAnswer> {
    const ok = (payload: Uint8Array = NONE, value = 0): RemoteAnswer => ({ value, payload });
    switch (op) {
      case "stat":
        return ok(toJson(await this.tree(target).stat(confined(args[0]))));
      case "list":
        return ok(toJson(await this.tree(target).list(confined(args[0]))));
      case "mkdir":
        return ok(void (await this.tree(target).mkdir(confined(args[0]))));
      case "rmdir":
        return ok(void (await this.tree(target).rmdir(confined(args[0]))));
      case "unlink":
        return ok(void (await this.tree(target).unlink(confined(args[0]))));
      case "rename":
        return ok(void (await this.tree(target).rename(confined(args[0]), confined(args[1]))));
      case "readlink":
        return ok(encoder.encode(await this.tree(target).readlink(confined(args[0]))));
      case "setTimes":
        return ok(void (await this.tree(target).setTimes(confined(args[0]), time(args[1]), time(args[2]))));
      case "openFile":
        return ok(NONE, await this.open(target, args));
      default:
        return this.fileOp(op, target, args, bytes);
    }
  }

  private async open(target: number, [path, create, exclusive, truncate, write]: unknown[]): Promise<number> {
    if (this.files.size >= MAX_WASI_FDS) throw new FsError("EMFILE", `more than ${MAX_WASI_FDS} files open`);
    const handle = await this.tree(target).openFile(confined(path), {
      create: create as boolean,
      exclusive: exclusive as boolean,
      truncate: truncate as boolean,
      write: write as boolean,
    });
    if (this.abandoned) {
      await handle.close();
      throw new FsError("EBADF", "the instance is gone");
    }
    const id = this.nextHandle++;
    this.files.set(id, handle);
    return id;
  }

  private async fileOp(op: FsRequest["op"], target: number, args: unknown[], bytes: Uint8Array): Promise<RemoteAnswer> {
    const file = this.file(target);
    switch (op) {
      case "fileRead": {
        const into = new Uint8Array(Math.min(args[0] as number, HOST_CALL_MAX_IO_BYTES));
        return { value: 0, payload: into.subarray(0, await file.read(into, args[1] as number)) };
      }
      case "fileWrite":
        return { value: await file.write(bytes.slice(), args[0] as number), payload: NONE };
      case "fileStat":
        return { value: 0, payload: toJson(await file.stat()) };
      case "fileSetSize":
        await file.setSize(args[0] as number);
        break;
      case "fileSetTimes":
        await file.setTimes(time(args[0]), time(args[1]));
        break;
      case "fileSync":
        await file.sync();
        break;
      case "fileClose":
        this.files.delete(target);
        await file.close();
        break;
    }
    return { value: 0, payload: NONE };
  }

  abandon(): void {
    this.abandoned = true;
    const open = [...this.files.values()];
    this.files.clear();
    for (const f of open) {
      try {
        // An asynchronous close settles later; its failure is as ignorable as a synchronous one's.
        const closing = f.close();
        if (closing instanceof Promise) closing.catch(() => undefined);
      } catch {
        // one file failing to close must not keep the others open
      }
    }
  }
}

export function serveWasiFs(grant: ParentGrant): RemoteServer {
  return new WasiFsServer(grant.directories);
}
