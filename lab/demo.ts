// `npm start`: shows strong mobility on the example guests. Each guest runs once uninterrupted,
// then again cut into fuel slices; halfway it is snapshotted, the snapshot is encoded to bytes,
// and a fresh instance — in this process and in a separate `ferry resume` process — finishes it.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchCases, findRepoRoot, type ExampleCase } from "../guest/catalog.js";
import { Engine, encodeSnapshot, type RunResult } from "../runtime/index.js";
import { writeFileAtomic } from "../runtime/light.js";
import { formatValue } from "../server/cli/run.js";

/** Each guest is cut into about this many slices. */
const SLICES_PER_RUN = 20;

async function demo(c: ExampleCase, dir: string): Promise<string[]> {
  const code = new Uint8Array(readFileSync(c.wasmPath));
  const engine = new Engine();
  const module = await engine.compile(code);

  const t0 = performance.now();
  const whole = await (await engine.instantiate(module, { input: c.input })).run(c.entry, c.args);
  const wholeMs = performance.now() - t0;

  // Fuel is deterministic, so the uninterrupted run tells how to cut this one into slices.
  const slice = Math.max(1, Math.floor(whole.fuelUsed / SLICES_PER_RUN));
  const source = await engine.instantiate(module, { input: c.input });
  let r: RunResult = await source.run(c.entry, c.args, { fuel: slice });
  let pauses = 1;
  for (; pauses < SLICES_PER_RUN / 2 && r.status === "paused"; pauses++) r = await source.resume({ fuel: slice });
  if (r.status !== "paused") throw new Error(`${c.name} finished before it could be snapshotted`);
  const bytes = encodeSnapshot({ ...(await source.snapshot()), code });
  source.dispose();
  const file = join(dir, `${c.guest}.ferry`);
  writeFileAtomic(file, bytes);

  // A second engine stands in for another node: it knows the module, nothing of the run.
  const targetEngine = new Engine();
  await targetEngine.compile(code);
  const target = await targetEngine.restore(bytes);
  let resumed = await target.resume({ fuel: slice });
  while (resumed.status === "paused") {
    pauses++;
    resumed = await target.resume({ fuel: slice });
  }

  const bin = join(findRepoRoot(), "bin", "ferry.js");
  const fromProcess = execFileSync(process.execPath, [bin, "resume", file, "--json", "--slice", String(slice)], { encoding: "utf8" });
  const child = JSON.parse(fromProcess) as { status: string; value: unknown };

  const wholeValue = whole.status === "done" ? formatValue(whole.value) : whole.status;
  const resumedValue = resumed.status === "done" ? formatValue(resumed.value) : resumed.status;
  const childValue = child.status === "done" ? String(child.value) : child.status;
  const sameOutput = Buffer.from(target.output()).equals(Buffer.from(c.expected.output));
  const ok = wholeValue === resumedValue && resumedValue === childValue && sameOutput && Object.is(Number(wholeValue), c.expected.value);
  return [
    c.name,
    wholeValue,
    `${wholeMs.toFixed(0)} ms`,
    `${pauses}`,
    `${(bytes.byteLength / 1024).toFixed(1)} KiB`,
    resumedValue,
    childValue,
    ok ? "✓" : "✗ MISMATCH",
  ];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-demo-"));
  const wanted = new Set(["nbody", "wordfreq", "mandelbrot", "recursion"]);
  const cases = benchCases().filter((c) => wanted.has(c.guest));
  console.log(`Ferry demo: run each guest whole, then again in ${SLICES_PER_RUN} fuel slices; halfway, snapshot it and resume`);
  console.log("the snapshot in a fresh instance of another engine and in a separate process (ferry resume).\n");
  const header = ["guest", "uninterrupted", "time", "pauses", "snapshot", "resumed here", "resumed in new process", "match"];
  const rows = [header];
  let failed = false;
  for (const c of cases) {
    const row = await demo(c, dir);
    failed ||= row[7] !== "✓";
    rows.push(row);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const [n, row] of rows.entries()) {
    console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join("  "));
    if (n === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  }
  console.log(`\nSnapshots (with their code) are in ${dir}; try: node bin/ferry.js inspect ${join(dir, "nbody.ferry")}`);
  if (failed) process.exitCode = 1;
}

await main();
