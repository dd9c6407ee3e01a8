// Deterministic fuel metering. Every function body and every loop body is a *region*; a region is
// charged once, on entry, for all the instructions it contains outside nested loops (if-arms are
// charged whether taken or not: fuel is a deterministic upper bound on work, not a cycle count).
// Fuel is checked at every loop header, at the entry of the functions meter-plan.ts picks (every
// recursive one, and enough others that no call can do more than SPAN_FUEL of unchecked work), and
// after every call to one of those, to a host import or to a runtime helper (memory.grow, and
// memory.copy/fill/init of a length not known to be small and output_write, which work in checked
// chunks). Such a call
// also charges the rest of its caller's region, so returning into a deep stack is paid as it runs.
// docs/metering.md proves the bound: the work between two checks is at most the largest function
// plus SPAN_FUEL, whatever the call graph.

import { i64Const, irSetters, type Binaryen, type BinaryenModule, type ExpressionRef } from "./binaryen.js";
import { OUTPUT_WRITE_HELPER, addOutputWriteHelper, outputWriteImport } from "./host-call-helpers.js";
import { IrWalker } from "./ir-walk.js";
import {
  BULK_BYTES_PER_FUEL_LOG2,
  BULK_CHUNK_FUEL,
  FUEL_GLOBAL,
  GROW_FAILED_GLOBAL,
  HELPER_NAMES,
  INLINE_BULK_BYTES,
  addMemoryInitHelper,
  addMeterHelpers,
} from "./meter-helpers.js";
import { planChecks, type CallGraphFunction, type MeterPlan } from "./meter-plan.js";
import type { StackBudget } from "./stack-budget.js";

export { FUEL_GLOBAL, GROW_FAILED_GLOBAL };

interface Region {
  cost: number;
  hasCall: boolean;
  /** Expressions entered but not yet left in this region: they finish after a call returns. */
  open: number;
  /** After-call charges whose amount (the rest of this region) is known once the region is done. */
  pending: Array<{ amount: ExpressionRef; at: number }>;
}

export interface MeterResult {
  /** Defined functions that got a fuel check at entry because they can recurse. */
  recursiveFunctions: string[];
  /** All functions that check at entry (the recursive ones and those bounding a call's work). */
  checkedFunctions: number;
  loops: number;
  /**
   * The most fuel the module's own instructions can be charged between two fuel checks: the
   * largest span (a function plus its unchecked callees, ≤ its size + SPAN_FUEL), one more charge
   * of at most the largest function right before the check, and one bulk-memory chunk or table
   * operation. Host calls and memory.grow are charged by their work on top, each followed by a check.
   */
  meterBound: number;
}

/** Fuel for an instruction outside the rewritten ones: 1, plus the bytes of a small constant bulk op. */
function staticCost(b: Binaryen, expr: ExpressionRef): number {
  const id = b.getExpressionId(expr);
  if (id === b.BlockId || id === b.NopId) return 0;
  if (id === b.MemoryFillId || id === b.MemoryCopyId) {
    const bytes = constantBulkBytes(b, expr);
    if (bytes !== undefined) return 1 + (bytes >> BULK_BYTES_PER_FUEL_LOG2);
  }
  return 1;
}

/** The length of a memory.fill/copy when it is a constant small enough to stay inline. */
function constantBulkBytes(b: Binaryen, expr: ExpressionRef): number | undefined {
  const size = (b.getExpressionInfo(expr) as unknown as { size: ExpressionRef }).size;
  if (b.getExpressionId(size) !== b.ConstId) return undefined;
  const bytes = (b.getExpressionInfo(size) as unknown as { value: number }).value >>> 0;
  return bytes <= INLINE_BULK_BYTES ? bytes : undefined;
}

/**
 * Each defined function's size and call sites, for the plan. The table helpers are runtime helpers,
 * not guest functions: a call to one is charged and checked where it is made.
 */
