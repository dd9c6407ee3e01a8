// What a host interface is: one import module's functions with their exact wasm signatures, the
// least trust that may import them, their in-process implementation, and how a call crosses from an
// isolated sandbox child to the parent. One descriptor per interface (ferry/, ferry-resources/,
// assemblyscript/); index.ts registers them and derives everything else from that list.
//
// Where host/ sits: below code/, exec/ and sandbox/ (they import it: the validator's allow-list and
// the Asyncify import list are derived from it, exec provides its functions, the isolated sandbox
// carries its calls); above resources/ and the runtime's leaves (traps, limits), which are all it
// imports. It never imports code/, exec/ or sandbox/ (.dependency-cruiser.cjs "host-below-exec").

import type { CapabilitySet } from "../resources/capabilities.js";
import type { AsyncDirectory, Directory } from "../resources/directory.js";
import type { AsyncResourceProvider, ResourceProvider } from "../resources/provider.js";

/** The value types a host function's signature may use (a subset of wasm's; code/wasm-reader.ts has them all). */
export type WasmType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref";

export interface Signature {
  params: WasmType[];
  results: WasmType[];
}

/** The least trust class that may import an interface: "authenticated" keeps anonymous code away. */
export type ImportTrust = "anonymous" | "authenticated";

export interface HostFunction {
  sig: Signature;
  /**
   * Asyncify may unwind through a call to it (the guest pauses inside the call): to yield, to sleep,
   * or to await a promise (`Pausing.settle`). Only these may: the instance refuses an unwind asked
   * for from any other import.
   */
  pauses?: true;
  /** Added by the instrumentation, never importable by a guest (not in the allow-list). */
  internal?: true;
}

/** A function as the guest's import object holds it. */
export type HostFn = (...args: number[]) => number | void;
export type HostFunctions = Record<string, HostFn>;

/** The instance a host call reads from and writes to. */
export interface GuestIo {
  memory(): Uint8Array;
  /** Take `fuel` from the running slice (the guest's check after the call acts on it). */
  charge(fuel: number): void;
  /** Every host call ends here: a slice past its wall-clock budget ends at the check that follows. */
  afterCall(): void;
  readonly input: Uint8Array;
  writeOutput(bytes: Uint8Array): void;
  writeLog(line: string): void;
  seed: number;
}

/** What `Pausing.settle` answers when it has started an unwind: the host function returns at once (any value; the unwind discards it). */
export const UNWOUND: unique symbol = Symbol("unwound");

/** An awaited host call's promise did not settle within its deadline (InstanceOptions.awaitDeadlineMs). */
export class AwaitTimeout extends Error {
  constructor(readonly deadlineMs: number) {
    super(`the awaited host call did not answer within ${deadlineMs} ms`);
    this.name = "AwaitTimeout";
  }
}

/** The pause points: the instance's business, passed in. */
export interface Pausing {
  yield(): void;
  checkpoint(): number;
  /**
   * The guest waits `ms` (a WASI sleep): true when the instance has started to unwind (the call
   * returns at once, the run pauses with reason "sleep", and resuming re-enters the same call); false
   * when it was rewinding back into this call (the wait is over, or may be: look at the clock again)
   * or could not unwind and has waited in place. A call re-entered by a rewind must call it (with 0
   * when the wait is already over) before it returns: that is what ends the rewind.
   */
  sleep(ms: number): boolean;
  /**
   * Await a promise without blocking the thread (an asynchronous host call; docs/resource-segment.md).
   * Only a function declared `pauses` may call it (another traps host_error). The first call starts
   * the operation (`start()`), asks the instance to unwind and answers UNWOUND: the host function
   * returns at once. The run pauses with reason "await"; the instance waits for the promise with the
   * thread free (bounded by its deadline: past it the promise counts as rejected with AwaitTimeout)
   * and rewinds into the same call with the same arguments. Called again there with the same `key`,
   * it answers the settled value, or throws the rejection. A call may await several times: on each
   * re-entry the keys already settled in this call answer at once, the first new one unwinds again.
   *
   * `key` names the operation and its arguments ("read 3 @4096+512"): the same operation started
   * again must give the same key. The rule for a function that awaits (it may be re-run from its
   * start, here or after a restore elsewhere, where nothing is remembered): read everything from its
   * arguments and state again, start the operation again, and change no state before its last
   * await. A restored instance starts every operation again, so each must be idempotent when
   * repeated (a read, a write at an explicit offset, a stat; not an append).
   */
  settle<T>(key: string, start: () => Promise<T>): T | typeof UNWOUND;
}

/**
 * An interface's own state for one instance — its part of the resource segment (a WASI fd table,
 * its clock): captured into every snapshot as plain JSON data and restored from one.
 */
