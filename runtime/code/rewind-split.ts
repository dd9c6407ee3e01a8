// Two versions of every function Asyncify instruments: one that runs, one that rewinds
// (docs/continuation-abi.md, "Running and rewinding versions").
//
// Asyncify lets a function resume in the middle: while the stack is being rewound, the function
// skips forward to the call it was paused in. It does so with guards on every stretch of code
// (`if (state == normal)`) and a path that reloads the saved locals at entry, and those guards and
// paths stay in the code that runs every time. They cost little in a function that calls nothing
// that can pause, but a hot loop that does (a Rust program calling the allocator, a hash function
// and memcmp once a word) pays for them on every iteration: a word count over 1 MB ran 1.9× its
// fuel-only time with them, 1.2–1.4× without.
//
// Rewinding is rare (a resume, a restore) and happens in one place: the state is "rewinding" only
// between the host's start_rewind and the innermost frame's arrival at its pause point. So each
// instrumented function F gets a copy F$ferry_rewind, Asyncify's code as it is, and F itself
// becomes the running version:
//
//   F(params) { if (state == rewinding) return F$ferry_rewind(params); <F's code, specialised> }
//
// Both are the same code, so a frame F saves while unwinding is one F$ferry_rewind restores. Every
// way into a rewinding frame (an export the host calls, a direct call, a table) reaches F, which
// hands over at once. F's code is specialised for "never rewinding": below the entry check the state
// is normal (0) or, once a call has returned from a pause, unwinding (1). A small abstract
// interpretation follows the one fact that matters through F's control flow — "the state may be
// unwinding here" — which becomes true after a call that can pause and false again on the path
// where a test of the state said "not unwinding". Each read of the state where the fact is false is
// the constant 0, and the guards, the reloading path and the rewind bookkeeping fold away; a read
// where it may be true stays, masked to 0 or 1 (never 2 here, so a test for rewinding folds too).
// Anything the interpretation does not understand leaves the read as it was: the result is then
// slower, never wrong.
//
// A frame paused inside F$ferry_rewind's caller finishes its current invocation in the rewinding
// version (it has no other), but every call it makes after the rewind runs the specialised code.

import type { Binaryen, BinaryenModule, ExpressionRef } from "./binaryen.js";
import { irSetters } from "./binaryen.js";
import type { IrWalker } from "./ir-walk.js";
import { LoopPeeler } from "./rewind-peel.js";
import { savePerPause } from "./rewind-saves.js";
import { NORMAL, REWINDING, specialise, STATE, UNWINDING, type Info, type StateTests } from "./rewind-state-flow.js";

export const REWIND_SUFFIX = "$ferry_rewind";

export interface RewindSplit {
  /** Functions given a rewinding twin. */
  split: number;
  /** Calls that may pause given their own save in a running version (rewind-saves.ts). */
  perPause: number;
}

/**
 * After Asyncify (and anything that reads its output): give each instrumented function its
 * rewinding twin and specialise it. `pausingImport` is the import Asyncify was told can unwind.
 */
export function splitRewindVersions(b: Binaryen, m: BinaryenModule, walker: IrWalker, pausingImports: ReadonlySet<string>): RewindSplit {
  const tests = new AsyncifyTests(b, m, walker, pausingImports);
  // Asyncify instrumented exactly the functions that read its state (its own runtime aside).
  const functions: number[] = [];
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const fn = m.getFunctionByIndex(f);
    const fi = b.getFunctionInfo(fn);
    if (fi.base || fi.name.startsWith("asyncify_") || !tests.readsState(fi.body)) continue;
    functions.push(fn);
    tests.instrumented.add(fi.name);
  }
  const peeler = new LoopPeeler(tests);
  let perPause = 0;
  for (const fn of functions) perPause += splitOne(tests, peeler, fn);
  return { split: functions.length, perPause };
}

