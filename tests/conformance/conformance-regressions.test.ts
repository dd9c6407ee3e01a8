// Regressions from the spec-suite run of issue 10, one per bug, each named after it. Every module is
// run three ways and must agree bit for bit (values) and by code (traps): raw in V8, in Ferry
// straight, and in Ferry sliced with tiny fuel slices (a pause at nearly every check).
import { spawnSync } from "node:child_process";
import binaryen from "binaryen";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Engine, FerryError, decodeSnapshot, encodeSnapshot, type RunResult, type WasmValue } from "../../runtime/index.js";
import { decodeImage } from "../../runtime/exec/continuation.js";
import { classifyTrap } from "../../runtime/traps.js";
import { wat } from "../helpers/wat.js";

const engine = new Engine();
/** The proposals Ferry supports, reference types included (tests/helpers/wat.ts emits without them). */
const REF_TYPES =
  binaryen.Features.MVP |
  binaryen.Features.MutableGlobals |
  binaryen.Features.SignExt |
  binaryen.Features.NontrappingFPToInt |
  binaryen.Features.BulkMemory |
  binaryen.Features.BulkMemoryOpt |
  binaryen.Features.SIMD128 |
  binaryen.Features.Multivalue |
  binaryen.Features.ReferenceTypes;

type Outcome = { value: unknown } | { trap: string };

/** Raw V8: the module as written, its trap classified the way the runtime classifies V8's. */
function runRaw(bytes: Uint8Array, entry: string, imports: WebAssembly.Imports = {}, args: readonly WasmValue[] = []): Outcome {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), imports);
  try {
    const value = (instance.exports[entry] as (...a: WasmValue[]) => unknown)(...args);
    return { value: value === undefined ? null : value };
  } catch (e) {
    return { trap: classifyTrap(e).trap };
  }
}

function outcome(r: RunResult): Outcome {
  if (r.status === "done") return { value: r.value };
  if (r.status === "trapped") return { trap: r.code };
  throw new Error(`still paused: ${JSON.stringify(r)}`);
}

/** Raw, straight and sliced (every `slice` fuel) outcomes, with the fuel of the two Ferry runs. */
async function threeWays(bytes: Uint8Array, entry = "f", slice = 3, imports: WebAssembly.Imports = {}, args: readonly WasmValue[] = []) {
  const raw = runRaw(bytes, entry, imports, args);
  const module = await engine.compile(bytes);
  const straight = await (await engine.instantiate(module)).run(entry, args);
  const sliced = await engine.instantiate(module);
  let r = await sliced.run(entry, args, { fuel: slice });
  let pauses = 0;
  while (r.status === "paused") {
    pauses++;
    r = await sliced.resume({ fuel: slice });
  }
  expect(r.fuelUsed).toBe(straight.fuelUsed);
  return { raw, straight: outcome(straight), sliced: outcome(r), pauses };
}

async function expectAgree(bytes: Uint8Array, expected: Outcome, entry = "f"): Promise<void> {
  const { raw, straight, sliced } = await threeWays(bytes, entry);
  expect(raw).toEqual(expected);
  expect(straight).toEqual(expected);
  expect(sliced).toEqual(expected);
}

/**
 * The run sliced every `slice` fuel with every pause a snapshot, encoded, decoded and restored into a
 * fresh instance: its outcome, fuel, how many restores, and the format version of the first snapshot.
 */
async function restoredEveryPause(bytes: Uint8Array, entry = "f", args: readonly WasmValue[] = [], slice = 3) {
  const module = await engine.compile(bytes);
  let instance = await engine.instantiate(module);
  let r = await instance.run(entry, args, { fuel: slice });
  let restores = 0;
  let version: number | undefined;
  while (r.status === "paused") {
    const encoded = encodeSnapshot(await instance.snapshot({ move: true }));
    version ??= new DataView(encoded.buffer, encoded.byteOffset).getUint16(8, true);
    instance = await engine.restore(decodeSnapshot(encoded));
    restores++;
    r = await instance.resume({ fuel: slice });
  }
  return { outcome: outcome(r), fuelUsed: r.fuelUsed, restores, version };
}

/** Raw, straight and 3-fuel sliced runs of "f" give `value`, and so does a run restored at every pause, with the straight run's fuel. */
async function agreesRestored(bytes: Uint8Array, value: unknown) {
  await expectAgree(bytes, { value });
  const straight = await (await engine.instantiate(await engine.compile(bytes))).run("f");
  const restored = await restoredEveryPause(bytes);
  expect(restored.outcome).toEqual({ value });
  expect(restored.fuelUsed).toBe(straight.fuelUsed);
  return restored;
}

async function refusal(bytes: Uint8Array): Promise<FerryError> {
  try {
    await engine.compile(bytes);
  } catch (e) {
    if (e instanceof FerryError) return e;
    throw new Error(`a non-FerryError escaped: ${String(e)}`);
  }
  throw new Error("module was accepted");
}

/** Turn the first element segment, written passive by binaryen (flag 1), into a declarative one (flag 3). */
function declarative(bytes: Uint8Array): Uint8Array {
  const u32 = (at: number): [number, number] => {
    let value = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = bytes[at++]!;
      value |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return [value, at];
  };
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at]!;
    const [size, body] = u32(at + 1);
    if (id === 9) {
      const [, first] = u32(body);
      if (bytes[first] !== 1) throw new Error("the first element segment is not passive");
      const out = new Uint8Array(bytes);
      out[first] = 3;
      return out;
    }
    at = body + size;
  }
  throw new Error("no element section");
}

/** Run sliced, every pause a snapshot (moved) and a restore into a fresh instance; the outcome, fuel and restores. */
async function restoredAtEveryPause(
  bytes: Uint8Array,
  entry = "f",
  slice = 3,
): Promise<{ outcome: Outcome; fuelUsed: number; restores: number }> {
  const module = await engine.compile(bytes);
  let instance = await engine.instantiate(module);
  let r = await instance.run(entry, [], { fuel: slice });
  let restores = 0;
  while (r.status === "paused") {
    instance = await engine.restore(await instance.snapshot({ move: true }));
    restores++;
    r = await instance.resume({ fuel: slice });
  }
  return { outcome: outcome(r), fuelUsed: r.fuelUsed, restores };
}

/** Whether `bytes` instantiates raw and in Ferry; when it fails, how (V8's error class, or the FerryError code). */
async function instantiation(bytes: Uint8Array): Promise<{ raw: string; ferry: string }> {
  const how = (e: unknown): string => (e instanceof FerryError ? `fails: ${e.code}` : `fails: ${(e as Error).constructor.name}`);
  let raw = "instantiates";
  try {
    new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), {});
  } catch (e) {
    raw = how(e);
  }
  let ferry = "instantiates";
  try {
    await engine.instantiate(await engine.compile(bytes));
  } catch (e) {
    ferry = how(e);
  }
  return { raw, ferry };
}

