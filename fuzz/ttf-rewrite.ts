// Makes a translate-to-fuzz module runnable both raw in V8 and under Ferry, identically: its
// "fuzzing-support" imports (logging, call-export, …) become internal functions that fold what they
// are given into an exported hash, the hang limit becomes the case's, and the memory maximum is
// capped at the engine's cap so memory.grow succeeds or fails the same in both runs.

import binaryen from "binaryen";
import { IrWalker } from "../runtime/code/ir-walk.js";
import { capMemoryMaximum } from "../runtime/code/memory-cap.js";

/** Emit with the proposals Ferry supports (binaryen's "All" would use encodings V8 20 lacks). */
const F = binaryen.Features;
export const SUPPORTED_FEATURES =
  F.MVP | F.MutableGlobals | F.SignExt | F.NontrappingFPToInt | F.BulkMemory | F.BulkMemoryOpt | F.SIMD128 | F.Multivalue;

/** Export added by the rewrite: the hash of everything the module logged (i64). */
export const LOG_HASH_EXPORT = "__fz_log";
const LOG_GLOBAL = "__fz_log_hash";
/** Export added by the rewrite when the module has a memory: a hash of all of it (i64). */
export const MEMORY_HASH_EXPORT = "__fz_memhash";
/** Export translate-to-fuzz adds (Binaryen 108) to reset its hang limit before each call. */
export const HANG_LIMIT_INIT = "hangLimitInitializer";

export type ValName = "i32" | "i64" | "f32" | "f64" | "v128";

export interface ExportSig {
  name: string;
  params: ValName[];
  results: ValName[];
}

export interface Rewritten {
  bytes: Uint8Array;
  exports: ExportSig[];
  /**
   * The module has SIMD float arithmetic, whose NaN bits are nondeterministic and which Binaryen
   * 108's --denan leaves alone: they may flow into integers (an address, a branch), so its raw and
   * Ferry runs can differ without a bug (the fuzzer reports such a difference as its own kind).
   */
  simdFloatNaNs?: boolean;
  /** Why the module cannot be used (an import the rewrite cannot replace), if so. */
  unusable?: string;
}

export interface RewriteOptions {
  /** Memory maximum to impose (the Ferry engine's cap), in pages. */
  maxMemoryPages: number;
  /** Hang limit to set in hangLimitInitializer (Binaryen 108's), or undefined to keep its own. */
  hangLimit?: number;
}

