// Issue 8 §4: no single step of a guest holds the host for long, whatever its fuel says.
// - One host call moves at most MAX_HOST_IO_BYTES: input and resource reads return at most that
//   many, resource writes take at most that many, output_write is handed over in pieces (through a
//   direct call or a table) with a fuel check between them, and a log line is cut at 64 KiB.
// - A slice has a wall-clock budget (`sliceMs`) as well as fuel: with unlimited fuel, a guest whose
//   work is slow per unit of fuel still pauses, at a chunk of bulk work, a grow or a host call, and
//   the fuel it uses stays exactly that of an unsliced run.
// Nothing reads a clock to judge: "pauses" is counted, never timed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Engine, FileResources, type Instance, type InstantiateOptions, type RunResult, type SandboxKind } from "../../runtime/index.js";
import { MAX_HOST_IO_BYTES } from "../../runtime/limits.js";
import { MAX_LOG_LINE_BYTES } from "../../runtime/host/index.js";
import { wat } from "../helpers/wat.js";

const MiB = 1024 * 1024;
const engine = new Engine({ maxMemoryPages: 1024, isolated: { size: 0 } });
const roots: string[] = [];
afterAll(async () => {
  await engine.close();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

async function start(bytes: Uint8Array, options: InstantiateOptions = {}, sandbox: SandboxKind = "in-process"): Promise<Instance> {
  return engine.instantiate(await engine.compile(bytes), { sandbox, trust: "authenticated", ...options });
}

/** Drive to the end in slices of `fuel`, counting pauses. */
async function finish(
  i: Instance,
  entry: string,
  args: number[],
  fuel: number,
  sliceMs?: number,
): Promise<{ r: RunResult; pauses: number; outputAtPauses: number[] }> {
  let r = await i.run(entry, args, { fuel, sliceMs });
  const outputAtPauses: number[] = [];
  let pauses = 0;
  while (r.status === "paused") {
    pauses++;
    outputAtPauses.push(i.output().byteLength);
    r = await i.resume({ fuel, sliceMs });
  }
  return { r, pauses, outputAtPauses };
}

// out(ptr, len) writes straight; out_table goes through a table; both from memory filled with i&255.
const OUTPUT = wat(`(module
  (import "ferry" "output_write" (func $out (param i32 i32)))
  (memory (export "memory") 64)
  (table 1 funcref) (elem (i32.const 0) $out)
  (type $sig (func (param i32 i32)))
  (func $fill (param $n i32) (local $i i32)
    (loop $l (i32.store8 (local.get $i) (local.get $i)) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
  (func (export "direct") (param $n i32) (call $fill (local.get $n)) (call $out (i32.const 0) (local.get $n)))
  (func (export "table") (param $n i32) (call $fill (local.get $n)) (call_indirect (type $sig) (i32.const 0) (local.get $n) (i32.const 0)))
  (func (export "wild") (call $out (i32.const 4000000) (i32.const 200000))))`);

const expectedOutput = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 255);

describe("output_write is handed over in pieces", () => {
  it.each(["direct", "table"])("a 3.5 MiB write through a %s call pauses between pieces and ends with every byte", async (entry) => {
    const n = 3.5 * MiB;
    const i = await start(OUTPUT);
    // The fill loop alone costs several million fuel: slices of 200,000 pause inside it and then
    // (each 1 MiB piece is charged 262,154) after every piece.
    const { r, outputAtPauses } = await finish(i, entry, [n], 200_000);
    expect(r).toMatchObject({ status: "done" });
    expect(Buffer.from(i.output()).equals(Buffer.from(expectedOutput(n)))).toBe(true);
    const partial = [...new Set(outputAtPauses.filter((b) => b > 0 && b < n))];
    expect(partial).toEqual([1, 2, 3].map((k) => k * MAX_HOST_IO_BYTES));
    i.dispose();
  });

  it("an out-of-bounds range traps before any byte is written", async () => {
    const i = await start(OUTPUT);
    expect(await i.run("wild", [], { fuel: 1_000_000 })).toMatchObject({ status: "trapped", code: "memory_out_of_bounds" });
    expect(i.output().byteLength).toBe(0);
    i.dispose();
  });

  it("past maxOutputBytes the output keeps what fits, however the writes were cut", async () => {
    const limit = 1.5 * MiB + 7;
    for (const fuel of [100_000_000, 300_000]) {
      const i = await start(OUTPUT, { maxOutputBytes: limit });
      const { r } = await finish(i, "direct", [3 * MiB], fuel);
      expect(r).toMatchObject({ status: "trapped", code: "output_limit" });
      expect(Buffer.from(i.output()).equals(Buffer.from(expectedOutput(limit)))).toBe(true);
      i.dispose();
    }
  });
});

describe("reads and writes move at most one piece per call", () => {
  it("input_read returns at most MAX_HOST_IO_BYTES, and a guest that loops reads it all", async () => {
    const READER = wat(`(module
      (import "ferry" "input_read" (func $read (param i32 i32 i32) (result i32)))
      (memory 64)
      (func (export "once") (result i32) (call $read (i32.const 0) (i32.const 0) (i32.const 3000000)))
      (func (export "all") (result i32) (local $got i32) (local $n i32)
        (loop $l
          (local.set $got (call $read (local.get $n) (local.get $n) (i32.const 3000000)))
          (local.set $n (i32.add (local.get $n) (local.get $got)))
          (br_if $l (local.get $got)))
        (local.get $n)))`);
    const input = new Uint8Array(3_000_000).fill(5);
    const i = await start(READER, { input });
    expect(await i.run("once", [])).toMatchObject({ status: "done", value: MAX_HOST_IO_BYTES });
    expect(await i.run("all", [])).toMatchObject({ status: "done", value: 3_000_000 });
    i.dispose();
  });

  it("resource_read and resource_write move at most MAX_HOST_IO_BYTES per call", async () => {
    const root = mkdtempSync(join(tmpdir(), "ferry-host-bounds-"));
    roots.push(root);
    const RES = wat(`(module
      (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
      (import "ferry" "resource_read" (func $read (param i32 i32 i32) (result i32)))
      (import "ferry" "resource_write" (func $write (param i32 i32 i32) (result i32)))
      (import "ferry" "resource_close" (func $close (param i32)))
      (memory 64)
      (data (i32.const 0) "f")
      (func (export "write_once") (result i32) (local $h i32) (local $n i32)
        (local.set $h (call $open (i32.const 0) (i32.const 1) (i32.const 2)))
        (local.set $n (call $write (local.get $h) (i32.const 0) (i32.const 3000000)))
        (call $close (local.get $h))
        (local.get $n))
      (func (export "read_once") (result i32) (local $h i32) (local $n i32)
        (local.set $h (call $open (i32.const 0) (i32.const 1) (i32.const 1)))
        (local.set $n (call $read (local.get $h) (i32.const 0) (i32.const 3000000)))
        (call $close (local.get $h))
        (local.get $n)))`);
    const i = await start(RES, { trust: "authenticated", capabilities: ["f:rw"], resources: new FileResources(root) });
    expect(await i.run("write_once", [])).toMatchObject({ status: "done", value: MAX_HOST_IO_BYTES });
    expect(await i.run("read_once", [])).toMatchObject({ status: "done", value: MAX_HOST_IO_BYTES });
    i.dispose();
  });

  it("a log line is cut at MAX_LOG_LINE_BYTES; the whole range is still bounds-checked", async () => {
    const LOG = wat(`(module
      (import "ferry" "log" (func $log (param i32 i32)))
      (memory 8)
      (func (export "long") (memory.fill (i32.const 0) (i32.const 120) (i32.const 300000)) (call $log (i32.const 0) (i32.const 300000)))
      (func (export "wild") (call $log (i32.const 0) (i32.const 600000))))`);
    const i = await start(LOG);
    expect(await i.run("long", [])).toMatchObject({ status: "done" });
    expect(i.logs()).toEqual(["x".repeat(MAX_LOG_LINE_BYTES)]);
    expect(await i.run("wild", [])).toMatchObject({ status: "trapped", code: "memory_out_of_bounds" });
    i.dispose();
  });
});

describe("a slice's wall-clock budget backs its fuel", () => {
  // 16 × a 32 MiB copy: hundreds of 256 KiB chunks of work at fuel that would last the whole run.
  const COPY = wat(`(module
    (memory 513)
    (func (export "main") (result i32) (local $k i32)
      (loop $l
        (memory.copy (i32.const 0) (i32.const 65536) (i32.const 33554432))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $k) (i32.const 16))))
      (i32.load8_u (i32.const 100))))`);
  // 20,000 log calls at fuel that would last the whole run.
  const LOGS = wat(`(module
    (import "ferry" "log" (func $log (param i32 i32)))
    (memory 1)
    (func (export "main") (result i32) (local $k i32)
      (loop $l
        (call $log (i32.const 0) (i32.const 16))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $k) (i32.const 20000))))
      (local.get $k)))`);
  // 400 × memory.grow(1).
  const GROWS = wat(`(module
    (memory 1)
    (func (export "main") (result i32) (local $k i32)
      (loop $l
        (drop (memory.grow (i32.const 1)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $k) (i32.const 400))))
      (memory.size)))`);

  it.each([
    ["bulk copies", "in-process", COPY],
    ["host calls", "in-process", LOGS],
    ["grows", "in-process", GROWS],
    ["bulk copies", "isolated", COPY],
  ] as const)(
    "%s pause with fuel left once the slice's time is up, using the same fuel as an unsliced run (%s)",
    async (_name, sandbox, bytes) => {
      const whole = await start(bytes, { maxLogBytes: 1 * MiB }, sandbox);
      const reference = await whole.run("main", []);
      expect(reference.status).toBe("done");
      whole.dispose();
      const sliced = await start(bytes, { maxLogBytes: 1 * MiB }, sandbox);
      // 0.01 ms: shorter than any of these runs on any machine, so at least one pause must come.
      const { r, pauses } = await finish(sliced, "main", [], Number.MAX_SAFE_INTEGER, 0.01);
      expect(r).toEqual(reference);
      expect(pauses).toBeGreaterThan(0);
      sliced.dispose();
    },
  );

  it("refuses a sliceMs that is not a positive number", async () => {
    const i = await start(GROWS);
    for (const sliceMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "4" as unknown as number]) {
      await expect(i.run("main", [], { sliceMs })).rejects.toMatchObject({ code: "invalid_option" });
    }
    i.dispose();
  });
});