export interface SegmentPart {
  /** Plain data (JSON-able): what a restore needs, and what `ferry inspect` shows. */
  capture(): unknown;
  /**
   * Take the state a snapshot carried, on a fresh instance; throws FerryError snapshot_malformed
   * when it is not well formed and snapshot_resources when it names resources this instance was
   * not given.
   */
  restore(image: unknown): void;
  /**
   * The guest stopped running (a pause, the end of a run): push out whatever the part buffers, so
   * that the host's view — files, the next capture — holds everything the guest did.
   */
  settle?(): void;
  /** The instance ended: give back what the state holds open (files). */
  dispose(): void;
}

/** A directory a WASI guest sees, under the name it sees it by. */
export interface WasiPreopen<D extends Directory | AsyncDirectory = Directory> {
  /** The guest's name for it ("/data", "."); unique per instance. */
  guestPath: string;
  /** A Directory (answers inside the slice) or an AsyncDirectory (each call awaited: Pausing.settle). */
  directory: D;
}

/** What a WASI program is given, decided by the placement (sandbox/placement.ts). */
export interface WasiConfig<D extends Directory | AsyncDirectory = Directory> {
  /** argv, the program's name first. */
  args: readonly string[];
  /** "KEY=value" strings: exactly what the job was given, nothing of the host's. */
  env: readonly string[];
  preopens: readonly WasiPreopen<D>[];
}

/** What an interface's implementation gets for one instance. */
export interface HostContext {
  io: GuestIo;
  pausing: Pausing;
  /** Authenticated code only: the instance's resource functions (ferry-resources/session.ts). */
  resources?: HostFunctions;
  /** What a WASI program is given (none: no arguments, no environment, no directories); an asynchronous tree's calls are awaited. */
  wasi?: WasiConfig<Directory | AsyncDirectory>;
  /** Where an interface with state of its own registers it, by interface id (see SegmentPart). */
  parts?: Map<string, SegmentPart>;
}

/** Most bytes one remote request or answer moves; a longer guest call becomes several requests. */
export const HOST_CALL_MAX_IO_BYTES = 1024 * 1024;

/** A request's fields as the host-call frame carries them (sandbox/isolated/host-calls.ts): two u32 and a payload. */
export interface RemoteFields {
  a: number;
  b: number;
  payload: Uint8Array;
}

/** One kind of request an isolated child sends its parent. Its op number is its place in the registry. */
export interface RemoteCall<R = unknown> {
  name: string;
  encode(request: R): RemoteFields;
  /** The parent's reading: undefined when the fields break the call's rules (the child is untrusted: a protocol violation). */
  decode(fields: RemoteFields): R | undefined;
}

/** The parent's answer to a remote call that did not trap. */
export interface RemoteAnswer {
  value: number;
  payload: Uint8Array;
}

/** The child's end: send one request and block until the answer (a trap answer is thrown as its GuestTrap). */
export type RemoteAsk = <R>(call: RemoteCall<R>, request: R) => RemoteAnswer;

/** The child's end for an awaited call: send one request and await the answer with the event loop free. */
export type RemoteAskAsync = <R>(call: RemoteCall<R>, request: R) => Promise<RemoteAnswer>;

/** What the parent holds for an isolated instance: its grants, the embedder's provider, the WASI directories. */
export interface ParentGrant {
  /** Empty for anonymous code: every resource call is refused. */
  capabilities: CapabilitySet;
  provider: ResourceProvider | AsyncResourceProvider;
  /** The preopened directories, in the order the child numbers them (an async one's calls are awaited). */
  directories: readonly (Directory | AsyncDirectory)[];
}

/** The parent's end of an interface for one isolated instance: it checks every request again. */
export interface RemoteServer {
  answer(call: RemoteCall, request: unknown): Promise<RemoteAnswer>;
  /** The instance is gone: drop what it held. */
  abandon(): void;
  /** What it holds for the instance (open handles), for tests and diagnostics. */
  readonly held: number;
}

export interface HostInterface {
  /** Names the descriptor in docs and registry checks. */
  id: string;
  /** The import module name the guest uses. */
  module: string;
  trust: ImportTrust;
  functions: Readonly<Record<string, HostFunction>>;
  /** The in-process functions for one instance, by name (those the guest may call; internal ones too). */
  implement(context: HostContext): HostFunctions;
  /**
   * How calls cross from an isolated child. Absent: the functions run in the child against its own
   * copy of the instance's state (input, output, log) and nothing crosses.
   */
  remote?: {
    // biome-ignore lint/suspicious/noExplicitAny: each call has its own request type; its decode and its server agree on it.
    calls: readonly RemoteCall<any>[];
    /** The parent's end for one instance. */
    serve(grant: ParentGrant): RemoteServer;
  };
  // An interface with state of its own (a WASI fd table) registers a SegmentPart in
  // `context.parts` from `implement`: the instance captures it into snapshots and restores it.
}