// A recursion whose frames Asyncify saves: fib through a helper that keeps a few i64 locals live
// across the call, so a deep pause saves tens of bytes a frame.
const deepRecursion = (memory: string, depth: number): string => `(module ${memory}
  (func $r (param $n i32) (param $a i64) (result i64) (local $b i64) (local $c i64) (local $d i64)
    (local.set $b (i64.mul (local.get $a) (i64.const 3)))
    (local.set $c (i64.add (local.get $b) (i64.extend_i32_u (local.get $n))))
    (local.set $d (i64.xor (local.get $c) (i64.const 0x5555)))
    (if (result i64) (i32.eqz (local.get $n)) (then (local.get $d))
      (else (i64.add (i64.add (local.get $b) (local.get $c)) (i64.add (local.get $d) (call $r (i32.sub (local.get $n) (i32.const 1)) (local.get $c)))))))
  (func (export "f") (result i64) (call $r (i32.const ${depth}) (i64.const 1))))`;

describe("issue 10 #1: a module whose memory has 0 pages can pause (the struct lives in pages reserved ahead of the guest's memory)", () => {
  const zeroPages = wat(`(module (memory 0)
    (func $fib (param i32) (result i32) (if (result i32) (i32.lt_u (local.get 0) (i32.const 2)) (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1))) (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
    (func (export "f") (result i32) (i32.add (call $fib (i32.const 12)) (i32.mul (memory.size) (i32.const 1000)))))`);

  it("pauses, snapshots, restores and finishes with V8's value, straight and sliced", async () => {
    const { raw, straight, sliced, pauses } = await threeWays(zeroPages);
    expect(raw).toEqual({ value: 144 });
    expect(straight).toEqual(raw);
    expect(sliced).toEqual(raw);
    expect(pauses).toBeGreaterThan(20);
    const restored = await restoredAtEveryPause(zeroPages);
    expect(restored.outcome).toEqual(raw);
    expect(restored.restores).toBeGreaterThan(20);
  });

  it("its snapshots hold a memory of 0 pages: the reserved pages are nobody's business", async () => {
    const instance = await engine.instantiate(await engine.compile(zeroPages));
    expect((await instance.run("f", [], { fuel: 40 })).status).toBe("paused");
    expect((await instance.snapshot()).memory).toEqual({ pageCount: 0, pages: [] });
  });

  it("a guest growing from 0 pages sees its own sizes and addresses", async () => {
    await expectAgree(
      wat(`(module (memory 0)
      (func (export "f") (result i64)
        (local $old i32)
        (local.set $old (memory.grow (i32.const 2)))
        (i32.store (i32.const 131068) (i32.const 0x01020304))
        (i64.or (i64.shl (i64.extend_i32_u (i32.add (i32.mul (local.get $old) (i32.const 100)) (memory.size))) (i64.const 32))
          (i64.extend_i32_u (i32.load8_u (i32.const 131071))))))`),
      { value: (2n << 32n) | 1n },
    );
  });

  it("a 1-page memory pauses with frames larger than the page (deep-ish recursion)", async () => {
    const bytes = wat(deepRecursion("(memory 1)", 1_500));
    const { raw, straight, sliced } = await threeWays(bytes);
    expect(raw).toHaveProperty("value");
    expect(straight).toEqual(raw);
    expect(sliced).toEqual(raw);
    expect((await restoredAtEveryPause(bytes, "f", 97)).outcome).toEqual(raw);
  });

  it("so does a module with no memory", async () => {
    await expectAgree(wat(deepRecursion("", 1_500)), runRaw(wat(deepRecursion("", 1_500)), "f"));
  });

  it("an SDK-shaped guest (exporting ferry_continuation) reserves nothing", async () => {
    const module = await engine.compile(
      wat(`(module (memory 1) (global (export "ferry_continuation") i32 (i32.const 1024))
      (data (i32.const 1024) "\\46\\52\\52\\59\\01\\00\\60\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\10\\00\\00")
      (func (export "f") (result i32) (memory.size)))`),
    );
    expect(module.segment).toMatchObject({ hasContinuation: true, reservedPages: 0 });
    expect(outcome(await (await engine.instantiate(module)).run("f"))).toEqual({ value: 1 });
    const plain = await engine.compile(wat(`(module (memory 1) (func (export "f") (result i32) (memory.size)))`));
    expect(plain.segment).toMatchObject({ hasContinuation: false, reservedPages: 5, continuationStackBytes: 256 * 1024 });
  });
});

