// A short seeded run of the "http" fuzzer (fuzz/http.ts, docs/fuzzing.md) against a real node
// process on 127.0.0.1: malformed and hostile requests must get JSON errors with a code (never a
// 500 or a stack), and /healthz must answer after every one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateHttpCase, runHttpCase, startHttpNode, type HttpNode } from "../../fuzz/http.js";

const SEED = 9_2024;
const CASES = 50;
let node: HttpNode;

beforeAll(async () => {
  node = await startHttpNode();
});

afterAll(async () => {
  await node?.close();
});

describe("http fuzzer, seed 92024", () => {
  it(`${CASES} cases of hostile requests: typed JSON errors, the node keeps answering`, async () => {
    const failures: string[] = [];
    const statuses: Record<string, number> = {};
    for (let index = 0; index < CASES; index++) {
      const spec = generateHttpCase(SEED, index);
      const outcome = await runHttpCase(node, spec);
      for (const [k, v] of Object.entries(outcome.counters)) statuses[k] = (statuses[k] ?? 0) + v;
      if (outcome.status === "failed") failures.push(`case ${index}: ${outcome.failure!.kind}: ${outcome.failure!.detail}`);
    }
    expect(failures).toEqual([]);
    expect(Object.keys(statuses).some((k) => k.startsWith("error "))).toBe(true);
  });
});
