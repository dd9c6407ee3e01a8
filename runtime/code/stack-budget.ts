// One limit on the depth of the call stack, the same whether a run is paused or not
// (docs/continuation-abi.md, "The stack limit").
//
// A pause saves every frame on the stack into the continuation buffer (Asyncify), so a stack that
// V8 holds may not fit there: a run paused while deep trapped `continuation_overflow` where the
// same run unpaused went on (or trapped `stack_overflow` elsewhere, at a depth V8's tiering and the
// host's own frames decide). Instead the code keeps count of the room left in the buffer:
//
// - Only a recursive function (one on a call-graph cycle, meter-plan.ts) can be on the stack more
//   than once. Each counts its frames in a global, `__ferry_stack_room`: on entry it takes FRAME(f)
//   off and its fuel check fails when the room is negative as well as when the fuel is (one
//   branch for both: `(fuel | room) < 0`), then traps stack_overflow; on the way out (the end of
//   the body and every return) it gives FRAME(f) back. Recursive functions always check fuel at
//   entry, so this costs them a subtraction, an addition and an `or`, and nothing else anything.
// - Every other function Asyncify instruments is on the stack at most once, so all of them
//   together take at most RESERVE: the heaviest chain of their frames along any call path. The
//   host starts the room at the buffer's capacity less RESERVE (`__ferry_stack_reserve`).
//
// FRAME(f) is the bytes Asyncify saves for one frame of f (its call index and the locals live at a
// call that may pause) plus STACK_FRAME_OVERHEAD_BYTES. Whenever a pause comes, the saved frames fit
// the buffer; a run too deep for it traps stack_overflow at the same call with the same fuel,
// paused or not. The overhead makes the count reach the limit before V8's own stack (about 1 MB on a
// main thread) runs out: a V8 frame holds what Asyncify saves (each local it saves is live across
// the call, and V8 keeps no value in a register across a call) plus its return address, frame
// pointer and instance, so with 256 KiB of buffer and 12 bytes counted on top the count is reached
// at about three quarters of V8's depth for the smallest frames (measured: 9,360 frames of a
// one-local recursion, where V8 alone overflows at 12,565, every time). Were V8 to run out first (a
// frame V8 makes far larger than Asyncify's record of it), the run traps stack_overflow all the
// same, at V8's depth. (More overhead would cost depth: the SDK's 64 KiB buffer holds the 2,047
// frames of ackermann(3, 8) with 12 bytes each on top, and not with 16.)
//
// The code is added before Asyncify, so Asyncify guards it like the guest's own: a rewind does not
// count a frame again, an unwind does not give it back (the room stays with the saved stack, and
// travels in snapshots as a mutable global). FRAME(f) is known only once Asyncify has chosen which
// locals to save: the code reads it from a placeholder global per function, made an immutable
// constant afterwards (the optimizer folds it into the code).

import { FerryError } from "../errors.js";
import { irSetters, type Binaryen, type BinaryenModule, type ExpressionRef } from "./binaryen.js";
import { EXPORTS } from "./export-names.js";
import type { SnapshotGlobal } from "./segment.js";
import type { IrWalker } from "./ir-walk.js";
import { stronglyConnected } from "./meter-plan.js";

/** Counted on top of Asyncify's bytes for every frame: V8's frame overhead beyond Asyncify's record of it. */
export const STACK_FRAME_OVERHEAD_BYTES = 12;

const ROOM_GLOBAL = "__ferry_stack_room";
const OVERFLOW_GLOBAL = "__ferry_stack_overflow";
const RESERVE_GLOBAL = "__ferry_stack_reserve";
const FRAME_PREFIX = "__ferry_frame_";
const ASYNCIFY_STATE = "__asyncify_state";
const ASYNCIFY_DATA = "__asyncify_data";

export class StackBudget {
  /** Recursive function → the placeholder global of its frame size. */
  private readonly frames = new Map<string, string>();
  /** The room counter, a mutable global snapshots carry (the frames of a paused stack stay counted). */
  readonly global: SnapshotGlobal;

  constructor(
    private readonly b: Binaryen,
    private readonly m: BinaryenModule,
  ) {
    const index = m.getNumGlobals();
    m.addGlobal(ROOM_GLOBAL, b.i32, true, m.i32.const(0x7fff_ffff)); // the host sets it before any run
    m.addGlobal(OVERFLOW_GLOBAL, b.i32, true, m.i32.const(0));
    m.addGlobalExport(ROOM_GLOBAL, EXPORTS.stackRoom);
    m.addGlobalExport(OVERFLOW_GLOBAL, EXPORTS.stackOverflow);
    this.global = { index, type: "i32", exportName: EXPORTS.stackRoom };
  }

