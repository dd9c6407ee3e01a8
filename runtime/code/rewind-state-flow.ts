// The abstract interpretation behind rewind-split.ts: it follows one fact through a function's
// control flow — "the state may be unwinding here" — and folds each read of Asyncify's state where
// the fact is false to 0, masks the others to 0 or 1. Anything it does not understand (a label out
// of scope, a loop that does not settle) leaves the body as it was: slower, never wrong.

import type { Binaryen, BinaryenModule, ExpressionRef } from "./binaryen.js";
import type { IrWalker } from "./ir-walk.js";

export const STATE = "__asyncify_state";
/** Asyncify's states. */
export const NORMAL = 0;
export const UNWINDING = 1;
export const REWINDING = 2;

export interface Info {
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

/** What the interpretation asks of the module (rewind-split.ts answers). */
export interface StateTests {
  b: Binaryen;
  m: BinaryenModule;
  walker: IrWalker;
  info(e: ExpressionRef): Info;
  isStateRead(e: ExpressionRef): boolean;
  /** A call after which the state may be unwinding. */
  mayPause(e: ExpressionRef): boolean;
  /** What a test of the state alone says when true: unwinding (true), not (false), nothing (undefined). */
  unwindingWhenTrue(cond: ExpressionRef): boolean | undefined;
}

/** The fact along the way: true "may be unwinding", false "is not", undefined "unreachable". */
type Fact = boolean | undefined;

/**
 * Fold the state reads of one function body that cannot see "unwinding" (see rewind-split.ts's file
 * comment). `part`: `body` is a part of a function entered in the normal state (rewind-peel.ts's
 * loops), so a branch to a label outside it leaves it, and what holds there does not matter here.
 */
export function specialise(t: StateTests, body: ExpressionRef, part = false): ExpressionRef {
  const flow = new StateFlow(t, part);
  flow.flow(body, false);
  return flow.analysable ? flow.rewrite(body) : body;
}

class StateFlow {
  /** Reads where the fact "may be unwinding" held at least once (over every pass of every loop). */
  private readonly maybeUnwinding = new Set<ExpressionRef>();
  private readonly seen = new Set<ExpressionRef>();
  /** Per label: the fact joined over every branch to it, while its construct is being walked. */
  private readonly targets = new Map<string, boolean>();
  analysable = true;

  constructor(
    private readonly t: StateTests,
    /** Labels outside the walked expression are exits from it (specialise's `part`). */
    private readonly outerLabelsExit: boolean,
  ) {}

  /** Walk `e` from fact `u`; the fact after it. */
  flow(e: ExpressionRef, u: Fact): Fact {
    if (!this.analysable) return u;
    const { b, walker } = this.t;
    const id = b.getExpressionId(e);
    // Expression info only for the kinds read here: binaryen.js has none for some (table.init).
    const structured = id === b.BlockId || id === b.LoopId || id === b.IfId || id === b.BreakId || id === b.SwitchId || id === b.ReturnId;
    const x = structured ? this.t.info(e) : {};
    if (id === b.GlobalGetId) {
      if (this.t.isStateRead(e)) {
        this.seen.add(e);
        if (u !== false) this.maybeUnwinding.add(e);
      }
      return u;
    }
    if (id === b.BlockId) return this.flowBlock(x, u);
    if (id === b.LoopId) return this.flowLoop(x, u);
    if (id === b.IfId) return this.flowIf(x, u);
    if (id === b.BreakId) return this.flowBreak(x, u);
    if (id === b.SwitchId) {
      if (x.value) u = this.flow(x.value as ExpressionRef, u);
      u = this.flow(x.condition!, u);
      for (const name of x.names ?? []) this.branchTo(name, u);
      if (x.defaultName) this.branchTo(x.defaultName, u);
      return undefined;
    }
    if (id === b.ReturnId) {
      if (x.value) this.flow(x.value as ExpressionRef, u);
      return undefined;
    }
    if (id === b.UnreachableId) return undefined;
    // Everything else evaluates its children in order (IrWalker lists them so), then itself.
    walker.mapChildren(e, (child) => {
      u = this.flow(child, u);
      return child;
    });
    if (u !== undefined && this.t.mayPause(e)) return true;
    return u;
  }

  private flowBlock(x: Info, u: Fact): Fact {
    const label = x.name;
    if (label) this.targets.set(label, false);
    for (const child of x.children ?? []) u = this.flow(child, u);
    if (label) {
      u = join(u, this.targets.get(label)!);
      this.targets.delete(label);
    }
    return u;
  }

  private flowLoop(x: Info, u: Fact): Fact {
    const label = x.name;
    let head = u;
    // The fact only grows (false → true), so two passes reach the fixpoint.
    for (let pass = 0; pass < 3; pass++) {
      if (label) this.targets.set(label, false);
      const after = this.flow(x.body!, head);
      const back = label ? this.targets.get(label)! : false;
      if (label) this.targets.delete(label);
      const next = join(head, back);
      if (next === head) return after;
      head = next;
    }
    this.analysable = false;
    return true;
  }

  private flowIf(x: Info, u: Fact): Fact {
    u = this.flow(x.condition!, u);
    const says = this.t.unwindingWhenTrue(x.condition!);
    const thenIn = refine(u, says);
    const elseIn = refine(u, says === undefined ? undefined : !says);
    const thenOut = this.flow(x.ifTrue!, thenIn);
    const elseOut = x.ifFalse ? this.flow(x.ifFalse, elseIn) : elseIn;
    return join(thenOut, elseOut);
  }

  private flowBreak(x: Info, u: Fact): Fact {
    if (x.value) u = this.flow(x.value as ExpressionRef, u);
    if (x.condition) {
      u = this.flow(x.condition, u);
      const says = this.t.unwindingWhenTrue(x.condition);
      this.branchTo(x.name!, refine(u, says));
      return refine(u, says === undefined ? undefined : !says);
    }
    this.branchTo(x.name!, u);
    return undefined;
  }

  private branchTo(label: string, u: Fact): void {
    if (u === undefined) return;
    // A label not in scope cannot be in a whole function: give up rather than guess.
    if (!this.targets.has(label)) {
      if (!this.outerLabelsExit) this.analysable = false;
      return;
    }
    this.targets.set(label, this.targets.get(label)! || u);
  }

  rewrite(e: ExpressionRef): ExpressionRef {
    const { b, m, walker } = this.t;
    if (this.t.isStateRead(e)) {
      if (!this.seen.has(e)) return e;
      // Never rewinding here: the state is 0, or 0 or 1 where a pause may be unwinding.
      return this.maybeUnwinding.has(e) ? m.i32.and(m.global.get(STATE, b.i32), m.i32.const(1)) : m.i32.const(NORMAL);
    }
    walker.mapChildren(e, (child) => this.rewrite(child));
    return e;
  }
}

/**
 * The fact on one side of a test of the state: what the test says (`says`: unwinding or not,
 * undefined when it says nothing), met with what held before it. A side the fact excludes (a test
 * that says "unwinding" where the state is known normal) is never taken: undefined, unreachable.
 */
function refine(before: Fact, says: Fact): Fact {
  if (before === undefined || says === undefined) return before;
  if (before === false) return says ? undefined : false;
  return says;
}

function join(a: Fact, b: Fact): Fact {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a || b;
}
