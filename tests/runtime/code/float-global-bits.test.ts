// A float global's exact bits are execution state: a NaN's payload, read back by reinterpret or
// demote, must be the same after a snapshot and restore — in-process, through the codec, and in
// an isolated child. (The module fuzzer found a guest whose f64 global held a NaN with a payload;
// restored through a JS number it came back canonical, and the guest stored to another address.)
import { afterAll, describe, expect, it } from "vitest";
import { Engine, FerryError, decodeSnapshot, encodeSnapshot, type Snapshot } from "../../../runtime/index.js";
import { wat } from "../../helpers/wat.js";

// g64 and g32 start as NaNs with payloads (one signalling); `f` loops (so it pauses when sliced),
// rewrites neither global, and returns their bits folded into one i64.
const MODULE = wat(`(module
  (memory 1)
  (global $g64 (mut f64) (f64.const nan:0x4000000000123))
  (global $g32 (mut f32) (f32.const -nan:0x200001))
  (global $n (mut i32) (i32.const 0))
  (func (export "f") (result i64)
    (loop $again
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (global.get $n) (i32.const 200))))
    (i64.xor
      (i64.reinterpret_f64 (global.get $g64))
      (i64.shl (i64.extend_i32_u (i32.reinterpret_f32 (global.get $g32))) (i64.const 7))))
  (func (export "set") (param i64 i32)
    (global.set $g64 (f64.reinterpret_i64 (local.get 0)))
    (global.set $g32 (f32.reinterpret_i32 (local.get 1)))))`);

const G64 = 0x7ff4_0000_0000_0123n;
const G32 = 0xffa0_0001;
const EXPECTED = BigInt.asIntN(64, G64 ^ (BigInt(G32) << 7n));

const engine = new Engine();
afterAll(() => engine.close());

async function pausedAt(sandbox: "in-process" | "isolated"): Promise<Snapshot> {
  const module = await engine.compile(MODULE);
  const instance = await engine.instantiate(module, { sandbox, trust: "authenticated" });
  const r = await instance.run("f", [], { fuel: 50 });
  expect(r.status).toBe("paused");
  const snapshot = await instance.snapshot();
  instance.dispose();
  return snapshot;
}

async function finish(snapshot: Snapshot | Uint8Array, sandbox: "in-process" | "isolated"): Promise<unknown> {
  const restored = await engine.restore(snapshot, { sandbox, trust: "authenticated" });
  let r = await restored.resume();
  while (r.status === "paused") r = await restored.resume();
  restored.dispose();
  return r.status === "done" ? r.value : r;
}

describe("float globals keep their bits across snapshots", () => {
  it("straight: the module's own NaN payloads", async () => {
    const instance = await engine.instantiate(await engine.compile(MODULE));
    expect(await instance.run("f")).toMatchObject({ status: "done", value: EXPECTED });
  });

  it.each(["in-process", "isolated"] as const)("%s: snapshot carries the exact bits, and restore writes them back", async (sandbox) => {
    const snapshot = await pausedAt(sandbox);
    const floats = snapshot.globals.filter((g) => g.type === "f32" || g.type === "f64");
    expect(floats.map((g) => g.bits)).toEqual([G64, G32]);
    expect(floats.every((g) => Number.isNaN(g.value as number))).toBe(true);
    expect(await finish(snapshot, sandbox)).toBe(EXPECTED);
    expect(await finish(encodeSnapshot(snapshot), sandbox === "in-process" ? "isolated" : "in-process")).toBe(EXPECTED);
  });

  it("the codec round-trips the bits; bits that are out of range or stand for another value are refused by name", async () => {
    const snapshot = await pausedAt("in-process");
    expect(decodeSnapshot(encodeSnapshot(snapshot)).globals).toEqual(snapshot.globals);
    const at = snapshot.globals.findIndex((g) => g.type === "f32");
    const withBits = (bits: unknown, value?: number): Snapshot => ({
      ...snapshot,
      globals: snapshot.globals.map((g, k) => (k === at ? { ...g, bits: bits as number, value: value ?? (g.value as number) } : g)),
    });
    for (const [bits, value, message] of [
      [2 ** 32, undefined, "bits must be an integer in 0..2^32-1"],
      [-1, undefined, "bits must be an integer in 0..2^32-1"],
      [1n, undefined, "bits must be an integer in 0..2^32-1"],
      [0x3f80_0000, 2, "stand for 1, not its value 2"],
    ] as const) {
      let error: unknown;
      try {
        encodeSnapshot(withBits(bits, value));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(FerryError);
      expect((error as FerryError).code).toBe("snapshot_malformed");
      expect((error as FerryError).message).toContain(message);
    }
    const i32 = snapshot.globals.findIndex((g) => g.type === "i32");
    expect(() => encodeSnapshot({ ...snapshot, globals: snapshot.globals.map((g, k) => (k === i32 ? { ...g, bits: 0 } : g)) })).toThrow(
      /only f32 and f64 globals carry bits/,
    );
  });

  it("a snapshot written without bits (by hand, or before bits existed) restores from its values", async () => {
    const snapshot = await pausedAt("in-process");
    const plain: Snapshot = {
      ...snapshot,
      globals: snapshot.globals.map(({ bits: _bits, ...g }) =>
        g.type === "f64" ? { ...g, value: 1.5 } : g.type === "f32" ? { ...g, value: 0.25 } : g,
      ),
    };
    const f64 = new DataView(new ArrayBuffer(8));
    f64.setFloat64(0, 1.5, true);
    const f32 = new DataView(new ArrayBuffer(4));
    f32.setFloat32(0, 0.25, true);
    expect(await finish(plain, "in-process")).toBe(BigInt.asIntN(64, f64.getBigUint64(0, true) ^ (BigInt(f32.getUint32(0, true)) << 7n)));
  });
});
