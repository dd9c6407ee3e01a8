// The load generator's job: a guest that spins a linear congruential generator `n` times and returns
// its state, so a job's service time is set by `n` and its result can be checked exactly.

import { Engine } from "../../runtime/index.js";

// The guest, assembled by hand (Binaryen would cost the launcher seconds of start-up for 84 bytes):
// (module
//   (func (export "main") (param $n i32) (result i32)
//     (local $x i32) (local $i i32)
//     (local.set $x (i32.const 1))
//     (block $done
//       (loop $l
//         (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
//         (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1664525)) (i32.const 1013904223)))
//         (local.set $i (i32.add (local.get $i) (i32.const 1)))
//         (br $l)))
//     (local.get $x)))
const SPIN_WASM = [
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version
  ...[0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f], // type: (i32) -> i32
  ...[0x03, 0x02, 0x01, 0x00], // function 0 has type 0
  ...[0x07, 0x08, 0x01, 0x04, 0x6d, 0x61, 0x69, 0x6e, 0x00, 0x00], // export "main" = function 0
  ...[0x0a, 0x34, 0x01, 0x32, 0x01, 0x02, 0x7f], // code: one body, 2 i32 locals
  ...[0x41, 0x01, 0x21, 0x01], // x = 1
  ...[0x02, 0x40, 0x03, 0x40], // block, loop
  ...[0x20, 0x02, 0x20, 0x00, 0x4f, 0x0d, 0x01], // br_if 1 (i >=u n)
  ...[0x20, 0x01, 0x41, 0x8d, 0xcc, 0xe5, 0x00, 0x6c, 0x41, 0xdf, 0xe6, 0xbb, 0xe3, 0x03, 0x6a, 0x21, 0x01], // x = x * 1664525 + 1013904223
  ...[0x20, 0x02, 0x41, 0x01, 0x6a, 0x21, 0x02], // i = i + 1
  ...[0x0c, 0x00, 0x0b, 0x00, 0x0b], // br 0; end loop; unreachable; end block
  ...[0x20, 0x01, 0x0b], // x; end
];

/** The guest's bytes (MVP features only). */
export function spinModule(): Uint8Array {
  return new Uint8Array(SPIN_WASM);
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
