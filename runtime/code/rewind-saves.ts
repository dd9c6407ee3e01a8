// Per-pause saves in the running version of an instrumented function (rewind-split.ts).
//
// Asyncify ends each function it instruments with one unwind tail that stores every local it saves
// (the union over all the calls that may pause) and reaches it from each such call by
// `br_if $__asyncify_unwind (call index) (state is unwinding)`. Every saved local is therefore read
// after every call that may pause, so V8 keeps all of them alive everywhere: a local that holds a
// loop's condition (`local.tee $c (...) br_if`), dead after the call, is computed as a value and
// kept in a register or a stack slot through every iteration of the loops around it, instead of
// being a compare-and-branch. In c-lz (a compressor whose main loop calls memcpy) that cost more than
// the metering: its code ran at 1.20× the uninstrumented module's time, 1.06–1.09× with these saves,
// about metering alone (CPU time, medians of 21).
//
// So in the running version each such branch first sets the saved locals not needed at its call to
// zero, then goes to the tail as before: what V8 must have there is a constant. A local is needed
// at a call when the running code may read it afterwards (backward liveness along the path that
// does not unwind; a later call's tail reads what it stores; a test the specialisation folded to a
// constant takes one way), or when the rewinding version may use
// its restored value before the rewind reaches the call (rewindReads: what can trap, store, branch,
// set a global or call an import, and what flows into those through locals; `x = select(x, ...,
// state)`, Asyncify's keep-as-is, is no use). The rewinding version reloads the zero into a local
// nobody reads before writing it; a frame it saves again is saved whole, and what matters in it was
// restored or written since. The saved-stack format and frame sizes do not change
// (docs/continuation-abi.md, "Per-pause saves").

import type { ExpressionRef } from "./binaryen.js";
import { REWINDING, type Info, type StateTests } from "./rewind-state-flow.js";

const UNWIND_LABEL = "__asyncify_unwind";
const DATA_POINTER = "__asyncify_data";

/** The shared unwind tail of a running body: where it starts, the call-index local, the saved locals. */
interface Tail {
  /** The body's children up to and including the `local.set` of the unwind block. */
  before: ExpressionRef[];
  saved: bigint;
  /** Each saved local's type. */
  types: Map<number, number>;
}

/**
 * Give each unwind branch of `running` (a function body after specialise) its own tail saving only
 * what is needed there. `rewinding` is the function's rewinding twin. Returns the branches given their own tail.
 */
export function savePerPause(t: StateTests, running: ExpressionRef, rewinding: ExpressionRef): number {
  const tail = findTail(t, running);
  if (!tail || tail.saved === 0n) return 0;
  const sites = new Set<ExpressionRef>();
  collectSites(t, running, sites);
  if (sites.size === 0) return 0;
  const reads = rewindReads(t, rewinding);
  if (reads === undefined) return 0;
  const live = new Liveness(t, sites, reads & tail.saved, tail.saved);
  live.live(running, 0n);
  const byIndex = new Map<number, bigint>();
  for (const [site, needed] of live.sites) byIndex.set(callIndex(t, site), (byIndex.get(callIndex(t, site)) ?? 0n) | needed);
  const own = rewriteSites(t, running, tail, (site) => live.sites.get(site));
  const twinTail = findTail(t, rewinding);
  if (!twinTail) return own;
  // A resumed frame finishes its invocation in the twin (a long loop: in its peeled, specialised copy),
  // pausing at the same calls. After call k both run the same code over the same locals, so the twin
  // needs there what the running version needs (its rewind reads included); a call only it has saves all.
  const twinSites = new Set<ExpressionRef>();
  collectSites(t, rewinding, twinSites);
  const twin = rewriteSites(t, rewinding, twinTail, (site) => (twinSites.has(site) ? byIndex.get(callIndex(t, site)) : undefined));
  return own + twin;
}

/** The call index an unwind branch carries (collectSites keeps only constant ones). */
function callIndex(t: StateTests, site: ExpressionRef): number {
  return t.info(t.info(site).value as ExpressionRef).value as number;
}

