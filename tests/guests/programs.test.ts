// Real programs (guest/programs/): a Rust word count built by rustc from std (String, HashMap,
// iterators, sort, formatting) gives the reference's exact value and output raw, straight, sliced
// into many pauses, and snapshotted at a pause and restored — in both sandboxes. With Asyncify's
// running and rewinding versions (runtime/code/rewind-split.ts), every resume goes through the
// rewinding twins and every call after it through the running code, so this is where a mismatch
// between the two would show.
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { rustWordfreq } from "../../guest/programs/catalog.js";
import { Engine, type Instance, type RunResult } from "../../runtime/index.js";
import { rawHost } from "../../guest/raw-host.js";

const CASE = rustWordfreq(96 << 10);
const BYTES = new Uint8Array(readFileSync(CASE.wasmPath));
const engine = new Engine();
afterAll(() => engine.close());

function expectExact(r: RunResult, instance: Instance): void {
  expect(r).toMatchObject({ status: "done", value: CASE.expected.value });
  expect(Buffer.from(instance.output()).toString()).toBe(Buffer.from(CASE.expected.output).toString());
}

describe(`${CASE.name}`, () => {
  it("the reference is what the program computes, raw", () => {
    const host = rawHost({ input: CASE.input });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(BYTES), host.imports);
    host.attach(instance.exports.memory as WebAssembly.Memory);
    expect((instance.exports.main as (top: number) => number)(10)).toBe(CASE.expected.value);
    expect(Buffer.from(host.output()).toString()).toBe(Buffer.from(CASE.expected.output).toString());
  });

  it.each(["in-process", "isolated"] as const)("%s: straight, and sliced into many pauses", async (sandbox) => {
    const module = await engine.compile(BYTES);
    const straight = await engine.instantiate(module, { sandbox, trust: "authenticated", input: CASE.input });
    const whole = await straight.run(CASE.entry, CASE.args);
    expectExact(whole, straight);
    straight.dispose();

    const slice = { fuel: Math.ceil(whole.fuelUsed / 150) };
    const sliced = await engine.instantiate(module, { sandbox, trust: "authenticated", input: CASE.input });
    let r = await sliced.run(CASE.entry, CASE.args, slice);
    let pauses = 0;
    while (r.status === "paused") {
      pauses++;
      r = await sliced.resume(slice);
    }
    expect(pauses).toBeGreaterThanOrEqual(100);
    expectExact(r, sliced);
    expect(r.fuelUsed).toBe(whole.fuelUsed);
    sliced.dispose();
  });

  it.each(["in-process", "isolated"] as const)("%s: snapshotted at pauses and restored, each time in a fresh instance", async (sandbox) => {
    const module = await engine.compile(BYTES);
    const first = await engine.instantiate(module, { sandbox, trust: "authenticated", input: CASE.input });
    const whole = await first.run(CASE.entry, CASE.args);
    first.dispose();
    const slice = { fuel: Math.ceil(whole.fuelUsed / 12) };
    let instance: Instance = await engine.instantiate(module, { sandbox, trust: "authenticated", input: CASE.input });
    let r = await instance.run(CASE.entry, CASE.args, slice);
    let restores = 0;
    while (r.status === "paused") {
      const snapshot = await instance.snapshot({ move: true });
      instance = await engine.restore(snapshot, { sandbox, trust: "authenticated" });
      restores++;
      r = await instance.resume(slice);
    }
    expect(restores).toBeGreaterThanOrEqual(10);
    expectExact(r, instance);
    instance.dispose();
  });
});
