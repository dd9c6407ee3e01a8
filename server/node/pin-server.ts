// What answers one pin's calls at the home node: a WasiFsServer over the pin's directory (the same
// checks an isolated child's calls get), behind handle numbers that are never used twice. The
// server numbers its open files 1, 2, 3… from every start of the node, so a peer still holding a
// handle from before a restart would reach whatever file took its number since; the pin hands out
// the number of the call that opened the file instead (sequence numbers are never reused, the
// store keeps the count), and a number it did not hand out since this start is EBADF.

import {
  type AsyncDirectory,
  type Directory,
  fsErrorAnswer,
  FsError,
  type FsErrorName,
  type FsRequest,
  type RemoteAnswer,
  WASI_FS,
  WasiFsServer,
} from "../../runtime/index.js";

/** Handles travel as the fs-wire's u32 target. */
const MAX_HANDLE = 0xffff_ffff;

function failure(errno: FsErrorName, message: string): RemoteAnswer {
  return fsErrorAnswer(new FsError(errno, message));
}

export class PinServer {
  private readonly server: WasiFsServer;
  /** The handle a peer holds (the opening call's number) → the server's. */
  private readonly handles = new Map<number, number>();

  constructor(tree: Directory | AsyncDirectory) {
    this.server = new WasiFsServer([tree]);
  }

  /** Call number `seq`; directory calls name tree 0, file calls a handle this pin handed out. */
  async answer(seq: number, request: FsRequest): Promise<RemoteAnswer> {
    if (request.op === "openFile" && seq > MAX_HANDLE) return failure("EMFILE", `call ${seq}: no handle numbers left on this pin`);
    let sent = request;
    if (request.op.startsWith("file")) {
      const own = this.handles.get(request.target);
      if (own === undefined)
        return failure("EBADF", `file handle ${request.target} is not open at the home node (closed, or the node restarted)`);
      if (request.op === "fileClose") this.handles.delete(request.target);
      sent = { ...request, target: own };
    }
    const answer = await this.server.answer(WASI_FS, sent);
    if (request.op !== "openFile" || answer.value < 0) return answer;
    this.handles.set(seq, answer.value);
    return { value: seq, payload: answer.payload };
  }

  /** Close every file the pin has open. */
  abandon(): void {
    this.handles.clear();
    this.server.abandon();
  }

  /** Files open (for tests and diagnostics). */
  get held(): number {
    return this.server.held;
  }
}