/** Give each unwind site of `body` whose needed set `neededAt` knows (and that is not all) its own save. */
function rewriteSites(t: StateTests, body: ExpressionRef, tail: Tail, neededAt: (site: ExpressionRef) => bigint | undefined): number {
  let count = 0;
  const rewrite = (e: ExpressionRef): ExpressionRef => {
    const known = neededAt(e);
    if (known !== undefined) {
      // A call that needs every saved local keeps its branch to Asyncify's tail, which stores them all.
      const needed = known & tail.saved;
      if (needed === tail.saved) return e;
      count++;
      return perSite(t, tail, e, needed);
    }
    t.walker.mapChildren(e, rewrite);
    return e;
  };
  rewrite(body);
  return count;
}

function bit(index: number): bigint {
  return 1n << BigInt(index);
}

/** `block [..., local.set $index (block $__asyncify_unwind ...), tail...]`, as Asyncify ends a body. */
function findTail(t: StateTests, body: ExpressionRef): Tail | undefined {
  const { b } = t;
  if (b.getExpressionId(body) !== b.BlockId) return undefined;
  const children = t.info(body).children ?? [];
  const start = children.findIndex((c) => {
    if (b.getExpressionId(c) !== b.LocalSetId) return false;
    const value = t.info(c).value as ExpressionRef;
    return b.getExpressionId(value) === b.BlockId && t.info(value).name === UNWIND_LABEL;
  });
  if (start < 0) return undefined;
  let frameLocal = -1;
  let saved = 0n;
  const types = new Map<number, number>();
  for (const c of children.slice(start + 1)) {
    const store = storeOf(t, c);
    if (!store) continue;
    const ptr = store.ptr;
    if (b.getExpressionId(ptr) === b.LocalSetId && isDataLoad(t, t.info(ptr).value as ExpressionRef)) {
      frameLocal = (t.info(ptr) as { index?: number }).index!;
    } else if (b.getExpressionId(ptr) !== b.LocalGetId || (t.info(ptr) as { index?: number }).index !== frameLocal) continue;
    if (frameLocal < 0 || b.getExpressionId(store.value) !== b.LocalGetId) continue;
    const local = (t.info(store.value) as { index?: number }).index!;
    saved |= bit(local);
    types.set(local, b.getExpressionType(store.value));
  }
  return frameLocal < 0 ? undefined : { before: children.slice(0, start + 1), saved, types };
}

function storeOf(t: StateTests, e: ExpressionRef): { ptr: ExpressionRef; value: ExpressionRef } | undefined {
  if (t.b.getExpressionId(e) !== t.b.StoreId) return undefined;
  return t.info(e) as unknown as { ptr: ExpressionRef; value: ExpressionRef };
}

function isDataLoad(t: StateTests, e: ExpressionRef): boolean {
  const { b } = t;
  if (b.getExpressionId(e) !== b.LoadId) return false;
  const ptr = (t.info(e) as unknown as { ptr: ExpressionRef }).ptr;
  return b.getExpressionId(ptr) === b.GlobalGetId && t.info(ptr).name === DATA_POINTER;
}

/** The branches to the unwind tail that carry a constant call index (all Asyncify writes). */
function collectSites(t: StateTests, e: ExpressionRef, sites: Set<ExpressionRef>): void {
  const { b } = t;
  if (b.getExpressionId(e) === b.BreakId) {
    const x = t.info(e);
    const value = x.value as ExpressionRef | undefined;
    if (x.name === UNWIND_LABEL && value && b.getExpressionId(value) === b.ConstId) sites.add(e);
  }
  t.walker.mapChildren(e, (c) => {
    collectSites(t, c, sites);
    return c;
  });
}

/**
 * One branch made its own: the saved locals not needed there set to zero, then the branch to the
 * tail, which stores them (a zero is a constant V8 need not keep alive until the call).
 */