  /**
   * The entry check of recursive function `name` (meter.ts puts it where a checked function checks
   * its fuel): take its frame off the room, and when `fuel` or the room is negative, trap
   * stack_overflow if the room is, else call `pause`.
   */
  entryCheck(name: string, fuel: ExpressionRef, pause: ExpressionRef): ExpressionRef[] {
    const { b, m } = this;
    const frame = `${FRAME_PREFIX}${this.frames.size}`;
    this.frames.set(name, frame);
    // Mutable while Asyncify optimizes (so nothing folds its placeholder value), a constant after.
    m.addGlobal(frame, b.i32, true, m.i32.const(0));
    const room = () => m.global.get(ROOM_GLOBAL, b.i32);
    return [
      m.global.set(ROOM_GLOBAL, m.i32.sub(room(), m.global.get(frame, b.i32))),
      m.if(
        m.i64.lt_s(m.i64.or(fuel, m.i64.extend_s(room())), i64Zero(m)),
        m.block(null, [
          m.if(m.i32.lt_s(room(), m.i32.const(0)), m.block(null, [m.global.set(OVERFLOW_GLOBAL, m.i32.const(1)), m.unreachable()])),
          pause,
        ]),
      ),
    ];
  }

  /** After metering: every counted function gives its frame back at the end of its body and before every return. */
  addExits(walker: IrWalker): void {
    const { b, m } = this;
    const set = irSetters(b);
    for (let f = 0; f < m.getNumFunctions(); f++) {
      const fn = m.getFunctionByIndex(f);
      const info = b.getFunctionInfo(fn);
      const frame = this.frames.get(info.name);
      if (info.base || frame === undefined) continue;
      const results = info.results;
      let resultLocal: number | undefined;
      const local = (): number => (resultLocal ??= set.addVar(fn, results));
      const leave = () => m.global.set(ROOM_GLOBAL, m.i32.add(m.global.get(ROOM_GLOBAL, b.i32), m.global.get(frame, b.i32)));
      const rewrite = (expr: ExpressionRef): ExpressionRef => {
        walker.mapChildren(expr, rewrite);
        if (b.getExpressionId(expr) !== b.ReturnId) return expr;
        const value = (b.getExpressionInfo(expr) as unknown as { value: ExpressionRef }).value;
        if (!value) return m.block(null, [leave(), expr]);
        if (b.getExpressionType(value) === b.unreachable) return expr;
        return m.block(null, [m.local.set(local(), value), leave(), m.return(m.local.get(local(), results))], b.unreachable);
      };
      const body = rewrite(info.body);
      const type = b.getExpressionType(body);
      if (type === b.unreachable) set.Function.setBody(fn, body);
      else if (results === b.none) set.Function.setBody(fn, m.block(null, [body, leave()]));
      else set.Function.setBody(fn, m.block(null, [m.local.set(local(), body), leave(), m.local.get(local(), results)], results));
    }
  }

  /**
   * After Asyncify: set every counted frame's size from the code Asyncify wrote, check that every
   * function whose frames it saves is counted or non-recursive, and export RESERVE, the heaviest
   * chain of non-recursive frames along a call path (`call_indirect` may reach any of
   * `tableFunctions`).
   */
  finish(walker: IrWalker, tableFunctions: ReadonlySet<string>): number {
    const { b, m } = this;
    const saved = new Map<string, number>();
    const calls = new Map<string, Set<string>>();
    const TABLE = "\0table";
    for (let f = 0; f < m.getNumFunctions(); f++) {
      const info = b.getFunctionInfo(m.getFunctionByIndex(f));
      if (info.base || info.name.startsWith("asyncify_")) continue;
      const out = new Set<string>();
      const bytes = asyncifyFrameBytes(b, walker, info.body, out, TABLE);
      calls.set(info.name, out);
      if (bytes > 0) saved.set(info.name, bytes + STACK_FRAME_OVERHEAD_BYTES);
    }
    calls.set(TABLE, new Set([...tableFunctions].filter((t) => calls.has(t))));
    for (const [name, frame] of this.frames) {
      const bytes = saved.get(name);
      // A recursive function always checks fuel, so Asyncify always instruments it.
      if (bytes === undefined) throw new FerryError("instrumentation_failed", `recursive function ${name} is not instrumented by Asyncify`);
      m.removeGlobal(frame);
      m.addGlobal(frame, b.i32, false, m.i32.const(bytes));
    }
    const reserve = heaviestChain(calls, (name) => (this.frames.has(name) ? 0 : (saved.get(name) ?? 0)));
    m.addGlobal(RESERVE_GLOBAL, b.i32, false, m.i32.const(Math.min(reserve, 0x7fff_ffff)));
    m.addGlobalExport(RESERVE_GLOBAL, EXPORTS.stackReserve);
    return reserve;
  }
}

