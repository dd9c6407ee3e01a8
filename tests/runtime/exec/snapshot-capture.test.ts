// Capture modes of `instance.snapshot()`: copy (default), recycle (checkpoint buffers reused) and
// move (migration: no copy, the source is disposed), and restore's handling of elided pages.
import { afterAll, describe, expect, it } from "vitest";
import { Engine, decodeSnapshot, encodeSnapshot, type Instance, type RunResult } from "../../../runtime/index.js";
import { wat } from "../../helpers/wat.js";
import { codeOf } from "../../helpers/errors.js";

const engine = new Engine();
// Its isolated children (one test restores there) end with the file, not with the worker that runs it.
afterAll(() => engine.close());

async function finish(i: Instance, first: RunResult): Promise<RunResult> {
  let r = first;
  while (r.status === "paused") r = await i.resume({ fuel: 100_000 });
  return r;
}

// Writes i*i to word i of three pages (so a pause mid-way leaves some pages touched), then sums them.
const FILL_AND_SUM = wat(`(module
  (memory 4)
  (func (export "main") (param $words i32) (result i32)
    (local $i i32) (local $sum i32)
    (block $filled (loop $fill
      (br_if $filled (i32.ge_u (local.get $i) (local.get $words)))
      (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.mul (local.get $i) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill)))
    (local.set $i (i32.const 0))
    (block $summed (loop $sum
      (br_if $summed (i32.ge_u (local.get $i) (local.get $words)))
      (local.set $sum (i32.add (local.get $sum) (i32.load (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $sum)))
    (local.get $sum)))`);
const WORDS = 3 * 16384;

async function pausedInstance(): Promise<{ instance: Instance; whole: RunResult }> {
  const m = await engine.compile(FILL_AND_SUM);
  const whole = await (await engine.instantiate(m)).run("main", [WORDS]);
  const instance = await engine.instantiate(m);
  // A fifth of the run: part-way through the fill, so one or two pages are touched.
  const r = await instance.run("main", [WORDS], { fuel: Math.floor(whole.fuelUsed / 5) });
  expect(r.status).toBe("paused");
  return { instance, whole };
}

describe("snapshot({ move: true })", () => {
  it("hands the memory over, disposes the source, and resumes elsewhere with the same result", async () => {
    const { instance, whole } = await pausedInstance();
    const copied = await instance.snapshot();
    const moved = await instance.snapshot({ move: true });
    expect(instance.state).toBe("disposed");
    expect(await codeOf(() => instance.snapshot())).toBe("instance_disposed");
    await expect(instance.resume()).rejects.toMatchObject({ code: "instance_disposed" });
    expect(encodeSnapshot(moved)).toEqual(encodeSnapshot(copied));
    const restored = await engine.restore(encodeSnapshot(moved));
    expect(await finish(restored, await restored.resume({ fuel: 100_000 }))).toEqual(whole);
  });

  it("rejects a non-boolean move and move with recycle", async () => {
    const { instance } = await pausedInstance();
    expect(await codeOf(() => instance.snapshot({ move: "yes" as unknown as boolean }))).toBe("invalid_option");
    const first = await instance.snapshot();
    expect(await codeOf(() => instance.snapshot({ move: true, recycle: first }))).toBe("invalid_option");
    expect(instance.state).toBe("paused");
  });
});