describe("memory.init of a large segment works in checked chunks", () => {
  const SEG = 1.5 * MiB;
  // A passive segment of 'a's; init(len) copies len bytes of it to 64 KiB and sums them back.
  const INIT = wat(`(module
    (memory 64)
    (data $d "${"a".repeat(SEG)}")
    (func (export "init") (param $src i32) (param $len i32) (result i32) (local $i i32) (local $sum i32)
      (memory.init $d (i32.const 65536) (local.get $src) (local.get $len))
      (loop $l (if (i32.lt_u (local.get $i) (local.get $len)) (then
        (local.set $sum (i32.add (local.get $sum) (i32.load8_u (i32.add (i32.const 65536) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
      (local.get $sum))
    (func (export "peek") (result i32) (i32.load8_u (i32.const 65536)))
    (func (export "drop") (data.drop $d)))`);

  it("copies what the instruction copies, and pauses between chunks when its slice's time is up", async () => {
    const whole = await start(INIT);
    const reference = await whole.run("init", [0, SEG]);
    expect(reference).toMatchObject({ status: "done", value: 97 * SEG });
    whole.dispose();
    const sliced = await start(INIT);
    const { r, pauses } = await finish(sliced, "init", [0, SEG], Number.MAX_SAFE_INTEGER, 0.01);
    expect(r).toEqual(reference);
    expect(pauses).toBeGreaterThan(0);
    sliced.dispose();
  });

  it("a range past the segment traps before any byte is written; after data.drop only an empty init passes", async () => {
    const i = await start(INIT);
    expect(await i.run("init", [SEG - 10, 11])).toMatchObject({ status: "trapped", code: "memory_out_of_bounds" });
    const j = await start(INIT);
    expect(await j.run("init", [1, SEG])).toMatchObject({ status: "trapped", code: "memory_out_of_bounds" });
    const k = await start(INIT);
    expect(await k.run("init", [0xffff_fff0, 0x20])).toMatchObject({ status: "trapped", code: "memory_out_of_bounds" });
    const l = await start(INIT);
    expect(await l.run("peek", [])).toMatchObject({ status: "done", value: 0 });
    expect(await l.run("init", [SEG, 0])).toMatchObject({ status: "done", value: 0 });
    await l.run("drop", []);
    expect(await l.run("init", [0, 0])).toMatchObject({ status: "done", value: 0 });
    expect(await l.run("init", [0, 1])).toMatchObject({ status: "trapped", code: "memory_out_of_bounds" });
    for (const x of [i, j, k, l]) x.dispose();
  });
});
