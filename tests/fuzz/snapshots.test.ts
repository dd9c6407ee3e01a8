// A short seeded run of the "snapshots" fuzzer (fuzz/snapshots.ts, docs/fuzzing.md): structure-aware
// mutants of real example-guest snapshots through decode → restore → run. Only typed errors,
// results and typed traps are acceptable; unmutated controls must finish with the known value.
import { describe, expect, it } from "vitest";
import { generateSnapshotCase, runSnapshotCase } from "../../fuzz/snapshots.js";

const SEED = 7_2024;
const CASES = 100;

describe("snapshots fuzzer, seed 72024", () => {
  it(`${CASES} mutants: a typed error, a result or a typed trap, never anything else`, async () => {
    const failures: string[] = [];
    const seen: Record<string, number> = {};
    for (let index = 0; index < CASES; index++) {
      const spec = await generateSnapshotCase(SEED, index);
      const outcome = await runSnapshotCase(spec);
      for (const key of Object.keys(outcome.counters)) seen[key.split(":")[0]!] = (seen[key.split(":")[0]!] ?? 0) + 1;
      if (outcome.status === "failed")
        failures.push(
          `case ${index} (${spec.guest}, ${JSON.stringify(spec.mutations)}): ${outcome.failure!.kind}: ${outcome.failure!.detail}`,
        );
    }
    expect(failures).toEqual([]);
    // The mutants reach every stage: refused by decode, refused by restore, and run.
    expect(seen.decode).toBeGreaterThan(0);
    expect((seen["ran to the end"] ?? 0) + (seen["still running when its fuel ran out"] ?? 0) + (seen.trapped ?? 0)).toBeGreaterThan(0);
  });
});