function i64Zero(m: BinaryenModule): ExpressionRef {
  return (m.i64.const as unknown as (v: bigint) => ExpressionRef)(0n);
}

/**
 * The heaviest path through `calls` counting `weight` per function, where functions on a cycle
 * weigh nothing (they are counted as they run): the longest path through the graph of strongly
 * connected components, which has no cycle.
 */
function heaviestChain(calls: Map<string, Set<string>>, weight: (name: string) => number): number {
  const edges = new Map<string, string[]>();
  for (const [name, out] of calls)
    edges.set(
      name,
      [...out].filter((to) => calls.has(to)),
    );
  const component = new Map<string, number>();
  const chain: number[] = [];
  // Components come callees first: each one's heaviest chain is known when a caller needs it.
  for (const [c, members] of stronglyConnected([...edges.keys()], edges).entries()) {
    for (const name of members) component.set(name, c);
    const cyclic = members.length > 1 || edges.get(members[0]!)!.includes(members[0]!);
    let below = 0;
    for (const name of members) {
      for (const to of edges.get(name)!) {
        const d = component.get(to)!;
        if (d !== c) below = Math.max(below, chain[d]!);
      }
    }
    chain.push(below + (cyclic ? 0 : members.reduce((n, name) => n + weight(name), 0)));
  }
  return chain.reduce((most, n) => Math.max(most, n), 0);
}

/**
 * The bytes one unwound frame of a function takes in the buffer, read from the code Asyncify wrote
 * (0 for a function it left alone, which never reads its state), and the function's call targets
 * (into `calls`; an indirect call as `table`). The frame is the 4-byte call index plus the saved
 * locals; the code moves the buffer's pointer by the locals' total (`i32.load(data) ± total`, on the
 * way in and out) and by 4 per call index. So the largest such step plus 4 is the frame, exactly
 * when the locals take 4 bytes or more, and 4 more than it when none are saved.
 */
function asyncifyFrameBytes(b: Binaryen, walker: IrWalker, body: ExpressionRef, calls: Set<string>, table: string): number {
  let instrumented = false;
  let largest = 0;
  const isDataPointer = (expr: ExpressionRef): boolean => {
    const id = b.getExpressionId(expr);
    if (id === b.GlobalGetId) return (b.getExpressionInfo(expr) as unknown as { name: string }).name === ASYNCIFY_DATA;
    if (id === b.LocalSetId) return isDataPointer((b.getExpressionInfo(expr) as unknown as { value: ExpressionRef }).value);
    return false;
  };
  const loadsPointer = (expr: ExpressionRef): boolean =>
    b.getExpressionId(expr) === b.LoadId && isDataPointer((b.getExpressionInfo(expr) as unknown as { ptr: ExpressionRef }).ptr);
  const constant = (expr: ExpressionRef): number | undefined =>
    b.getExpressionId(expr) === b.ConstId && b.getExpressionType(expr) === b.i32
      ? (b.getExpressionInfo(expr) as unknown as { value: number }).value
      : undefined;
  const visit = (expr: ExpressionRef): ExpressionRef => {
    const id = b.getExpressionId(expr);
    if (id === b.GlobalGetId && (b.getExpressionInfo(expr) as unknown as { name: string }).name === ASYNCIFY_STATE) instrumented = true;
    else if (id === b.CallId) calls.add((b.getExpressionInfo(expr) as unknown as { target: string }).target);
    else if (id === b.CallIndirectId) calls.add(table);
    else if (id === b.BinaryId && b.getExpressionType(expr) === b.i32) {
      const { op, left, right } = b.getExpressionInfo(expr) as unknown as { op: number; left: ExpressionRef; right: ExpressionRef };
      if (op === b.AddInt32 || op === b.SubInt32) {
        const step = loadsPointer(left) ? constant(right) : loadsPointer(right) ? constant(left) : undefined;
        if (step !== undefined) largest = Math.max(largest, Math.abs(step | 0));
      }
    }
    walker.mapChildren(expr, visit);
    return expr;
  };
  visit(body);
  return instrumented ? 4 + Math.max(largest, 4) : 0;
}
