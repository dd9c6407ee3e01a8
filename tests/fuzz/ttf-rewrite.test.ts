// The translate-to-fuzz rewrite folds what a module logs into `__fz_log` and hashes its memory in
// `__fz_memhash`. A float operation's NaN bits are not deterministic (spec 4.3.3), so two correct
// runs may log or store NaNs that differ in their bits: the hashes must not see the difference, or
// the fuzzer reports one (seed 3, case 3225: an f64x2.sub of a NaN constant, folded by Binaryen in
// one run and computed by V8 in the other, logged; case 21549: an f32x4.mul stored to memory).
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { LOG_HASH_EXPORT, MEMORY_HASH_EXPORT, rewriteTtf } from "../../fuzz/ttf-rewrite.js";

/** A module whose export `log(lo, hi)` logs the vector with 64-bit lanes lo and hi through a `fuzzing-support` import. */
function vectorLogger(): Uint8Array {
  const m = new binaryen.Module();
  try {
    m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128);
    m.setMemory(1, 1); // translate-to-fuzz modules always have one
    m.addFunctionImport("log", "fuzzing-support", "log-v128", binaryen.v128, binaryen.none);
    const lanes = m.i64x2.replace_lane(m.i64x2.splat(m.local.get(0, binaryen.i64)), 1, m.local.get(1, binaryen.i64));
    m.addFunction("f", binaryen.createType([binaryen.i64, binaryen.i64]), binaryen.none, [], m.call("log", [lanes], binaryen.none));
    m.addFunctionExport("f", "log");
    m.addFunction(
      "s",
      binaryen.createType([binaryen.i32, binaryen.i64]),
      binaryen.none,
      [],
      m.i64.store(0, 8, m.local.get(0, binaryen.i32), m.local.get(1, binaryen.i64)),
    );
    m.addFunctionExport("s", "store");
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

function loggedHash(bytes: Uint8Array, lo: bigint, hi: bigint): bigint {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), {});
  (instance.exports.log as (a: bigint, b: bigint) => void)(lo, hi);
  return (instance.exports[LOG_HASH_EXPORT] as () => bigint)();
}

/** `__fz_memhash` after storing each [address, value] into a fresh instance's memory. */
function memoryHash(bytes: Uint8Array, stores: Array<[number, bigint]>): bigint {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), {});
  for (const [at, value] of stores) (instance.exports.store as (a: number, v: bigint) => void)(at, value);
  return (instance.exports[MEMORY_HASH_EXPORT] as () => bigint)();
}

describe("ttf rewrite: logged vectors and memory", () => {
  const rewritten = rewriteTtf(vectorLogger(), { maxMemoryPages: 16 });
  it("is usable", () => expect(rewritten.unusable).toBeUndefined());

  it("logs NaNs alike whatever their bits: f64 lanes and f32 halves", () => {
    const f64Nan = (payload: bigint): bigint => BigInt.asIntN(64, 0x7ff8000000000000n | payload);
    expect(loggedHash(rewritten.bytes, f64Nan(1n), 5n)).toBe(loggedHash(rewritten.bytes, f64Nan(0x1234n), 5n));
    expect(loggedHash(rewritten.bytes, BigInt.asIntN(64, 0xfff0000000000001n), 5n)).toBe(loggedHash(rewritten.bytes, f64Nan(0n), 5n));
    // An f32 NaN in the low half of lane 1, with different payloads.
    expect(loggedHash(rewritten.bytes, 5n, 0x7fc00001n)).toBe(loggedHash(rewritten.bytes, 5n, 0x7fc12345n));
  });

  it("hashes memory holding NaNs alike whatever their bits, and other memory apart", () => {
    const nan = (bits: bigint): bigint => BigInt.asIntN(64, bits);
    expect(memoryHash(rewritten.bytes, [[8, nan(0x7ff8000000000001n)]])).toBe(memoryHash(rewritten.bytes, [[8, nan(0xfff0000000abcdefn)]]));
    expect(memoryHash(rewritten.bytes, [[16, 0x7fc00001n]])).toBe(memoryHash(rewritten.bytes, [[16, 0x7fa00000n]]));
    expect(memoryHash(rewritten.bytes, [[16, 5n]])).not.toBe(memoryHash(rewritten.bytes, [[16, 6n]]));
    expect(memoryHash(rewritten.bytes, [[16, 5n]])).not.toBe(memoryHash(rewritten.bytes, [[24, 5n]]));
  });

  it("still tells other values apart", () => {
    expect(loggedHash(rewritten.bytes, 1n, 2n)).not.toBe(loggedHash(rewritten.bytes, 1n, 3n));
    expect(loggedHash(rewritten.bytes, 0x3ff0000000000000n, 0n)).not.toBe(loggedHash(rewritten.bytes, 0x4000000000000000n, 0n));
  });
});

describe("ttf rewrite: SIMD float arithmetic", () => {
  /** A module whose export runs `op` on two f32x4 vectors built from its arguments. */
  function simd(op: (m: binaryen.Module, a: number, b: number) => number): Uint8Array {
    const m = new binaryen.Module();
    try {
      m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128);
      m.setMemory(1, 1);
      const splat = (k: number): number => m.f32x4.splat(m.local.get(k, binaryen.f32));
      m.addFunction(
        "f",
        binaryen.createType([binaryen.f32, binaryen.f32]),
        binaryen.i32,
        [],
        m.i32x4.extract_lane(op(m, splat(0), splat(1)), 1),
      );
      m.addFunctionExport("f", "f");
      return m.emitBinary();
    } finally {
      m.dispose();
    }
  }

  it("marks modules whose SIMD float arithmetic can make NaN bits (which --denan leaves alone)", () => {
    expect(
      rewriteTtf(
        simd((m, a, b) => m.f32x4.mul(a, b)),
        { maxMemoryPages: 16 },
      ).simdFloatNaNs,
    ).toBe(true);
    expect(
      rewriteTtf(
        simd((m, a) => m.f32x4.sqrt(a)),
        { maxMemoryPages: 16 },
      ).simdFloatNaNs,
    ).toBe(true);
    expect(
      rewriteTtf(
        simd((m, a, b) => m.f32x4.eq(a, b)),
        { maxMemoryPages: 16 },
      ).simdFloatNaNs,
    ).toBeUndefined();
    expect(
      rewriteTtf(
        simd((m, a) => m.f32x4.abs(a)),
        { maxMemoryPages: 16 },
      ).simdFloatNaNs,
    ).toBeUndefined();
  });
});
