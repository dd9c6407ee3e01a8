// A short seeded run of the "modules" fuzzer (fuzz/modules.ts, docs/fuzzing.md): random
// translate-to-fuzz modules run raw in V8 and through Ferry straight, sliced and moved through
// snapshots, all required to agree. Fixed seed: the same cases every run.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateModuleCase, runModuleCase, type ModuleCase } from "../../fuzz/modules.js";
import { findWasmOpt } from "../../fuzz/wasm-opt.js";

const SEED = 8_2024;
// Debian's wasm-opt makes a module in milliseconds; the npm package's fallback takes about a second
// and makes larger modules from the same bytes (a newer Binaryen), so it gets fewer, smaller inputs.
const NATIVE = findWasmOpt().kind === "native";
const CASES = NATIVE ? 8 : 5;
const MAX_INPUT_BYTES = NATIVE ? 12_000 : 2_000;

describe("modules fuzzer, seed 82024", () => {
  it(`${CASES} generated modules: raw and Ferry agree, sliced and restored runs agree, refusals are typed`, async () => {
    const failures: string[] = [];
    let ran = 0;
    for (let index = 0; index < CASES; index++) {
      const g = generateModuleCase(SEED, index, { hostileShare: 0, maxPauses: 60, maxInputBytes: MAX_INPUT_BYTES });
      if ("skipped" in g) continue;
      const outcome = await runModuleCase(g.case);
      ran++;
      if (outcome.status === "failed")
        failures.push(`case ${index} (${g.case.origin}): ${outcome.failure!.kind}: ${outcome.failure!.detail}`);
    }
    expect(failures).toEqual([]);
    expect(ran).toBeGreaterThan(CASES / 2);
  });
});

// Reproducers the fuzzer's checks found (tests/fuzz/fixtures), replayed as module cases. Fixtures of
// bugs still being fixed (docs/fuzzing.md, "Findings") join this list when their fix lands.
const FIXED: Array<[string, string]> = [
  ["div-overflow.json", "i32.div_s of INT_MIN by -1 traps integer_overflow, as raw V8 says, not unreachable"],
  ["host-input-uncharged-work.json", "input_read is charged for the bytes it moves (at most 1 MiB a call)"],
  ["resource-read-uncharged-work.json", "resource_read is charged for the bytes it moves"],
  ["memory-grow-meter-bound.json", "a slice that grows memory stops within its fuel + meterBound + that grow's charge"],
  ["memory-init-dropped-segment.json", "memory.init of a dropped active segment traps memory_out_of_bounds: the optimizer keeps the trap"],
  [
    "call-indirect-constant-index.json",
    "call_indirect through a constant index keeps its trap (table_out_of_bounds, indirect_call_mismatch)",
  ],
  [
    "bulk-fill-meter-bound.json",
    "meterBound counts a span and a helper's first chunk together: a slice stops within its fuel + meterBound",
  ],
  [
    "host-input-meter-bound.json",
    "meterBound counts the region prepaid just before a check: a slice of host calls stops within its fuel + meterBound + one call",
  ],
  [
    "call-chain-meter-bound.json",
    "meterBound counts the region prepaid just before a check: a br_table/indirect call chain stops within its fuel + meterBound",
  ],
  [
    "restore-memory-differs.json",
    "a float global's NaN payload survives snapshot and restore (bits, not a JS number), so the guest's addresses do too",
  ],
];

describe("regressions the modules fuzzer's checks catch", () => {
  it.each(FIXED)("%s: %s", async (file) => {
    const spec = JSON.parse(readFileSync(new URL(`./fixtures/${file}`, import.meta.url), "utf8")) as { case: ModuleCase };
    const outcome = await runModuleCase(spec.case);
    expect(outcome.failure).toBeUndefined();
    expect(outcome.status).toBe("ok");
  });
});
