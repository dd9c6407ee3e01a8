// The `ferry` core interface: what every guest may import — the pause points, its input, its output
// and its log (docs/continuation-abi.md). Pure computation: nothing here reaches outside the
// instance, so anonymous code gets it. Every pointer a guest hands over is bounds-checked before use.

import { MAX_HOST_IO_BYTES } from "../../limits.js";
import { charged, guestBytes, hostCallFuel } from "../guest-call.js";
import type { HostContext, HostFunctions, HostInterface, Signature, WasmType } from "../interface.js";

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

function implement({ io, pausing }: HostContext): HostFunctions {
  const charge = (bytes: number) => io.charge(hostCallFuel(bytes));
  const read = (ptr: number, len: number) => guestBytes(io.memory(), ptr, len, "host call read");
  return {
    yield: () => pausing.yield(),
    // The metering's helpers: a look at the slice's clock after a large chunk of work.
    [CLOCK_IMPORT]: () => io.afterCall(),
    checkpoint: charged(io, () => pausing.checkpoint()),
    log: charged(io, (ptr: number, len: number) => {
      const line = read(ptr, len).subarray(0, MAX_LOG_LINE_BYTES);
      charge(line.byteLength);
      io.writeLog(utf8.decode(line));
    }),
    input_size: charged(io, () => io.input.byteLength),
    input_read: charged(io, (dst: number, offset: number, len: number) => {
      const from = offset >>> 0;
      const n = Math.max(0, Math.min(len >>> 0, MAX_HOST_IO_BYTES, io.input.byteLength - from));
      charge(n);
      if (n === 0) return 0;
      read(dst, n).set(io.input.subarray(from, from + n));
      return n;
    }),
    // Called with at most MAX_HOST_IO_BYTES by instrumented code; a raw (uninstrumented) module
    // may pass more, which only the host that runs it unmetered pays for.
    output_write: charged(io, (ptr: number, len: number) => {
      const bytes = read(ptr, len);
      charge(bytes.byteLength);
      io.writeOutput(bytes);
    }),
  };
}

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
