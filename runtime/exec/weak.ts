// Weak mobility: ship only the code hash, the entry point, its initial arguments and the input;
// the target restarts the program from the beginning. Encoded as small, versioned JSON.

import { FerryError } from "../errors.js";
import type { WasmValue } from "./values.js";

export const WEAK_FORMAT = "ferry-weak/1";

export interface WeakDescriptor {
  codeHash: string;
  entry: string;
  args: WasmValue[];
  input: Uint8Array;
}

export function encodeWeak(d: WeakDescriptor): Uint8Array {
  const json = {
    format: WEAK_FORMAT,
    codeHash: d.codeHash,
    entry: d.entry,
    // JSON has no 64-bit integers: bigints travel as decimal strings with an "n" suffix.
    args: d.args.map((a) => (typeof a === "bigint" ? `${a}n` : a)),
    input: Buffer.from(d.input.buffer, d.input.byteOffset, d.input.byteLength).toString("base64"),
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

export function decodeWeak(bytes: Uint8Array): WeakDescriptor {
  const bad = (detail: string): never => {
    throw new FerryError("weak_malformed", detail);
  };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return bad("not UTF-8 JSON");
  }
  if (typeof json !== "object" || json === null) return bad("not a JSON object");
  const o = json as Record<string, unknown>;
  if (o.format !== WEAK_FORMAT) bad(`format is ${JSON.stringify(o.format)}, expected "${WEAK_FORMAT}"`);
  if (typeof o.codeHash !== "string" || !/^[0-9a-f]{64}$/.test(o.codeHash)) bad("codeHash must be 64 lowercase hex digits");
  if (typeof o.entry !== "string" || o.entry.length === 0) bad("entry must be a non-empty string");
  if (!Array.isArray(o.args)) bad("args must be an array");
  const args = (o.args as unknown[]).map((a, i): WasmValue => {
    if (typeof a === "number" && Number.isFinite(a)) return a;
    if (typeof a === "string" && /^-?\d+n$/.test(a)) return BigInt(a.slice(0, -1));
    return bad(`argument ${i} must be a finite number or a "<integer>n" string`);
  });
  if (typeof o.input !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.input)) bad("input must be base64");
  return {
    codeHash: o.codeHash as string,
    entry: o.entry as string,
    args,
    input: new Uint8Array(Buffer.from(o.input as string, "base64")),
  };
}