function callGraph(b: Binaryen, m: BinaryenModule, walker: IrWalker, tables: TableMetering): CallGraphFunction[] {
  const out: CallGraphFunction[] = [];
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const info = b.getFunctionInfo(m.getFunctionByIndex(f));
    if (info.base || tables.helpers.has(info.name)) continue;
    const fn: CallGraphFunction = { name: info.name, size: 0, calls: new Map(), indirectCalls: 0 };
    const visit = (expr: ExpressionRef): ExpressionRef => {
      fn.size += staticCost(b, expr);
      const id = b.getExpressionId(expr);
      if (id === b.CallId) {
        const target = (b.getExpressionInfo(expr) as unknown as { target: string }).target;
        fn.calls.set(target, (fn.calls.get(target) ?? 0) + 1);
      } else if (id === b.CallIndirectId) fn.indirectCalls++;
      walker.mapChildren(expr, visit);
      return expr;
    };
    visit(info.body);
    out.push(fn);
  }
  return out;
}

/**
 * Instrument `m` in place. `yieldName` is the internal name of the `ferry.yield` import, and
 * `tableFunctions` the functions reachable through call_indirect.
 */
/**
 * What the table instructions cost beyond their count (docs/metering.md, "Tables"): the helper
 * functions table-ops.ts made of table.fill, copy and init by name, each with the most elements
 * one call can write (its tables' bound), charged TABLE_ELEMENT_FUEL per element written, and of
 * elem.drop (bound 0, constant work); and each table's bound by name, a table.grow being charged a
 * fuel per element of the size it leaves. Both are runtime helpers: not metered themselves, and
 * every call is followed by its charge, the rest of the caller's region and a check.
 */
export interface TableMetering {
  helpers: ReadonlyMap<string, number>;
  grow: ReadonlyMap<string, number>;
}

/** Fuel per table element table.fill, table.copy or table.init writes (measured 20–70 ns each, a memory byte copy ~1). */
export const TABLE_ELEMENT_FUEL = 8;
const TABLE_ELEMENT_FUEL_LOG2 = 3;