describe("issue 10 #1: the reserved pages move no trap — memory at its edges, raw = straight = sliced", () => {
  // The shift is 5 pages (327,680 bytes): 2^32 − SHIFT = 0xFFFB0000 is where a guest address would wrap.
  it.each([
    [
      "memory.size and memory.grow up to the maximum and past it",
      `(memory 1 3) (func (export "f") (result i32)
      (i32.add (i32.mul (memory.grow (i32.const 2)) (i32.const 100)) (i32.add (i32.mul (memory.grow (i32.const 1)) (i32.const 10)) (memory.size))))`,
      { value: 100 - 10 + 3 },
    ],
    ["memory.grow by 0", `(memory 2) (func (export "f") (result i32) (memory.grow (i32.const 0)))`, { value: 2 }],
    [
      "the last byte of memory",
      `(memory 1) (func (export "f") (result i32) (i32.store8 (i32.const 65535) (i32.const 7)) (i32.load8_u (i32.const 65535)))`,
      { value: 7 },
    ],
    [
      "the last word of memory through the offset",
      `(memory 1) (func (export "f") (result i32) (i32.store offset=65532 (i32.const 0) (i32.const 9)) (i32.load offset=65530 (i32.const 2)))`,
      { value: 9 },
    ],
    [
      "a word one byte past the end",
      `(memory 1) (func (export "f") (result i32) (i32.load (i32.const 65533)))`,
      { trap: "memory_out_of_bounds" },
    ],
    [
      "a store one byte past the end through the offset",
      `(memory 1) (func (export "f") (i64.store offset=65529 (i32.const 0) (i64.const 1)))`,
      { trap: "memory_out_of_bounds" },
    ],
    [
      "an offset that would wrap once shifted",
      `(memory 1) (func (export "f") (result i32) (i32.load offset=0xfffb0000 (i32.const 0)))`,
      { trap: "memory_out_of_bounds" },
    ],
    [
      "the largest offset",
      `(memory 1) (func (export "f") (i32.store8 offset=0xffffffff (i32.const 0) (i32.const 1)))`,
      { trap: "memory_out_of_bounds" },
    ],
    [
      "an address that would wrap once shifted",
      `(memory 1) (func (export "f") (result i32) (i32.load (i32.const 0xfffb0000)))`,
      { trap: "memory_out_of_bounds" },
    ],
    [
      "a load from a memory of 0 pages",
      `(memory 0) (func (export "f") (result i32) (i32.load8_u (i32.const 0)))`,
      { trap: "memory_out_of_bounds" },
    ],
    [
      "v128 at the end",
      `(memory 1) (func (export "f") (result i32) (v128.store (i32.const 65520) (v128.const i32x4 1 2 3 4)) (i32x4.extract_lane 3 (v128.load (i32.const 65520))))`,
      { value: 4 },
    ],
    [
      "v128 one byte past the end",
      `(memory 1) (func (export "f") (result i32) (i32x4.extract_lane 0 (v128.load (i32.const 65521))))`,
      { trap: "memory_out_of_bounds" },
    ],
    [
      "load and store lanes at the end",
      `(memory 1) (func (export "f") (result i32) (v128.store32_lane 1 (i32.const 65532) (v128.const i32x4 1 2 3 4)) (i32x4.extract_lane 2 (v128.load32_lane 2 (i32.const 65532) (v128.const i64x2 0 0))))`,
      { value: 2 },
    ],
    [
      "a load lane past the end",
      `(memory 1) (func (export "f") (result i32) (i32x4.extract_lane 0 (v128.load16_lane offset=65535 0 (i32.const 0) (v128.const i64x2 0 0))))`,
      { trap: "memory_out_of_bounds" },
    ],
    [
      "a zero-extending load past the end",
      `(memory 1) (func (export "f") (result i32) (i32x4.extract_lane 0 (v128.load32_zero offset=0xfffffffc (i32.const 0))))`,
      { trap: "memory_out_of_bounds" },
    ],
    [
      "a splat at the end",
      `(memory 1) (data (i32.const 65535) "\\05") (func (export "f") (result i32) (i8x16.extract_lane_u 9 (v128.load8_splat (i32.const 65535))))`,
      { value: 5 },
    ],
  ])("%s", async (_what, body, expected) => {
    await expectAgree(wat(`(module ${body})`), expected);
  });

  // Constant short lengths stay inline; a length read from a global goes through the metering's
  // chunked helpers. Both must trap where V8 traps, before writing anything.
  const bulk = (op: string, len: string, result = "(i32.load8_u (i32.const 65535))") =>
    `(memory 1) (global $n (mut i32) (i32.const 0)) (data "xyz") (func (export "f") (result i32) (global.set $n (i32.const ${len})) ${op} ${result})`;
  it.each([
    ["memory.fill of the last byte", bulk(`(memory.fill (i32.const 65535) (i32.const 3) (i32.const 1))`, "1"), { value: 3 }],
    ["memory.fill of the last byte, helper", bulk(`(memory.fill (i32.const 65535) (i32.const 3) (global.get $n))`, "1"), { value: 3 }],
    ["an empty memory.fill at the end", bulk(`(memory.fill (i32.const 65536) (i32.const 3) (global.get $n))`, "0"), { value: 0 }],
    [
      "an empty memory.fill past the end",
      bulk(`(memory.fill (i32.const 65537) (i32.const 3) (i32.const 0))`, "0"),
      { trap: "memory_out_of_bounds" },
    ],
    [
      "an empty memory.fill past the end, helper",
      bulk(`(memory.fill (i32.const 65537) (i32.const 3) (global.get $n))`, "0"),
      { trap: "memory_out_of_bounds" },
    ],
    [
      "an empty memory.fill where a shifted address wraps",
      bulk(`(memory.fill (i32.const 0xfffb0000) (i32.const 3) (i32.const 0))`, "0"),
      { trap: "memory_out_of_bounds" },
    ],
    [
      "an empty memory.fill just below the wrap, helper",
      bulk(`(memory.fill (i32.const 0xfffaffff) (i32.const 3) (global.get $n))`, "0"),
      { trap: "memory_out_of_bounds" },
    ],
    [
      "an empty memory.fill at 2^32 - 1",
      bulk(`(memory.fill (i32.const -1) (i32.const 3) (global.get $n))`, "0"),
      { trap: "memory_out_of_bounds" },
    ],
    [
      "memory.fill across the end writes nothing",
      bulk(`(memory.fill (i32.const 65000) (i32.const 3) (global.get $n))`, "537"),
      { trap: "memory_out_of_bounds" },
    ],
    ["memory.copy to the last byte", bulk(`(memory.copy (i32.const 65535) (i32.const 0) (i32.const 1))`, "1"), { value: 0 }],
    [
      "memory.copy from the last byte, helper",
      bulk(
        `(i32.store8 (i32.const 65535) (i32.const 8)) (memory.copy (i32.const 0) (i32.const 65535) (global.get $n))`,
        "1",
        "(i32.load8_u (i32.const 0))",
      ),
      { value: 8 },
    ],
    [
      "an empty memory.copy from a wrapping source",
      bulk(`(memory.copy (i32.const 0) (i32.const 0xfffb0001) (i32.const 0))`, "0"),
      { trap: "memory_out_of_bounds" },
    ],
    [
      "an empty memory.copy to a wrapping destination, helper",
      bulk(`(memory.copy (i32.const 0xfffb0000) (i32.const 0) (global.get $n))`, "0"),
      { trap: "memory_out_of_bounds" },
    ],
    [
      "memory.copy of 2 bytes from the last one, helper",
      bulk(`(memory.copy (i32.const 0) (i32.const 65535) (global.get $n))`, "2"),
      { trap: "memory_out_of_bounds" },
    ],
    ["memory.init to the last bytes", bulk(`(memory.init 0 (i32.const 65533) (i32.const 0) (i32.const 3))`, "3"), { value: 122 }],
    ["memory.init to the last bytes, helper", bulk(`(memory.init 0 (i32.const 65533) (i32.const 0) (global.get $n))`, "3"), { value: 122 }],
    [
      "memory.init one byte past the end, helper",
      bulk(`(memory.init 0 (i32.const 65534) (i32.const 0) (global.get $n))`, "3"),
      { trap: "memory_out_of_bounds" },
    ],
    [
      "an empty memory.init to a wrapping destination",
      bulk(`(memory.init 0 (i32.const 0xfffb0000) (i32.const 0) (i32.const 0))`, "0"),
      { trap: "memory_out_of_bounds" },
    ],
    [
      "an empty memory.init to 2^32 - 1, helper",
      bulk(`(memory.init 0 (i32.const -1) (i32.const 0) (global.get $n))`, "0"),
      { trap: "memory_out_of_bounds" },
    ],
  ])("%s", async (_what, body, expected) => {
    await expectAgree(wat(`(module ${body})`), expected);
  });

  const withData = (data: string) => wat(`(module (memory 1) ${data} (func (export "f") (result i32) (i32.load8_u (i32.const 65535))))`);
  it.each([
    ["a segment ending at the end of memory", `(data (i32.const 65535) "a")`, true],
    ["an empty segment at the end of memory", `(data (i32.const 65536) "")`, true],
    ["a segment one byte past the end", `(data (i32.const 65536) "a")`, false],
    ["an empty segment past the end", `(data (i32.const 65537) "")`, false],
    ["a segment where the shifted offset wraps", `(data (i32.const 0xfffb0000) "")`, false],
    ["a segment at 2^32 - 1", `(data (i32.const -1) "a")`, false],
  ])("data: %s", async (_what, data, fits) => {
    // A segment that does not fit fails raw with V8's RuntimeError, and in Ferry the way an
    // unshifted one does (the same for every such segment, however far out it lies).
    const outOfBounds = await instantiation(withData(`(data (i32.const 70000) "a")`));
    expect(outOfBounds.raw).toBe("fails: RuntimeError");
    expect(await instantiation(withData(data))).toEqual(fits ? { raw: "instantiates", ferry: "instantiates" } : outOfBounds);
  });

  it("a segment at the end of memory is where the guest reads it", async () => {
    await expectAgree(
      wat(`(module (memory 1) (data (i32.const 65534) "ab") (func (export "f") (result i32) (i32.load16_u (i32.const 65534))))`),
      { value: 0x6261 },
    );
  });
});

