// The functions a guest may import (runtime/code/host-abi.ts lists them): input, output, log and
// AssemblyScript's hooks. Pausing (`yield`, `checkpoint`) is the instance's business; it passes
// those two in. Every pointer a guest hands over is bounds-checked before use.

import { MAX_HOST_IO_BYTES } from "../limits.js";
import { CLOCK_IMPORT } from "../code/host-abi.js";
import { GuestTrap } from "../traps.js";

/**
 * Host calls are charged fuel by the work they cause, not one unit each: the crossing, plus one fuel
 * per 2^HOST_BYTES_PER_FUEL_LOG2 bytes they move in or out of guest memory (output, log, input,
 * resources), the rate of bulk memory operations. The guest checks fuel right after every host
 * call returns, so an expensive call ends its slice there.
 */
export const HOST_CALL_FUEL = 10;
export const HOST_BYTES_PER_FUEL_LOG2 = 2;

/** A longer log line is cut here (the rest is bounds-checked, never read). */
export const MAX_LOG_LINE_BYTES = 64 * 1024;

/** The fuel a host call costs for moving `bytes`. */
export function hostCallFuel(bytes: number): number {
  return HOST_CALL_FUEL + Math.ceil(bytes / (1 << HOST_BYTES_PER_FUEL_LOG2));
}

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

// ignoreBOM: a leading U+FEFF is the guest's text, not a marker to strip.
const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const utf16 = new TextDecoder("utf-16le", { fatal: false, ignoreBOM: true });

function slice(memory: Uint8Array, ptr: number, len: number): Uint8Array {
  const start = ptr >>> 0;
  const length = len >>> 0;
  if (start + length > memory.byteLength) {
    throw new GuestTrap("memory_out_of_bounds", `host call read ${length} bytes at ${start}`);
  }
  return memory.subarray(start, start + length);
}

/** An AssemblyScript string: UTF-16LE code units, byte length stored in the 4 bytes before it. */
function asString(memory: Uint8Array, ptr: number): string {
  const p = ptr >>> 0;
  if (p === 0 || p < 4 || p > memory.byteLength) return "";
  const len = new DataView(memory.buffer, memory.byteOffset).getUint32(p - 4, true);
  return utf16.decode(slice(memory, p, Math.min(len, 4096)));
}

export function hostImports(
  io: GuestIo,
  pausing: { yield(): void; checkpoint(): number },
  /** Authenticated code only: the capability-checked resource functions. */
  resources?: Record<string, (...args: number[]) => number | void>,
): WebAssembly.Imports {
  const charge = (bytes: number) => io.charge(hostCallFuel(bytes));
  // Every call but the two pause points goes through here: charged for the crossing (the functions
  // charge their bytes themselves), then the deadline check.
  const call =
    <A extends number[], R>(fn: (...args: A) => R) =>
    (...args: A): R => {
      io.charge(HOST_CALL_FUEL);
      const result = fn(...args);
      io.afterCall();
      return result;
    };
  const charged: Record<string, (...args: number[]) => number | void> = {};
  for (const [name, fn] of Object.entries(resources ?? {})) charged[name] = call(fn);
  return {
    ferry: {
      ...charged,
      yield: () => pausing.yield(),
      // The metering's helpers: a look at the slice's clock after a large chunk of work.
      [CLOCK_IMPORT]: () => io.afterCall(),
      checkpoint: call(() => pausing.checkpoint()),
      log: call((ptr: number, len: number) => {
        const bytes = slice(io.memory(), ptr, len);
        const line = bytes.subarray(0, MAX_LOG_LINE_BYTES);
        charge(line.byteLength);
        io.writeLog(utf8.decode(line));
      }),
      input_size: call(() => io.input.byteLength),
      input_read: call((dst: number, offset: number, len: number) => {
        const from = offset >>> 0;
        const n = Math.max(0, Math.min(len >>> 0, MAX_HOST_IO_BYTES, io.input.byteLength - from));
        charge(n);
        if (n === 0) return 0;
        slice(io.memory(), dst, n).set(io.input.subarray(from, from + n));
        return n;
      }),
      // Called with at most MAX_HOST_IO_BYTES by instrumented code; a raw (uninstrumented) module
      // may pass more, which only the host that runs it unmetered pays for.
      output_write: call((ptr: number, len: number) => {
        const bytes = slice(io.memory(), ptr, len);
        charge(bytes.byteLength);
        io.writeOutput(bytes);
      }),
    },
    env: {
      abort: (msg: number, file: number, line: number, column: number) => {
        const memory = io.memory();
        throw new GuestTrap("guest_abort", `${asString(memory, msg) || "abort"} at ${asString(memory, file) || "?"}:${line}:${column}`);
      },
      trace: call((msg: number, n: number, ...values: number[]) => {
        io.writeLog(`trace: ${asString(io.memory(), msg)} ${values.slice(0, Math.max(0, Math.min(n, 5))).join(", ")}`.trimEnd());
      }),
      seed: call(() => io.seed),
    },
  };
}
