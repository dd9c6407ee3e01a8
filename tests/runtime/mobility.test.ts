// The central property of strong mobility: for every example guest, running to completion with
// random pauses — each optionally followed by snapshot → encode → decode → restore into a fresh
// instance — gives exactly the output of an uninterrupted run, for fuel slices from 1 to huge.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { smallCases, findRepoRoot, type ExampleCase } from "../../guest/catalog.js";
import { type Engine, decodeSnapshot, encodeSnapshot, type Instance, type RunResult } from "../../runtime/index.js";
import { cachedEngine } from "../helpers/shared-cache.js";

const cases = smallCases();
const wasm = new Map<string, Uint8Array>();

beforeAll(() => {
  for (const c of cases) wasm.set(c.wasmPath, new Uint8Array(readFileSync(c.wasmPath)));
});

/** Slices from 1 (pause at every fuel check) to effectively unlimited. */
const slice = fc.oneof(
  fc.integer({ min: 1, max: 8 }),
  fc.integer({ min: 9, max: 2_000 }),
  fc.integer({ min: 2_001, max: 1_000_000 }),
  fc.constant(Number.MAX_SAFE_INTEGER),
);

/** At most this many migrations per run keeps slice-1 runs quick. */
const MAX_MIGRATIONS = 40;

async function uninterrupted(engine: Engine, c: ExampleCase): Promise<{ result: RunResult; output: Uint8Array }> {
  const i = await engine.instantiate(await engine.compile(wasm.get(c.wasmPath)!), { input: c.input });
  const result = await i.run(c.entry, c.args);
  return { result, output: i.output() };
}

describe.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
  it("gives the uninterrupted result after random pauses and restores into fresh instances", async () => {
    // Modules from the run's cache: instrumenting is not under test here (the child process below
    // instruments its own, so a pipeline that differs between processes still fails there).
    const source = cachedEngine();
    const target = cachedEngine(); // restores happen in another engine, as on another node
    const module = await source.compile(wasm.get(c.wasmPath)!);
    await target.compile(wasm.get(c.wasmPath)!);
    const baseline = await uninterrupted(source, c);
    expect(baseline.result).toMatchObject({ status: "done" });
    expect(Object.is((baseline.result as { value: number }).value, c.expected.value)).toBe(true);
    expect(Buffer.from(baseline.output).equals(Buffer.from(c.expected.output))).toBe(true);

    await fc.assert(
      fc.asyncProperty(
        fc.array(slice, { minLength: 1, maxLength: 6 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
        async (slices, migrate) => {
          let engine = source;
          let instance: Instance = await source.instantiate(module, { input: c.input });
          let r = await instance.run(c.entry, c.args, { fuel: slices[0] });
          let pauses = 0;
          let migrations = 0;
          while (r.status === "paused") {
            pauses++;
            if (migrate[pauses % migrate.length] && migrations < MAX_MIGRATIONS) {
              migrations++;
              const bytes = encodeSnapshot(await instance.snapshot());
              instance.dispose();
              engine = engine === source ? target : source;
              instance = await engine.restore(decodeSnapshot(bytes));
            }
            r = await instance.resume({ fuel: slices[pauses % slices.length] });
          }
          expect(r.status).toBe("done");
          expect(Object.is((r as { value: number }).value, c.expected.value)).toBe(true);
          expect(Buffer.from(instance.output()).equals(Buffer.from(c.expected.output))).toBe(true);
          // Transparent pauses cost no guest work, so fuel is independent of how the run was cut.
          // An explicit guest re-enters its entry after each checkpoint, which is real work.
          if (c.style === "transparent") expect(r.fuelUsed).toBe(baseline.result.fuelUsed);
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe("resuming in another process", () => {
  const resumable = cases.filter((c) => c.guest === "wordfreq" || c.guest === "mandelbrot" || c.name === "nbody(10)");

  it("finishes with the same value and output after the snapshot crosses into a separate Node process", async () => {
    const root = findRepoRoot();
    const built = join(root, "dist", "runtime", "index.js");
    expect(existsSync(built), "run `npm run build` first (npm test does)").toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "ferry-mobility-"));
    const engine = cachedEngine(); // the child instruments its own: no cache there
    const jobs: Array<{ wasm: string; snapshot: string; slice: number }> = [];
    for (const c of resumable) {
      const i = await engine.instantiate(await engine.compile(wasm.get(c.wasmPath)!), { input: c.input });
      let r = await i.run(c.entry, c.args, { fuel: 97 });
      for (let k = 0; k < 25 && r.status === "paused"; k++) r = await i.resume({ fuel: 97 });
      expect(r.status).toBe("paused");
      const snapshot = join(dir, `${c.guest}.ferry`);
      writeFileSync(snapshot, encodeSnapshot(await i.snapshot()));
      jobs.push({ wasm: c.wasmPath, snapshot, slice: 1000 });
    }
    writeFileSync(join(dir, "jobs.json"), JSON.stringify(jobs));
    const { stdout } = await promisify(execFile)(process.execPath, [
      join(root, "tests", "helpers", "resume-child.mjs"),
      join(dir, "jobs.json"),
    ]);
    const results = JSON.parse(stdout) as Array<{ pid: number; result: RunResult; output: string }>;
    expect(results).toHaveLength(resumable.length);
    resumable.forEach((c, k) => {
      const { pid, result, output } = results[k]!;
      expect(pid).not.toBe(process.pid);
      expect(result.status).toBe("done");
      expect(Object.is((result as { value: number }).value, c.expected.value)).toBe(true);
      expect(Buffer.from(output, "base64").equals(Buffer.from(c.expected.output))).toBe(true);
    });
  });
});

describe("an explicit guest paused between its checkpoint's stop and its return", () => {
  const c = cases.find((k) => k.guest === "mandelbrot")!;

  // With slices this small the fuel check right after `ferry.checkpoint` answers "stop" pauses the
  // guest before it returns; the stop it was given must hold across that pause (and a snapshot),
  // or the return value of the stop (-1) would be taken as the run's result.
  it.each([7, 9, 13, 31])("finishes with the reference value in slices of %i fuel, moved at every pause", async (fuel) => {
    const engine = cachedEngine();
    const module = await engine.compile(wasm.get(c.wasmPath)!);
    let instance: Instance = await engine.instantiate(module, { input: c.input });
    let r = await instance.run(c.entry, c.args, { fuel });
    let stopsInFlight = 0;
    while (r.status === "paused") {
      const snapshot = decodeSnapshot(encodeSnapshot(await instance.snapshot()));
      if (snapshot.continuation[28]! & 8) stopsInFlight++;
      instance.dispose();
      instance = await engine.restore(snapshot);
      r = await instance.resume({ fuel });
    }
    expect(r).toMatchObject({ status: "done", value: c.expected.value });
    expect(Buffer.from(instance.output()).equals(Buffer.from(c.expected.output))).toBe(true);
    expect(stopsInFlight).toBeGreaterThan(0);
  });
});
