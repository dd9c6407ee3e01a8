// Wasm values for fuzz cases: random arguments of each type (edge values common), a JSON form that
// keeps every bit (NaN payloads, -0, i64), and comparison as the spec allows for NaNs.

import type { Rng } from "./rng.js";
import type { ValName } from "./ttf-rewrite.js";

/** A value as stored in a case file: the type and its bits (ints in decimal, floats as hex bits). */
export interface Val {
  t: ValName;
  v: string;
}

const dv = new DataView(new ArrayBuffer(8));

const I32_EDGES = [0, 1, -1, 2, 7, 0x7fffffff, -0x80000000, 0xff, 0xffff, 65536, 0x10000 - 1, 1024, -2];
const I64_EDGES = [0n, 1n, -1n, 0x7fffffffffffffffn, -0x8000000000000000n, 0xffffffffn, 0x100000000n, 42n];
const F32_EDGE_BITS = [
  0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fa00001, 0xffc00000, 0x00000001, 0x7f7fffff,
  0x4f000000, 0xcf000000,
];
const F64_EDGE_BITS = [
  0n,
  0x8000000000000000n,
  0x3ff0000000000000n,
  0xbff0000000000000n,
  0x7ff0000000000000n,
  0xfff0000000000000n,
  0x7ff8000000000000n,
  0x7ff4000000000001n,
  1n,
  0x7fefffffffffffffn,
  0x41e0000000000000n,
  0xc3e0000000000000n,
];

export function randomVal(rng: Rng, t: ValName): Val {
  const edge = rng.chance(0.5);
  switch (t) {
    case "i32":
      return { t, v: String(edge ? rng.pick(I32_EDGES) : rng.u32() | 0) };
    case "i64":
      return { t, v: String(edge ? rng.pick(I64_EDGES) : BigInt.asIntN(64, (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()))) };
    case "f32": {
      if (edge) return { t, v: hex32(rng.pick(F32_EDGE_BITS)) };
      dv.setFloat32(0, (rng.float() - 0.5) * 2 ** rng.range(-10, 40));
      return { t, v: hex32(dv.getUint32(0)) };
    }
    case "f64": {
      if (edge) return { t, v: hex64(rng.pick(F64_EDGE_BITS)) };
      dv.setFloat64(0, (rng.float() - 0.5) * 2 ** rng.range(-20, 80));
      return { t, v: hex64(dv.getBigUint64(0)) };
    }
    default:
      throw new Error(`no random ${t} arguments`);
  }
}

/** The JS value the Wasm JS API takes for `v`. */
export function toJs(v: Val): number | bigint {
  switch (v.t) {
    case "i32":
      return Number(v.v) | 0;
    case "i64":
      return BigInt(v.v);
    case "f32":
      dv.setUint32(0, Number.parseInt(v.v, 16));
      return dv.getFloat32(0);
    case "f64":
      dv.setBigUint64(0, BigInt(`0x${v.v}`));
      return dv.getFloat64(0);
    default:
      throw new Error(`no JS value for ${v.t}`);
  }
}

/**
 * A result as comparable text. Floats are compared by their bits, except that every NaN is equal to
 * every other: a float operation's NaN has nondeterministic bits (Wasm spec 4.3.3), and Binaryen's
 * optimizer folds constants differently from the CPU.
 */
export function showResult(types: readonly ValName[], value: unknown): string {
  const values = types.length === 1 ? [value] : Array.isArray(value) ? value : [];
  if (types.length === 0) return value === undefined || value === null ? "()" : `unexpected ${String(value)}`;
  if (values.length !== types.length) return `arity mismatch: ${String(value)}`;
  return types.map((t, k) => showOne(t, values[k])).join(",");
}

function showOne(t: ValName, x: unknown): string {
  switch (t) {
    case "i32":
      return `i32:${typeof x === "number" ? x | 0 : `?${String(x)}`}`;
    case "i64":
      return `i64:${typeof x === "bigint" ? BigInt.asIntN(64, x) : `?${String(x)}`}`;
    case "f32":
    case "f64": {
      if (typeof x !== "number") return `${t}:?${String(x)}`;
      if (Number.isNaN(x)) return `${t}:nan`;
      dv.setFloat64(0, x);
      return `${t}:${hex64(dv.getBigUint64(0))}`;
    }
    default:
      return `${t}:?`;
  }
}

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

function hex64(n: bigint): string {
  return BigInt.asUintN(64, n).toString(16).padStart(16, "0");
}
