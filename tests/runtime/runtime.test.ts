// The runtime's contracts on small WAT guests: results, fuel, pausing, traps, I/O, lifecycle.
import { BULK_BYTES_PER_FUEL_LOG2 } from "../../runtime/code/meter-helpers.js";
import { describe, expect, it } from "vitest";
import { Engine, decodeWeak, encodeWeak, encodeSnapshot, type RunResult } from "../../runtime/index.js";
import { runToEnd, wat } from "../helpers/wat.js";
import {
  DEEP_RECURSION,
  EXPLICIT_COUNTER,
  INFINITE_LOOP,
  INFINITE_LOOP_IN_START,
  IO_GUEST,
  LOOP_AND_RECURSION,
  LOOP_EXITS,
  MEMORY_BOMB,
  TRAPS,
} from "../helpers/fixtures.js";
import { codeOf } from "../helpers/errors.js";

const engine = new Engine();

describe("running", () => {
  it("runs the start function, then the entry, and reports value and fuel", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const i = await engine.instantiate(m);
    const r = await i.run("main", [100]);
    // start sets 1000; sum 1..100 = 5050; fib(12) = 144
    expect(r).toMatchObject({ status: "done", value: 1000 + 5050 + 144 });
    expect(r.fuelUsed).toBeGreaterThan(100);
  });

  it("uses the same fuel for the same run, every time", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const a = await (await engine.instantiate(m)).run("main", [500]);
    const b = await (await engine.instantiate(m)).run("main", [500]);
    expect(a.fuelUsed).toBe(b.fuelUsed);
  });

  it.each([1, 2, 7, 100, 5000])("pausing every %i fuel gives the same value and the same total fuel", async (slice) => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const whole = await (await engine.instantiate(m)).run("main", [300]);
    const i = await engine.instantiate(m);
    let r = await i.run("main", [300], { fuel: slice });
    let pauses = 0;
    while (r.status === "paused") {
      expect(r.reason).toBe("fuel");
      pauses++;
      r = await i.resume({ fuel: slice });
    }
    expect(r).toEqual(whole);
    if (slice < whole.fuelUsed) expect(pauses).toBeGreaterThan(0);
  });

  it("compiles the same bytes once", async () => {
    const a = await engine.compile(LOOP_AND_RECURSION);
    const b = await engine.compile(new Uint8Array(LOOP_AND_RECURSION));
    expect(b).toBe(a);
    expect(engine.module(a.codeHash)).toBe(a);
  });

  it("runs another entry on a finished instance, keeping its state", async () => {
    const i = await engine.instantiate(await engine.compile(LOOP_AND_RECURSION));
    expect((await i.run("main", [1])).status).toBe("done");
    expect(await i.run("fib", [10])).toMatchObject({ status: "done", value: 55 });
  });
});

