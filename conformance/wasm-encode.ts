// The few pieces of the WebAssembly binary format the runner writes itself: LEB128 integers,
// names, vectors and sections (for the thunks it adds to a module and the `spectest` module).

import { uleb } from "../runtime/code/wasm-encode.js";

/** An unsigned 32-bit LEB128 (the runtime's writer, for a number taken modulo 2^32). */
export function u32(n: number): number[] {
  return uleb(n >>> 0);
}

/** Signed LEB128 of any width (i32.const, i64.const). */
export function sleb(value: bigint): number[] {
  const out: number[] = [];
  let v = value;
  for (;;) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

export function name(text: string): number[] {
  const bytes = new TextEncoder().encode(text);
  return [...u32(bytes.length), ...bytes];
}

export function vec(items: readonly number[][]): number[] {
  return [...u32(items.length), ...items.flat()];
}

export function section(id: number, content: readonly number[]): number[] {
  return [id, ...u32(content.length), ...content];
}

export const MAGIC_AND_VERSION = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** Value type bytes, by the names wast2json uses. */
export const VALTYPE_BYTES: Readonly<Record<string, number>> = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
  funcref: 0x70,
  externref: 0x6f,
  anyref: 0x6e,
  eqref: 0x6d,
  i31ref: 0x6c,
  structref: 0x6b,
  arrayref: 0x6a,
  exnref: 0x69,
  nullref: 0x71,
  nullfuncref: 0x73,
  nullexternref: 0x72,
};

/** Little-endian bytes of the low `width` bytes of `bits`. */
export function le(bits: bigint, width: number): number[] {
  return Array.from({ length: width }, (_, i) => Number((bits >> BigInt(8 * i)) & 0xffn));
}
