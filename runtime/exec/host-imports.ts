// The functions a guest may import (runtime/code/host-abi.ts lists them): input, output, log and
// AssemblyScript's hooks. Pausing (`yield`, `checkpoint`) is the instance's business; it passes
// those two in. Every pointer a guest hands over is bounds-checked before use.

import { GuestTrap } from "./traps.js";

export interface GuestIo {
  memory(): Uint8Array;
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
  return {
    ferry: {
      ...resources,
      yield: () => pausing.yield(),
      checkpoint: () => pausing.checkpoint(),
      log: (ptr: number, len: number) => io.writeLog(utf8.decode(slice(io.memory(), ptr, len))),
      input_size: () => io.input.byteLength,
      input_read: (dst: number, offset: number, len: number) => {
        const from = offset >>> 0;
        const n = Math.max(0, Math.min(len >>> 0, io.input.byteLength - from));
        if (n === 0) return 0;
        slice(io.memory(), dst, n).set(io.input.subarray(from, from + n));
        return n;
      },
      output_write: (ptr: number, len: number) => io.writeOutput(slice(io.memory(), ptr, len)),
    },
    env: {
      abort: (msg: number, file: number, line: number, column: number) => {
        const memory = io.memory();
        throw new GuestTrap("guest_abort", `${asString(memory, msg) || "abort"} at ${asString(memory, file) || "?"}:${line}:${column}`);
      },
      trace: (msg: number, n: number, ...values: number[]) => {
        io.writeLog(`trace: ${asString(io.memory(), msg)} ${values.slice(0, Math.max(0, Math.min(n, 5))).join(", ")}`.trimEnd());
      },
      seed: () => io.seed,
    },
  };
}