describe("fuel hands control back", () => {
  it("pauses an infinite loop within its slice and keeps it resumable", async () => {
    const i = await engine.instantiate(await engine.compile(INFINITE_LOOP));
    let r = await i.run("spin", [], { fuel: 1000 });
    for (let k = 0; k < 5; k++) {
      expect(r.status).toBe("paused");
      r = await i.resume({ fuel: 1000 });
    }
    // Overshoot past a slice is bounded by one metered region.
    expect(r.fuelUsed).toBeGreaterThanOrEqual(6000);
    expect(r.fuelUsed).toBeLessThan(6000 + 10);
  });

  // Loop shapes the metering pass rewrites differently: a loop that yields a value, a loop
  // with a call inside (fuel kept in the global), and a loop with no exit (unreachable type).
  const LOOP_SHAPES = wat(`(module
    (func $inc (param $x i32) (result i32) (i32.add (local.get $x) (i32.const 1)))
    (func (export "valued") (param $n i32) (result i32)
      (local $i i32)
      (loop $l (result i32)
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n)))
        (i32.mul (local.get $i) (i32.const 3))))
    (func (export "calls") (param $n i32) (result i32)
      (local $i i32) (local $acc i32)
      (block $done (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (call $inc (local.get $acc)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (local.get $acc))
    (func (export "forever") (param $n i32) (result i32)
      (loop $l (br $l))))`);

  it.each([
    ["valued", 1000, 3000],
    ["calls", 1000, 1000],
  ])("meters a %s loop identically whatever the slice", async (entry, n, expected) => {
    const m = await engine.compile(LOOP_SHAPES);
    const whole = await (await engine.instantiate(m)).run(entry as string, [n as number]);
    expect(whole).toMatchObject({ status: "done", value: expected });
    for (const slice of [1, 3, 50, 999]) {
      const i = await engine.instantiate(m);
      const { result } = await runToEnd(i.run(entry as string, [n as number], { fuel: slice }), () => i.resume({ fuel: slice }));
      expect(result).toEqual(whole);
    }
  });

  it.each([
    ["nested", 7],
    ["switch", 2],
    ["returns", 5],
    ["falls", 3],
    ["fills", 1],
  ])("charges every iteration of a loop left by %s, whatever the slice", async (entry, perIteration) => {
    const m = await engine.compile(LOOP_EXITS);
    const fuel: number[] = [];
    for (const n of [100, 200, 300]) {
      const whole = await (await engine.instantiate(m)).run(entry as string, [n]);
      expect(whole).toMatchObject({ status: "done", value: n * (perIteration as number) });
      fuel.push(whole.fuelUsed);
      for (const slice of [1, 7, 64, 1000]) {
        const i = await engine.instantiate(m);
        const { result } = await runToEnd(i.run(entry as string, [n], { fuel: slice }), () => i.resume({ fuel: slice }));
        expect(result).toEqual(whole);
      }
    }
    // Linear in n: a write-back lost on some exit would show up as fuel that stops growing.
    expect(fuel[1]! - fuel[0]!).toBe(fuel[2]! - fuel[1]!);
    expect(fuel[1]! - fuel[0]!).toBeGreaterThanOrEqual(100 * (entry === "fills" ? 64 : 2));
  });

  it("pauses a loop with no exit every slice, charging the same fuel per slice", async () => {
    const m = await engine.compile(LOOP_SHAPES);
    const i = await engine.instantiate(m);
    let r = await i.run("forever", [0], { fuel: 100 });
    const used: number[] = [r.fuelUsed];
    for (let k = 0; k < 5; k++) {
      expect(r.status).toBe("paused");
      r = await i.resume({ fuel: 100 });
      used.push(r.fuelUsed);
    }
    const steps = used.slice(1).map((u, k) => u - used[k]!);
    expect(new Set(steps).size).toBe(1);
    expect(steps[0]).toBeGreaterThanOrEqual(100);
  });

  it("ends a run that exceeds fuelLimit with out_of_fuel", async () => {
    const i = await engine.instantiate(await engine.compile(INFINITE_LOOP));
    let r = await i.run("spin", [], { fuel: 300, fuelLimit: 1000 });
    while (r.status === "paused") r = await i.resume({ fuel: 300 });
    expect(r).toMatchObject({ status: "trapped", code: "out_of_fuel" });
    expect(r.fuelUsed).toBeGreaterThanOrEqual(1000);
    await expect(i.resume()).rejects.toMatchObject({ code: "instance_finished" });
  });

  it("pauses an infinite loop inside the start function", async () => {
    const i = await engine.instantiate(await engine.compile(INFINITE_LOOP_IN_START));
    const r = await i.run("main", [], { fuel: 500 });
    expect(r).toMatchObject({ status: "paused", reason: "fuel" });
    const limited = await engine.instantiate(await engine.compile(INFINITE_LOOP_IN_START));
    expect(await limited.run("main", [], { fuelLimit: 10_000 })).toMatchObject({ status: "trapped", code: "out_of_fuel" });
  });

  it("hands control back from loop-free deep recursion and resumes it exactly", async () => {
    const m = await engine.compile(DEEP_RECURSION);
    const i = await engine.instantiate(m);
    let r = await i.run("down", [1500], { fuel: 200 });
    let pauses = 0;
    while (r.status === "paused") {
      pauses++;
      r = await i.resume({ fuel: 200 });
    }
    expect(r).toMatchObject({ status: "done", value: 1500 });
    expect(pauses).toBeGreaterThan(5);
  });

  it("reports unbounded recursion as stack_overflow and keeps the host alive", async () => {
    const i = await engine.instantiate(await engine.compile(DEEP_RECURSION));
    expect(await i.run("down", [50_000_000])).toMatchObject({ status: "trapped", code: "stack_overflow" });
    const again = await engine.instantiate(await engine.compile(DEEP_RECURSION));
    expect(await again.run("down", [10])).toMatchObject({ status: "done", value: 10 });
  });
});

describe("memory cap", () => {
  const capped = new Engine({ maxMemoryPages: 64 });

  it("makes memory.grow past the cap return -1 inside the guest", async () => {
    const i = await capped.instantiate(await capped.compile(MEMORY_BOMB));
    // 1 initial page + 3 × 16 = 49; a fourth 16-page step would pass 64.
    expect(await i.run("grow")).toMatchObject({ status: "done", value: 48 });
  });

  it("reports a guest that dies after a refused grow as memory_limit", async () => {
    const i = await capped.instantiate(await capped.compile(MEMORY_BOMB));
    expect(await i.run("growOrDie")).toMatchObject({ status: "trapped", code: "memory_limit" });
  });
});