function perSite(t: StateTests, tail: Tail, site: ExpressionRef, needed: bigint): ExpressionRef {
  const { b, m } = t;
  const x = t.info(site);
  const value = x.value as ExpressionRef;
  const zeros: ExpressionRef[] = [];
  for (const [local, type] of tail.types) if ((needed & bit(local)) === 0n) zeros.push(m.local.set(local, zero(t, type)));
  if (zeros.length === 0) return site;
  const save = m.block(null, [...zeros, m.br(UNWIND_LABEL, undefined, m.copyExpression(value))], b.unreachable);
  if (!x.condition) return save;
  return m.block(null, [m.if(x.condition, save), m.copyExpression(value)], b.getExpressionType(value));
}

function zero(t: StateTests, type: number): ExpressionRef {
  const { b, m } = t;
  if (type === b.i64) return (m.i64.const as unknown as (v: bigint) => ExpressionRef)(0n);
  if (type === b.f32) return m.f32.const(0);
  if (type === b.f64) return m.f64.const(0);
  if (type === b.v128) return m.v128.const(new Array<number>(16).fill(0));
  return m.i32.const(0);
}

/**
 * The locals whose values the rewinding version may use while it rewinds, before the call it
 * rewinds into: in code a rewinding state can run (the arms its guards skip left out, evaluated
 * with state = 2), the operands of what can trap, store, branch, set a global or call other than
 * into an instrumented function, and what flows into those through locals. Asyncify's own rewind
 * reads of the rest (`x = select(x, ..., state)`, which keeps x as it is) are not uses. Flow-
 * insensitive, so an over-approximation: what it leaves out is never used.
 */
function rewindReads(t: StateTests, body: ExpressionRef): bigint | undefined {
  // The tail runs only once unwinding: what it stores is what the running version decides.
  const tail = findTail(t, body);
  if (!tail) return undefined;
  const rewinding = tail.before;
  let needed = 0n;
  for (;;) {
    const before = needed;
    const uses = new RewindUses(t, needed);
    for (const c of rewinding) needed = uses.walk(c, false);
    if (needed === before) return needed;
  }
}

class RewindUses {
  constructor(
    private readonly t: StateTests,
    private needed: bigint,
  ) {}

  walk(e: ExpressionRef, used: boolean): bigint {
    this.visit(e, used);
    return this.needed;
  }

  private visit(e: ExpressionRef, used: boolean): void {
    const { b } = this.t;
    const id = b.getExpressionId(e);
    // Expression info only for the kinds read here (binaryen.js has none for some, table.init).
    const x =
      id === b.BlockId ||
      id === b.IfId ||
      id === b.LocalSetId ||
      id === b.LocalGetId ||
      id === b.SelectId ||
      id === b.DropId ||
      id === b.CallId ||
      id === b.LoopId ||
      id === b.BinaryId ||
      id === b.UnaryId
        ? this.t.info(e)
        : undefined;
    if (id === b.LocalGetId) {
      if (used) this.needed |= bit((x as { index?: number }).index!);
    } else if (id === b.LocalSetId) {
      const index = (x as { index?: number }).index!;
      const tee = b.getExpressionType(e) !== b.none;
      this.visit(x!.value as ExpressionRef, (tee && used) || (this.needed & bit(index)) !== 0n);
    } else if (id === b.IfId) {
      const c = constant(this.t, x!.condition!);
      this.visit(x!.condition!, c === undefined);
      if (c !== 0) this.visit(x!.ifTrue!, used);
      if (x!.ifFalse && (c === undefined || c === 0)) this.visit(x!.ifFalse, used);
    } else if (id === b.SelectId) {
      const c = constant(this.t, x!.condition!);
      this.visit(x!.ifTrue!, used && c !== 0);
      this.visit(x!.ifFalse!, used && (c === undefined || c === 0));
      this.visit(x!.condition!, used && c === undefined);
    } else if (id === b.BlockId) {
      // What follows a branch always taken while rewinding (a peeled loop's `br_if $again (state
      // != normal)`, before its specialised copy) is not reached while rewinding.
      const children = x!.children ?? [];
      for (let i = 0; i < children.length; i++) {
        this.visit(children[i]!, used && i === children.length - 1);
        if (this.leaves(children[i]!)) break;
      }
    } else if (id === b.LoopId) this.visit(x!.body!, used);
    else if (id === b.DropId) this.visit(x!.value as ExpressionRef, false);
    else if (id === b.UnaryId) this.visit(x!.value as ExpressionRef, used || this.trapping(x!.op!, TRAPPING_UNARY));
    else if (id === b.BinaryId) {
      const all = used || this.trapping(x!.op!, TRAPPING_BINARY);
      this.visit(x!.left!, all);
      this.visit(x!.right!, all);
    } else if (id === b.CallId && this.t.mayPause(e) && !this.isImport(x!.target!)) {
      // A call into an instrumented function while rewinding: the callee reloads its own locals.
      for (const c of (x as unknown as { operands: ExpressionRef[] }).operands) this.visit(c, false);
    } else if (id === b.ConstId || id === b.GlobalGetId) return;
    else
      this.t.walker.mapChildren(e, (c) => {
        this.visit(c, true);
        return c;
      });
  }

