// The rewinding twin's loops, peeled (runtime/code/rewind-peel.ts): the first iteration keeps
// Asyncify's code as it was (a rewind goes through it to the paused call); the later iterations run
// a copy entered only in the normal state, specialised like the running version. End-to-end
// behaviour (pauses in the middle of loops, snapshots, restores) is every sliced and snapshotted
// test; this checks the shape on small hand-written bodies.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { IrWalker } from "../../../runtime/code/ir-walk.js";
import { REWIND_SUFFIX, splitRewindVersions } from "../../../runtime/code/rewind-split.js";

const S = "(global.get $__asyncify_state)";

function rewinding(body: string): string {
  const m = binaryen.parseText(`(module
    (import "ferry" "yield" (func $y))
    (global $__asyncify_state (mut i32) (i32.const 0))
    (global $g (mut i32) (i32.const 0))
    (func $f (result i32) (local $x i32) ${body}))`);
  try {
    expect(splitRewindVersions(binaryen, m, new IrWalker(binaryen), new Set(["y"])).split).toBe(1);
    expect(m.validate()).toBeTruthy();
    return binaryen.emitText(binaryen.getFunctionInfo(m.getFunction(`f${REWIND_SUFFIX}`)).body).replace(/\s+/g, " ");
  } finally {
    m.dispose();
  }
}

/** The state reads of a body, in order: "&1" kept masked, "raw" untouched (folded ones are gone). */
function reads(text: string): string[] {
  const re = /\(i32\.and \(global\.get \$__asyncify_state\) \(i32\.const 1\) ?\)|\(global\.get \$__asyncify_state\)/g;
  return [...text.matchAll(re)].map((match) => (match[0].startsWith("(i32.and") ? "&1" : "raw"));
}

const LOOP = `
  (block $unwind
    (loop $again
      (if (i32.eqz ${S}) (then (global.set $g (i32.add (global.get $g) (i32.const 1)))))
      (call $y)
      (br_if $unwind (i32.eq ${S} (i32.const 1)))
      (br_if $again (i32.lt_u (global.get $g) (i32.const 10)))))
  (i32.const 0)`;

describe("peeled loops of the rewinding version", () => {
  it("keeps the first iteration as it was, tests the state once, then runs the loop specialised", () => {
    const text = rewinding(LOOP);
    // First iteration: the guard and the test raw; the test before the later iterations raw; in
    // them the guard folded (the loop is entered in the normal state) and the test masked.
    expect(reads(text)).toEqual(["raw", "raw", "raw", "&1"]);
    expect(text).toMatch(/\(i32\.eqz \(i32\.const 0\) ?\)/);
    // A branch back in the first iteration leaves it for the specialised copy, whose label is its own.
    expect(text).toMatch(/\(block \$again /);
    expect(text).toMatch(/\(loop \$again\$peel\d+ /);
  });

  it("leaves a loop without a pausing call, and a loop with a value, as they were", () => {
    const plain = rewinding(`
      (loop $spin (if (i32.eqz ${S}) (then (global.set $g (i32.add (global.get $g) (i32.const 1)))))
        (br_if $spin (i32.lt_u (global.get $g) (i32.const 10))))
      (call $y)
      (i32.const 0)`);
    expect(plain).not.toMatch(/peel/);
    const valued = rewinding(`(loop $v (result i32) (call $y) (br_if $v (i32.eqz ${S})) (i32.const 1))`);
    expect(valued).not.toMatch(/peel/);
  });
});
