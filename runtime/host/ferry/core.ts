// The `ferry` core interface: what every guest may import — the pause points, its input, its output
// and its log (docs/continuation-abi.md). Pure computation: nothing here reaches outside the
// instance, so anonymous code gets it. Every pointer a guest hands over is bounds-checked before use.

import { MAX_HOST_IO_BYTES } from "../../limits.js";
import { keepShape } from "../../shape-anchor.js";
import { guestBytes, HOST_CALL_FUEL, hostCallFuel } from "../guest-call.js";
import type { GuestIo, HostContext, HostFunctions, HostInterface, Pausing, Signature, WasmType } from "../interface.js";

export const FERRY_MODULE = "ferry";
/** The pause point every metered guest imports (the metering adds it when the guest did not). */
export const YIELD_IMPORT = "yield";
/** A guest importing it stops cleanly at explicit continuation points. */
export const CHECKPOINT_IMPORT = "checkpoint";
/** The one call that must move everything it is given: the instrumentation splits it (code/host-call-helpers.ts). */
export const OUTPUT_WRITE_IMPORT = "output_write";
/**
 * Added by the metering (never importable by a guest: not in the allow-list): the helpers call it
 * after a large chunk of bulk work or a grow of a large memory, so the host can look at the slice's
 * clock. It cannot unwind (Asyncify does not list it); a late slice is ended by the fuel check that
 * follows, which the host makes fail.
 */
export const CLOCK_IMPORT = "__ferry_clock";

/** A longer log line is cut here (the rest is bounds-checked, never read). */
export const MAX_LOG_LINE_BYTES = 64 * 1024;

export const sig = (params: WasmType[], results: WasmType[]): Signature => ({ params, results });

// ignoreBOM: a leading U+FEFF is the guest's text, not a marker to strip.
const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/**
 * One instance's `ferry` imports: what their calls reach. Each import's work is one module-level
 * function called on it (from a small closure per import), so V8 optimises the path once (the
 * WASI imports do the same; runtime/shape-anchor.ts says why). Every call but the pause points and
 * the clock is charged for the crossing first and ends with the deadline check (guest-call.ts
 * `charged`, inlined); the bytes a call moves are charged on top, by hostCallFuel.
 */
class CoreCalls {
  constructor(
    readonly io: GuestIo,
    readonly pausing: Pausing,
  ) {}

  read(ptr: number, len: number): Uint8Array {
    return guestBytes(this.io.memory(), ptr, len, "host call read");
  }
}

function yieldCall(this: CoreCalls): void {
  this.pausing.yield();
}

/** The metering's helpers: a look at the slice's clock after a large chunk of work. */
function clockCall(this: CoreCalls): void {
  this.io.afterCall();
}

function checkpointCall(this: CoreCalls): number {
  this.io.charge(HOST_CALL_FUEL);
  const answer = this.pausing.checkpoint();
  this.io.afterCall();
  return answer;
}

function logCall(this: CoreCalls, ptr: number, len: number): void {
  const io = this.io;
  io.charge(HOST_CALL_FUEL);
  const line = this.read(ptr, len).subarray(0, MAX_LOG_LINE_BYTES);
  io.charge(hostCallFuel(line.byteLength));
  io.writeLog(utf8.decode(line));
  io.afterCall();
}

function inputSizeCall(this: CoreCalls): number {
  this.io.charge(HOST_CALL_FUEL);
  const size = this.io.input.byteLength;
  this.io.afterCall();
  return size;
}

function inputReadCall(this: CoreCalls, dst: number, offset: number, len: number): number {
  const io = this.io;
  io.charge(HOST_CALL_FUEL);
  const from = offset >>> 0;
  const n = Math.max(0, Math.min(len >>> 0, MAX_HOST_IO_BYTES, io.input.byteLength - from));
  io.charge(hostCallFuel(n));
  if (n > 0) this.read(dst, n).set(io.input.subarray(from, from + n));
  io.afterCall();
  return n;
}

// Called with at most MAX_HOST_IO_BYTES by instrumented code; a raw (uninstrumented) module may pass
// more, which only the host that runs it unmetered pays for.
function outputWriteCall(this: CoreCalls, ptr: number, len: number): void {
  const io = this.io;
  io.charge(HOST_CALL_FUEL);
  const bytes = this.read(ptr, len);
  io.charge(hostCallFuel(bytes.byteLength));
  io.writeOutput(bytes);
  io.afterCall();
}

function implement({ io, pausing }: HostContext): HostFunctions {
  const calls = new CoreCalls(io, pausing);
  // One-line closures per import; the work is in the module-level functions above.
  return {
    yield: () => yieldCall.call(calls),
    [CLOCK_IMPORT]: () => clockCall.call(calls),
    checkpoint: () => checkpointCall.call(calls),
    log: (ptr: number, len: number) => logCall.call(calls, ptr, len),
    input_size: () => inputSizeCall.call(calls),
    input_read: (dst: number, offset: number, len: number) => inputReadCall.call(calls, dst, offset, len),
    output_write: (ptr: number, len: number) => outputWriteCall.call(calls, ptr, len),
  };
}

// Kept so its hidden classes outlive every job (shape-anchor.ts).
keepShape(new CoreCalls({} as GuestIo, {} as Pausing));

export const ferryCore: HostInterface = {
  id: "ferry",
  module: FERRY_MODULE,
  trust: "anonymous",
  functions: {
    [YIELD_IMPORT]: { sig: sig([], []), pauses: true },
    [CHECKPOINT_IMPORT]: { sig: sig([], ["i32"]) },
    log: { sig: sig(["i32", "i32"], []) },
    input_size: { sig: sig([], ["i32"]) },
    input_read: { sig: sig(["i32", "i32", "i32"], ["i32"]) },
    [OUTPUT_WRITE_IMPORT]: { sig: sig(["i32", "i32"], []) },
    [CLOCK_IMPORT]: { sig: sig([], []), internal: true },
  },
  implement,
};
