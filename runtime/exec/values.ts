// Conversions between JS values and the raw 64-bit patterns the continuation struct stores for
// entry arguments, with the argument checks every run performs.

import type { ValType } from "../code/wasm-reader.js";
import { FerryError } from "../errors.js";
import { MAX_ENTRY_ARGS } from "../limits.js";

export type WasmValue = number | bigint;

const scratch = new DataView(new ArrayBuffer(8));

export function toRaw(type: ValType, value: WasmValue): bigint {
  switch (type) {
    case "i32":
      return BigInt.asUintN(64, BigInt(Number(value) | 0));
    case "i64":
      return BigInt.asUintN(64, BigInt(value));
    case "f32":
      scratch.setFloat32(0, Number(value), true);
      return BigInt(scratch.getUint32(0, true));
    case "f64":
      scratch.setFloat64(0, Number(value), true);
      return scratch.getBigUint64(0, true);
    default:
      throw new FerryError("invalid_arguments", `parameters of type ${type} are not supported`);
  }
}

export function fromRaw(type: ValType, raw: bigint): WasmValue {
  switch (type) {
    case "i32":
      return Number(BigInt.asIntN(32, raw));
    case "i64":
      return BigInt.asIntN(64, raw);
    case "f32":
      scratch.setUint32(0, Number(BigInt.asUintN(32, raw)), true);
      return scratch.getFloat32(0, true);
    case "f64":
      scratch.setBigUint64(0, BigInt.asUintN(64, raw), true);
      return scratch.getFloat64(0, true);
    default:
      throw new FerryError("invalid_arguments", `parameters of type ${type} are not supported`);
  }
}

/** Check and convert user arguments for an entry with parameter types `params`. */
export function checkArgs(entry: string, params: ValType[], args: readonly WasmValue[]): bigint[] {
  if (params.length > MAX_ENTRY_ARGS) {
    throw new FerryError("invalid_arguments", `"${entry}" takes ${params.length} parameters; entries may take at most ${MAX_ENTRY_ARGS}`);
  }
  if (args.length !== params.length) {
    throw new FerryError("invalid_arguments", `"${entry}" takes ${params.length} argument(s), got ${args.length}`);
  }
  return params.map((type, i) => {
    const v = args[i]!;
    if (type === "i32") {
      const n = typeof v === "bigint" ? Number(v) : v;
      if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 32) {
        throw new FerryError("invalid_arguments", `argument ${i} of "${entry}" must be a 32-bit integer, got ${String(v)}`);
      }
    } else if (type === "i64") {
      const ok = typeof v === "bigint" ? v >= -(2n ** 63n) && v < 2n ** 64n : Number.isSafeInteger(v);
      if (!ok) throw new FerryError("invalid_arguments", `argument ${i} of "${entry}" must be a 64-bit integer, got ${String(v)}`);
    } else if (type === "f32" || type === "f64") {
      if (typeof v !== "number") throw new FerryError("invalid_arguments", `argument ${i} of "${entry}" must be a number`);
    }
    return toRaw(type, v);
  });
}

/** Values to pass to the export, from raw patterns. */
export function argsForCall(params: ValType[], raw: readonly bigint[]): WasmValue[] {
  return params.map((type, i) => fromRaw(type, raw[i] ?? 0n));
}

/** An export's return value as a run result: nothing as null, several values as a list. */
export function normaliseValue(value: unknown): WasmValue | WasmValue[] | null {
  if (value === undefined) return null;
  if (Array.isArray(value)) return value as WasmValue[];
  return value as WasmValue;
}
