// Every malformed or over-limit module is rejected with a typed error naming the problem, and the
// engine keeps working afterwards (nothing half-compiled is cached).
import { describe, expect, it } from "vitest";
import binaryen from "binaryen";
import { Engine, FerryError } from "../../../runtime/index.js";
import { LOOP_AND_RECURSION } from "../../helpers/fixtures.js";
import { wat } from "../../helpers/wat.js";

async function rejection(engine: Engine, bytes: Uint8Array): Promise<FerryError> {
  try {
    await engine.compile(bytes);
  } catch (e) {
    if (e instanceof FerryError) return e;
    throw e;
  }
  throw new Error("module was accepted");
}

/** A module with `n` imports of ferry.log (allowed individually; too many in total). */
function manyImports(n: number): Uint8Array {
  const imports = Array.from({ length: n }, (_, i) => `(import "ferry" "log" (func $l${i} (param i32 i32)))`).join("\n");
  return wat(`(module ${imports})`);
}

function manyExports(n: number): Uint8Array {
  const exports = Array.from({ length: n }, (_, i) => `(export "e${i}" (func $f))`).join("\n");
  return wat(`(module (func $f) ${exports})`);
}

describe("module validation", () => {
  const engine = new Engine({
    maxMemoryPages: 16,
    limits: {
      maxModuleBytes: 64 * 1024,
      maxFunctions: 100,
      maxExports: 50,
      maxImports: 20,
      maxGlobals: 10,
      maxTableElements: 1000,
      maxDataBytes: 4096,
    },
  });

  it.each([
    ["empty input", new Uint8Array(0), "not_wasm"],
    ["text instead of binary", new TextEncoder().encode("(module)"), "not_wasm"],
    ["a wasm version-2 header", Uint8Array.from([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), "not_wasm"],
    ["a truncated module", LOOP_AND_RECURSION.subarray(0, LOOP_AND_RECURSION.length - 5), "invalid_wasm"],
    ["a module with a corrupted function body", corruptCode(LOOP_AND_RECURSION), "invalid_wasm"],
  ])("rejects %s", async (_what, bytes, code) => {
    expect((await rejection(engine, bytes)).code).toBe(code);
  });

  it("rejects imports outside the allow-list, naming them", async () => {
    const e = await rejection(engine, wat(`(module (import "env" "system" (func (param i32))))`));
    expect(e.code).toBe("import_not_allowed");
    expect(e.message).toContain("env");
    expect(e.message).toContain("system");
  });

  // A guest names its imports; the allow-list must not answer for names every JavaScript object
  // has. These once passed validation (the lookup walked Object.prototype) and failed later, untyped.
  it.each([
    ["ferry", "constructor"],
    ["ferry", "toString"],
    ["ferry", "__proto__"],
    ["ferry", "hasOwnProperty"],
    ["toString", "valueOf"],
    ["constructor", "name"],
    ["__proto__", "log"],
    ["env", "constructor"],
  ])("rejects an import named like an object's own machinery: %s.%s", async (module, name) => {
    const e = await rejection(engine, wat(`(module (import "${module}" "${name}" (func)) (func (export "main") (call 0)))`));
    expect(e.code).toBe("import_not_allowed");
    expect(e.message).toContain(`"${module}"."${name}"`);
  });

  it("rejects an allowed import with the wrong signature", async () => {
    const e = await rejection(engine, wat(`(module (import "ferry" "log" (func (param i32))))`));
    expect(e.code).toBe("import_not_allowed");
    expect(e.detail).toContain("(i32, i32) -> ()");
  });

  it.each([
    ["imported memory", `(module (import "env" "memory" (memory 1)))`],
    ["imported table", `(module (import "env" "table" (table 1 funcref)))`],
    ["imported global", `(module (import "env" "g" (global i32)))`],
  ])("rejects %s", async (_what, text) => {
    expect((await rejection(engine, wat(text))).code).toBe("import_not_allowed");
  });

  it.each([
    ["module bytes", () => wat(`(module (memory 1) (data (i32.const 0) "${"x".repeat(70_000)}"))`)],
    ["import count", () => manyImports(21)],
    ["export count", () => manyExports(51)],
    ["function count", () => wat(`(module ${Array.from({ length: 101 }, () => "(func)").join(" ")})`)],
    ["global count", () => wat(`(module ${Array.from({ length: 11 }, (_, i) => `(global $g${i} i32 (i32.const 0))`).join(" ")})`)],
    ["table size", () => wat(`(module (table 100000 funcref))`)],
    ["data bytes", () => wat(`(module (memory 1) (data (i32.const 0) "${"y".repeat(5000)}"))`)],
  ])("rejects a module over the %s limit with module_limit", async (_what, make) => {
    expect((await rejection(engine, make())).code).toBe("module_limit");
  });

  it("rejects initial memory above the cap with memory_limit", async () => {
    expect((await rejection(engine, wat(`(module (memory 17))`))).code).toBe("memory_limit");
  });

  it.each([
    ["memory64", `(module (memory i64 1))`, binaryen.Features.Memory64],
    ["shared memory", `(module (memory 1 1 shared))`, binaryen.Features.Atomics],
    ["multiple memories", `(module (memory $a 1) (memory $b 1))`, binaryen.Features.MultiMemory],
    ["tail calls", `(module (func $f (return_call $f)))`, binaryen.Features.TailCall],
    ["exception handling", `(module (tag $t) (func (throw $t)))`, binaryen.Features.ExceptionHandling],
    [
      "GC types",
      `(module (type $s (struct (field i32))) (func (export "f") (result i32) (drop (struct.new $s (i32.const 1))) (i32.const 1)))`,
      binaryen.Features.GC,
    ],
  ])("rejects %s with unsupported_feature", async (_what, text, feature) => {
    const f = binaryen.Features;
    const bytes = wat(text, f.MVP | f.MutableGlobals | f.BulkMemory | f.ReferenceTypes | feature);
    expect((await rejection(engine, bytes)).code).toBe("unsupported_feature");
  });

  it("keeps working after rejections, and does not cache a rejected module", async () => {
    const bad = wat(`(module (import "env" "evil" (func)))`);
    expect((await rejection(engine, bad)).code).toBe("import_not_allowed");
    expect((await rejection(engine, bad)).code).toBe("import_not_allowed");
    const ok = await engine.compile(LOOP_AND_RECURSION);
    const r = await (await engine.instantiate(ok)).run("main", [10]);
    expect(r).toMatchObject({ status: "done", value: 1000 + 55 + 144 });
  });

  it("accepts modules without a memory or exports at all", async () => {
    const m = await engine.compile(wat(`(module (func (export "f") (result i32) (i32.const 7)))`));
    expect(await (await engine.instantiate(m)).run("f")).toMatchObject({ status: "done", value: 7 });
  });

  it("rejects a guest whose ferry_continuation export does not point at a continuation struct", async () => {
    const m = await engine.compile(
      wat(`(module (memory 1) (global (export "ferry_continuation") i32 (i32.const 64)) (func (export "f")))`),
    );
    await expect(engine.instantiate(m)).rejects.toMatchObject({ code: "invalid_wasm" });
  });
});

/** Flip an opcode byte inside the code section so the module no longer validates. */
function corruptCode(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  // The last bytes of a module are function bodies; replace the final `end` (0x0b) with an invalid opcode.
  for (let i = out.length - 1; i > 8; i--) {
    if (out[i] === 0x0b) {
      out[i] = 0xff;
      return out;
    }
  }
  throw new Error("no end opcode found");
}

describe("names the instrumentation reserves", () => {
  const engine = new Engine();
  /** WAT to binary with its name section, so internal names reach the pipeline. */
  const named = (text: string): Uint8Array => {
    const m = binaryen.parseText(text);
    binaryen.setDebugInfo(true);
    try {
      m.setFeatures(binaryen.Features.MVP | binaryen.Features.MutableGlobals);
      return m.emitBinary();
    } finally {
      binaryen.setDebugInfo(false);
      m.dispose();
    }
  };
  it.each([
    ["the memory export", `(module (memory 1) (func (export "__ferry_memory")))`],
    ["the fuel export", `(module (global (export "__ferry_fuel") i32 (i32.const 0)) (func (export "f")))`],
    ["the start export", `(module (func $s) (start $s) (func (export "__ferry_start")))`],
    ["a snapshot-global export", `(module (global $g (mut i32) (i32.const 0)) (func (export "__ferry_g0")))`],
    ["an Asyncify control", `(module (func (export "asyncify_start_unwind") (param i32)))`],
    ["a function named like a runtime helper", `(module (func $__ferry_memory_copy (export "f")))`],
    [
      "a global named like the fuel counter",
      `(module (global $__ferry_fuel (mut i32) (i32.const 0)) (func (export "f") (global.set $__ferry_fuel (i32.const 1))))`,
    ],
  ])("refuses %s with invalid_wasm naming it, never an untyped Binaryen failure", async (_what, text) => {
    const e = await rejection(engine, named(text));
    expect(e.code).toBe("invalid_wasm");
    expect(e.message).not.toContain("[object Object]");
    expect(e.message).toMatch(/__ferry_|asyncify_/);
  });
});
