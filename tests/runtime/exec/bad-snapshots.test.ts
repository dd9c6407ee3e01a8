// Snapshots that decode fine but do not fit: another module, another pipeline, a larger memory
// than the cap, a continuation that lies. Each is a typed error; the engine keeps working.
import { describe, expect, it } from "vitest";
import { Engine, PIPELINE_VERSION, decodeSnapshot, encodeSnapshot, type Snapshot } from "../../../runtime/index.js";
import { encodeImage, decodeImage } from "../../../runtime/exec/continuation.js";
import { EXPLICIT_COUNTER, INFINITE_LOOP, LOOP_AND_RECURSION } from "../../helpers/fixtures.js";
import { codeOf } from "../../helpers/errors.js";

async function pausedSnapshot(engine: Engine, bytes = LOOP_AND_RECURSION): Promise<Snapshot> {
  const i = await engine.instantiate(await engine.compile(bytes));
  const r = await i.run(bytes === INFINITE_LOOP ? "spin" : "main", bytes === INFINITE_LOOP ? [] : [5000], { fuel: 500 });
  expect(r.status).toBe("paused");
  return await i.snapshot();
}

describe("restoring snapshots that do not fit", () => {
  it("needs the module: unknown_module, unless the snapshot embeds it", async () => {
    const s = await pausedSnapshot(new Engine());
    expect(await codeOf(new Engine().restore(encodeSnapshot(s)))).toBe("unknown_module");
    const withCode = encodeSnapshot({ ...s, code: LOOP_AND_RECURSION });
    const restored = await new Engine().restore(withCode);
    let r = await restored.resume();
    expect(r).toMatchObject({ status: "done", value: 1000 + 12502500 + 144 });
    r = await (await new Engine().restore(decodeSnapshot(withCode))).resume({ fuel: 10 });
    expect(r.status).toBe("paused");
  });

  it("rejects an embedded module whose hash is not the snapshot's with snapshot_code_mismatch", async () => {
    const s = await pausedSnapshot(new Engine());
    expect(await codeOf(new Engine().restore(encodeSnapshot({ ...s, code: INFINITE_LOOP })))).toBe("snapshot_code_mismatch");
  });

  it("rejects a snapshot restored into an explicitly different module", async () => {
    const engine = new Engine();
    const s = await pausedSnapshot(engine);
    const other = await engine.compile(INFINITE_LOOP);
    expect(await codeOf(engine.restore(s, { module: other }))).toBe("snapshot_code_mismatch");
  });

  it("rejects another pipeline version with snapshot_pipeline_mismatch", async () => {
    const engine = new Engine();
    const s = await pausedSnapshot(engine);
    expect(await codeOf(engine.restore(encodeSnapshot({ ...s, pipelineVersion: PIPELINE_VERSION + 1 })))).toBe(
      "snapshot_pipeline_mismatch",
    );
  });

  it("rejects an unwound stack in an engine that cannot rewind it", async () => {
    const s = await pausedSnapshot(new Engine());
    const fuelOnly = new Engine({ asyncify: false });
    await fuelOnly.compile(LOOP_AND_RECURSION);
    expect(await codeOf(fuelOnly.restore(s))).toBe("snapshot_pipeline_mismatch");
  });

  it("accepts a checkpoint snapshot in an engine without asyncify", async () => {
    const engine = new Engine();
    const i = await engine.instantiate(await engine.compile(EXPLICIT_COUNTER));
    let r = await i.run("count", [20], { fuel: 300 });
    while (r.status === "paused" && r.reason !== "checkpoint") r = await i.resume({ fuel: 300 });
    expect(r).toMatchObject({ status: "paused", reason: "checkpoint" });
    const fuelOnly = new Engine({ asyncify: false });
    await fuelOnly.compile(EXPLICIT_COUNTER);
    const moved = await fuelOnly.restore(encodeSnapshot(await i.snapshot()));
    r = await moved.resume();
    expect(r).toMatchObject({ status: "done", value: 20 });
  });

  it("refuses a memory larger than the engine's cap with snapshot_limit, before inflating it", async () => {
    const big = new Engine();
    const s = await pausedSnapshot(big);
    const grown: Snapshot = { ...s, memory: { pageCount: 2000, pages: s.memory.pages } };
    const small = new Engine({ maxMemoryPages: 100 });
    await small.compile(LOOP_AND_RECURSION);
    expect(await codeOf(small.restore(encodeSnapshot(grown)))).toBe("snapshot_limit");
    expect(await codeOf(small.restore(grown))).toBe("snapshot_limit");
  });

  it.each([
    ["a memory smaller than the module's initial memory", (s: Snapshot): Snapshot => ({ ...s, memory: { pageCount: 0, pages: [] } })],
    ["missing globals", (s: Snapshot): Snapshot => ({ ...s, globals: s.globals.slice(1) })],
    [
      "a global of the wrong type",
      (s: Snapshot): Snapshot => ({ ...s, globals: s.globals.map((g, k) => (k === 0 ? { ...g, type: "f64" as const, value: 1.5 } : g)) }),
    ],
    ["a continuation that is not one", (s: Snapshot): Snapshot => ({ ...s, continuation: new Uint8Array(40) })],
    [
      "an entry that is not an export",
      (s: Snapshot): Snapshot => {
        const { header, stack, capacity } = decodeImage(s.continuation);
        return { ...s, continuation: encodeImage({ ...header, entry: 99 }, stack, capacity) };
      },
    ],
    [
      "the wrong number of arguments",
      (s: Snapshot): Snapshot => {
        const { header, stack, capacity } = decodeImage(s.continuation);
        return { ...s, continuation: encodeImage({ ...header, args: [] }, stack, capacity) };
      },
    ],
    [
      "a finished run",
      (s: Snapshot): Snapshot => {
        const { header, stack, capacity } = decodeImage(s.continuation);
        return { ...s, continuation: encodeImage({ ...header, state: 3 }, stack, capacity) };
      },
    ],
  ])("rejects %s with snapshot_malformed and keeps working", async (_what, tamper) => {
    const engine = new Engine();
    const s = await pausedSnapshot(engine);
    // Re-encoding gives a valid digest: these are well-formed bytes with lying contents.
    expect(await codeOf(engine.restore(encodeSnapshot(tamper(s))))).toBe("snapshot_malformed");
    const ok = await engine.restore(encodeSnapshot(s));
    expect((await ok.resume()).status).toBe("done");
  });

  it("traps with invalid_continuation, never a wrong result, when a tampered stack is rewound", async () => {
    const engine = new Engine();
    const s = await pausedSnapshot(engine, INFINITE_LOOP);
    const { header, stack, capacity } = decodeImage(s.continuation);
    const garbage = stack.map(() => 0xab);
    const restored = await engine.restore(encodeSnapshot({ ...s, continuation: encodeImage(header, garbage, capacity) }));
    // Garbage call indices send the rewind nowhere: it must never come back as a result.
    expect(await restored.resume({ fuel: 1000 })).toMatchObject({ status: "trapped", code: "invalid_continuation" });
    const fresh = await engine.instantiate(await engine.compile(INFINITE_LOOP));
    expect((await fresh.run("spin", [], { fuel: 100 })).status).toBe("paused");
  });
});