describe("issue 10 #2: i32.div_s / i64.div_s of MIN by -1 traps integer_overflow", () => {
  it.each([
    ["i32, constants", `(func (export "f") (result i32) (i32.div_s (i32.const 0x80000000) (i32.const -1)))`],
    ["i64, constants", `(func (export "f") (result i64) (i64.div_s (i64.const 0x8000000000000000) (i64.const -1)))`],
    [
      "i32, through locals",
      `(func (export "f") (result i32) (local $a i32) (local $b i32) (local.set $a (i32.const 0x80000000)) (local.set $b (i32.const -1)) (i32.div_s (local.get $a) (local.get $b)))`,
    ],
    [
      "i64, through a call",
      `(func $d (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1))) (func (export "f") (result i64) (call $d (i64.const 0x8000000000000000) (i64.const -1)))`,
    ],
  ])("%s", async (_what, body) => {
    await expectAgree(wat(`(module ${body})`), { trap: "integer_overflow" });
  });

  it("rem_s of MIN by -1 is 0, not a trap", async () => {
    await expectAgree(wat(`(module (func (export "f") (result i32) (i32.rem_s (i32.const 0x80000000) (i32.const -1))))`), { value: 0 });
  });
});

describe("issue 10 #3: memory.init from a dropped active segment traps memory_out_of_bounds (instrumentation keeps every trap)", () => {
  it.each([
    [
      "memory.init from a dropped active segment",
      `(memory 1) (data (i32.const 0) "abc") (func (export "f") (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1)))`,
      "memory_out_of_bounds",
    ],
    [
      "zero-length memory.init past a dropped active segment",
      `(memory 1) (data (i32.const 0) "abc") (func (export "f") (memory.init 0 (i32.const 0) (i32.const 1) (i32.const 0)))`,
      "memory_out_of_bounds",
    ],
    [
      "memory.init after data.drop",
      `(memory 1) (data "abc") (func (export "f") (data.drop 0) (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1)))`,
      "memory_out_of_bounds",
    ],
    [
      "memory.init past the segment",
      `(memory 1) (data "abc") (func (export "f") (memory.init 0 (i32.const 0) (i32.const 2) (i32.const 2)))`,
      "memory_out_of_bounds",
    ],
    [
      "memory.init past the memory",
      `(memory 1) (data "abc") (func (export "f") (memory.init 0 (i32.const 65535) (i32.const 0) (i32.const 2)))`,
      "memory_out_of_bounds",
    ],
    [
      "zero-length memory.init past the memory",
      `(memory 1) (data "abc") (func (export "f") (memory.init 0 (i32.const 65537) (i32.const 0) (i32.const 0)))`,
      "memory_out_of_bounds",
    ],
    [
      "call_indirect to a null slot",
      `(type $t (func)) (table 2 funcref) (func (export "f") (call_indirect (type $t) (i32.const 1)))`,
      "indirect_call_mismatch",
    ],
    [
      "call_indirect past the table",
      `(type $t (func)) (table 2 funcref) (func (export "f") (call_indirect (type $t) (i32.const 5)))`,
      "table_out_of_bounds",
    ],
    [
      "call_indirect to a mistyped slot",
      `(type $t (func)) (table 1 funcref) (func $g (param i32)) (elem (i32.const 0) $g) (func (export "f") (call_indirect (type $t) (i32.const 0)))`,
      "indirect_call_mismatch",
    ],
    ["a load past the memory", `(memory 1) (func (export "f") (result i32) (i32.load (i32.const 65536)))`, "memory_out_of_bounds"],
    ["a store past the memory", `(memory 1) (func (export "f") (i64.store (i32.const 65530) (i64.const 1)))`, "memory_out_of_bounds"],
    [
      "memory.fill past the memory",
      `(memory 1) (func (export "f") (memory.fill (i32.const 65536) (i32.const 0) (i32.const 1)))`,
      "memory_out_of_bounds",
    ],
    [
      "memory.copy past the memory",
      `(memory 1) (func (export "f") (memory.copy (i32.const 0) (i32.const 65535) (i32.const 2)))`,
      "memory_out_of_bounds",
    ],
    ["a load from a memory of 0 pages", `(memory 0) (func (export "f") (result i32) (i32.load (i32.const 0)))`, "memory_out_of_bounds"],
    ["integer division by zero", `(func (export "f") (result i32) (i32.div_u (i32.const 1) (i32.const 0)))`, "integer_divide_by_zero"],
    ["a NaN truncated to an integer", `(func (export "f") (result i32) (i32.trunc_f32_s (f32.const nan)))`, "invalid_conversion"],
    ["unreachable", `(func (export "f") (unreachable))`, "unreachable"],
  ])("%s", async (_what, body, trap) => {
    await expectAgree(wat(`(module ${body})`), { trap });
  });

  it.each([
    [
      "zero-length memory.init at the end of segment and memory",
      `(memory 1) (data "abc") (func (export "f") (result i32) (memory.init 0 (i32.const 65536) (i32.const 3) (i32.const 0)) (i32.const 1))`,
    ],
    [
      "zero-length memory.init of a dropped segment at 0",
      `(memory 1) (data (i32.const 0) "abc") (func (export "f") (result i32) (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 1))`,
    ],
    [
      "call_indirect through a filled slot",
      `(type $t (func (result i32))) (table 1 funcref) (func $g (result i32) (i32.const 1)) (elem (i32.const 0) $g) (func (export "f") (result i32) (call_indirect (type $t) (i32.const 0)))`,
    ],
  ])("%s runs", async (_what, body) => {
    await expectAgree(wat(`(module ${body})`), { value: 1 });
  });
});

describe("issue 10 #4: table.init from a declarative segment is a typed refusal", () => {
  it("names the problem, as a FerryError", async () => {
    const bytes = declarative(
      wat(
        `(module (table 1 funcref) (func $g) (elem func $g) (func (export "f") (table.init 0 (i32.const 0) (i32.const 0) (i32.const 1))))`,
      ),
    );
    expect(WebAssembly.validate(bytes as BufferSource)).toBe(true);
    const e = await refusal(bytes);
    expect(e.code).toBe("unsupported_feature");
    expect(e.message).toContain("declarative element segment");
    expect(e.message).not.toContain("[object Object]");
  });
});

describe("issue 10 #5: elem.drop with no table", () => {
  it("runs like V8 runs it", async () => {
    await expectAgree(wat(`(module (func $g) (elem func $g) (func (export "f") (result i32) (elem.drop 0) (elem.drop 0) (i32.const 1)))`), {
      value: 1,
    });
  });

  it("of a declarative segment is a typed refusal naming the problem", async () => {
    const e = await refusal(declarative(wat(`(module (func $g) (elem func $g) (func (export "f") (elem.drop 0)))`)));
    expect(e.code).toBe("unsupported_feature");
    expect(e.message).not.toContain("[object Object]");
  });
});

