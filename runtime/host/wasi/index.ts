// WASI preview 1 (`wasi_snapshot_preview1`): the interface programs compiled from C, Rust, Zig or Go
// for wasm32-wasi import. Implemented here over Ferry's own pieces — the job's input, output and log
// for fds 0-2, Directories for the preopened trees, a virtual clock — not by wrapping node:wasi,
// whose state lives in C and could not travel in a snapshot. The state (session.ts) is this
// interface's part of the resource segment.
//
// Trust: anonymous code may import it. What it can reach is what its placement gives: an anonymous
// job gets no directories but private in-memory ones (sandbox/placement.ts decides).
// Every call answers an errno and never throws into the guest, except proc_exit (the run ends
// `done` with its code), a trap the host owes (output_limit, disposed) and a bug of ours (host_error).

import { type AsyncDirectory, type Directory, FsError, isAsyncDirectory } from "../../resources/directory.js";
import { keepShape } from "../../shape-anchor.js";
import { HOST_CALL_FUEL } from "../guest-call.js";
import { sig } from "../ferry/core.js";
import type { GuestIo, HostContext, HostFn, HostFunctions, HostInterface, Pausing, Signature, WasiConfig, WasmType } from "../interface.js";
import { ERRNO, ERRNO_OF, WASI_MODULE } from "./abi.js";
import { FD_CALLS } from "./calls-fd.js";
import { serveWasiFs } from "./fs-server.js";
import { WASI_FS } from "./fs-wire.js";
import { PATH_CALLS } from "./calls-path.js";
import { PROCESS_CALLS } from "./calls-process.js";
import { WasiErrno } from "./guest-view.js";
import { SAMPLE_SESSION, type SessionCall, WasiSession } from "./session.js";
import { SettlingDirectory, Unwinding } from "./settling-directory.js";

const I = "i32" as WasmType;
const J = "i64" as WasmType;
const errno = (...params: WasmType[]): Signature => sig(params, [I]);

/** Every preview-1 function with its exact signature. */
const SIGNATURES: Readonly<Record<string, Signature>> = {
  args_get: errno(I, I),
  args_sizes_get: errno(I, I),
  environ_get: errno(I, I),
  environ_sizes_get: errno(I, I),
  clock_res_get: errno(I, I),
  clock_time_get: errno(I, J, I),
  fd_advise: errno(I, J, J, I),
  fd_allocate: errno(I, J, J),
  fd_close: errno(I),
  fd_datasync: errno(I),
  fd_fdstat_get: errno(I, I),
  fd_fdstat_set_flags: errno(I, I),
  fd_fdstat_set_rights: errno(I, J, J),
  fd_filestat_get: errno(I, I),
  fd_filestat_set_size: errno(I, J),
  fd_filestat_set_times: errno(I, J, J, I),
  fd_pread: errno(I, I, I, J, I),
  fd_prestat_get: errno(I, I),
  fd_prestat_dir_name: errno(I, I, I),
  fd_pwrite: errno(I, I, I, J, I),
  fd_read: errno(I, I, I, I),
  fd_readdir: errno(I, I, I, J, I),
  fd_renumber: errno(I, I),
  fd_seek: errno(I, J, I, I),
  fd_sync: errno(I),
  fd_tell: errno(I, I),
  fd_write: errno(I, I, I, I),
  path_create_directory: errno(I, I, I),
  path_filestat_get: errno(I, I, I, I, I),
  path_filestat_set_times: errno(I, I, I, I, J, J, I),
  path_link: errno(I, I, I, I, I, I, I),
  path_open: errno(I, I, I, I, I, J, J, I, I),
  path_readlink: errno(I, I, I, I, I, I),
  path_remove_directory: errno(I, I, I),
  path_rename: errno(I, I, I, I, I, I),
  path_symlink: errno(I, I, I, I, I),
  path_unlink_file: errno(I, I, I),
  poll_oneoff: errno(I, I, I, I),
  proc_exit: sig([I], []),
  proc_raise: errno(I),
  sched_yield: errno(),
  random_get: errno(I, I),
  sock_accept: errno(I, I, I),
  sock_recv: errno(I, I, I, I, I, I),
  sock_send: errno(I, I, I, I, I),
  sock_shutdown: errno(I, I),
};

/** The pause points themselves: sleeping and yielding (not charged like calls). */
const PAUSE_POINTS = new Set(["poll_oneoff", "sched_yield"]);

/**
 * The calls that reach a Directory or a FileHandle: over an asynchronous tree they await
 * (settling-directory.ts), so they too are declared `pauses`. The others only read the fd table.
 */
