// The child's channel to the parent's directories, with the two buffers that make small file I/O
// affordable across a process boundary. One crossing costs ~0.1 ms (a pipe round trip through the
// parent's event loop) against ~1 µs for a syscall, and real programs write a line at a time
// (Rust's `writeln!` on a File is several fd_writes per line) and read through 1 KiB stdio buffers.
//
// - Write-behind: consecutive writes to one handle at consecutive positions are held and sent as one
//   request when anything else is asked, when they reach WRITE_BEHIND_BYTES, and whenever the guest
//   stops running (settle: every pause and the end of every run, before any snapshot). A flush that
//   fails is replayed piece by piece, so the file ends exactly as unbuffered writes would have left
//   it; the error is then *deferred*, as NFS and the page cache defer theirs: logged at once, and
//   answered by the handle's next call (a write, fd_sync, fd_close...).
// - Read-ahead: a small read asks for READ_AHEAD_BYTES and keeps the rest for the reads that follow
//   on the same handle. Any other call drops it, so a guest always reads its own writes; another
//   process changing the file meanwhile is seen at the next window, as through a stdio buffer.

import { FsError } from "../../resources/directory.js";
import { HOST_CALL_MAX_IO_BYTES, type RemoteAsk } from "../interface.js";
import { answerError, type FsOp, WASI_FS } from "./fs-wire.js";

/** Most bytes of writes held before they are sent. */
export const WRITE_BEHIND_BYTES = 256 * 1024;
/** Bytes a small read asks for, to answer the reads that follow. */
export const READ_AHEAD_BYTES = 64 * 1024;

/** Deferred failures told in the log, per channel; later ones are only answered. */
const MAX_LOGGED_FAILURES = 8;

const NONE: Uint8Array = new Uint8Array(0);

export interface Answer {
  value: number;
  payload: Uint8Array;
}

/** Writes held for one handle: pieces at consecutive positions from `position`. */
interface HeldWrites {
  handle: number;
  position: number;
  pieces: Uint8Array[];
  bytes: number;
}

/** Bytes read ahead on one handle, from `position`. */
interface ReadWindow {
  handle: number;
  position: number;
  bytes: Uint8Array;
}

export class RemoteFsChannel {
  private held: HeldWrites | undefined;
  private window: ReadWindow | undefined;
  /** A flush's failure, answered by the handle's next call. */
  private readonly deferred = new Map<number, FsError>();
  private logged = 0;

  constructor(
    private readonly ask: RemoteAsk,
    /** Where a deferred failure is told at once (the job's log). */
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Any call but a buffered read or write: what is held goes first, and the window is dropped. */
  call(op: FsOp, target: number, args: unknown[], bytes = NONE): Answer {
    this.flush();
    this.window = undefined;
    return this.send(op, target, args, bytes);
  }

  /** A call on an open file: its deferred failure, if any, is its answer (after a close has still closed it). */
  fileCall(op: FsOp, handle: number, args: unknown[]): Answer {
    this.flush();
    this.window = undefined;
    const failure = this.takeDeferred(handle);
    const answer = failure && op !== "fileClose" ? undefined : this.send(op, handle, args);
    if (failure) throw failure;
    return answer!;
  }

  write(handle: number, bytes: Uint8Array, position: number): number {
    this.window = undefined;
    const h = this.held;
    const joins = h !== undefined && h.handle === handle && h.position + h.bytes === position;
    if (!joins) this.flush();
    const failure = this.takeDeferred(handle);
    if (failure) throw failure;
    if (bytes.byteLength >= WRITE_BEHIND_BYTES) {
      return this.send("fileWrite", handle, [position], bytes.subarray(0, HOST_CALL_MAX_IO_BYTES)).value;
    }
    if (joins && h.bytes + bytes.byteLength > WRITE_BEHIND_BYTES) this.flush();
    const into = this.held ?? (this.held = { handle, position, pieces: [], bytes: 0 });
    // A copy: the guest's memory under `bytes` changes once the call returns.
    into.pieces.push(bytes.slice());
    into.bytes += bytes.byteLength;
    return bytes.byteLength;
  }

  read(handle: number, into: Uint8Array, position: number): number {
    const w = this.window;
    if (w && w.handle === handle && position >= w.position && position < w.position + w.bytes.byteLength) {
      const from = w.bytes.subarray(position - w.position, position - w.position + into.byteLength);
      into.set(from);
      return from.byteLength;
    }
    this.flush();
    this.window = undefined;
    const failure = this.takeDeferred(handle);
    if (failure) throw failure;
    const want = Math.min(Math.max(into.byteLength, READ_AHEAD_BYTES), HOST_CALL_MAX_IO_BYTES);
    const { payload } = this.send("fileRead", handle, [want, position]);
    if (payload.byteLength > want) throw new FsError("EIO", "the parent answered more than asked");
    if (payload.byteLength > into.byteLength) this.window = { handle, position, bytes: payload };
    const n = Math.min(payload.byteLength, into.byteLength);
    into.set(payload.subarray(0, n));
    return n;
  }

  /** The guest stopped running (a pause, the end of a run, a snapshot): the parent's files hold every write. */
  settle(): void {
    this.flush();
    this.window = undefined;
  }

  private flush(): void {
    const h = this.held;
    if (!h) return;
    this.held = undefined;
    const joined = h.pieces.length === 1 ? h.pieces[0]! : Buffer.concat(h.pieces, h.bytes);
    try {
      if (this.send("fileWrite", h.handle, [h.position], joined).value === h.bytes) return;
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
    }
    this.replay(h);
  }

  /** The joined write failed: the pieces one at a time, up to the first that fails, which is deferred. */
  private replay(h: HeldWrites): void {
    let at = h.position;
    for (const piece of h.pieces) {
      try {
        const n = this.send("fileWrite", h.handle, [at], piece).value;
        at += n;
        if (n < piece.byteLength) throw new FsError("EIO", `a short write (${n} of ${piece.byteLength} bytes)`);
      } catch (e) {
        if (!(e instanceof FsError)) throw e;
        this.deferred.set(h.handle, e);
        this.tell(
          `wasi: a buffered write of ${piece.byteLength} bytes at offset ${at} failed (${e.message}); the file's next call reports it`,
        );
        return;
      }
    }
  }

  private takeDeferred(handle: number): FsError | undefined {
    const failure = this.deferred.get(handle);
    this.deferred.delete(handle);
    return failure;
  }

  private tell(line: string): void {
    this.logged++;
    if (this.logged <= MAX_LOGGED_FAILURES) this.log(line);
    else if (this.logged === MAX_LOGGED_FAILURES + 1) this.log("wasi: further failed buffered writes are not logged");
  }

  private send(op: FsOp, target: number, args: unknown[], bytes = NONE): Answer {
    const answer = this.ask(WASI_FS, { op, target, args, bytes });
    const failure = answerError(answer);
    if (failure) throw failure;
    return answer;
  }
}