describe("issue 10 #8: guest bytes keep a leading BOM", () => {
  it('an export named U+FEFF is that export, not the one named ""', async () => {
    const bytes = wat(`(module (func (export "\\ef\\bb\\bf") (result i32) (i32.const 7)) (func (export "") (result i32) (i32.const 8)))`);
    const module = await engine.compile(bytes);
    expect(module.segment.entries.map((e) => e.name)).toEqual(["\uFEFF", ""]);
    const { raw, straight, sliced } = await threeWays(bytes, "\uFEFF", 1);
    expect([raw, straight, sliced]).toEqual([{ value: 7 }, { value: 7 }, { value: 7 }]);
  });

  it("a ferry.log line starting with U+FEFF keeps it", async () => {
    const bytes = wat(`(module (import "ferry" "log" (func $log (param i32 i32))) (memory 1) (data (i32.const 0) "\\ef\\bb\\bfhi")
      (func (export "f") (call $log (i32.const 0) (i32.const 5))))`);
    const i = await engine.instantiate(await engine.compile(bytes));
    expect(await i.run("f")).toMatchObject({ status: "done" });
    expect(i.logs()).toEqual(["\uFEFFhi"]);
  });
});

describe("issue 10 #12: import_not_allowed names every offending import", () => {
  it("all of them, in one refusal", async () => {
    const names = ["fd_write", "fd_close", "proc_exit"];
    const imports = names.map((n) => `(import "wasi_unstable" "${n}" (func (param i32)))`).join(" ");
    const e = await refusal(wat(`(module ${imports} (import "ferry" "log" (func (param i32))))`));
    expect(e.code).toBe("import_not_allowed");
    for (const n of names) expect(e.message).toContain(`"wasi_unstable"."${n}"`);
    expect(e.message).toContain(`"ferry"."log" is declared as (i32) -> ()`);
  });

  it("a long list is capped, with a count of the rest", async () => {
    const imports = Array.from({ length: 25 }, (_, i) => `(import "wasi" "f${i}" (func))`).join(" ");
    const e = await refusal(wat(`(module ${imports})`));
    expect(e.code).toBe("import_not_allowed");
    expect(e.message).toContain(`"wasi"."f0"`);
    expect(e.message).toContain(`"wasi"."f9"`);
    expect(e.message).not.toContain(`"wasi"."f10"`);
    expect(e.message).toContain("15 more imports; 25 in all");
  });
});

describe("issue 10 #12: rejecting a module prints nothing", () => {
  it("Binaryen's validator output never reaches stderr", () => {
    // V8 accepts it, Binaryen's Asyncify refuses it (a funcref live across a call that can pause).
    const refTypes = wat(
      `(module (table 1 funcref) (func $spin (loop $l (br_if $l (i32.const 0))))
      (func (export "f") (param $r funcref) (call $spin) (table.set (i32.const 0) (local.get $r))))`,
      REF_TYPES,
    );
    const imports = wat(`(module (import "env" "system" (func (param i32))) (import "env" "exit" (func)))`);
    const runtime = fileURLToPath(new URL("../../dist/runtime/index.js", import.meta.url));
    const script = `
      import { Engine } from ${JSON.stringify(runtime)};
      const engine = new Engine();
      for (const hex of process.argv.slice(1)) {
        try { await engine.compile(Buffer.from(hex, "hex")); console.log("accepted"); } catch (e) { console.log(e.code); }
      }
      process.exit(0);`;
    const args = ["--input-type=module", "-e", script, Buffer.from(refTypes).toString("hex"), Buffer.from(imports).toString("hex")];
    const child = spawnSync(process.execPath, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(child.stdout.trim().split("\n")).toEqual(["unsupported_feature", "import_not_allowed"]);
    expect(child.stderr).toBe("");
  });
});

describe("found with issue 10: a dropped passive data segment stays dropped across a snapshot", () => {
  it("memory.init after data.drop traps the same when every pause is a snapshot and a restore", async () => {
    const bytes = wat(`(module (memory 1) (data "abc") (data "xyz")
      (func $spin (param i32) (loop (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if 0 (local.get 0))))
      (func (export "f") (result i32)
        (data.drop 0) (call $spin (i32.const 20))
        (memory.init 1 (i32.const 0) (i32.const 0) (i32.const 3))
        (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1)) (i32.const 1)))`);
    const expected = { trap: "memory_out_of_bounds" };
    expect(runRaw(bytes, "f")).toEqual(expected);
    const module = await engine.compile(bytes);
    const straight = await (await engine.instantiate(module)).run("f");
    expect(outcome(straight)).toEqual(expected);
    let instance = await engine.instantiate(module);
    let r = await instance.run("f", [], { fuel: 3 });
    let restores = 0;
    while (r.status === "paused") {
      instance = await engine.restore(await instance.snapshot({ move: true }));
      restores++;
      r = await instance.resume({ fuel: 3 });
    }
    expect(outcome(r)).toEqual(expected);
    expect(r.fuelUsed).toBe(straight.fuelUsed);
    expect(restores).toBeGreaterThan(5);
  });
});

describe("issue 10 #9: an entry takes any number of parameters", () => {
  // Eight parameters of every numeric type; a loop makes the sliced runs pause inside the call.
  const bytes = wat(`(module
    (func (export "f") (param i32 i64 f32 f64 i32 i32 i64 f64) (result i64) (local $i i32)
      (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 20))))
      (i64.add (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1))
        (i64.add (i64.add (i64.trunc_f32_s (local.get 2)) (i64.trunc_f64_s (local.get 3)))
          (i64.add (i64.add (i64.extend_i32_u (local.get 4)) (i64.extend_i32_s (local.get 5)))
            (i64.add (local.get 6) (i64.trunc_f64_s (local.get 7))))))))`);
  const args: WasmValue[] = [-1, 2n ** 40n, 3.5, -4.5, 0xffffffff, -6, -(2n ** 62n), 8.75];
  const expected = { value: -1n + 2n ** 40n + 3n - 4n + 0xffffffffn - 6n - 2n ** 62n + 8n };

  it("raw, straight and sliced agree", async () => {
    const { raw, straight, sliced, pauses } = await threeWays(bytes, "f", 3, {}, args);
    expect([raw, straight, sliced]).toEqual([expected, expected, expected]);
    expect(pauses).toBeGreaterThan(5);
  });

  it("the arguments past the fifth survive every pause restored from a snapshot", async () => {
    const straight = await (await engine.instantiate(await engine.compile(bytes))).run("f", args);
    const r = await restoredEveryPause(bytes, "f", args);
    expect(r.outcome).toEqual(expected);
    expect(r.fuelUsed).toBe(straight.fuelUsed);
    expect(r.restores).toBeGreaterThan(5);
  });
});

describe("issue 10 #9: a mutable v128 global travels in snapshots", () => {
  // The global changes before the loop and is read after it: a restore that lost it would return the initial lanes.
  const bytes = wat(`(module (global $v (mut v128) (v128.const i32x4 1 2 3 4))
    (func (export "f") (result i64) (local $i i32)
      (global.set $v (v128.const i32x4 0x7fc00001 0xffffffff 0x89abcdef 0x80000000))
      (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 20))))
      (i64.xor (i64x2.extract_lane 0 (global.get $v)) (i64.rotl (i64x2.extract_lane 1 (global.get $v)) (i64.const 17)))))`);

  it("raw, straight and sliced agree", async () => {
    const { raw, straight, sliced } = await threeWays(bytes);
    expect(straight).toEqual(raw);
    expect(sliced).toEqual(raw);
  });

  it("restored at every pause, its 16 bytes are exact (snapshot format version 2)", async () => {
    const raw = runRaw(bytes, "f");
    const straight = await (await engine.instantiate(await engine.compile(bytes))).run("f");
    const r = await restoredEveryPause(bytes);
    expect(r.outcome).toEqual(raw);
    expect(r.fuelUsed).toBe(straight.fuelUsed);
    expect(r.restores).toBeGreaterThan(5);
    expect(r.version).toBe(2);
  });
});

describe("found by npm run conformance (bulk.wast:181, :196): a module without a memory keeps its passive data segments", () => {
  // Instrumentation adds a memory to a module that has none, and Binaryen's setMemory replaced the
  // data segments with none: every data.drop then named a segment that no longer existed
  // (instrumentation_failed "Module::getDataSegment: 64 does not exist").
  it("data.drop of the 65th of 65 segments (its index a two-byte LEB) runs like V8 runs it", async () => {
    const segments = Array.from({ length: 65 }, () => `(data "")`).join(" ");
    await expectAgree(wat(`(module ${segments} (func (export "f") (result i32) (data.drop 64) (data.drop 64) (i32.const 1)))`), {
      value: 1,
    });
  });

  it("a segment with bytes, dropped, in a module with a table and no memory", async () => {
    await expectAgree(wat(`(module (table 1 funcref) (data "goodbye") (func (export "f") (result i32) (data.drop 0) (i32.const 7)))`), {
      value: 7,
    });
  });
});

describe("found by npm run conformance (data.wast:211 and 9 more): a segment that does not fit is a typed refusal at instantiate", () => {
  // V8 traps while instantiating (the spec's assert_uninstantiable); its RuntimeError escaped
  // Engine.instantiate, so `ferry run` exited 4 "internal error".
  const cases = [
    [
      "a data segment past the end of the memory",
      `(module (memory 1) (data (i32.const 65535) "ab") (func (export "f") (result i32) (i32.const 1)))`,
      "data segment",
    ],
    [
      "a data segment in a memory of 0 pages",
      `(module (memory 0) (data (i32.const 0) "a") (func (export "f") (result i32) (i32.const 1)))`,
      "data segment",
    ],
    [
      "an element segment past the end of the table",
      `(module (table 1 funcref) (func $g) (elem (i32.const 1) $g) (func (export "f") (result i32) (i32.const 1)))`,
      "out of bounds",
    ],
  ] as const;

  it.each(cases)("%s: raw V8 traps, Ferry throws invalid_wasm naming it (in-process)", async (_what, text, named) => {
    const bytes = wat(text);
    expect(() => new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), {})).toThrow(WebAssembly.RuntimeError);
    const module = await engine.compile(bytes);
    const e = await engine.instantiate(module).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(e).toBeInstanceOf(FerryError);
    expect((e as FerryError).code).toBe("invalid_wasm");
    expect((e as FerryError).message).toContain("cannot be instantiated");
    expect((e as FerryError).message).toContain(named);
  });

  it("the same in the isolated sandbox", async () => {
    const isolated = new Engine();
    try {
      const module = await isolated.compile(wat(cases[0][1]));
      const e = await isolated.instantiate(module, { sandbox: "isolated" }).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(e).toBeInstanceOf(FerryError);
      expect((e as FerryError).code).toBe("invalid_wasm");
      expect((e as FerryError).message).toContain("data segment");
    } finally {
      await isolated.close();
    }
  });
});