describe("traps", () => {
  it.each([
    ["unreachable", [], "unreachable"],
    ["oob", [], "memory_out_of_bounds"],
    ["div0", [0], "integer_divide_by_zero"],
    ["badcall", [1], "indirect_call_mismatch"],
    ["badcall", [7], "table_out_of_bounds"],
    ["conv", [], "invalid_conversion"],
  ] as const)("%s traps with %s", async (entry, args, code) => {
    const i = await engine.instantiate(await engine.compile(TRAPS));
    const r = await i.run(entry, [...args]);
    expect(r).toMatchObject({ status: "trapped", code });
    if (r.status === "trapped") expect(r.message.length).toBeGreaterThan(0);
  });
});

describe("input, output and log", () => {
  it("collects output and log lines", async () => {
    const lines: string[] = [];
    const i = await engine.instantiate(await engine.compile(IO_GUEST), { onLog: (l) => lines.push(l) });
    expect(await i.run("hello", [3])).toMatchObject({ status: "done", value: 3 });
    expect(Buffer.from(i.output()).toString()).toBe("hello\n".repeat(3));
    expect(lines).toEqual(["logged"]);
    expect(i.logs()).toEqual(["logged"]);
  });

  it("reads the instance's input", async () => {
    const input = new TextEncoder().encode("some input bytes");
    const i = await engine.instantiate(await engine.compile(IO_GUEST), { input });
    expect(await i.run("echo")).toMatchObject({ status: "done", value: input.byteLength });
    expect(Buffer.from(i.output()).toString()).toBe("some input bytes");
  });

  it("traps a host call with an out-of-bounds pointer instead of reading host memory", async () => {
    const i = await engine.instantiate(await engine.compile(IO_GUEST));
    expect(await i.run("badptr")).toMatchObject({ status: "trapped", code: "memory_out_of_bounds" });
  });

  it("stops an output flood at maxOutputBytes with output_limit", async () => {
    const i = await engine.instantiate(await engine.compile(IO_GUEST), { maxOutputBytes: 100 });
    expect(await i.run("hello", [1000])).toMatchObject({ status: "trapped", code: "output_limit" });
  });

  it("turns host misuse inside a callback into a host_error trap", async () => {
    const m = await engine.compile(IO_GUEST);
    let reentered: unknown;
    const i = await engine.instantiate(m, {
      onLog: () => {
        reentered = i.run("hello", [1]);
      },
    });
    const r = await i.run("hello", [1]);
    expect(r).toMatchObject({ status: "done" });
    await expect(reentered).rejects.toMatchObject({ code: "instance_busy" });
  });
});

describe("explicit continuations", () => {
  it("stops at checkpoints when the slice ends, resumes from the guest's own state, and migrates", async () => {
    const m = await engine.compile(EXPLICIT_COUNTER);
    const whole = await engine.instantiate(m);
    const expected = await whole.run("count", [40]);
    expect(expected).toMatchObject({ status: "done", value: 40 });

    let i = await engine.instantiate(m);
    let r: RunResult = await i.run("count", [40], { fuel: 300 });
    const reasons = new Set<string>();
    while (r.status === "paused") {
      reasons.add(r.reason);
      i = await engine.restore(encodeSnapshot(await i.snapshot()));
      r = await i.resume({ fuel: 300 });
    }
    expect(reasons).toEqual(new Set(["checkpoint"]));
    expect(r).toMatchObject({ status: "done", value: 40 });
    expect(Buffer.from(i.output()).toString()).toBe(Buffer.from(whole.output()).toString());
  });
});

describe("weak mobility", () => {
  it("restarts a described run from the beginning on another engine", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const i = await engine.instantiate(m);
    await i.run("main", [200], { fuel: 50 });
    const d = decodeWeak(encodeWeak(engine.describeWeak(i)));
    expect(d).toMatchObject({ codeHash: m.codeHash, entry: "main", args: [200] });

    const other = new Engine();
    expect(await codeOf(other.startWeak(d))).toBe("unknown_module");
    await other.compile(LOOP_AND_RECURSION);
    const { result } = await other.startWeak(d);
    expect(result).toMatchObject({ status: "done", value: 1000 + 20100 + 144 });
  });

  it.each([
    ["not JSON", "{"],
    ["wrong format", JSON.stringify({ format: "x" })],
    ["bad hash", JSON.stringify({ format: "ferry-weak/1", codeHash: "zz", entry: "main", args: [], input: "" })],
    ["bad args", JSON.stringify({ format: "ferry-weak/1", codeHash: "a".repeat(64), entry: "main", args: [{}], input: "" })],
  ])("rejects a descriptor that is %s with weak_malformed", async (_what, text) => {
    expect(await codeOf(() => decodeWeak(new TextEncoder().encode(text)))).toBe("weak_malformed");
  });
});