export function rewriteTtf(input: Uint8Array, options: RewriteOptions): Rewritten {
  const m = binaryen.readBinary(input);
  try {
    m.setFeatures(SUPPORTED_FEATURES);
    for (let i = 0; i < m.getNumGlobals(); i++) {
      const g = binaryen.getGlobalInfo(m.getGlobalByIndex(i));
      if (g.module) return { bytes: input, exports: [], unusable: `imports global ${g.module}.${g.base}` };
    }
    if (m.hasMemory()) {
      const info = m.getMemoryInfo();
      if (info.module) return { bytes: input, exports: [], unusable: `imports memory ${info.module}.${info.base}` };
    }
    for (let i = 0; i < m.getNumTables(); i++) {
      const t = binaryen.getTableInfo(m.getTableByIndex(i));
      if (t.module) return { bytes: input, exports: [], unusable: `imports table ${t.module}.${t.base}` };
    }
    const i64c = (v: bigint): number => (m.i64.const as unknown as (v: bigint) => number)(v);
    m.addGlobal(LOG_GLOBAL, binaryen.i64, true, i64c(0n));
    const fold = (value: number): number =>
      m.global.set(LOG_GLOBAL, m.i64.add(m.i64.mul(m.global.get(LOG_GLOBAL, binaryen.i64), i64c(1_000_003n)), value));

    const imports: Array<{ name: string; base: string; params: number; results: number }> = [];
    for (let i = 0; i < m.getNumFunctions(); i++) {
      const f = binaryen.getFunctionInfo(m.getFunctionByIndex(i));
      if (f.module) imports.push({ name: f.name, base: f.base ?? "", params: f.params, results: f.results });
    }
    for (const imp of imports) {
      const params = binaryen.expandType(imp.params);
      const results = binaryen.expandType(imp.results);
      const folds: number[] = [fold(i64c(BigInt(hashName(imp.base))))];
      params.forEach((t, k) => {
        const v = m.local.get(k, t);
        if (t === binaryen.i32) folds.push(fold(m.i64.extend_u(v)));
        else if (t === binaryen.i64) folds.push(fold(v));
        else if (t === binaryen.f32) {
          // Any NaN logs alike: their bits are not deterministic (spec 4.3.3, NaN propagation).
          folds.push(
            fold(m.i64.extend_u(m.select(m.f32.ne(v, m.local.get(k, t)), m.i32.const(0x7fc00000), m.i32.reinterpret(m.local.get(k, t))))),
          );
        } else if (t === binaryen.f64) {
          folds.push(fold(m.select(m.f64.ne(v, m.local.get(k, t)), i64c(0x7ff8000000000000n), m.i64.reinterpret(m.local.get(k, t)))));
        } else if (t === binaryen.v128) {
          // A vector's lane types are unknown: a 64-bit lane that is an f64 NaN, or holds an f32 NaN
          // in either half, logs as one constant. NaN-ness is deterministic where the bits are not,
          // so both runs mask the same lanes (an f64 NaN's high half is always an f32 NaN too).
          // A fresh expression per lane: Binaryen expressions are trees, never shared.
          const get = (): number => m.local.get(k, t);
          const masked = (): number =>
            m.v128.bitselect(
              m.v128.const(V128_NAN),
              get(),
              m.v128.or(m.f64x2.ne(get(), get()), m.i64x2.ne(m.f32x4.ne(get(), get()), m.v128.const(V128_ZERO))),
            );
          folds.push(fold(m.i64x2.extract_lane(masked(), 0)), fold(m.i64x2.extract_lane(masked(), 1)));
        }
      });
      const zero = results.map((t) => zeroOf(m, t));
      const tail = zero.length === 0 ? [] : zero.length === 1 ? [zero[0]!] : [m.tuple.make(zero)];
      m.removeFunction(imp.name);
      m.addFunction(imp.name, imp.params, imp.results, [], m.block(null, [...folds, ...tail], imp.results));
    }
    m.addFunction(`${LOG_HASH_EXPORT}_fn`, binaryen.none, binaryen.i64, [], m.global.get(LOG_GLOBAL, binaryen.i64));
    m.addFunctionExport(`${LOG_HASH_EXPORT}_fn`, LOG_HASH_EXPORT);

    if (m.hasMemory()) addMemoryHash(m, i64c);
    if (options.hangLimit !== undefined) setHangLimit(m, options.hangLimit);

    const exports: ExportSig[] = [];
    for (let i = 0; i < m.getNumExports(); i++) {
      const e = binaryen.getExportInfo(m.getExportByIndex(i));
      if (e.kind !== binaryen.ExternalFunction) continue;
      const f = binaryen.getFunctionInfo(m.getFunction(e.value));
      exports.push({
        name: e.name,
        params: binaryen.expandType(f.params).map(valName),
        results: binaryen.expandType(f.results).map(valName),
      });
    }
    if (!m.validate()) return { bytes: input, exports: [], unusable: "the rewritten module does not validate" };
    return {
      bytes: capMemoryMaximum(m.emitBinary(), options.maxMemoryPages),
      exports,
      ...(hasSimdFloatNaNs(m) ? { simdFloatNaNs: true } : {}),
    };
  } finally {
    m.dispose();
  }
}

// SIMD operations that can make a NaN with nondeterministic bits (Abs, Neg, compares, conversions
// to integers and from integers cannot).
const NAN_MAKING =
  /^(Add|Sub|Mul|Div|Min|Max|PMin|PMax|Sqrt|Ceil|Floor|Trunc|Nearest)VecF(32x4|64x2)$|^(DemoteZeroVecF64x2ToVecF32x4|PromoteLowVecF32x4ToVecF64x2)$/;
const b = binaryen as unknown as Record<string, number>;
const NAN_UNARY = new Set(
  ["Sqrt", "Ceil", "Floor", "Trunc", "Nearest", "DemoteZero", "PromoteLow"].flatMap((op) =>
    Object.keys(b)
      .filter((k) => k.startsWith(op) && NAN_MAKING.test(k))
      .map((k) => b[k]!),
  ),
);
const NAN_BINARY = new Set(
  ["Add", "Sub", "Mul", "Div", "Min", "Max", "PMin", "PMax"].flatMap((op) =>
    Object.keys(b)
      .filter((k) => k.startsWith(op) && NAN_MAKING.test(k))
      .map((k) => b[k]!),
  ),
);

function hasSimdFloatNaNs(m: binaryen.Module): boolean {
  const walker = new IrWalker(binaryen);
  let found = false;
  const visit = (e: number): number => {
    const id = binaryen.getExpressionId(e);
    if (id === binaryen.UnaryId || id === binaryen.BinaryId) {
      const op = (binaryen.getExpressionInfo(e) as unknown as { op: number }).op;
      if ((id === binaryen.UnaryId ? NAN_UNARY : NAN_BINARY).has(op)) found = true;
    }
    if (!found) walker.mapChildren(e, visit);
    return e;
  };
  try {
    for (let i = 0; i < m.getNumFunctions() && !found; i++) {
      const body = binaryen.getFunctionInfo(m.getFunctionByIndex(i)).body;
      if (body) visit(body);
    }
  } catch {
    // An instruction kind the walker does not know: Ferry refuses such modules before any run.
  }
  return found;
}

