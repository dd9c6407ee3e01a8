// The load generator's job: a guest that spins a linear congruential generator `n` times and returns
// its state, so a job's service time is set by `n` and its result can be checked exactly.

import binaryen from "binaryen";
import { Engine } from "../../runtime/index.js";

const SPIN_WAT = `(module
  (func (export "main") (param $n i32) (result i32)
    (local $x i32) (local $i i32)
    (local.set $x (i32.const 1))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1664525)) (i32.const 1013904223)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $x)))`;

/** The guest's bytes (MVP features only). */
export function spinModule(): Uint8Array {
  const m = binaryen.parseText(SPIN_WAT);
  try {
    m.setFeatures(binaryen.Features.MVP);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

/** What `main(n)` returns, by jumping the generator ahead n steps in O(log n) (affine maps mod 2^32 compose). */
export function spinResult(n: number): number {
  let a = 1; // the accumulated map x ↦ a·x + c
  let c = 0;
  let stepA = 1664525;
  let stepC = 1013904223;
  for (let k = n >>> 0; k > 0; k >>>= 1) {
    if (k & 1) {
      a = Math.imul(a, stepA);
      c = (Math.imul(c, stepA) + stepC) | 0;
    }
    stepC = (Math.imul(stepC, stepA) + stepC) | 0;
    stepA = Math.imul(stepA, stepA);
  }
  return (a + c) | 0;
}

/** Largest `n` (main takes an unsigned i32 count). */
export const MAX_SPIN = 2 ** 31 - 1;

/**
 * Iterations per millisecond of `main` in the in-process sandbox with Ferry's metering, measured
 * here: after warm-up runs (V8 tiers the loop up from its baseline compiler after a while, which
 * doubles its speed) the fastest of several runs of `n` iterations, sliced as a node slices them.
 */
export async function calibrateSpin(n = 20_000_000, runs = 7): Promise<number> {
  const engine = new Engine();
  try {
    const module = await engine.compile(spinModule());
    const rates: number[] = [];
    for (let run = 0; run < runs + 3; run++) {
      const instance = await engine.instantiate(module);
      const t0 = performance.now();
      let r = await instance.run("main", [n], { fuel: 5_000_000 });
      while (r.status === "paused") r = await instance.resume({ fuel: 5_000_000 });
      const ms = performance.now() - t0;
      instance.dispose();
      if (r.status !== "done") throw new Error(`calibration run ended ${r.status}`);
      if (run >= 3) rates.push(n / ms);
    }
    // Other processes can only slow a run down: the fastest is the closest to the machine's speed.
    return Math.max(...rates);
  } finally {
    await engine.close();
  }
}