describe("host misuse throws typed errors", () => {
  it("checks entries, arguments and options", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const i = await engine.instantiate(m);
    expect(await codeOf(i.run("nope"))).toBe("entry_not_found");
    expect(await codeOf(i.run("main", []))).toBe("invalid_arguments");
    expect(await codeOf(i.run("main", [1.5]))).toBe("invalid_arguments");
    expect(await codeOf(i.run("main", [1], { fuel: 0 }))).toBe("invalid_option");
    expect(await codeOf(i.run("main", [1], { fuel: 2.5 }))).toBe("invalid_option");
    expect(await codeOf(() => new Engine({ metering: false, asyncify: true }))).toBe("invalid_option");
    expect(await codeOf(() => new Engine({ maxMemoryPages: 70_000 }))).toBe("invalid_option");
  });

  it("enforces the instance lifecycle", async () => {
    const m = await engine.compile(INFINITE_LOOP);
    const i = await engine.instantiate(m);
    expect(await codeOf(i.resume())).toBe("instance_not_paused");
    expect(await codeOf(() => i.snapshot())).toBe("instance_not_paused");
    await i.run("spin", [], { fuel: 100 });
    expect(await codeOf(i.run("spin"))).toBe("instance_busy");
    i.dispose();
    expect(await codeOf(i.resume())).toBe("instance_disposed");
    expect(await codeOf(() => i.snapshot())).toBe("instance_disposed");

    const done = await engine.instantiate(await engine.compile(LOOP_AND_RECURSION));
    await done.run("main", [1]);
    expect(await codeOf(done.resume())).toBe("instance_finished");
  });

  it("refuses modules compiled by another engine", async () => {
    const other = new Engine();
    const m = await other.compile(INFINITE_LOOP);
    expect(await codeOf(engine.instantiate(m))).toBe("unknown_module");
  });

  it("keeps the most recently used compiled modules by hash; one it let go still works for whoever holds it", async () => {
    const small = new Engine({ maxCompiledModules: 2 });
    const a = await small.compile(INFINITE_LOOP);
    const b = await small.compile(LOOP_AND_RECURSION);
    expect(small.module(a.codeHash)).toBe(a); // a is now the most recently used
    const c = await small.compile(wat(`(module (func (export "main") (result i32) (i32.const 7)))`));
    expect(small.module(b.codeHash)).toBeUndefined(); // b went first
    expect([small.module(a.codeHash), small.module(c.codeHash)]).toEqual([a, c]);
    // Held by its caller, b still runs, and a paused run of it restores with the module passed in.
    const i = await small.instantiate(b);
    const paused = await i.run("main", [1_000_000], { fuel: 1_000 });
    expect(paused.status).toBe("paused");
    const snapshot = await i.snapshot();
    expect(await codeOf(small.restore(snapshot))).toBe("unknown_module");
    const restored = await small.restore(snapshot, { module: b });
    expect(restored.state).toBe("paused");
    expect(() => new Engine({ maxCompiledModules: 0 })).toThrow(/maxCompiledModules/);
  });
});

describe("bulk memory is metered by length", () => {
  const BULK = wat(`(module
    (memory 64)
    (func (export "fill") (param $bytes i32) (param $times i32)
      (loop $again
        (memory.fill (i32.const 0) (i32.const 7) (local.get $bytes))
        (memory.copy (i32.const 65536) (i32.const 0) (local.get $bytes))
        (local.set $times (i32.sub (local.get $times) (i32.const 1)))
        (br_if $again (local.get $times)))))`);

  it("charges fill and copy in proportion to the bytes they touch", async () => {
    const m = await engine.compile(BULK);
    const small = await (await engine.instantiate(m)).run("fill", [64, 10]);
    const large = await (await engine.instantiate(m)).run("fill", [64 * 1024, 10]);
    // 2 ops × 10 times × the extra bytes, one fuel per 2^BULK_BYTES_PER_FUEL_LOG2 bytes.
    expect(large.fuelUsed - small.fuelUsed).toBe(2 * 10 * ((64 * 1024 - 64) >> BULK_BYTES_PER_FUEL_LOG2));
  });

  it("pauses a loop of huge fills within a slice of a few operations", async () => {
    const m = await engine.compile(BULK);
    const i = await engine.instantiate(m);
    // Each iteration costs ~2 × 32768 fuel for 2 MiB; a 100k slice pauses after two iterations.
    const r = await i.run("fill", [2 * 1024 * 1024, 1_000_000], { fuel: 100_000 });
    expect(r.status).toBe("paused");
    expect(r.fuelUsed).toBeLessThan(250_000);
  });
});
