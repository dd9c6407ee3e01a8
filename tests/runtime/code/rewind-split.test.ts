// The two versions splitRewindVersions makes (runtime/code/rewind-split.ts): in the running one a read of
// Asyncify's state folds to "normal" exactly where no call that can pause has run since the last
// test that said "not unwinding"; elsewhere it stays (masked to 0/1); the rewinding twin keeps
// Asyncify's code as it was, but for its peeled loops (below). End-to-end behaviour (pauses, restores) is tests/guests/programs.test.ts and
// every sliced test; this checks the folding itself on small hand-written bodies.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { IrWalker } from "../../../runtime/code/ir-walk.js";
import { REWIND_SUFFIX, splitRewindVersions } from "../../../runtime/code/rewind-split.js";

const S = "(global.get $__asyncify_state)";

function split(body: string): { running: string; rewinding: string } {
  const m = binaryen.parseText(`(module
    (import "ferry" "yield" (func $y))
    (global $__asyncify_state (mut i32) (i32.const 0))
    (global $g (mut i32) (i32.const 0))
    (func $leaf (global.set $g (i32.const 9)))
    (func $f (result i32) (local $x i32) ${body}))`);
  try {
    expect(splitRewindVersions(binaryen, m, new IrWalker(binaryen), new Set(["y"])).split).toBe(1);
    expect(m.validate()).toBeTruthy();
    const text = (name: string) => binaryen.emitText(binaryen.getFunctionInfo(m.getFunction(name)).body);
    return { running: text("f"), rewinding: text(`f${REWIND_SUFFIX}`) };
  } finally {
    m.dispose();
  }
}

/** The state reads of a body, in order: "0" folded, "&1" kept masked, "raw" untouched. */
function reads(text: string): string[] {
  const out: string[] = [];
  const flat = text.replace(/\s+/g, " ");
  const re = /\(i32\.and \(global\.get \$__asyncify_state\) \(i32\.const 1\) ?\)|\(global\.get \$__asyncify_state\)/g;
  for (const match of flat.matchAll(re)) out.push(match[0].startsWith("(i32.and") ? "&1" : "raw");
  return out;
}

describe("splitRewindVersions", () => {
  it("folds guards before any pausing call and after a test that says 'not unwinding'; keeps the test itself", () => {
    const { running, rewinding } = split(`
      (if (i32.eq ${S} (i32.const 2)) (then (global.set $g (i32.const 5))))
      (local.set $x (block $unwind (result i32)
        (if (i32.eqz ${S}) (then (global.set $g (i32.const 1))))
        (call $y)
        (drop (br_if $unwind (i32.const 0) (i32.eq ${S} (i32.const 1))))
        (if (i32.eqz ${S}) (then (global.set $g (i32.const 2))))
        (call $leaf)
        (if (i32.eqz ${S}) (then (global.set $g (i32.const 3))))
        (return (i32.const 3))))
      (local.get $x)`);
    // Hand-over at entry (raw), then: ==2 folded, guard folded, the test after the yield masked,
    // the next two guards folded (a call to a function that cannot pause changes nothing).
    expect(reads(running)).toEqual(["raw", "&1"]);
    expect(running).toContain(`call $f${REWIND_SUFFIX}`);
    expect(reads(rewinding)).toEqual(["raw", "raw", "raw", "raw", "raw"]);
  });

  it("keeps a guard a loop's back edge can reach while unwinding", () => {
    const { running } = split(`
      (loop $again
        (if (i32.eqz ${S}) (then (global.set $g (i32.add (global.get $g) (i32.const 1)))))
        (call $y)
        (br_if $again (i32.lt_u (global.get $g) (i32.const 10))))
      (i32.const 0)`);
    // The guard at the loop's head runs again after the yield, before any test: it may be unwinding.
    expect(reads(running)).toEqual(["raw", "&1"]);
    expect(running).not.toMatch(/\(i32\.eqz \(i32\.const 0\) ?\)/);
  });

  it("folds that same guard when the loop tests the state before it branches back", () => {
    const { running } = split(TESTED_LOOP);
    expect(reads(running)).toEqual(["raw", "&1"]);
    expect(running.replace(/\s+/g, " ")).toMatch(/\(i32\.eqz \(i32\.const 0\) ?\)/);
  });
});

/** A loop that pauses, then tests the state before it branches back. */
const TESTED_LOOP = `
  (block $unwind
    (loop $again
      (if (i32.eqz ${S}) (then (global.set $g (i32.add (global.get $g) (i32.const 1)))))
      (call $y)
      (br_if $unwind (i32.eq ${S} (i32.const 1)))
      (br_if $again (i32.lt_u (global.get $g) (i32.const 10)))))
  (i32.const 0)`;

// The rewinding twin's loops, peeled (runtime/code/rewind-peel.ts): the first iteration keeps
// Asyncify's code (a rewind goes through it to the paused call); the later iterations run a copy
// entered only in the normal state, specialised like the running version.
describe("peeled loops of the rewinding version", () => {
  it("keeps the first iteration as it was, tests the state once, then runs the loop specialised", () => {
    const rewinding = split(TESTED_LOOP).rewinding.replace(/\s+/g, " ");
    // First iteration: the guard and the test raw; the test before the later iterations raw; in
    // them the guard folded (the loop is entered in the normal state) and the test masked.
    expect(reads(rewinding)).toEqual(["raw", "raw", "raw", "&1"]);
    expect(rewinding).toMatch(/\(i32\.eqz \(i32\.const 0\) ?\)/);
    // A branch back in the first iteration leaves it for the specialised copy, whose label is its own.
    expect(rewinding).toMatch(/\(block \$again /);
    expect(rewinding).toMatch(/\(loop \$again\$peel\d+ /);
  });

  it("leaves a loop without a pausing call, and a loop with a value, as they were", () => {
    const plain = split(`
      (loop $spin (if (i32.eqz ${S}) (then (global.set $g (i32.add (global.get $g) (i32.const 1)))))
        (br_if $spin (i32.lt_u (global.get $g) (i32.const 10))))
      (call $y)
      (i32.const 0)`).rewinding;
    expect(plain).not.toMatch(/peel/);
    expect(split(`(loop $v (result i32) (call $y) (br_if $v (i32.eqz ${S})) (i32.const 1))`).rewinding).not.toMatch(/peel/);
  });
});
