// What an encoder checks before writing a byte: the Snapshot invariants the format relies on
// (sorted indices, whole pages, values that survive the round trip exactly), so a bad value fails
// as snapshot_malformed when encoding, not later on some other node's decode.

import { FerryError } from "../errors.js";
import { WASM_PAGE_BYTES } from "../limits.js";
import { floatOfBits, type GlobalValue, type Snapshot, type TableValue } from "./snapshot.js";
import { I64_MAX, I64_MIN, MAX_U32, NULL_REF, SNAPSHOT_MAX_MEMORY_PAGES, U128_MAX, U64_MAX } from "./snapshot-wire.js";

function cannotEncode(detail: string): FerryError {
  return new FerryError("snapshot_malformed", `cannot encode: ${detail}`);
}

function isU32(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_U32;
}

/** Checks the invariants the format relies on, so a bad value fails here and not on decode. */
export function validateSnapshot(s: Snapshot): void {
  if (typeof s !== "object" || s === null) throw cannotEncode("snapshot is not an object");
  if (typeof s.codeHash !== "string" || !/^[0-9a-f]{64}$/.test(s.codeHash)) {
    throw cannotEncode("codeHash must be 64 lowercase hex digits");
  }
  if (!isU32(s.pipelineVersion)) throw cannotEncode("pipelineVersion must be an integer in 0..2^32-1");
  for (const key of ["continuation", "input", "output"] as const) {
    if (!(s[key] instanceof Uint8Array)) throw cannotEncode(`${key} must be a Uint8Array`);
  }
  if (s.code !== undefined && !(s.code instanceof Uint8Array)) throw cannotEncode("code must be a Uint8Array when present");
  if (!Array.isArray(s.globals)) throw cannotEncode("globals must be an array");
  let previous = -1;
  for (const [i, g] of s.globals.entries()) {
    if (!isU32(g?.index)) throw cannotEncode(`globals[${i}].index must be an integer in 0..2^32-1`);
    if (g.index <= previous) throw cannotEncode(`globals[${i}].index ${g.index} is not above the previous index ${previous}`);
    previous = g.index;
    checkGlobalValue(g, i);
  }
  if (s.tables !== undefined) checkTables(s.tables);
  const m = s.memory;
  if (typeof m !== "object" || m === null || !Array.isArray(m.pages)) throw cannotEncode("memory must be a MemoryImage");
  if (!isU32(m.pageCount) || m.pageCount > SNAPSHOT_MAX_MEMORY_PAGES) {
    throw cannotEncode(`memory.pageCount must be an integer in 0..${SNAPSHOT_MAX_MEMORY_PAGES}`);
  }
  previous = -1;
  for (const [i, p] of m.pages.entries()) {
    if (!isU32(p?.index) || p.index >= m.pageCount) {
      throw cannotEncode(`memory.pages[${i}].index must be an integer below pageCount ${m.pageCount}`);
    }
    if (p.index <= previous) throw cannotEncode(`memory.pages[${i}].index ${p.index} is not above the previous index ${previous}`);
    previous = p.index;
    if (!(p.bytes instanceof Uint8Array) || p.bytes.byteLength !== WASM_PAGE_BYTES) {
      throw cannotEncode(`memory.pages[${i}].bytes must be a Uint8Array of exactly ${WASM_PAGE_BYTES} bytes`);
    }
    if (p.digest !== undefined && !(p.digest instanceof Uint8Array && p.digest.byteLength === 32)) {
      throw cannotEncode(`memory.pages[${i}].digest must be a Uint8Array of 32 bytes (the page's sha256)`);
    }
  }
}