/** `__fz_memhash`: folds every 8 bytes of memory into a hash, so both runs' memories can be compared. */
function addMemoryHash(m: binaryen.Module, i64c: (v: bigint) => number): void {
  const i = 0;
  const h = 1;
  const v = 2;
  const end = m.i32.shl(m.memory.size(), m.i32.const(16));
  // Memory has no types, and float NaN bits stored to it are nondeterministic (SIMD float results
  // escape --denan): like a logged v128, 8 bytes that are an f64 NaN or hold an f32 NaN in either
  // half hash as one constant in both runs.
  const word = (): number => m.local.get(v, binaryen.i64);
  // (Each use builds its own expression: Binaryen expressions are trees, never shared.)
  const f32Nan = (half: () => number): number => m.f32.ne(m.f32.reinterpret(half()), m.f32.reinterpret(half()));
  const isNan = m.i32.or(
    m.i32.or(
      m.f64.ne(m.f64.reinterpret(word()), m.f64.reinterpret(word())),
      f32Nan(() => m.i32.wrap(word())),
    ),
    f32Nan(() => m.i32.wrap(m.i64.shr_u(word(), i64c(32n)))),
  );
  const body = m.block(
    null,
    [
      m.block("done", [
        m.loop(
          "next",
          m.block(null, [
            m.br("done", m.i32.ge_u(m.local.get(i, binaryen.i32), end)),
            m.local.set(v, m.i64.load(0, 8, m.local.get(i, binaryen.i32))),
            m.local.set(
              h,
              m.i64.add(m.i64.mul(m.local.get(h, binaryen.i64), i64c(1_000_003n)), m.select(isNan, i64c(0x7ff8000000000000n), word())),
            ),
            m.local.set(i, m.i32.add(m.local.get(i, binaryen.i32), m.i32.const(8))),
            m.br("next"),
          ]),
        ),
      ]),
      m.local.get(h, binaryen.i64),
    ],
    binaryen.i64,
  );
  m.addFunction(`${MEMORY_HASH_EXPORT}_fn`, binaryen.none, binaryen.i64, [binaryen.i32, binaryen.i64, binaryen.i64], body);
  m.addFunctionExport(`${MEMORY_HASH_EXPORT}_fn`, MEMORY_HASH_EXPORT);
}

const V128_ZERO = new Array<number>(16).fill(0);
/** Both lanes the canonical f64 NaN (0x7ff8000000000000), little-endian bytes. */
const V128_NAN = [0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f];

function zeroOf(m: binaryen.Module, t: number): number {
  if (t === binaryen.i32) return m.i32.const(0);
  if (t === binaryen.i64) return (m.i64.const as unknown as (v: bigint) => number)(0n);
  if (t === binaryen.f32) return m.f32.const(0);
  if (t === binaryen.f64) return m.f64.const(0);
  if (t === binaryen.v128) return m.v128.const(V128_ZERO);
  throw new Error(`no zero value for type ${t}`);
}

/** Binaryen 108's hangLimitInitializer is `global.set $hang (i32.const 10)`: set another limit. */
function setHangLimit(m: binaryen.Module, limit: number): void {
  let fnName: string | undefined;
  for (let i = 0; i < m.getNumExports(); i++) {
    const e = binaryen.getExportInfo(m.getExportByIndex(i));
    if (e.name === HANG_LIMIT_INIT && e.kind === binaryen.ExternalFunction) fnName = e.value;
  }
  if (!fnName) return;
  const fn = m.getFunction(fnName);
  const body = binaryen.getFunctionInfo(fn).body;
  if (binaryen.getExpressionId(body) !== binaryen.GlobalSetId) return;
  const set = binaryen.getExpressionInfo(body) as binaryen.GlobalSetInfo;
  (binaryen as unknown as { Function: { setBody(fn: number, body: number): void } }).Function.setBody(
    fn,
    m.global.set(set.name, m.i32.const(limit)),
  );
}

function valName(t: number): ValName {
  if (t === binaryen.i32) return "i32";
  if (t === binaryen.i64) return "i64";
  if (t === binaryen.f32) return "f32";
  if (t === binaryen.f64) return "f64";
  if (t === binaryen.v128) return "v128";
  throw new Error(`unexpected value type ${t}`);
}

function hashName(name: string): number {
  let h = 7;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h, 31) + name.charCodeAt(i)) >>> 0;
  return h;
}

/** The function exports of any module, with their signatures. */
export function exportSigs(bytes: Uint8Array): ExportSig[] {
  const m = binaryen.readBinary(bytes);
  try {
    const out: ExportSig[] = [];
    for (let i = 0; i < m.getNumExports(); i++) {
      const e = binaryen.getExportInfo(m.getExportByIndex(i));
      if (e.kind !== binaryen.ExternalFunction) continue;
      const f = binaryen.getFunctionInfo(m.getFunction(e.value));
      out.push({ name: e.name, params: binaryen.expandType(f.params).map(valName), results: binaryen.expandType(f.results).map(valName) });
    }
    return out;
  } finally {
    m.dispose();
  }
}
