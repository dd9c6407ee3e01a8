// Snapshot deltas: applyDelta(base, diffSnapshot(base, s)) is s, and carries only changed pages.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WASM_PAGE_BYTES, applyDelta, decodeSnapshot, diffSnapshot, encodeSnapshot, type Snapshot } from "../runtime/index.js";

function snapshotOf(pageCount: number, pages: Array<[number, number]>): Snapshot {
  const seen = new Map<number, number>();
  for (const [i, fill] of pages) if (i < pageCount && fill !== 0) seen.set(i, fill);
  return {
    codeHash: "ab".repeat(32),
    pipelineVersion: 2,
    continuation: new Uint8Array(0),
    globals: [],
    memory: { pageCount, pages: [...seen].sort((a, b) => a[0] - b[0]).map(([index, fill]) => ({ index, bytes: new Uint8Array(WASM_PAGE_BYTES).fill(fill) })) },
    input: new Uint8Array(0),
    output: new Uint8Array([pageCount]),
  };
}

const pagesArb = (max: number) => fc.array(fc.tuple(fc.nat(max - 1), fc.nat(3)), { maxLength: max });

describe("snapshot deltas", () => {
  it("reconstruct the newer snapshot exactly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 3 }), pagesArb(6), pagesArb(9), (count, grow, a, b) => {
        const base = snapshotOf(count, a);
        const current = snapshotOf(count + grow, b);
        const delta = diffSnapshot(base, current);
        expect(applyDelta(base, delta)).toEqual(current);
        // Unchanged pages are not carried.
        for (const p of delta.memory.pages) {
          const old = base.memory.pages.find((q) => q.index === p.index);
          expect(old && Buffer.from(old.bytes).equals(Buffer.from(p.bytes))).toBeFalsy();
        }
      }),
      { numRuns: 40 },
    );
  });

  it("survives the codec, zero pages included", () => {
    const base = snapshotOf(4, [[0, 1], [1, 2], [2, 3]]);
    const current = snapshotOf(4, [[0, 1], [2, 7], [3, 1]]);
    const delta = decodeSnapshot(encodeSnapshot(diffSnapshot(base, current)));
    expect(delta.memory.pages.map((p) => p.index)).toEqual([1, 2, 3]);
    expect(applyDelta(base, delta).memory).toEqual(current.memory);
  });

  it("refuses deltas of another module or that shrink memory", () => {
    const base = snapshotOf(4, [[0, 1]]);
    expect(() => applyDelta(base, { ...snapshotOf(4, []), codeHash: "cd".repeat(32) })).toThrow(expect.objectContaining({ code: "snapshot_code_mismatch" }));
    expect(() => applyDelta(base, snapshotOf(2, []))).toThrow(expect.objectContaining({ code: "snapshot_malformed" }));
  });
});