  /** Control never falls through `e` while rewinding. */
  private leaves(e: ExpressionRef): boolean {
    const { b } = this.t;
    const id = b.getExpressionId(e);
    if (id === b.ReturnId || id === b.UnreachableId || id === b.SwitchId) return true;
    if (id !== b.BreakId) return false;
    const condition = this.t.info(e).condition;
    return !condition || (constant(this.t, condition) ?? 0) !== 0;
  }

  private isImport(name: string): boolean {
    return !!this.t.b.getFunctionInfo(this.t.m.getFunction(name)).base;
  }

  private trapping(op: number, names: readonly string[]): boolean {
    const b = this.t.b as unknown as Record<string, number>;
    return names.some((k) => b[k] === op);
  }
}

const TRAPPING_BINARY = ["DivSInt32", "DivUInt32", "RemSInt32", "RemUInt32", "DivSInt64", "DivUInt64", "RemSInt64", "RemUInt64"];
const TRAPPING_UNARY = [32, 64].flatMap((f) => [32, 64].flatMap((i) => [`TruncSFloat${f}ToInt${i}`, `TruncUFloat${f}ToInt${i}`]));

/** An i32 condition's value while rewinding, when it depends on nothing else. */
function constant(t: StateTests, e: ExpressionRef, state: number | undefined = REWINDING): number | undefined {
  const { b } = t;
  const id = b.getExpressionId(e);
  if (t.isStateRead(e)) return state;
  if (id === b.ConstId) return b.getExpressionType(e) === b.i32 ? (t.info(e).value as number) : undefined;
  if (id === b.UnaryId) {
    const x = t.info(e);
    if (x.op !== b.EqZInt32) return undefined;
    const v = constant(t, x.value as ExpressionRef, state);
    return v === undefined ? undefined : v === 0 ? 1 : 0;
  }
  if (id === b.SelectId) {
    const x = t.info(e);
    const c = constant(t, x.condition!, state);
    return c === undefined ? undefined : constant(t, c !== 0 ? x.ifTrue! : x.ifFalse!, state);
  }
  if (id !== b.BinaryId) return undefined;
  const { op, left, right } = t.info(e);
  const l = constant(t, left!, state);
  const r = constant(t, right!, state);
  if (op === b.OrInt32 && ((l !== undefined && l !== 0) || (r !== undefined && r !== 0))) return 1;
  if (op === b.AndInt32 && (l === 0 || r === 0)) return 0;
  if (l === undefined || r === undefined) return undefined;
  if (op === b.OrInt32) return l | r;
  if (op === b.AndInt32) return l & r;
  if (op === b.EqInt32) return l === r ? 1 : 0;
  if (op === b.NeInt32) return l !== r ? 1 : 0;
  return undefined;
}