export function meterModule(
  b: Binaryen,
  m: BinaryenModule,
  yieldName: string,
  tableFunctions: Set<string>,
  memoryName: string,
  options: {
    eagerLoopFuel: boolean;
    /** With Asyncify: recursive functions count their frames, checked with their fuel (stack-budget.ts). */
    stack?: StackBudget;
    tables?: TableMetering;
  } = { eagerLoopFuel: false },
): MeterResult {
  const tables: TableMetering = options.tables ?? { helpers: new Map(), grow: new Map() };
  const walker = new IrWalker(b);
  const set = irSetters(b);
  const i64 = b.i64;
  const i64c = (value: number): ExpressionRef => i64Const(m, value);
  const constSet = (b as unknown as { Const: { setValueI64(e: ExpressionRef, v: number): void } }).Const;
  const graph = callGraph(b, m, walker, tables);
  const plan: MeterPlan = planChecks(graph, tableFunctions);
  const maxFunctionSize = graph.reduce((most, f) => Math.max(most, f.size), 0);
  const outputWrite = outputWriteImport(b, m);
  /** Whether any bulk operation goes through a chunked helper (its first chunk adds to a span). */
  let chunked = false;
  /** The most fuel one table operation charges before the check after it. */
  let tableOpFuel = 0;
  /** Data segment name → its memory.init helper. */
  const initHelpers = new Map<string, string>();
  const imported = new Set<string>();
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const info = b.getFunctionInfo(m.getFunctionByIndex(f));
    if (info.base && info.name !== yieldName) imported.add(info.name);
  }
  m.addGlobal(FUEL_GLOBAL, i64, true, i64c(0));
  m.addGlobal(GROW_FAILED_GLOBAL, b.i32, true, m.i32.const(0));

  const entries: Array<{ fn: number; name: string; cost: number; charge: (cost: number, check: boolean) => ExpressionRef[] }> = [];
  let loops = 0;
  let labels = 0;

  const count = m.getNumFunctions();
  for (let f = 0; f < count; f++) {
    const fn = m.getFunctionByIndex(f);
    const info = b.getFunctionInfo(fn);
    if (info.base) continue; // an import: no body
    if (tables.helpers.has(info.name)) continue; // a table helper: charged where it is called
    const params = b.expandType(info.params).length;
    // Three scratch locals per function: the running fuel (i64), a memory.grow result (i32) and
    // a bulk-memory length (i32).
    const fuelLocal = params + info.vars.length;
    const _growLocal = fuelLocal + 1;
    const bulkLocal = fuelLocal + 2;
    set.addVar(fn, i64);
    set.addVar(fn, b.i32);
    set.addVar(fn, b.i32);

    // One scratch local per result type of a call that charges after it returns (the value waits
    // there while fuel is charged and checked).
    const resultLocals = new Map<number, number>();
    let nextLocal = bulkLocal + 1;
    const resultLocal = (type: number): number => {
      let index = resultLocals.get(type);
      if (index === undefined) {
        set.addVar(fn, type);
        index = nextLocal++;
        resultLocals.set(type, index);
      }
      return index;
    };

    const fuelGet = () => m.local.get(fuelLocal, i64);
    const storeFuel = () => m.global.set(FUEL_GLOBAL, fuelGet());
    const callYield = () => m.call(yieldName, [], b.none);
    // Entry reloads (`local = global`) of the call-free loops built so far in this function: one
    // nested in a call-free loop must not reload (there the local is current and the global stale).
    const entryReloads: ExpressionRef[] = [];

    const visit = (expr: ExpressionRef, region: Region): ExpressionRef => {
      const id = b.getExpressionId(expr);
      const cost = staticCost(b, expr);
      region.cost += cost;
      if (id === b.LoopId) return meterLoop(expr, region);
      let chargesAfter = false;
      if (id === b.CallId) {
        region.hasCall = true;
        const target = (b.getExpressionInfo(expr) as unknown as { target: string }).target;
        chargesAfter = plan.checked.has(target) || imported.has(target);
      } else if (id === b.CallIndirectId) {
        region.hasCall = true;
        chargesAfter = plan.indirectChecked;
      }
      if (cost > 0) region.open++;
      walker.mapChildren(expr, (child) => visit(child, region));
      if (cost > 0) region.open--;
      if (id === b.TableGrowId && b.getExpressionType(expr) === b.i32) {
        // Charged a fuel per element of the size it leaves (V8 copies the whole table to grow it),
        // then checked, like memory.grow.
        region.hasCall = true;
        const table = (b.getExpressionInfo(expr) as unknown as { table: string }).table;
        tableOpFuel = Math.max(tableOpFuel, tables.grow.get(table) ?? 0);
        const local = resultLocal(b.i32);
        const size = m.i64.extend_u(m.table.size(table));
        const charged = m.block(
          null,
          [m.local.set(local, expr), m.global.set(FUEL_GLOBAL, m.i64.sub(m.global.get(FUEL_GLOBAL, i64), size)), m.local.get(local, b.i32)],
          b.i32,
        );
        return chargeAfterCall(charged, region);
      }
      if (id === b.CallId && tables.helpers.has((b.getExpressionInfo(expr) as unknown as { target: string }).target)) {
        const { target, operands } = b.getExpressionInfo(expr) as unknown as { target: string; operands: ExpressionRef[] };
        if (operands.length !== 3 || b.getExpressionType(expr) === b.unreachable) return expr; // elem.drop: constant work
        // table.fill/copy/init: charged by the length once it has written that many elements (a
        // trap writes none and is not charged), then checked, like the bulk memory helpers.
        tableOpFuel = Math.max(tableOpFuel, TABLE_ELEMENT_FUEL * tables.helpers.get(target)!);
        (b as unknown as { Call: { setOperandAt(e: ExpressionRef, i: number, v: ExpressionRef): void } }).Call.setOperandAt(
          expr,
          2,
          m.local.tee(bulkLocal, operands[2]!, b.i32),
        );
        const written = m.i64.shl(m.i64.extend_u(m.local.get(bulkLocal, b.i32)), i64c(TABLE_ELEMENT_FUEL_LOG2));
        return chargeAfterCall(
          m.block(null, [expr, m.global.set(FUEL_GLOBAL, m.i64.sub(m.global.get(FUEL_GLOBAL, i64), written))]),
          region,
        );
      }
      if (id === b.MemoryGrowId) {
        region.hasCall = true;
        const delta = (b.getExpressionInfo(expr) as unknown as { delta: ExpressionRef }).delta;
        return chargeAfterCall(m.call(HELPER_NAMES.grow, [delta], b.i32), region);
      }
      if ((id === b.MemoryFillId || id === b.MemoryCopyId) && constantBulkBytes(b, expr) === undefined) {
        region.hasCall = true;
        const op = b.getExpressionInfo(expr) as unknown as {
          dest: ExpressionRef;
          source: ExpressionRef;
          value: ExpressionRef;
          size: ExpressionRef;
        };
        const helper = id === b.MemoryCopyId ? HELPER_NAMES.copy : HELPER_NAMES.fill;
        chunked = true;
        return chargeAfterCall(m.call(helper, [op.dest, id === b.MemoryCopyId ? op.source : op.value, op.size], b.none), region);
      }
      if (id === b.MemoryInitId) {
        if (constantBulkBytes(b, expr) !== undefined) return chargeInit(expr);
        // A long or unknown length goes through a chunked helper for its segment, like copy/fill.
        region.hasCall = true;
        const op = b.getExpressionInfo(expr) as unknown as {
          segment: string;
          dest: ExpressionRef;
          offset: ExpressionRef;
          size: ExpressionRef;
        };
        let helper = initHelpers.get(op.segment);
        if (helper === undefined) initHelpers.set(op.segment, (helper = `${HELPER_NAMES.init}${initHelpers.size}`));
        chunked = true;
        return chargeAfterCall(m.call(helper, [op.dest, op.offset, op.size], b.none), region);
      }
      if (
        id === b.CallId &&
        outputWrite !== undefined &&
        (b.getExpressionInfo(expr) as unknown as { target: string }).target === outputWrite
      ) {
        const operands = (b.getExpressionInfo(expr) as unknown as { operands: ExpressionRef[] }).operands;
        return chargeAfterCall(m.call(OUTPUT_WRITE_HELPER, operands, b.none), region);
      }
      return chargesAfter ? chargeAfterCall(expr, region) : expr;
    };

    // A call that may have run for long (a checked function, a host import, a helper) is followed
    // by a charge for the rest of this region and a check. The region was paid on entry, but that
    // may have been slices ago: returning through a deep stack must be paid as it runs, or a
    // recursion could unwind, doing each frame's tail, without ever running out of fuel.
    const chargeAfterCall = (call: ExpressionRef, region: Region): ExpressionRef => {
      const type = b.getExpressionType(call);
      if (type === b.unreachable) return call;
      const amount = i64c(0);
      region.pending.push({ amount, at: region.cost - region.open });
      const charge = [
        m.local.set(fuelLocal, m.i64.sub(m.global.get(FUEL_GLOBAL, i64), amount)),
        m.global.set(FUEL_GLOBAL, fuelGet()),
        m.if(m.i64.lt_s(fuelGet(), i64c(0)), callYield()),
      ];
      if (type === b.none) return m.block(null, [call, ...charge]);
      const local = resultLocal(type);
      return m.block(null, [m.local.set(local, call), ...charge, m.local.get(local, type)], type);
    };

    // The after-call charges of a finished region: what it entered after each call, plus what was
    // open around the call (those expressions finish after it).
    const settle = (region: Region): void => {
      for (const p of region.pending) constSet.setValueI64(p.amount, region.cost - p.at);
    };

    // memory.init copies at most one data segment (bounded by the module's size); it stays inline
    // and is charged by its length. Both the local and the global are charged: inside a call-free
    // loop the local is the live count (the global is written back on the way out); elsewhere the
    // global is, and the local is reloaded before it is next read.
    const chargeInit = (op: ExpressionRef): ExpressionRef => {
      const size = (b.getExpressionInfo(op) as unknown as { size: ExpressionRef }).size;
      (b as unknown as { MemoryInit: { setSize(e: ExpressionRef, v: ExpressionRef): void } }).MemoryInit.setSize(
        op,
        m.local.tee(bulkLocal, size, b.i32),
      );
      const extra = () => m.i64.extend_u(m.i32.shr_u(m.local.get(bulkLocal, b.i32), m.i32.const(BULK_BYTES_PER_FUEL_LOG2)));
      return m.block(null, [
        op,
        m.local.set(fuelLocal, m.i64.sub(fuelGet(), extra())),
        m.global.set(FUEL_GLOBAL, m.i64.sub(m.global.get(FUEL_GLOBAL, i64), extra())),
      ]);
    };

    // Every loop becomes
    //   block $done (loop $again (block $out (br $done (loop $L (charge; br_if $out fuel<0) body)))
    //                (call yield) (refund) (br $again))
    // so the yield call sits *outside* the hot loop. Asyncify must instrument every function that
    // can reach the call, and inside such a function it guards each stretch of code with a state
    // check; with the call out of line, a call-free loop stays one unguarded stretch.
    //
    // A loop without calls cannot have its fuel read or changed by anyone else while it runs, so its
    // running fuel lives in a local (a register): the local is loaded on entry, and written back to
    // the global only where control leaves the loop — its end, every branch or return out of it, and
    // before the yield. The iteration itself is a subtract and a predictable branch. (A trap inside
    // such a loop leaves the global at its value on entry or at the last pause: a trapped run's
    // fuelUsed may miss at most one slice of that loop.) A loop with a value falls back to storing
    // every iteration, which needs no exit bookkeeping.
    const meterLoop = (loop: ExpressionRef, parent: Region): ExpressionRef => {
      loops++;
      const region: Region = { cost: 0, hasCall: false, open: 0, pending: [] };
      const nestedReloads = entryReloads.length;
      let body = visit((b.getExpressionInfo(loop) as unknown as { body: ExpressionRef }).body, region);
      settle(region);
      parent.hasCall ||= region.hasCall;
      const cost = Math.max(region.cost, 1);
      const id = labels++;
      const done = `__ferry_done${id}`;
      const again = `__ferry_again${id}`;
      const out = `__ferry_out${id}`;
      const type = b.getExpressionType(loop);
      const callFree = !region.hasCall;
      const lazy = callFree && !options.eagerLoopFuel && (type === b.none || type === b.unreachable);
      const exhausted = m.br_if(out, m.i64.lt_s(fuelGet(), i64c(0)));
      let header: ExpressionRef[];
      if (!callFree) header = [...chargeFromGlobal(cost), exhausted];
      else if (lazy) header = [m.local.set(fuelLocal, m.i64.sub(fuelGet(), i64c(cost))), exhausted];
      else header = [m.local.set(fuelLocal, m.i64.sub(fuelGet(), i64c(cost))), storeFuel(), exhausted];
      if (lazy) {
        body = storeOnExits(body, (b.getExpressionInfo(loop) as unknown as { name: string | null }).name);
        // Loops nested in this one run where the local is live: their entry reloads become no-ops.
        for (const reload of entryReloads.splice(nestedReloads)) set.LocalSet.setValue(reload, fuelGet());
      }
      set.Loop.setBody(loop, m.block(null, [...header, body]));

      const inner =
        type === b.unreachable
          ? loop
          : type === b.none
            ? m.block(null, [loop, ...(lazy ? [storeFuel()] : []), m.br(done)])
            : m.br(done, undefined, loop);
      const retry = m.loop(
        again,
        m.block(null, [
          m.block(out, [inner]),
          ...(lazy ? [storeFuel()] : []),
          callYield(),
          // The iteration that ran out is charged again when it re-enters, in the next slice:
          // refund it here, so a run's fuel does not depend on where its slices ended.
          m.global.set(FUEL_GLOBAL, m.i64.add(m.global.get(FUEL_GLOBAL, i64), i64c(cost))),
          ...(callFree ? [m.local.set(fuelLocal, m.global.get(FUEL_GLOBAL, i64))] : []),
          m.br(again),
        ]),
      );
      if (!callFree) return m.block(done, [retry], type === b.unreachable ? b.none : type);
      const reload = m.local.set(fuelLocal, m.global.get(FUEL_GLOBAL, i64));
      entryReloads.push(reload);
      return m.block(done, [reload, retry], type === b.unreachable ? b.none : type);
    };

    // Write the running fuel back before every branch or return that leaves the loop body (labels
    // defined inside it, and the loop's own label, are not exits). A conditional exit stores only
    // when taken; one carrying a value stores before it (its value cannot contain a call).
    const storeOnExits = (loopBody: ExpressionRef, loopLabel: string | null): ExpressionRef => {
      const inside = new Set<string>(loopLabel ? [loopLabel] : []);
      const rewrite = (expr: ExpressionRef): ExpressionRef => {
        const kind = b.getExpressionId(expr);
        const label =
          kind === b.BlockId || kind === b.LoopId ? (b.getExpressionInfo(expr) as unknown as { name: string | null }).name : null;
        const added = label !== null && label !== "" && !inside.has(label);
        if (added) inside.add(label!);
        walker.mapChildren(expr, rewrite);
        if (added) inside.delete(label!);
        if (kind === b.BreakId) {
          const info = b.getExpressionInfo(expr) as unknown as { name: string; condition: ExpressionRef; value: ExpressionRef };
          if (inside.has(info.name)) return expr;
          if (info.condition && !info.value) return m.if(info.condition, m.block(null, [storeFuel(), m.br(info.name)]));
          return m.block(null, [storeFuel(), expr], b.getExpressionType(expr));
        }
        if (kind === b.SwitchId) {
          const info = b.getExpressionInfo(expr) as unknown as { names: string[]; defaultName: string | null };
          if ([...info.names, info.defaultName].every((n) => n === null || inside.has(n))) return expr;
          return m.block(null, [storeFuel(), expr], b.getExpressionType(expr));
        }
        if (kind === b.ReturnId) return m.block(null, [storeFuel(), expr], b.getExpressionType(expr));
        return expr;
      };
      return rewrite(loopBody);
    };

    const chargeFromGlobal = (cost: number, check = false): ExpressionRef[] => {
      const charge = [m.local.set(fuelLocal, m.i64.sub(m.global.get(FUEL_GLOBAL, i64), i64c(cost))), m.global.set(FUEL_GLOBAL, fuelGet())];
      if (check && options.stack && plan.recursive.has(info.name))
        charge.push(...options.stack.entryCheck(info.name, fuelGet(), callYield()));
      else if (check) charge.push(m.if(m.i64.lt_s(fuelGet(), i64c(0)), callYield()));
      return charge;
    };

    const region: Region = { cost: 0, hasCall: false, open: 0, pending: [] };
    set.Function.setBody(fn, visit(info.body, region));
    settle(region);
    entries.push({ fn, name: info.name, cost: Math.max(region.cost, 1), charge: chargeFromGlobal });
  }

  for (const e of entries) {
    const body = b.getFunctionInfo(e.fn).body;
    set.Function.setBody(e.fn, m.block(null, [...e.charge(e.cost, plan.checked.has(e.name)), body]));
  }
  // Added after the walk, so their own bulk operations are not rewritten into calls to themselves.
  addMeterHelpers(b, m, yieldName, memoryName);
  for (const [segment, helper] of initHelpers) addMemoryInitHelper(b, m, segment, helper, yieldName, memoryName);
  if (outputWrite !== undefined) addOutputWriteHelper(b, m, outputWrite, yieldName, memoryName);
  return {
    recursiveFunctions: [...plan.recursive],
    checkedFunctions: plan.checked.size,
    loops,
    // Between two checks: the entry charges of the unchecked calls (at most the largest span), one
    // charge just before the failing check (a loop header, a checked function's entry or the rest
    // of a region after a call: at most the largest function), and — when the span ends in a call
    // to a chunked helper, whose first chunk runs before its first check — one chunk, or when it
    // ends in a table operation, that operation's charge (one call ends a span: not both).
    meterBound: plan.maxSpan + maxFunctionSize + Math.max(chunked ? BULK_CHUNK_FUEL : 0, tableOpFuel) + HELPER_OVERHEAD_FUEL,
  };
}

/** Fuel the instrumentation's own bookkeeping around one check may add to a span. */
const HELPER_OVERHEAD_FUEL = 16;
