// Regressions from the spec-suite run of issue 10, one per bug, each named after it. Every module is
// run three ways and must agree bit for bit (values) and by code (traps): raw in V8, in Ferry
// straight, and in Ferry sliced with tiny fuel slices (a pause at nearly every check).
import { spawnSync } from "node:child_process";
import binaryen from "binaryen";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Engine, FerryError, decodeSnapshot, encodeSnapshot, type RunResult, type WasmValue } from "../runtime/index.js";
import { classifyTrap } from "../runtime/exec/traps.js";
import { wat } from "./helpers/wat.js";

const engine = new Engine();

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

describe("issue 10 #2: i32.div_s / i64.div_s of MIN by -1 traps integer_overflow", () => {
  it.each([
    ["i32, constants", `(func (export "f") (result i32) (i32.div_s (i32.const 0x80000000) (i32.const -1)))`],
    ["i64, constants", `(func (export "f") (result i64) (i64.div_s (i64.const 0x8000000000000000) (i64.const -1)))`],
    ["i32, through locals", `(func (export "f") (result i32) (local $a i32) (local $b i32) (local.set $a (i32.const 0x80000000)) (local.set $b (i32.const -1)) (i32.div_s (local.get $a) (local.get $b)))`],
    ["i64, through a call", `(func $d (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1))) (func (export "f") (result i64) (call $d (i64.const 0x8000000000000000) (i64.const -1)))`],
  ])("%s", async (_what, body) => {
    await expectAgree(wat(`(module ${body})`), { trap: "integer_overflow" });
  });

  it("rem_s of MIN by -1 is 0, not a trap", async () => {
    await expectAgree(wat(`(module (func (export "f") (result i32) (i32.rem_s (i32.const 0x80000000) (i32.const -1))))`), { value: 0 });
  });
});

describe("issue 10 #3: memory.init from a dropped active segment traps memory_out_of_bounds (instrumentation keeps every trap)", () => {
  it.each([
    ["memory.init from a dropped active segment", `(memory 1) (data (i32.const 0) "abc") (func (export "f") (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1)))`, "memory_out_of_bounds"],
    ["zero-length memory.init past a dropped active segment", `(memory 1) (data (i32.const 0) "abc") (func (export "f") (memory.init 0 (i32.const 0) (i32.const 1) (i32.const 0)))`, "memory_out_of_bounds"],
    ["memory.init after data.drop", `(memory 1) (data "abc") (func (export "f") (data.drop 0) (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1)))`, "memory_out_of_bounds"],
    ["memory.init past the segment", `(memory 1) (data "abc") (func (export "f") (memory.init 0 (i32.const 0) (i32.const 2) (i32.const 2)))`, "memory_out_of_bounds"],
    ["memory.init past the memory", `(memory 1) (data "abc") (func (export "f") (memory.init 0 (i32.const 65535) (i32.const 0) (i32.const 2)))`, "memory_out_of_bounds"],
    ["zero-length memory.init past the memory", `(memory 1) (data "abc") (func (export "f") (memory.init 0 (i32.const 65537) (i32.const 0) (i32.const 0)))`, "memory_out_of_bounds"],
    ["call_indirect to a null slot", `(type $t (func)) (table 2 funcref) (func (export "f") (call_indirect (type $t) (i32.const 1)))`, "indirect_call_mismatch"],
    ["call_indirect past the table", `(type $t (func)) (table 2 funcref) (func (export "f") (call_indirect (type $t) (i32.const 5)))`, "table_out_of_bounds"],
    ["call_indirect to a mistyped slot", `(type $t (func)) (table 1 funcref) (func $g (param i32)) (elem (i32.const 0) $g) (func (export "f") (call_indirect (type $t) (i32.const 0)))`, "indirect_call_mismatch"],
    ["a load past the memory", `(memory 1) (func (export "f") (result i32) (i32.load (i32.const 65536)))`, "memory_out_of_bounds"],
    ["a store past the memory", `(memory 1) (func (export "f") (i64.store (i32.const 65530) (i64.const 1)))`, "memory_out_of_bounds"],
    ["memory.fill past the memory", `(memory 1) (func (export "f") (memory.fill (i32.const 65536) (i32.const 0) (i32.const 1)))`, "memory_out_of_bounds"],
    ["memory.copy past the memory", `(memory 1) (func (export "f") (memory.copy (i32.const 0) (i32.const 65535) (i32.const 2)))`, "memory_out_of_bounds"],
    ["a load from a memory of 0 pages", `(memory 0) (func (export "f") (result i32) (i32.load (i32.const 0)))`, "memory_out_of_bounds"],
    ["integer division by zero", `(func (export "f") (result i32) (i32.div_u (i32.const 1) (i32.const 0)))`, "integer_divide_by_zero"],
    ["a NaN truncated to an integer", `(func (export "f") (result i32) (i32.trunc_f32_s (f32.const nan)))`, "invalid_conversion"],
    ["unreachable", `(func (export "f") (unreachable))`, "unreachable"],
  ])("%s", async (_what, body, trap) => {
    await expectAgree(wat(`(module ${body})`), { trap });
  });

  it.each([
    ["zero-length memory.init at the end of segment and memory", `(memory 1) (data "abc") (func (export "f") (result i32) (memory.init 0 (i32.const 65536) (i32.const 3) (i32.const 0)) (i32.const 1))`],
    ["zero-length memory.init of a dropped segment at 0", `(memory 1) (data (i32.const 0) "abc") (func (export "f") (result i32) (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 1))`],
    ["call_indirect through a filled slot", `(type $t (func (result i32))) (table 1 funcref) (func $g (result i32) (i32.const 1)) (elem (i32.const 0) $g) (func (export "f") (result i32) (call_indirect (type $t) (i32.const 0)))`],
  ])("%s runs", async (_what, body) => {
    await expectAgree(wat(`(module ${body})`), { value: 1 });
  });
});

