// AssemblyScript's runtime hooks (`env`): abort, trace and seed, which every AssemblyScript module
// imports. Pure computation like the `ferry` core: anonymous code may import them.

import { GuestTrap } from "../../traps.js";
import { charged, guestBytes } from "../guest-call.js";
import { sig } from "../ferry/core.js";
import type { HostContext, HostFunctions, HostInterface } from "../interface.js";

// ignoreBOM: a leading U+FEFF is the guest's text, not a marker to strip.
const utf16 = new TextDecoder("utf-16le", { fatal: false, ignoreBOM: true });

/** An AssemblyScript string: UTF-16LE code units, byte length stored in the 4 bytes before it. */
function asString(memory: Uint8Array, ptr: number): string {
  const p = ptr >>> 0;
  if (p === 0 || p < 4 || p > memory.byteLength) return "";
  const len = new DataView(memory.buffer, memory.byteOffset).getUint32(p - 4, true);
  return utf16.decode(guestBytes(memory, p, Math.min(len, 4096), "host call read"));
}

function implement({ io }: HostContext): HostFunctions {
  return {
    abort: (msg: number, file: number, line: number, column: number) => {
      const memory = io.memory();
      throw new GuestTrap("guest_abort", `${asString(memory, msg) || "abort"} at ${asString(memory, file) || "?"}:${line}:${column}`);
    },
    trace: charged(io, (msg: number, n: number, ...values: number[]) => {
      io.writeLog(`trace: ${asString(io.memory(), msg)} ${values.slice(0, Math.max(0, Math.min(n, 5))).join(", ")}`.trimEnd());
    }),
    seed: charged(io, () => io.seed),
  };
}

export const assemblyScriptEnv: HostInterface = {
  id: "assemblyscript",
  module: "env",
  trust: "anonymous",
  functions: {
    abort: { sig: sig(["i32", "i32", "i32", "i32"], []) },
    trace: { sig: sig(["i32", "i32", "f64", "f64", "f64", "f64", "f64"], []) },
    seed: { sig: sig([], ["f64"]) },
  },
  implement,
};
