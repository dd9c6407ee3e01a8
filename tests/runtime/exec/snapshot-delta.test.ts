// Snapshot deltas: applyDelta(base, diffSnapshot(base, s)) is s, and carries only changed pages.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Engine,
  WASM_PAGE_BYTES,
  applyDelta,
  decodeSnapshot,
  diffSnapshot,
  encodeSnapshot,
  type Snapshot,
} from "../../../runtime/index.js";
import { comparableSnapshot } from "../../helpers/snapshots.js";
import { wat } from "../../helpers/wat.js";

function snapshotOf(pageCount: number, pages: Array<[number, number]>): Snapshot {
  const seen = new Map<number, number>();
  for (const [i, fill] of pages) if (i < pageCount && fill !== 0) seen.set(i, fill);
  return {
    codeHash: "ab".repeat(32),
    pipelineVersion: 2,
    continuation: new Uint8Array(0),
    globals: [],
    memory: {
      pageCount,
      pages: [...seen].sort((a, b) => a[0] - b[0]).map(([index, fill]) => ({ index, bytes: new Uint8Array(WASM_PAGE_BYTES).fill(fill) })),
    },
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
        expect(comparableSnapshot(applyDelta(base, delta))).toEqual(comparableSnapshot(current));
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
    const base = snapshotOf(4, [
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    const current = snapshotOf(4, [
      [0, 1],
      [2, 7],
      [3, 1],
    ]);
    const delta = decodeSnapshot(encodeSnapshot(diffSnapshot(base, current)));
    expect(delta.memory.pages.map((p) => p.index)).toEqual([1, 2, 3]);
    expect(comparableSnapshot(applyDelta(base, delta)).memory).toEqual(comparableSnapshot(current).memory);
  });

  it("refuses deltas of another module or that shrink memory", () => {
    const base = snapshotOf(4, [[0, 1]]);
    expect(() => applyDelta(base, { ...snapshotOf(4, []), codeHash: "cd".repeat(32) })).toThrow(
      expect.objectContaining({ code: "snapshot_code_mismatch" }),
    );
    expect(() => applyDelta(base, snapshotOf(2, []))).toThrow(expect.objectContaining({ code: "snapshot_malformed" }));
  });
});

// Fills pages 0-2 (bulk fills are charged by the byte: the first slice's fuel covers them), spins a
// while (the first pause falls in the spin), then rewrites page 1, clears page 2, writes
// page 3 for the first time, and spins forever (the second pause).
const PAGES_GUEST = wat(`(module
  (memory 4)
  (func (export "main")
    (local $i i32)
    (memory.fill (i32.const 0) (i32.const 1) (i32.const 65536))
    (memory.fill (i32.const 65536) (i32.const 2) (i32.const 65536))
    (memory.fill (i32.const 131072) (i32.const 3) (i32.const 65536))
    (block $a (loop $l (br_if $a (i32.ge_u (local.get $i) (i32.const 1000000))) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)))
    (memory.fill (i32.const 65536) (i32.const 7) (i32.const 65536))
    (memory.fill (i32.const 131072) (i32.const 0) (i32.const 65536))
    (memory.fill (i32.const 196608) (i32.const 9) (i32.const 65536))
    (loop $forever (br $forever))))`);

describe("snapshot({ since }): the delta straight from a live instance", () => {
  it.each(["in-process", "isolated"] as const)("equals diffSnapshot against a full copy, and rebuilds it (%s)", async (sandbox) => {
    const engine = new Engine({ isolated: { size: 0 } });
    try {
      const m = await engine.compile(PAGES_GUEST);
      const i = await engine.instantiate(m, { sandbox, trust: "authenticated" });
      expect(await i.run("main", [], { fuel: 200_000 })).toMatchObject({ status: "paused" });
      const base = await i.snapshot();
      // page 0 unchanged, page 1 rewritten, page 2 cleared, page 3 written for the first time
      expect(await i.resume({ fuel: 100_000_000 })).toMatchObject({ status: "paused" });
      const delta = await i.snapshot({ since: base });
      const full = await i.snapshot();
      expect(delta.memory.pages.map((p) => p.index)).toEqual([1, 2, 3]);
      expect(comparableSnapshot(delta)).toEqual(comparableSnapshot(diffSnapshot(base, full)));
      expect(comparableSnapshot(applyDelta(base, delta))).toEqual(comparableSnapshot(full));
      i.dispose();
    } finally {
      await engine.close();
    }
  });

  it("scans a large memory in turns in-process, refusing to run until the delta is taken, and equals the diff", async () => {
    const engine = new Engine();
    try {
      // 200 pages (more than one turn of the scan); pages 10, 100 and 150 change after the base.
      const m = await engine.compile(
        wat(`(module (memory (export "memory") 200)
          (func (export "main")
            (memory.fill (i32.const 0) (i32.const 5) (i32.const 655360))
            (loop $wait (br $wait)))
          (func (export "touch")
            (memory.fill (i32.const ${10 * 65536}) (i32.const 6) (i32.const 65536))
            (memory.fill (i32.const ${100 * 65536}) (i32.const 7) (i32.const 100))
            (memory.fill (i32.const ${150 * 65536}) (i32.const 8) (i32.const 1))
            (loop $wait (br $wait))))`),
      );
      const i = await engine.instantiate(m, { sandbox: "in-process", trust: "authenticated" });
      expect(await i.run("main", [], { fuel: 1_000_000 })).toMatchObject({ status: "paused" });
      const base = await i.snapshot();
      const other = await engine.instantiate(m, { sandbox: "in-process", trust: "authenticated" });
      expect(await other.run("touch", [], { fuel: 1_000_000 })).toMatchObject({ status: "paused" });
      const full = await other.snapshot();
      const taking = other.snapshot({ since: base });
      await expect(other.resume({ fuel: 10 })).rejects.toMatchObject({ code: "instance_busy" });
      await expect(other.snapshot()).rejects.toMatchObject({ code: "instance_busy" });
      const delta = await taking;
      expect(comparableSnapshot(applyDelta(base, delta))).toEqual(comparableSnapshot(full));
      expect(delta.memory.pages.map((p) => p.index)).toEqual(diffSnapshot(base, full).memory.pages.map((p) => p.index));
      expect(await other.resume({ fuel: 10 })).toMatchObject({ status: "paused" });
      // Disposed during the scan: the snapshot fails, nothing half-taken comes back.
      const lost = other.snapshot({ since: base });
      other.dispose();
      await expect(lost).rejects.toMatchObject({ code: "instance_disposed" });
      i.dispose();
    } finally {
      await engine.close();
    }
  });

  it("goes with neither move nor recycle, and only with a snapshot of the same module", async () => {
    const engine = new Engine();
    const m = await engine.compile(PAGES_GUEST);
    const i = await engine.instantiate(m);
    await i.run("main", [], { fuel: 1_000 });
    const base = await i.snapshot();
    await expect(i.snapshot({ since: base, move: true })).rejects.toMatchObject({ code: "invalid_option" });
    await expect(i.snapshot({ since: base, recycle: await i.snapshot() })).rejects.toMatchObject({ code: "invalid_option" });
    await expect(i.snapshot({ since: { ...base, codeHash: "00".repeat(32) } })).rejects.toMatchObject({ code: "snapshot_code_mismatch" });
    await expect(i.snapshot({ since: { ...base, memory: { pageCount: 99, pages: [] } } })).rejects.toMatchObject({
      code: "invalid_option",
    });
  });
});
