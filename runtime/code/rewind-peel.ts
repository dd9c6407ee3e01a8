// The rewinding version's loops, peeled (rewind-split.ts makes the versions). A frame that was on
// the stack at a pause finishes its current invocation in F$ferry_rewind, Asyncify's code with every
// guard in place. When that frame is a long-lived loop (a compressor's main loop, paused at the end
// of each scheduler slice), the rest of the loop — often the rest of the program — paid for guards
// it no longer needs: a rewind ends at the paused call, in the loop's current iteration, so every
// later iteration starts in the normal state. So each loop L of the twin that contains a call that
// may pause becomes
//
//   block $out
//     loop $again
//       block $L  <L's body, its inner loops peeled the same way>  br $out  end   ;; first iteration
//       br_if $again (state != normal)    ;; never taken: a back-edge is not reached while rewinding
//       loop $L'  <L's body, labels renamed, specialised as F's code is>  end      ;; the others
//
// A branch back to L in the first copy leaves `block $L` for the specialised loop; falling out of
// the body leaves the whole. Both copies are the same code over the same locals, so a frame that
// unwinds from the second saves what the first would restore (the same call index, the same
// locals), and a rewind goes through the first copy to the paused call. The second copy is entered
// only in the normal state (tested, not assumed), the state its specialisation assumes at its head.
// Loops with a value are left as they are, and so is whatever passes the size budget: slower, never wrong.

import type { ExpressionRef } from "./binaryen.js";
import { NORMAL, specialise, STATE, type StateTests } from "./rewind-state-flow.js";

/** A twin grows by at most this many times its own size in peeled copies (nested loops cost their depth). */
const PEEL_BUDGET_FACTOR = 1;

type Named = { getName(e: ExpressionRef): string | null; setName(e: ExpressionRef, name: string): void };
type SwitchApi = {
  getNames(e: ExpressionRef): string[];
  setNameAt(e: ExpressionRef, i: number, name: string): void;
  getDefaultName(e: ExpressionRef): string;
  setDefaultName(e: ExpressionRef, name: string): void;
};

export class LoopPeeler {
  private budget = 0;
  private labels = 0;
  private readonly api: { Block: Named; Loop: Named; Break: Named; Switch: SwitchApi };

  constructor(private readonly t: StateTests) {
    this.api = t.b as unknown as LoopPeeler["api"];
  }

  /** Peel the loops of a twin's body (a fresh copy, owned by the twin); the new body. */
  peel(body: ExpressionRef): ExpressionRef {
    this.budget = Math.floor(this.size(body) * PEEL_BUDGET_FACTOR);
    return this.visit(body);
  }

  private visit(e: ExpressionRef): ExpressionRef {
    const { b } = this.t;
    if (b.getExpressionId(e) !== b.LoopId) {
      this.t.walker.mapChildren(e, (child) => this.visit(child));
      return e;
    }
    const name = this.api.Loop.getName(e);
    const body = b.getExpressionInfo(e) as unknown as { body: ExpressionRef };
    // A loop nothing branches back to runs once; one without a pausing call has no guards inside.
    if (!name || b.getExpressionType(e) !== b.none || !this.pauses(body.body)) {
      this.t.walker.mapChildren(e, (child) => this.visit(child));
      return e;
    }
    const size = this.size(e);
    if (size > this.budget) {
      this.t.walker.mapChildren(e, (child) => this.visit(child));
      return e;
    }
    this.budget -= size;
    const rest = this.t.m.copyExpression(e);
    const first = this.visit(body.body);
    return this.assemble(name, first, this.specialised(rest));
  }

  /** The block that runs `first` (the first iteration, `br $name` leaving it) and then `rest`. */
  private assemble(name: string, first: ExpressionRef, rest: ExpressionRef): ExpressionRef {
    const { b, m } = this.t;
    const k = this.labels++;
    const out = `${name}$peel_out${k}`;
    const again = `${name}$peel_again${k}`;
    const normal = m.i32.ne(m.global.get(STATE, b.i32), m.i32.const(NORMAL));
    const loop = m.loop(again, m.block(null, [m.block(name, [first, m.br(out)], b.none), m.br(again, normal), rest], b.none));
    return m.block(out, [loop], b.none);
  }

  /** The copy for the later iterations: its labels renamed (they sit beside the first copy's), its state reads folded. */
  private specialised(loop: ExpressionRef): ExpressionRef {
    this.rename(loop, `$peel${this.labels}`, new Map());
    return specialise(this.t, loop, true);
  }

  /** Rename every label `e` defines (with `suffix`) and every branch to one; `scope` maps the labels in scope. */
  private rename(e: ExpressionRef, suffix: string, scope: Map<string, string[]>): void {
    const { b } = this.t;
    const id = b.getExpressionId(e);
    const kind = id === b.BlockId ? this.api.Block : id === b.LoopId ? this.api.Loop : undefined;
    const name = kind?.getName(e);
    if (kind && name) {
      kind.setName(e, name + suffix);
      scope.set(name, [...(scope.get(name) ?? []), name + suffix]);
    }
    const to = (label: string): string => scope.get(label)?.at(-1) ?? label;
    if (id === b.BreakId) this.api.Break.setName(e, to(this.api.Break.getName(e)!));
    if (id === b.SwitchId) {
      const names = this.api.Switch.getNames(e);
      for (let i = 0; i < names.length; i++) this.api.Switch.setNameAt(e, i, to(names[i]!));
      this.api.Switch.setDefaultName(e, to(this.api.Switch.getDefaultName(e)));
    }
    this.t.walker.mapChildren(e, (child) => {
      this.rename(child, suffix, scope);
      return child;
    });
    if (kind && name) scope.get(name)!.pop();
  }

  private pauses(e: ExpressionRef): boolean {
    let found = false;
    const visit = (x: ExpressionRef): ExpressionRef => {
      if (found) return x;
      if (this.t.mayPause(x)) found = true;
      else this.t.walker.mapChildren(x, visit);
      return x;
    };
    visit(e);
    return found;
  }

  private size(e: ExpressionRef): number {
    let n = 0;
    const visit = (x: ExpressionRef): ExpressionRef => {
      n++;
      this.t.walker.mapChildren(x, visit);
      return x;
    };
    visit(e);
    return n;
  }
}
