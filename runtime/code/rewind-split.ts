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

export const REWIND_SUFFIX = "$ferry_rewind";

const STATE = "__asyncify_state";
/** Asyncify's states. */
const NORMAL = 0;
const UNWINDING = 1;
const REWINDING = 2;

interface Info {
  name?: string;
  target?: string;
  op?: number;
  left?: ExpressionRef;
  right?: ExpressionRef;
  value?: ExpressionRef | number;
  condition?: ExpressionRef;
  ifTrue?: ExpressionRef;
  ifFalse?: ExpressionRef;
  body?: ExpressionRef;
  children?: ExpressionRef[];
  names?: string[];
  defaultName?: string;
}

export interface RewindSplit {
  /** Functions given a rewinding twin. */
  split: number;
}

/**
 * After Asyncify (and anything that reads its output): give each instrumented function its
 * rewinding twin and specialise it. `pausingImport` is the import Asyncify was told can unwind.
 */
export function splitRewindVersions(b: Binaryen, m: BinaryenModule, walker: IrWalker, pausingImport: string): RewindSplit {
  const info = (e: ExpressionRef): Info => b.getExpressionInfo(e) as unknown as Info;
  const isStateRead = (e: ExpressionRef): boolean => b.getExpressionId(e) === b.GlobalGetId && info(e).name === STATE;

  // Asyncify instrumented exactly the functions that read its state (its own runtime aside).
  const functions: number[] = [];
  const instrumented = new Set<string>();
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const fn = m.getFunctionByIndex(f);
    const fi = b.getFunctionInfo(fn);
    if (fi.base || fi.name.startsWith("asyncify_") || !readsState(fi.body)) continue;
    functions.push(fn);
    instrumented.add(fi.name);
  }

  function readsState(e: ExpressionRef): boolean {
    let found = false;
    const visit = (x: ExpressionRef): ExpressionRef => {
      if (found) return x;
      if (isStateRead(x)) found = true;
      else walker.mapChildren(x, visit);
      return x;
    };
    visit(e);
    return found;
  }

  /** A call after which the state may be unwinding: into instrumented code, the pausing import, or a table. */
  const mayPause = (e: ExpressionRef): boolean => {
    const id = b.getExpressionId(e);
    if (id === b.CallIndirectId) return true;
    if (id !== b.CallId) return false;
    const target = info(e).target!;
    return target === pausingImport || instrumented.has(target);
  };

  /**
   * What a condition that tests the state alone says when it is true: unwinding (true) or not
   * (false); when it is false it says the opposite. Undefined for any other condition. Under "never
   * rewinding" the state is 0 or 1, so every test of it is "is it unwinding"; a test against 2
   * says nothing.
   */
  const unwindingWhenTrue = (cond: ExpressionRef): boolean | undefined => {
    if (isStateRead(cond)) return true;
    const id = b.getExpressionId(cond);
    if (id === b.UnaryId && info(cond).op === b.EqZInt32 && isStateRead(info(cond).value as ExpressionRef)) return false;
    if (id !== b.BinaryId) return undefined;
    const { op, left, right } = info(cond);
    const constOf = (e: ExpressionRef | undefined): number | undefined =>
      e && b.getExpressionId(e) === b.ConstId ? (info(e).value as number) : undefined;
    const k = isStateRead(left!) ? constOf(right) : isStateRead(right!) ? constOf(left) : undefined;
    if ((k !== UNWINDING && k !== NORMAL) || (op !== b.EqInt32 && op !== b.NeInt32)) return undefined;
    // state == 1, state != 0: true means unwinding; state == 0, state != 1: true means normal.
    return (k === UNWINDING) === (op === b.EqInt32);
  };

  let split = 0;
  for (const fn of functions) {
    const fi = b.getFunctionInfo(fn);
    const twin = fi.name + REWIND_SUFFIX;
    m.addFunction(twin, fi.params, fi.results, fi.vars, m.copyExpression(fi.body));
    const body = specialise(fi.body);
    const params = b.expandType(fi.params);
    const call = m.call(
      twin,
      params.map((t, i) => m.local.get(i, t)),
      fi.results,
    );
    const handOver = m.if(
      m.i32.eq(m.global.get(STATE, b.i32), m.i32.const(REWINDING)),
      fi.results === b.none ? m.block(null, [call, m.return()], b.none) : m.return(call),
    );
    const type = b.getExpressionType(body);
    irSetters(b).Function.setBody(fn, m.block(null, [handOver, body], type === b.unreachable ? fi.results : type));
    split++;
  }
  return { split };

  /** Fold the state reads of one function body that cannot see "unwinding" (see the file comment). */
  function specialise(body: ExpressionRef): ExpressionRef {
    // Reads where the fact "may be unwinding" held at least once (over every pass of every loop).
    const maybeUnwinding = new Set<ExpressionRef>();
    const seen = new Set<ExpressionRef>();
    // Per label: the fact joined over every branch to it, while its construct is being walked.
    const targets = new Map<string, boolean>();
    let analysable = true;

    // Walk `e` from fact `u` (undefined: unreachable); the fact after it.
    const flow = (e: ExpressionRef, u: boolean | undefined): boolean | undefined => {
      if (!analysable) return u;
      const id = b.getExpressionId(e);
      // Expression info only for the kinds read here: binaryen.js has none for some (table.init).
      const structured = id === b.BlockId || id === b.LoopId || id === b.IfId || id === b.BreakId || id === b.SwitchId || id === b.ReturnId;
      const x = structured ? info(e) : {};
      if (id === b.GlobalGetId) {
        if (isStateRead(e)) {
          seen.add(e);
          if (u !== false) maybeUnwinding.add(e);
        }
        return u;
      }
      if (id === b.BlockId) {
        const label = x.name;
        if (label) targets.set(label, false);
        for (const child of x.children ?? []) u = flow(child, u);
        if (label) {
          u = join(u, targets.get(label)!);
          targets.delete(label);
        }
        return u;
      }
      if (id === b.LoopId) {
        const label = x.name;
        let head = u;
        // The fact only grows (false → true), so two passes reach the fixpoint.
        for (let pass = 0; pass < 3; pass++) {
          if (label) targets.set(label, false);
          const after = flow(x.body!, head);
          const back = label ? targets.get(label)! : false;
          if (label) targets.delete(label);
          const next = join(head, back);
          if (next === head) return after;
          head = next;
        }
        analysable = false;
        return true;
      }
      if (id === b.IfId) {
        u = flow(x.condition!, u);
        const says = unwindingWhenTrue(x.condition!);
        const thenIn = refine(u, says);
        const elseIn = refine(u, says === undefined ? undefined : !says);
        const thenOut = flow(x.ifTrue!, thenIn);
        const elseOut = x.ifFalse ? flow(x.ifFalse, elseIn) : elseIn;
        return join(thenOut, elseOut);
      }
      if (id === b.BreakId) {
        if (x.value) u = flow(x.value as ExpressionRef, u);
        if (x.condition) {
          u = flow(x.condition, u);
          const says = unwindingWhenTrue(x.condition);
          branchTo(x.name!, refine(u, says));
          return refine(u, says === undefined ? undefined : !says);
        }
        branchTo(x.name!, u);
        return undefined;
      }
      if (id === b.SwitchId) {
        if (x.value) u = flow(x.value as ExpressionRef, u);
        u = flow(x.condition!, u);
        for (const name of x.names ?? []) branchTo(name, u);
        if (x.defaultName) branchTo(x.defaultName, u);
        return undefined;
      }
      if (id === b.ReturnId) {
        if (x.value) flow(x.value as ExpressionRef, u);
        return undefined;
      }
      if (id === b.UnreachableId) return undefined;
      // Everything else evaluates its children in order (IrWalker lists them so), then itself.
      walker.mapChildren(e, (child) => {
        u = flow(child, u);
        return child;
      });
      if (u !== undefined && mayPause(e)) return true;
      return u;
    };

    const branchTo = (label: string, u: boolean | undefined): void => {
      if (u === undefined) return;
      // A label not in scope cannot be: give up rather than guess.
      if (!targets.has(label)) {
        analysable = false;
        return;
      }
      targets.set(label, targets.get(label)! || u);
    };

    flow(body, false);
    if (!analysable) return body;

    const rewrite = (e: ExpressionRef): ExpressionRef => {
      if (isStateRead(e)) {
        if (!seen.has(e)) return e;
        // Never rewinding here: the state is 0, or 0 or 1 where a pause may be unwinding.
        return maybeUnwinding.has(e) ? m.i32.and(m.global.get(STATE, b.i32), m.i32.const(1)) : m.i32.const(NORMAL);
      }
      walker.mapChildren(e, rewrite);
      return e;
    };
    return rewrite(body);
  }
}

/**
 * The fact on one side of a test of the state: what the test says (`says`: unwinding or not,
 * undefined when it says nothing), met with what held before it. A side the fact excludes (a test
 * that says "unwinding" where the state is known normal) is never taken: undefined, unreachable.
 */
function refine(before: boolean | undefined, says: boolean | undefined): boolean | undefined {
  if (before === undefined || says === undefined) return before;
  if (before === false) return says ? undefined : false;
  return says;
}

function join(a: boolean | undefined, b: boolean | undefined): boolean | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a || b;
}