const AWAITING = new Set(
  Object.keys(SIGNATURES).filter(
    (name) =>
      (name.startsWith("fd_") || name.startsWith("path_")) &&
      ![
        "fd_advise",
        "fd_fdstat_get",
        "fd_fdstat_set_flags",
        "fd_fdstat_set_rights",
        "fd_prestat_get",
        "fd_prestat_dir_name",
        "fd_tell",
      ].includes(name),
  ),
);
const PAUSING = new Set([...PAUSE_POINTS, ...AWAITING]);

/**
 * One WASI import of one instance: its function in the call tables, the session it runs on, whether
 * it returns the errno (not proc_exit), and what charges the crossing (`io`; the pause points are
 * not charged: a rewind re-enters them, which must cost nothing).
 */
class WasiImport {
  constructor(
    readonly call: SessionCall,
    readonly session: WasiSession,
    readonly results: boolean,
    readonly io: Pick<GuestIo, "charge" | "afterCall"> | undefined,
  ) {}
}

/**
 * A call as the guest sees it: charged for the crossing, an errno whatever went wrong below, then
 * the deadline check. One module-level function, called on each import's WasiImport, over call
 * tables of module-level functions taking the session: V8 optimises this path once for the process.
 * When each import was a closure doing the work (as before), V8 compiled each new instance's closures
 * again, a few ms of optimising compiler per job; the closure left per import only forwards.
 */
function answer(this: WasiImport, ...args: number[]): number | void {
  const io = this.io;
  io?.charge(HOST_CALL_FUEL);
  let r: number | void;
  try {
    r = (this.call as unknown as (s: WasiSession, ...a: number[]) => number | void)(this.session, ...args);
  } catch (e) {
    r = errnoOf(e);
  }
  io?.afterCall();
  return this.results ? (r ?? ERRNO.SUCCESS) : undefined;
}

const CALLS: Record<string, SessionCall> = Object.assign({}, PROCESS_CALLS, FD_CALLS, PATH_CALLS);
const NOSYS: SessionCall = () => ERRNO.NOSYS;

/** The errno a call's exception answers, or the exception again (a trap, proc_exit, a bug of ours). */
function errnoOf(e: unknown): number {
  // Unwinding to await: the guest never sees this value, and the rewind calls again.
  if (e instanceof Unwinding) return ERRNO.SUCCESS;
  if (e instanceof WasiErrno) return e.errno;
  if (e instanceof FsError) return ERRNO_OF[e.errno];
  throw e;
}

/** The session's view of what the program was given: an asynchronous tree is awaited through the pause point. */
function sessionConfig(setup: WasiConfig<Directory | AsyncDirectory> | undefined, pausing: Pausing): WasiConfig | undefined {
  if (!setup) return undefined;
  const preopens = setup.preopens.map(({ guestPath, directory }, tree) => ({
    guestPath,
    directory: isAsyncDirectory(directory) ? new SettlingDirectory(pausing, directory, tree) : directory,
  }));
  return { args: setup.args, env: setup.env, preopens };
}

function implement(context: HostContext): HostFunctions {
  const { io, pausing } = context;
  const session = new WasiSession(io, pausing, sessionConfig(context.wasi, pausing));
  context.parts?.set(wasi.id, session);
  const out: HostFunctions = {};
  for (const [name, { results }] of Object.entries(SIGNATURES)) {
    const site = new WasiImport(CALLS[name] ?? NOSYS, session, results.length > 0, PAUSE_POINTS.has(name) ? undefined : io);
    // A one-line closure per import; the work is in `answer`, one function for the process.
    out[name] = ((...args: number[]) => answer.call(site, ...args)) as HostFn;
  }
  return out;
}

// Kept so its hidden classes outlive every job (shape-anchor.ts).
keepShape(new WasiImport(NOSYS, SAMPLE_SESSION, true, undefined));

export const wasi: HostInterface = {
  id: "wasi",
  module: WASI_MODULE,
  trust: "anonymous",
  functions: Object.fromEntries(
    Object.entries(SIGNATURES).map(([name, s]) => [name, PAUSING.has(name) ? { sig: s, pauses: true as const } : { sig: s }]),
  ),
  implement,
  remote: { calls: [WASI_FS], serve: serveWasiFs },
};

export { WASI_MODULE } from "./abi.js";
export { WasiSession } from "./session.js";
export { MAX_WASI_FDS } from "./fd-table.js";
export { RemoteDirectory } from "./remote-directory.js";
export { RemoteFsChannel } from "./remote-channel.js";
export { AsyncRemoteDirectory } from "./async-remote-directory.js";