function checkGlobalValue(g: GlobalValue, i: number): void {
  const v = g.value;
  if (g.bits !== undefined && g.type !== "f32" && g.type !== "f64")
    throw cannotEncode(`globals[${i}] is ${g.type}: only f32 and f64 globals carry bits`);
  switch (g.type) {
    case "i32":
      if (typeof v !== "number" || !Number.isInteger(v) || v < -0x8000_0000 || v > 0x7fff_ffff) {
        throw cannotEncode(`globals[${i}] is i32 but its value is not an integer in -2^31..2^31-1`);
      }
      return;
    case "i64":
      if (typeof v !== "bigint" || v < I64_MIN || v > I64_MAX) {
        throw cannotEncode(`globals[${i}] is i64 but its value is not a bigint in -2^63..2^63-1`);
      }
      return;
    case "f32":
      // A number that is not exactly a float32 would silently change on the round trip.
      if (typeof v !== "number" || (Math.fround(v) !== v && !Number.isNaN(v))) {
        throw cannotEncode(`globals[${i}] is f32 but its value is not exactly representable as a float32`);
      }
      checkFloatBits(g, i, v);
      return;
    case "f64":
      if (typeof v !== "number") throw cannotEncode(`globals[${i}] is f64 but its value is not a number`);
      checkFloatBits(g, i, v);
      return;
    case "v128":
      if (typeof v !== "bigint" || v < 0n || v > U128_MAX)
        throw cannotEncode(`globals[${i}] is v128 but its value is not a bigint in 0..2^128-1`);
      return;
    case "funcref":
      if (v !== null && !isFunctionIndex(v))
        throw cannotEncode(`globals[${i}] is funcref but its value is neither null nor a function index in 0..2^32-2`);
      return;
    case "externref":
      if (v !== null) throw cannotEncode(`globals[${i}] is externref but its value is not null (a guest holds no other externref)`);
      return;
    default:
      throw cannotEncode(`globals[${i}].type ${JSON.stringify(g.type)} is not i32, i64, f32, f64, v128, funcref or externref`);
  }
}

function isFunctionIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < NULL_REF;
}

function checkTables(tables: TableValue[]): void {
  if (!Array.isArray(tables)) throw cannotEncode("tables must be an array when present");
  let previous = -1;
  for (const [i, t] of tables.entries()) {
    if (!isU32(t?.index)) throw cannotEncode(`tables[${i}].index must be an integer in 0..2^32-1`);
    if (t.index <= previous) throw cannotEncode(`tables[${i}].index ${t.index} is not above the previous index ${previous}`);
    previous = t.index;
    if (t.type !== "funcref" && t.type !== "externref") throw cannotEncode(`tables[${i}].type must be "funcref" or "externref"`);
    if (!Array.isArray(t.elements) || t.elements.length > MAX_U32) throw cannotEncode(`tables[${i}].elements must be an array`);
    for (const [k, e] of t.elements.entries()) {
      if (e === null) continue;
      if (t.type === "externref") throw cannotEncode(`tables[${i}].elements[${k}] is not null (a guest holds no externref but null)`);
      if (!isFunctionIndex(e)) throw cannotEncode(`tables[${i}].elements[${k}] must be null or a function index in 0..2^32-2`);
    }
  }
}

/** A float's bits, when given, must be in range and stand for its value (any NaN for a NaN). */
function checkFloatBits(g: GlobalValue, i: number, value: number): void {
  const bits = g.bits;
  if (bits === undefined) return;
  const ok =
    g.type === "f32"
      ? typeof bits === "number" && Number.isInteger(bits) && bits >= 0 && bits <= 0xffff_ffff
      : typeof bits === "bigint" && bits >= 0n && bits <= U64_MAX;
  if (!ok) throw cannotEncode(`globals[${i}].bits must be ${g.type === "f32" ? "an integer in 0..2^32-1" : "a bigint in 0..2^64-1"}`);
  const of = floatOfBits(g.type as "f32" | "f64", bits);
  if (!Object.is(of, value) && !(Number.isNaN(of) && Number.isNaN(value))) {
    throw cannotEncode(`globals[${i}].bits stand for ${of}, not its value ${value}`);
  }
}
