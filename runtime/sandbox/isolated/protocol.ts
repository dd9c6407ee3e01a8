// The messages between the pool (parent) and a sandbox child, over IPC with advanced serialization
// (or a worker's port): structured clone, so Uint8Arrays and bigints travel as themselves.
// Every request carries an id and gets exactly one reply with that id; `log` and `ready` are events.

import type { CodeSegment, EntryPoint } from "../../code/segment.js";
import type { ErrorCode } from "../../errors.js";
import type { InstanceConfig } from "../../exec/instance-api.js";
import type { InstanceStatus, RunResult } from "../../exec/instance-api.js";
import type { Snapshot } from "../../exec/snapshot.js";
import type { WasmValue } from "../../exec/values.js";
import type { TrustClass } from "../../exec/instance-api.js";
import type { HostCallFault } from "./host-calls.js";

/** What the child needs to build a GuestInstance (no callbacks: those stay in the parent). */
export interface CreateOptions {
  trust: TrustClass;
  input?: Uint8Array;
  maxOutputBytes?: number;
  maxLogBytes?: number;
  /**
   * Authenticated only: the grants, so the child can refuse a denied call without a round trip.
   * A courtesy, not the check: the parent checks every request again (host-call-server.ts).
   */
  capabilities?: string[];
  /**
   * A WASI program's argv and environment, and its directories by guest path (the parent holds them;
   * calls cross). An `async` one's calls are awaited: the child sends them as `host-call-async` events
   * and waits for the `host-answer` with its event loop free.
   */
  wasi?: { args: string[]; env: string[]; preopens: Array<{ guestPath: string; readOnly: boolean; async?: boolean }> };
  /** Longest wait for one awaited host call, ms. */
  awaitDeadlineMs?: number;
}

export type Request =
  | {
      id: number;
      type: "create";
      codeHash: string;
      /** Sent only when the parent does not know the child to have this module compiled. */
      segment?: CodeSegment;
      config: InstanceConfig;
      options: CreateOptions;
      /** Restore: apply this execution segment to the fresh instance. */
      snapshot?: Snapshot;
    }
  | { id: number; type: "run"; entry: string; args: WasmValue[]; fuel?: number; fuelLimit?: number; sliceMs?: number }
  | { id: number; type: "resume"; fuel?: number; sliceMs?: number }
  | { id: number; type: "snapshot"; move: boolean }
  /** Reply once the awaited host call the instance is paused in has its answer (at once when none). */
  | { id: number; type: "settled" }
  /** The answer to a `host-call-async` event (no reply). */
  | { id: number; type: "host-answer"; call: number; body: Uint8Array }
  /** Drop the instance; the child goes back to the idle set. */
  | { id: number; type: "dispose" }
  /** Diagnostics for the security tests: what the permission model lets this process do. */
  | { id: number; type: "probe"; scratchPath: string }
  /** Tests only: break the host-call protocol on the next resource call, as a subverted child would. */
  | { id: number; type: "fault"; hostCall: HostCallFault };

export type RequestType = Request["type"];

/** The instance's state after a request, so the parent answers getters without asking. */
export interface InstanceView {
  state: InstanceStatus;
  fuelUsed: number;
  currentRun: { entry: EntryPoint; args: WasmValue[] } | undefined;
  /** Output written since the previous reply (a copy, not a view into a larger buffer). */
  output: Uint8Array;
  /** Log lines not yet sent in a `log` event. */
  logs: string[];
}

export interface ProbeReport {
  /** Environment variables the child can see (none are passed on). */
  envKeys: string[];
  /** process.permission.has(...) for each scope, or null without the permission model. */
  permission: { fsWrite: boolean; childProcess: boolean; worker: boolean; fsReadEtc: boolean } | null;
  /** Outcome of actually trying: "allowed" or the error code that stopped it. */
  attempts: { writeFile: string; spawn: string; worker: string; readFile: string };
  /**
   * The host-call pipes (process transport; null in a worker): using the inherited fds is allowed,
   * reopening them by path (/proc/self/fd/N, /dev/fd/N) is not.
   */
  hostChannel: { fstatRequestFd: string; fstatAnswerFd: string; openProcFd: string; openDevFd: string } | null;
}

export type Reply =
  | { id: number; type: "reply"; ok: true; view?: InstanceView; result?: RunResult; snapshot?: Snapshot; probe?: ProbeReport }
  | {
      id: number;
      type: "reply";
      ok: false;
      /** A FerryError's code and detail, rethrown as such in the parent. */
      error: { code: ErrorCode | "internal"; detail: string | undefined; message: string };
      /** The child has no module with the requested hash: resend with the segment. */
      needSegment?: boolean;
      view?: InstanceView;
    };

/**
 * `host-call`: worker transport only, the doorbell for a request waiting in the shared buffer.
 * `host-call-async`: a host-call request the child awaits instead of blocking on (an asynchronous
 * directory's call); the parent answers with a `host-answer` message carrying the same `call` number.
 */
export type ChildEvent =
  | Reply
  | { type: "ready" }
  | { type: "log"; lines: string[] }
  | { type: "host-call" }
  | { type: "host-call-async"; call: number; body: Uint8Array };

/** Awaited host calls one child may have outstanding at its parent; past it the child is killed (a protocol violation). */
export const MAX_ASYNC_HOST_CALLS = 16;

/**
 * Log lines stream one message each, up to LOG_UNBATCHED_PER_WINDOW per LOG_BATCH_MS window; past
 * that (a flood) they go LOG_BATCH_LINES to a message.
 */
export const LOG_UNBATCHED_PER_WINDOW = 32;
export const LOG_BATCH_MS = 10;
export const LOG_BATCH_LINES = 256;
/** Modules a child keeps compiled (oldest dropped first). */
export const CHILD_MODULE_CACHE = 16;