describe("issue 10 #7: a stack too deep for the continuation buffer traps stack_overflow, paused or not", () => {
  // A recursion keeping three values across each call (so its frames are not tiny).
  const recursion = wat(`(module (memory 8)
    (func $r (export "r") (param $n i32) (result i64) (local $a i64) (local $b f64)
      (local.set $a (i64.extend_i32_u (local.get $n)))
      (local.set $b (f64.convert_i32_u (local.get $n)))
      (if (result i64) (i32.eqz (local.get $n)) (then (i64.const 0))
        (else (i64.add (i64.add (local.get $a) (i64.trunc_f64_u (local.get $b))) (call $r (i32.sub (local.get $n) (i32.const 1))))))))`);

  it("unbounded recursion: raw, straight and sliced all trap stack_overflow, with the same fuel straight and sliced", async () => {
    // Slices of 97 fuel: a pause every few dozen frames (every pause saves the whole stack).
    const { raw, straight, sliced, pauses } = await threeWays(wat(`(module (memory 8) (func $f (export "f") (call $f)))`), "f", 97);
    expect([raw, straight, sliced]).toEqual([{ trap: "stack_overflow" }, { trap: "stack_overflow" }, { trap: "stack_overflow" }]);
    expect(pauses).toBeGreaterThan(100);
  });

  it("a recursion V8 holds but the buffer does not: the same trap and fuel straight, sliced and restored at every pause", async () => {
    const depth = 7_000; // raw V8 returns; before the fix a straight run returned and a sliced one trapped continuation_overflow
    expect(runRaw(recursion, "r", {}, [depth])).toEqual({ value: BigInt(depth) * BigInt(depth + 1) });
    const { straight, sliced } = await threeWays(recursion, "r", 997, {}, [depth]);
    expect(straight).toEqual({ trap: "stack_overflow" });
    expect(sliced).toEqual({ trap: "stack_overflow" });
    const restored = await restoredEveryPause(recursion, "r", [depth], 997);
    expect(restored.outcome).toEqual({ trap: "stack_overflow" });
    const straightFuel = (await (await engine.instantiate(await engine.compile(recursion))).run("r", [depth])).fuelUsed;
    expect(restored.fuelUsed).toBe(straightFuel);
  });

  it("a recursion within the buffer runs as raw V8 runs it, pausing deep", async () => {
    const depth = 3_000;
    const { raw, straight, sliced, pauses } = await threeWays(recursion, "r", 997, {}, [depth]);
    expect([straight, sliced]).toEqual([raw, raw]);
    expect(pauses).toBeGreaterThan(20);
  });

  it.each([
    [
      "one i32 local",
      `(func $r (param $n i32) (result i32) (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0)) (else (i32.add (i32.const 1) (call $r (i32.sub (local.get $n) (i32.const 1)))))))`,
    ],
    [
      "v128 and i64 locals live across the call",
      `(func $r (param $n i32) (result i32) (local $v v128) (local $w i64)
      (local.set $v (i32x4.splat (local.get $n))) (local.set $w (i64.extend_i32_u (local.get $n)))
      (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
        (else (i32.add (i32.add (i32x4.extract_lane 3 (local.get $v)) (i32.wrap_i64 (local.get $w))) (call $r (i32.sub (local.get $n) (i32.const 1)))))))`,
    ],
    [
      "mutual recursion through a table",
      `(type $t (func (param i32) (result i32))) (table 2 funcref) (elem (i32.const 0) $r $s)
      (func $s (param $n i32) (result i32) (local $x f32) (local.set $x (f32.convert_i32_s (local.get $n)))
        (i32.add (i32.trunc_f32_s (local.get $x)) (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))))
      (func $r (param $n i32) (result i32) (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0)) (else (call $s (local.get $n)))))`,
    ],
    [
      "multi-value results and returns",
      `(func $r (param $n i32) (result i32) (call $pair (local.get $n)) (i32.add))
      (func $pair (param $n i32) (result i32 i32) (if (i32.eqz (local.get $n)) (then (return (i32.const 0) (i32.const 0))))
        (i32.const 1) (call $r (i32.sub (local.get $n) (i32.const 1))))`,
    ],
  ])("every pause's saved stack fits the frames counted (%s)", async (_what, body) => {
    const bytes = wat(`(module (memory 8) ${body} (export "r" (func $r)))`);
    const module = await engine.compile(bytes);
    const instance = await engine.instantiate(module);
    let r = await instance.run("r", [400], { fuel: 37 });
    let pauses = 0;
    while (r.status === "paused") {
      const s = await instance.snapshot();
      // The room left is the buffer less what the frames on the stack may take: they must fit in the rest.
      const counter = module.segment.globals.find((g) => g.exportName === "__ferry_stack_room")!;
      const room = s.globals.find((g) => g.index === counter.index)!.value as number;
      const { stack, capacity } = decodeImage(s.continuation);
      expect(stack.byteLength).toBeGreaterThan(0);
      expect(stack.byteLength).toBeLessThanOrEqual(capacity - room);
      pauses++;
      r = await instance.resume({ fuel: 37 });
    }
    expect(outcome(r)).toEqual(runRaw(bytes, "r", {}, [400]));
    expect(pauses).toBeGreaterThan(10);
  });
});