describe("issue 10 #4: table.init from a declarative segment is a typed refusal", () => {
  it("names the problem, as a FerryError", async () => {
    const bytes = declarative(wat(`(module (table 1 funcref) (func $g) (elem func $g) (func (export "f") (table.init 0 (i32.const 0) (i32.const 0) (i32.const 1))))`));
    expect(WebAssembly.validate(bytes as BufferSource)).toBe(true);
    const e = await refusal(bytes);
    expect(e.code).toBe("unsupported_feature");
    expect(e.message).toContain("declarative element segment");
    expect(e.message).not.toContain("[object Object]");
  });
});

describe("issue 10 #5: elem.drop with no table", () => {
  it("runs like V8 runs it", async () => {
    await expectAgree(wat(`(module (func $g) (elem func $g) (func (export "f") (result i32) (elem.drop 0) (elem.drop 0) (i32.const 1)))`), { value: 1 });
  });

  it("of a declarative segment is a typed refusal naming the problem", async () => {
    const e = await refusal(declarative(wat(`(module (func $g) (elem func $g) (func (export "f") (elem.drop 0)))`)));
    expect(e.code).toBe("unsupported_feature");
    expect(e.message).not.toContain("[object Object]");
  });

  it("table.copy is refused by name", async () => {
    const e = await refusal(wat(`(module (table 2 funcref) (func (export "f") (table.copy (i32.const 0) (i32.const 1) (i32.const 1))))`));
    expect(e.code).toBe("unsupported_feature");
    expect(e.message).toContain("table.copy");
  });
});

describe("issue 10 #8: guest bytes keep a leading BOM", () => {
  it("an export named U+FEFF is that export, not the one named \"\"", async () => {
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
    const imports = names.map((n) => `(import "wasi_snapshot_preview1" "${n}" (func (param i32)))`).join(" ");
    const e = await refusal(wat(`(module ${imports} (import "ferry" "log" (func (param i32))))`));
    expect(e.code).toBe("import_not_allowed");
    for (const n of names) expect(e.message).toContain(`"wasi_snapshot_preview1"."${n}"`);
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
    // A reference-types module: V8 accepts it, Binaryen's validator refuses it (and would print why).
    const refTypes = wat(`(module (table 1 funcref) (func (export "f") (result i32) (ref.is_null (table.get 0 (i32.const 0)))))`, binaryen.Features.MVP | binaryen.Features.ReferenceTypes | binaryen.Features.BulkMemory);
    const imports = wat(`(module (import "env" "system" (func (param i32))) (import "env" "exit" (func)))`);
    const runtime = fileURLToPath(new URL("../dist/runtime/index.js", import.meta.url));
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
    await expectAgree(wat(`(module ${segments} (func (export "f") (result i32) (data.drop 64) (data.drop 64) (i32.const 1)))`), { value: 1 });
  });

  it("a segment with bytes, dropped, in a module with a table and no memory", async () => {
    await expectAgree(wat(`(module (table 1 funcref) (data "goodbye") (func (export "f") (result i32) (data.drop 0) (i32.const 7)))`), { value: 7 });
  });
});

describe("found by npm run conformance (data.wast:211 and 9 more): a segment that does not fit is a typed refusal at instantiate", () => {
  // V8 traps while instantiating (the spec's assert_uninstantiable); its RuntimeError escaped
  // Engine.instantiate, so `ferry run` exited 4 "internal error".
  const cases = [
    ["a data segment past the end of the memory", `(module (memory 1) (data (i32.const 65535) "ab") (func (export "f") (result i32) (i32.const 1)))`, "data segment"],
    ["a data segment in a memory of 0 pages", `(module (memory 0) (data (i32.const 0) "a") (func (export "f") (result i32) (i32.const 1)))`, "data segment"],
    ["an element segment past the end of the table", `(module (table 1 funcref) (func $g) (elem (i32.const 1) $g) (func (export "f") (result i32) (i32.const 1)))`, "out of bounds"],
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