/**
 * Backward liveness over a structured body. A branch to a label not in scope, or to the unwind tail
 * other than from a rewritten site, counts as reading every local.
 */
class Liveness {
  /** Each rewritten site: the saved locals needed there. */
  readonly sites = new Map<ExpressionRef, bigint>();
  private readonly labels = new Map<string, bigint>();

  constructor(
    private readonly t: StateTests,
    private readonly unwinds: ReadonlySet<ExpressionRef>,
    /** Saved locals the rewinding version may read while it rewinds. */
    private readonly rewind: bigint,
    private readonly saved: bigint,
  ) {}

  /** The locals live before `e`, given those live after it. */
  live(e: ExpressionRef, out: bigint): bigint {
    const { b } = this.t;
    const id = b.getExpressionId(e);
    if (id === b.LocalGetId) return out | bit((this.t.info(e) as { index?: number }).index!);
    if (id === b.LocalSetId)
      return this.live(this.t.info(e).value as ExpressionRef, out & ~bit((this.t.info(e) as { index?: number }).index!));
    if (id === b.BlockId) return this.block(this.t.info(e), out);
    if (id === b.LoopId) return this.loop(this.t.info(e), out);
    if (id === b.IfId) {
      // The specialised code's folded tests (`if (i32.eqz (i32.const 0))`) take one arm only.
      const x = this.t.info(e);
      const c = constant(this.t, x.condition!, undefined);
      const then = c !== 0 ? this.live(x.ifTrue!, out) : 0n;
      const otherwise = c === undefined || c === 0 ? (x.ifFalse ? this.live(x.ifFalse, out) : out) : 0n;
      return this.live(x.condition!, then | otherwise);
    }
    if (id === b.BreakId) return this.branch(e, this.t.info(e), out);
    if (id === b.SwitchId) {
      const x = this.t.info(e);
      let before = 0n;
      for (const name of [...(x.names ?? []), x.defaultName!]) before |= this.target(name);
      before = this.live(x.condition!, before);
      return x.value ? this.live(x.value as ExpressionRef, before) : before;
    }
    if (id === b.ReturnId) {
      const value = this.t.info(e).value as ExpressionRef | undefined;
      return value ? this.live(value, 0n) : 0n;
    }
    if (id === b.UnreachableId) return 0n;
    const children: ExpressionRef[] = [];
    this.t.walker.mapChildren(e, (c) => {
      children.push(c);
      return c;
    });
    for (let i = children.length - 1; i >= 0; i--) out = this.live(children[i]!, out);
    return out;
  }

  private target(name: string): bigint {
    return this.labels.get(name) ?? -1n;
  }

  private block(x: Info, out: bigint): bigint {
    if (x.name) this.labels.set(x.name, out);
    const children = x.children ?? [];
    for (let i = children.length - 1; i >= 0; i--) out = this.live(children[i]!, out);
    if (x.name) this.labels.delete(x.name);
    return out;
  }

  private loop(x: Info, out: bigint): bigint {
    if (!x.name) return this.live(x.body!, out);
    let head = 0n;
    for (;;) {
      this.labels.set(x.name, head);
      const next = this.live(x.body!, out) | head;
      if (next === head) break;
      head = next;
    }
    this.labels.delete(x.name);
    return head;
  }

  private branch(e: ExpressionRef, x: Info, out: bigint): bigint {
    let before: bigint;
    if (this.unwinds.has(e)) {
      const needed = ((x.condition ? out : 0n) | this.rewind) & this.saved;
      this.sites.set(e, needed);
      before = (x.condition ? out : 0n) | needed;
    } else {
      const c = x.condition ? constant(this.t, x.condition, undefined) : 1;
      before = (c !== 0 ? this.target(x.name!) : 0n) | (c === undefined || c === 0 ? out : 0n);
    }
    if (x.condition) before = this.live(x.condition, before);
    return x.value ? this.live(x.value as ExpressionRef, before) : before;
  }
}
