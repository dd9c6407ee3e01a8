// Per-pause saves (runtime/code/rewind-saves.ts): the running version of a function saves, at each
// call that may pause, only the locals needed there (a zero for the others). A run cut into slices
// of every size must then give the same result and charge the same fuel as the run in one piece —
// in the running version and in the rewinding twin a resumed frame finishes in, with locals live
// across some calls and dead at others, both arms of an `if` calling, an indirect
// call, every value type saved, and the pauses inside the callees' loops as well as at the calls.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { instrument } from "../../../runtime/code/instrument.js";
import { IrWalker } from "../../../runtime/code/ir-walk.js";
import { splitRewindVersions } from "../../../runtime/code/rewind-split.js";
import { GuestInstance } from "../../../runtime/exec/guest-instance.js";
import { GuestModule } from "../../../runtime/exec/guest-module.js";
import { Engine, normalizePlacement, type RunResult } from "../../../runtime/index.js";
import { runToEnd, wat } from "../../helpers/wat.js";

const engine = new Engine();

const GUEST = wat(`(module
  (memory (export "memory") 1)
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $inc $dbl)
  (func $work (param $n i32) (result i32) (local $i i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (i32.const 3))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $s))
  (func $inc (param i32) (result i32) (i32.add (call $work (local.get 0)) (i32.const 1)))
  (func $dbl (param i32) (result i32) (i32.mul (call $work (local.get 0)) (i32.const 2)))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32) (local $t i32) (local $dead i32) (local $u i64) (local $f f64) (local $g f32) (local $d f64)
    (loop $outer
      ;; $d, the only f64 but $f, is live across the first call and dead at the second
      (local.set $d (f64.load (i32.and (i32.shl (local.get $i) (i32.const 3)) (i32.const 1016))))
      (local.set $acc (i32.add (local.get $acc) (call $work (i32.and (local.get $i) (i32.const 15)))))
      (f64.store (i32.and (i32.shl (local.get $i) (i32.const 3)) (i32.const 1016)) (f64.add (local.get $d) (f64.const 1.5)))
      (local.set $acc (i32.add (local.get $acc) (call $work (i32.and (local.get $acc) (i32.const 7)))))
      (local.set $dead (i32.mul (local.get $i) (i32.const 7)))
      (local.set $t (i32.xor (local.get $dead) (local.get $acc)))
      (i32.store (i32.and (i32.shl (local.get $i) (i32.const 2)) (i32.const 1020)) (local.get $t))
      (if (i32.and (local.get $i) (i32.const 1))
        (then (local.set $acc (i32.add (local.get $acc) (call $work (i32.and (local.get $t) (i32.const 31))))))
        (else
          (local.set $dead (i32.and (local.get $i) (i32.const 1)))
          (local.set $acc (i32.sub (local.get $acc)
            (call_indirect (type $t) (i32.and (local.get $t) (i32.const 15)) (local.get $dead))))))
      (local.set $u (i64.add (i64.mul (local.get $u) (i64.const 31)) (i64.extend_i32_u (local.get $acc))))
      (local.set $f (f64.add (local.get $f) (f64.convert_i32_u (i32.and (local.get $acc) (i32.const 255)))))
      (local.set $g (f32.add (local.get $g) (f32.const 0.25)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add
      (i32.add (local.get $acc) (i32.wrap_i64 (i64.xor (local.get $u) (i64.shr_u (local.get $u) (i64.const 32)))))
      (i32.add (i32.trunc_f64_u (local.get $f)) (i32.trunc_f32_u (local.get $g))))))`);

async function run(module: GuestModule, slice?: number): Promise<{ result: RunResult; pauses: number }> {
  const i = new GuestInstance(module, engine.config, normalizePlacement({ sandbox: "in-process" }));
  const options = slice === undefined ? {} : { fuel: slice };
  return runToEnd(i.run("run", [200], options), () => i.resume(options));
}

describe("per-pause saves", () => {
  it("a run paused anywhere gives the unpaused result and fuel", async () => {
    const module = new GuestModule(await instrument(GUEST, { metering: true, asyncify: true, limits: engine.config.limits }));
    const whole = await run(module);
    expect(whole.result.status).toBe("done");
    expect(whole.pauses).toBe(0);
    for (const slice of [1, 2, 3, 7, 13, 61, 97, 500]) {
      const sliced = await run(module, slice);
      expect(sliced.pauses).toBeGreaterThan(0);
      expect(sliced.result).toEqual(whole.result);
    }
  });

  it("stores a zero for a local dead at a call, its value where it is live", () => {
    const m = binaryen.parseText(`(module
      (import "env" "p" (func $p))
      (memory 1)
      (func $f (export "f") (param $n i32) (result i32) (local $i i32) (local $t f64)
        (loop $l
          (local.set $t (f64.load (local.get $i)))
          (call $p)
          (f64.store (local.get $i) (f64.add (local.get $t) (f64.const 1)))
          (call $p)
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
        (local.get $i)))`);
    try {
      binaryen.setPassArgument("asyncify-imports", "env.p");
      m.runPasses(["asyncify"]);
      binaryen.setPassArgument("asyncify-imports", null);
      // One in the running version, two in the rewinding twin (its loop's first iteration and the
      // peeled, specialised copy that runs the later ones).
      expect(splitRewindVersions(binaryen, m, new IrWalker(binaryen), new Set(["p"])).perPause).toBe(3);
      expect(m.validate()).toBeTruthy();
      const running = binaryen.emitText(binaryen.getFunctionInfo(m.getFunction("f")).body).replace(/\s+/g, " ");
      // $t (the only f64, so Asyncify merges it with no other local) is dead at the second call: its
      // unwinding branch zeroes it before the tail stores it. The first call's does not.
      const zeroed = running.match(/\(local\.set \$\d+ \(f64\.const 0\) ?\)/g) ?? [];
      expect(zeroed).toHaveLength(1);
      expect(running).toMatch(/\(f64\.store \$0 offset=\d+ align=4 \(local\.get \$\d+\) \(local\.get \$\d+\) ?\)/);
      const twin = binaryen.emitText(binaryen.getFunctionInfo(m.getFunction("f$ferry_rewind")).body).replace(/\s+/g, " ");
      expect(twin.match(/\(local\.set \$\d+ \(f64\.const 0\) ?\)/g) ?? []).toHaveLength(2);
    } finally {
      m.dispose();
    }
  });
});
