// The translate-to-fuzz rewrite folds what a module logs into `__fz_log`. A float operation's NaN
// bits are not deterministic (spec 4.3.3), so two correct runs may log NaNs that differ in their
// bits: the hash must not see the difference, or the fuzzer reports one (seed 3, case 3225: an
// f64x2.sub of a NaN constant, folded by Binaryen in one run and computed by V8 in the other).
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { LOG_HASH_EXPORT, rewriteTtf } from "../../fuzz/ttf-rewrite.js";

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

describe("ttf rewrite: logged vectors", () => {
  const rewritten = rewriteTtf(vectorLogger(), { maxMemoryPages: 16 });
  it("is usable", () => expect(rewritten.unusable).toBeUndefined());

  it("logs NaNs alike whatever their bits: f64 lanes and f32 halves", () => {
    const f64Nan = (payload: bigint): bigint => BigInt.asIntN(64, 0x7ff8000000000000n | payload);
    expect(loggedHash(rewritten.bytes, f64Nan(1n), 5n)).toBe(loggedHash(rewritten.bytes, f64Nan(0x1234n), 5n));
    expect(loggedHash(rewritten.bytes, BigInt.asIntN(64, 0xfff0000000000001n), 5n)).toBe(loggedHash(rewritten.bytes, f64Nan(0n), 5n));
    // An f32 NaN in the low half of lane 1, with different payloads.
    expect(loggedHash(rewritten.bytes, 5n, 0x7fc00001n)).toBe(loggedHash(rewritten.bytes, 5n, 0x7fc12345n));
  });

  it("still tells other values apart", () => {
    expect(loggedHash(rewritten.bytes, 1n, 2n)).not.toBe(loggedHash(rewritten.bytes, 1n, 3n));
    expect(loggedHash(rewritten.bytes, 0x3ff0000000000000n, 0n)).not.toBe(loggedHash(rewritten.bytes, 0x4000000000000000n, 0n));
  });
});