describe("issue 10 #6: table.copy, table.init, table.fill, table.get/set/size/grow and elem.drop are metered", () => {
  const fns = `(type $t (func (result i32))) (func $a (result i32) (i32.const 1)) (func $b (result i32) (i32.const 2)) (func $c (result i32) (i32.const 3))`;
  /** A loop of ten iterations: with 3-fuel slices it pauses several times between the table operations. */
  const spin = `(local.set $i (i32.const 0)) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))`;
  /** Σ 10^k × (the function in slot k) over the first `n` slots, calling each through the table (0 for a null slot). */
  const digits = (n: number) =>
    Array.from(
      { length: n },
      (_, k) =>
        `(i32.mul (i32.const ${10 ** k}) (if (result i32) (ref.is_null (table.get $T (i32.const ${k}))) (then (i32.const 0)) (else (call_indirect $T (type $t) (i32.const ${k})))))`,
    ).reduce((a, x) => `(i32.add ${a} ${x})`);
  const program = (tables: string, body: string, slots = 4) =>
    `(module ${fns} ${tables} (func (export "f") (result i32) (local $i i32) ${body} ${spin} ${digits(slots)}))`;

  it.each([
    [
      "table.copy forward",
      program(
        `(table $T 4 funcref) (elem (table $T) (i32.const 0) func $a $b)`,
        `${spin} (table.copy $T $T (i32.const 2) (i32.const 0) (i32.const 2))`,
      ),
      2121,
    ],
    [
      "table.copy backward over itself",
      program(
        `(table $T 4 funcref) (elem (table $T) (i32.const 0) func $a $b $c)`,
        `${spin} (table.copy $T $T (i32.const 1) (i32.const 0) (i32.const 3))`,
      ),
      3211,
    ],
    [
      "table.copy between two tables",
      program(
        `(table $U 3 funcref) (table $T 4 funcref) (elem (table $U) (i32.const 0) func $c $b $a)`,
        `${spin} (table.copy $T $U (i32.const 1) (i32.const 0) (i32.const 3))`,
      ),
      1230,
    ],
    [
      "table.init from a passive segment, then elem.drop",
      program(
        `(table $T 4 funcref) (elem $e func $c $b $a)`,
        `${spin} (table.init $T $e (i32.const 1) (i32.const 1) (i32.const 2)) (elem.drop $e) (table.init $T $e (i32.const 4) (i32.const 0) (i32.const 0))`,
      ),
      120,
    ],
    [
      "table.fill, table.grow, table.set and table.size",
      program(
        `(table $T 1 funcref) (elem declare func $a $c)`,
        `(drop (table.grow $T (ref.func $a) (i32.const 3))) ${spin} (table.fill $T (i32.const 1) (ref.func $c) (i32.const 2)) (table.set $T (i32.const 0) (ref.null func)) (table.set $T (i32.const 3) (table.get $T (i32.const 1))) (if (i32.ne (table.size $T) (i32.const 4)) (then (unreachable)))`,
      ),
      3330,
    ],
    [
      "table.grow past the maximum answers -1",
      program(
        `(table $T 4 5 funcref) (elem (table $T) (i32.const 0) func $a)`,
        `(if (i32.ne (table.grow $T (ref.null func) (i32.const 2)) (i32.const -1)) (then (unreachable))) (drop (table.grow $T (ref.func $b) (i32.const 1)))`,
        5,
      ),
      20001,
    ],
  ])("%s: raw, straight and sliced agree, and restored at every pause", async (_what, text, value) => {
    const restored = await agreesRestored(wat(text, REF_TYPES), value);
    expect(restored.restores).toBeGreaterThan(5);
    expect(restored.version).toBe(2); // the tables travel
  });

  it.each([
    ["table.copy past the destination", `(table $T 4 funcref) (func (export "f") (table.copy (i32.const 3) (i32.const 0) (i32.const 2)))`],
    ["table.copy past the source", `(table $T 4 funcref) (func (export "f") (table.copy (i32.const 0) (i32.const 3) (i32.const 2)))`],
    [
      "table.copy with an offset that wraps",
      `(table $T 4 funcref) (func (export "f") (table.copy (i32.const -1) (i32.const 0) (i32.const 2)))`,
    ],
    [
      "zero-length table.copy past the end",
      `(table $T 4 funcref) (func (export "f") (table.copy (i32.const 5) (i32.const 0) (i32.const 0)))`,
    ],
    [
      "table.init past the segment",
      `(table $T 4 funcref) (func $g) (elem $e func $g) (func (export "f") (table.init $e (i32.const 0) (i32.const 0) (i32.const 2)))`,
    ],
    [
      "table.init past the table",
      `(table $T 4 funcref) (func $g) (elem $e func $g $g) (func (export "f") (table.init $e (i32.const 3) (i32.const 0) (i32.const 2)))`,
    ],
    [
      "table.init after elem.drop",
      `(table $T 4 funcref) (func $g) (elem $e func $g) (func (export "f") (elem.drop $e) (table.init $e (i32.const 0) (i32.const 0) (i32.const 1)))`,
    ],
    [
      "table.init from an active segment (dropped when instantiated)",
      `(table $T 4 funcref) (func $g) (elem (i32.const 0) func $g) (func (export "f") (table.init 0 (i32.const 0) (i32.const 0) (i32.const 1)))`,
    ],
    ["table.fill past the end", `(table $T 4 funcref) (func (export "f") (table.fill $T (i32.const 3) (ref.null func) (i32.const 2)))`],
    ["table.get past the end", `(table $T 4 funcref) (func (export "f") (drop (table.get $T (i32.const 4))))`],
    ["table.set past the end", `(table $T 4 funcref) (func (export "f") (table.set $T (i32.const 4) (ref.null func)))`],
  ])("%s traps table_out_of_bounds, as in V8", async (_what, text) => {
    await expectAgree(wat(`(module ${text})`, REF_TYPES), { trap: "table_out_of_bounds" });
  });

  it("table.fill, copy and init are charged by their length, table.grow by the size it leaves", async () => {
    const module = (text: string) =>
      wat(`(module (table $T 1000 1000 funcref) (func $g) (elem $e func ${"$g ".repeat(600)}) (func (export "f") ${text}))`, REF_TYPES);
    const fuel = async (text: string): Promise<number> => {
      const { straight } = await threeWays(module(text));
      expect(straight).toEqual({ value: null });
      return (await (await engine.instantiate(await engine.compile(module(text)))).run("f")).fuelUsed;
    };
    for (const op of [
      `(table.fill $T (i32.const 0) (ref.null func) (i32.const LEN))`,
      `(table.copy $T $T (i32.const 0) (i32.const 100) (i32.const LEN))`,
      `(table.init $T $e (i32.const 0) (i32.const 0) (i32.const LEN))`,
    ]) {
      expect((await fuel(op.replace("LEN", "500"))) - (await fuel(op.replace("LEN", "10")))).toBe(8 * 490);
    }
    // The table is at its maximum: a grow that fails leaves 1000 elements, as one of none does.
    const grow = async (delta: number) => fuel(`(drop (table.grow $T (ref.null func) (i32.const ${delta})))`);
    expect(await grow(1)).toBe(await grow(0));
  });

  it("table operations end slices by their work, charged the same straight and sliced", async () => {
    const bytes = wat(
      `(module (table $T 100 funcref) (func $g) (elem declare func $g)
      (func (export "f") (result i32) (local $i i32)
        (loop $l (table.fill $T (i32.const 0) (ref.func $g) (i32.const 100)) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 50))))
        (table.size $T)))`,
      REF_TYPES,
    );
    const module = await engine.compile(bytes);
    expect(module.segment.meterBound).toBeGreaterThanOrEqual(8 * 100);
    const { raw, straight, sliced, pauses } = await threeWays(bytes, "f", 500);
    expect([straight, sliced]).toEqual([raw, raw]);
    // Each fill of 100 elements is charged 800 fuel, more than a 500-fuel slice: every one ends a slice.
    expect(pauses).toBe(50);
  });

  it("a dropped element segment stays dropped across a snapshot", async () => {
    const bytes = wat(
      `(module (table $T 2 funcref) (func $g) (elem $e func $g) (elem $k func $g)
      (func $spin (param i32) (loop (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if 0 (local.get 0))))
      (func (export "f") (result i32)
        (elem.drop $e) (call $spin (i32.const 20))
        (table.init $T $k (i32.const 0) (i32.const 0) (i32.const 1))
        (table.init $T $e (i32.const 1) (i32.const 0) (i32.const 1)) (i32.const 1)))`,
      REF_TYPES,
    );
    expect(runRaw(bytes, "f")).toEqual({ trap: "table_out_of_bounds" });
    const restored = await restoredEveryPause(bytes);
    expect(restored.outcome).toEqual({ trap: "table_out_of_bounds" });
    expect(restored.restores).toBeGreaterThan(5);
  });
});