describe("snapshot({ recycle })", () => {
  it("reuses the previous capture's buffers, empties it, and captures the current state", async () => {
    const { instance, whole } = await pausedInstance();
    const first = await instance.snapshot();
    const firstBytes = encodeSnapshot(first);
    const buffers = new Set(first.memory.pages.map((p) => p.bytes.buffer));
    expect(buffers.size).toBeGreaterThan(0);
    await instance.resume({ fuel: 20_000 });
    const second = await instance.snapshot({ recycle: first });
    expect(first.memory.pages).toEqual([]);
    // Every old buffer is reused; pages touched since then get new ones.
    const reused = second.memory.pages.filter((p) => buffers.has(p.bytes.buffer));
    expect(reused.length).toBe(buffers.size);
    // The second snapshot is the later state, independent of the (spent) first one.
    expect(encodeSnapshot(second)).toEqual(encodeSnapshot(await instance.snapshot()));
    expect(encodeSnapshot(second)).not.toEqual(firstBytes);
    const restored = await engine.restore(second);
    expect(await finish(restored, await restored.resume({ fuel: 100_000 }))).toEqual(whole);
  });

  it("refuses snapshots it does not own: decoded, moved, or already recycled", async () => {
    const { instance } = await pausedInstance();
    const first = await instance.snapshot();
    const firstBytes = encodeSnapshot(first);
    const decoded = decodeSnapshot(firstBytes);
    expect(await codeOf(() => instance.snapshot({ recycle: decoded }))).toBe("invalid_option");
    await instance.snapshot({ recycle: first });
    expect(await codeOf(() => instance.snapshot({ recycle: first }))).toBe("invalid_option");
    const other = await pausedInstance();
    const moved = await other.instance.snapshot({ move: true });
    expect(await codeOf(() => instance.snapshot({ recycle: moved }))).toBe("invalid_option");
    // Nothing refused was touched.
    expect(decoded.memory.pages.length).toBeGreaterThan(0);
    expect(encodeSnapshot(decoded)).toEqual(firstBytes);
    expect(encodeSnapshot(moved).byteLength).toBeGreaterThan(0);
  });
});

describe("restore and elided pages", () => {
  it("zeroes a data-segment page the guest cleared before the snapshot", async () => {
    // Page 0 starts with "ferry" from a data segment; the guest zeroes it, then spins.
    const m = await engine.compile(
      wat(`(module
        (memory 2)
        (data (i32.const 0) "ferry")
        (func (export "main") (result i32)
          (i32.store (i32.const 0) (i32.const 0))
          (i32.store8 (i32.const 4) (i32.const 0))
          (i32.store (i32.const 65536) (i32.const 7))
          (loop $spin (br $spin))
          (i32.const 0)))`),
    );
    const source = await engine.instantiate(m);
    expect((await source.run("main", [], { fuel: 200 })).status).toBe("paused");
    const snapshot = await source.snapshot();
    expect(snapshot.memory.pages.map((p) => p.index)).toEqual([1]);
    const restored = await engine.restore(encodeSnapshot(snapshot));
    expect(encodeSnapshot(await restored.snapshot())).toEqual(encodeSnapshot(snapshot));
  });

  it("looks only at the data segments' pages — one spanning two pages, one far out — and zeroes those the guest cleared", async () => {
    // Segments across pages 0–1 and on page 6 of 8; the guest clears the first and the far one, keeps
    // nothing else but a word on page 3, then spins. The restored memory must be the snapshot's exactly.
    const m = await engine.compile(
      wat(`(module
        (memory 8)
        (data (i32.const 65530) "0123456789ab")
        (data (i32.const 393220) "far")
        (func (export "main") (result i32)
          (i64.store (i32.const 65530) (i64.const 0))
          (i32.store (i32.const 65538) (i32.const 0))
          (i32.store (i32.const 393220) (i32.const 0))
          (i32.store (i32.const 196608) (i32.const 9))
          (loop $spin (br $spin))
          (i32.const 0)))`),
    );
    // Guest page numbers (whatever the runtime reserves below them).
    expect(m.freshPages()).toEqual([0, 1, 6]);
    const source = await engine.instantiate(m);
    expect((await source.run("main", [], { fuel: 200 })).status).toBe("paused");
    const snapshot = await source.snapshot();
    expect(snapshot.memory.pages.map((p) => p.index)).toEqual([3]);
    for (const sandbox of ["in-process", "isolated"] as const) {
      const restored = await engine.restore(encodeSnapshot(snapshot), { sandbox });
      expect(encodeSnapshot(await restored.snapshot())).toEqual(encodeSnapshot(snapshot));
      restored.dispose();
    }
  });
});