/** F becomes `if (state == rewinding) return F$ferry_rewind(params); <F's code, specialised>`. */
function splitOne(t: AsyncifyTests, peeler: LoopPeeler, fn: number): number {
  const { b, m } = t;
  const fi = b.getFunctionInfo(fn);
  const twin = fi.name + REWIND_SUFFIX;
  const rewinding = peeler.peel(m.copyExpression(fi.body));
  m.addFunction(twin, fi.params, fi.results, fi.vars, rewinding);
  const body = specialise(t, fi.body);
  const perPause = savePerPause(t, body, rewinding);
  const params = b.expandType(fi.params);
  const call = m.call(
    twin,
    params.map((type, i) => m.local.get(i, type)),
    fi.results,
  );
  const handOver = m.if(
    m.i32.eq(m.global.get(STATE, b.i32), m.i32.const(REWINDING)),
    fi.results === b.none ? m.block(null, [call, m.return()], b.none) : m.return(call),
  );
  const type = b.getExpressionType(body);
  irSetters(b).Function.setBody(fn, m.block(null, [handOver, body], type === b.unreachable ? fi.results : type));
  return perPause;
}

/** How the module's code reads and tests Asyncify's state, and which calls may pause. */
class AsyncifyTests implements StateTests {
  /** The functions Asyncify instrumented. */
  readonly instrumented = new Set<string>();

  constructor(
    readonly b: Binaryen,
    readonly m: BinaryenModule,
    readonly walker: IrWalker,
    /** The internal names of the imports that may pause (ferry.yield, WASI's poll_oneoff...). */
    private readonly pausingImports: ReadonlySet<string>,
  ) {}

  info(e: ExpressionRef): Info {
    return this.b.getExpressionInfo(e) as unknown as Info;
  }

  isStateRead(e: ExpressionRef): boolean {
    return this.b.getExpressionId(e) === this.b.GlobalGetId && this.info(e).name === STATE;
  }

  readsState(e: ExpressionRef): boolean {
    let found = false;
    const visit = (x: ExpressionRef): ExpressionRef => {
      if (found) return x;
      if (this.isStateRead(x)) found = true;
      else this.walker.mapChildren(x, visit);
      return x;
    };
    visit(e);
    return found;
  }

  /** A call after which the state may be unwinding: into instrumented code, an import that pauses, or a table. */
  mayPause(e: ExpressionRef): boolean {
    const id = this.b.getExpressionId(e);
    if (id === this.b.CallIndirectId) return true;
    if (id !== this.b.CallId) return false;
    const target = this.info(e).target!;
    return this.pausingImports.has(target) || this.instrumented.has(target);
  }

  /**
   * What a condition that tests the state alone says when it is true: unwinding (true) or not
   * (false); when it is false it says the opposite. Undefined for any other condition. Under "never
   * rewinding" the state is 0 or 1, so every test of it is "is it unwinding"; a test against 2
   * says nothing.
   */
  unwindingWhenTrue(cond: ExpressionRef): boolean | undefined {
    const { b } = this;
    if (this.isStateRead(cond)) return true;
    const id = b.getExpressionId(cond);
    if (id === b.UnaryId && this.info(cond).op === b.EqZInt32 && this.isStateRead(this.info(cond).value as ExpressionRef)) return false;
    if (id !== b.BinaryId) return undefined;
    const { op, left, right } = this.info(cond);
    const constOf = (e: ExpressionRef | undefined): number | undefined =>
      e && b.getExpressionId(e) === b.ConstId ? (this.info(e).value as number) : undefined;
    const k = this.isStateRead(left!) ? constOf(right) : this.isStateRead(right!) ? constOf(left) : undefined;
    if ((k !== UNWINDING && k !== NORMAL) || (op !== b.EqInt32 && op !== b.NeInt32)) return undefined;
    // state == 1, state != 0: true means unwinding; state == 0, state != 1: true means normal.
    return (k === UNWINDING) === (op === b.EqInt32);
  }
}