describe("issue 10 #9: reference types (funcref and externref tables and globals, ref.func, ref.null, typed select)", () => {
  const fns = `(type $t (func (result i32))) (func $a (result i32) (i32.const 4)) (func $b (result i32) (i32.const 5))`;
  const spin = `(local.set $i (i32.const 0)) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))`;

  it.each([
    [
      "a funcref global set, then called through a table",
      `${fns} (table $T 1 funcref) (global $g (mut funcref) (ref.null func)) (elem declare func $b)
      (func (export "f") (result i32) (local $i i32) (global.set $g (ref.func $b)) ${spin} (table.set $T (i32.const 0) (global.get $g)) ${spin} (call_indirect $T (type $t) (i32.const 0)))`,
      5,
    ],
    [
      "an externref table and global, typed select and ref.is_null",
      `(table $X 2 externref) (global $x (mut externref) (ref.null extern))
      (func (export "f") (result i32) (local $i i32) (drop (table.grow $X (ref.null extern) (i32.const 3))) ${spin} (table.set $X (i32.const 4) (global.get $x))
        (i32.add (table.size $X) (ref.is_null (select (result externref) (table.get $X (i32.const 4)) (ref.null extern) (i32.const 1)))))`,
      6,
    ],
    [
      "a funcref global holding a function, compared with null",
      `${fns} (elem declare func $a) (global $g (mut funcref) (ref.func $a))
      (func (export "f") (result i32) (local $i i32) ${spin} (i32.add (ref.is_null (global.get $g)) (i32.mul (i32.const 2) (ref.is_null (ref.null func)))))`,
      2,
    ],
  ])("%s: raw, straight, sliced and restored at every pause agree", async (_what, text, value) => {
    expect((await agreesRestored(wat(`(module ${text})`, REF_TYPES), value)).version).toBe(2);
  });

  it("a snapshot names a funcref by its function's index, and a restore refuses one the module cannot hold", async () => {
    const bytes = wat(
      `(module ${fns} (table $T 1 funcref) (elem declare func $b)
      (func (export "f") (result i32) (local $i i32) (table.set $T (i32.const 0) (ref.func $b)) ${spin} (call_indirect $T (type $t) (i32.const 0))))`,
      REF_TYPES,
    );
    const module = await engine.compile(bytes);
    const instance = await engine.instantiate(module);
    expect((await instance.run("f", [], { fuel: 30 })).status).toBe("paused");
    const s = await instance.snapshot();
    expect(s.tables).toEqual([{ index: 0, type: "funcref", elements: [1] }]); // $b is function 1
    const forged = { ...s, tables: [{ index: 0, type: "funcref" as const, elements: [0] }] }; // $a: no reference names it
    await expect(engine.restore(forged)).rejects.toMatchObject({ code: "snapshot_malformed" });
    const restored = await engine.restore(s);
    expect(await restored.resume()).toMatchObject({ status: "done", value: 5 });
  });

  it("a reference live across a call that can pause is refused, naming the limitation", async () => {
    const e = await refusal(
      wat(
        `(module (table 1 funcref) (func $spin (local $i i32) ${spin})
      (func (export "f") (param $r funcref) (call $spin) (table.set (i32.const 0) (local.get $r))))`,
        REF_TYPES,
      ),
    );
    expect(e.code).toBe("unsupported_feature");
    expect(e.message).toContain("funcref or externref value is live across a call that can pause");
  });
});
