// A guest without a continuation struct of its own gets pages reserved ahead of its memory for the
// runtime's struct and Asyncify's stack (docs/continuation-abi.md, "Guests without the struct"): its
// addresses are shifted past them, so nothing of its memory is lent while it is unwound or rewound.
// Whatever the guest keeps at the top of its memory — where the lent window used to be: nothing
// (untouched pages), data written before the first pause, data written between pauses, a memory
// smaller than the old window — must read the same after any number of pauses as in a run that
// never paused.
import { afterAll, describe, expect, it } from "vitest";
import { Engine } from "../../../runtime/index.js";
import { wat } from "../../helpers/wat.js";

// `f(n, stride)`: n steps, each a call two frames deep (so unwinding writes frames) that stores a
// non-zero byte `stride` bytes further down from the top of memory; then a checksum of the top
// 300,000 bytes (or the whole memory, if smaller) — the window and what lies below it.
const guest = (pages: number): Uint8Array =>
  wat(`(module
  (memory ${pages})
  (func $top (result i32) (i32.mul (memory.size) (i32.const 65536)))
  (func $poke (param $i i32) (param $stride i32)
    (local $at i32)
    (local.set $at (i32.sub (call $top) (i32.add (i32.const 1) (i32.rem_u (i32.mul (local.get $i) (local.get $stride)) (call $span)))))
    (i32.store8 (local.get $at) (i32.add (i32.and (local.get $i) (i32.const 127)) (i32.const 1))))
  (func $step (param $i i32) (param $stride i32) (call $poke (local.get $i) (local.get $stride)))
  (func $span (result i32)
    (select (i32.const 300000) (call $top) (i32.lt_u (i32.const 300000) (call $top))))
  (func (export "f") (param $n i32) (param $stride i32) (result i64)
    (local $i i32) (local $sum i64) (local $at i32)
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (call $step (local.get $i) (local.get $stride))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))
    (local.set $at (i32.sub (call $top) (call $span)))
    (block $end (loop $sum_up
      (br_if $end (i32.ge_u (local.get $at) (call $top)))
      (local.set $sum (i64.add (i64.mul (local.get $sum) (i64.const 31)) (i64.load8_u (local.get $at))))
      (local.set $at (i32.add (local.get $at) (i32.const 1)))
      (br $sum_up)))
    (local.get $sum)))`);

const engine = new Engine();
afterAll(() => engine.close());

async function straightAndSliced(
  pages: number,
  n: number,
  stride: number,
  slice: number,
): Promise<{ straight: unknown; sliced: unknown; pauses: number }> {
  const module = await engine.compile(guest(pages));
  const straight = await (await engine.instantiate(module)).run("f", [n, stride]);
  const instance = await engine.instantiate(module);
  let r = await instance.run("f", [n, stride], { fuel: slice });
  let pauses = 0;
  while (r.status === "paused") {
    pauses++;
    r = await instance.resume({ fuel: slice });
  }
  return { straight, sliced: r, pauses };
}

describe("pauses leave the top of a guest's memory (where the lent window was) as the guest wrote it", () => {
  it.each([
    ["8 pages, a few bytes at the very top of the window", 8, 40, 1],
    ["8 pages, the guest writes all over the window between pauses", 8, 3_000, 4_099],
    ["8 pages, dense writes at the very top", 8, 3_000, 1],
    ["1 page: the old window was all of memory", 1, 2_000, 13],
  ])("%s", async (_name, pages, n, stride) => {
    const { straight, sliced, pauses } = await straightAndSliced(pages, n, stride, 40);
    expect(straight).toMatchObject({ status: "done" });
    expect(pauses).toBeGreaterThan(20);
    expect(sliced).toMatchObject({
      status: "done",
      value: (straight as { value: bigint }).value,
      fuelUsed: (straight as { fuelUsed: number }).fuelUsed,
    });
  });
});
