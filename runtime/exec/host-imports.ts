// The functions a guest may import (runtime/code/host-abi.ts lists them): input, output, log and
// AssemblyScript's hooks. Pausing (`yield`, `checkpoint`) is the instance's business; it passes
// those two in. Every pointer a guest hands over is bounds-checked before use.

import { GuestTrap } from "./traps.js";

/**
 * Host calls are charged fuel by the work they cause, not one unit each: the crossing, plus one fuel
 * per 2^HOST_BYTES_PER_FUEL_LOG2 bytes they move in or out of guest memory (output, log, input,
 * resources), the rate of bulk memory operations. The guest checks fuel right after every host
 * call returns, so an expensive call ends its slice there.
 */
export const HOST_CALL_FUEL = 10;
export const HOST_BYTES_PER_FUEL_LOG2 = 2;

/** The fuel a host call costs for moving `bytes`. */
export function hostCallFuel(bytes: number): number {
  return HOST_CALL_FUEL + Math.ceil(bytes / (1 << HOST_BYTES_PER_FUEL_LOG2));
}

export interface GuestIo {
  memory(): Uint8Array;
  /** Take `fuel` from the running slice (the guest's check after the call acts on it). */
  charge(fuel: number): void;
  readonly input: Uint8Array;
  writeOutput(bytes: Uint8Array): void;
  writeLog(line: string): void;
  seed: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });
const utf16 = new TextDecoder("utf-16le", { fatal: false });

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
  const charged: Record<string, (...args: number[]) => number | void> = {};
  // The resource functions charge their own bytes (host-interface.ts); the crossing is charged here.
  for (const [name, fn] of Object.entries(resources ?? {})) {
    charged[name] = (...args: number[]) => {
      io.charge(HOST_CALL_FUEL);
      return fn(...args);
    };
  }
  return {
    ferry: {
      ...charged,
      yield: () => pausing.yield(),
      checkpoint: () => {
        charge(0);
        return pausing.checkpoint();
      },
      log: (ptr: number, len: number) => {
        charge(len >>> 0);
        io.writeLog(utf8.decode(slice(io.memory(), ptr, len)));
      },
      input_size: () => {
        charge(0);
        return io.input.byteLength;
      },
      input_read: (dst: number, offset: number, len: number) => {
        const from = offset >>> 0;
        const n = Math.max(0, Math.min(len >>> 0, io.input.byteLength - from));
        charge(n);
        if (n === 0) return 0;
        slice(io.memory(), dst, n).set(io.input.subarray(from, from + n));
        return n;
      },
      output_write: (ptr: number, len: number) => {
        charge(len >>> 0);
        io.writeOutput(slice(io.memory(), ptr, len));
      },
    },
    env: {
      abort: (msg: number, file: number, line: number, column: number) => {
        const memory = io.memory();
        throw new GuestTrap("guest_abort", `${asString(memory, msg) || "abort"} at ${asString(memory, file) || "?"}:${line}:${column}`);
      },
      trace: (msg: number, n: number, ...values: number[]) => {
        charge(0);
        io.writeLog(`trace: ${asString(io.memory(), msg)} ${values.slice(0, Math.max(0, Math.min(n, 5))).join(", ")}`.trimEnd());
      },
      seed: () => {
        charge(0);
        return io.seed;
      },
    },
  };
}
