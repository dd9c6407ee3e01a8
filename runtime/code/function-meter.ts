// One function's metering (the scheme is in meter.ts's header and docs/metering.md): its scratch
// locals, its regions, the rewrite of the instructions whose work grows with their operands into
// charged calls, and the loop shape that keeps the yield out of hot loops. The per-function state the
// rewrite needs (the fuel local, the result locals, the entry reloads of call-free loops) are the
// fields; the module-wide state is the ModuleMeter it is given (meter-costs.ts).

import { i64Const, type ExpressionRef } from "./binaryen.js";
import { OUTPUT_WRITE_HELPER } from "./host-call-helpers.js";
import {
  callTarget,
  constantBulkBytes,
  newRegion,
  staticCost,
  TABLE_ELEMENT_FUEL,
  TABLE_ELEMENT_FUEL_LOG2,
  type ModuleMeter,
  type Region,
} from "./meter-costs.js";
import { BULK_BYTES_PER_FUEL_LOG2, FUEL_GLOBAL, HELPER_NAMES } from "./meter-helpers.js";
import { storeOnExits } from "./loop-exits.js";

export class FunctionMeter {
  private readonly name: string;
  /** Three scratch locals: the running fuel (i64), a memory.grow result (i32) and a bulk-memory length (i32). */
  private readonly fuelLocal: number;
  private readonly bulkLocal: number;
  /**
   * One scratch local per result type of a call that charges after it returns (the value waits
   * there while fuel is charged and checked).
   */
  private readonly resultLocals = new Map<number, number>();
  private nextLocal: number;
  /**
   * Entry reloads (`local = global`) of the call-free loops built so far in this function: one
   * nested in a call-free loop must not reload (there the local is current and the global stale).
   */
  private readonly entryReloads: ExpressionRef[] = [];
  /** The function's own region cost, charged at its entry once every function is metered. */
  private entryCost = 1;

  constructor(
    private readonly c: ModuleMeter,
    /** Binaryen's reference to the function. */
    private readonly fn: number,
  ) {
    const { b, set } = c;
    const info = b.getFunctionInfo(fn);
    this.name = info.name;
    this.fuelLocal = b.expandType(info.params).length + info.vars.length;
    this.bulkLocal = this.fuelLocal + 2;
    this.nextLocal = this.bulkLocal + 1;
    set.addVar(fn, b.i64);
    set.addVar(fn, b.i32);
    set.addVar(fn, b.i32);
  }

  /** Meter the body: every region charged, every long call followed by a charge and a check. */
  meterBody(): void {
    const region = newRegion();
    this.c.set.Function.setBody(this.fn, this.visit(this.c.b.getFunctionInfo(this.fn).body, region));
    this.settle(region);
    this.entryCost = Math.max(region.cost, 1);
  }

  /** Charge the function's own region at its entry (and check, if the plan says it checks). */
  addEntryCharge(): void {
    const { b, m, set, plan } = this.c;
    const body = b.getFunctionInfo(this.fn).body;
    set.Function.setBody(this.fn, m.block(null, [...this.chargeFromGlobal(this.entryCost, plan.checked.has(this.name)), body]));
  }

  private i64c(value: number): ExpressionRef {
    return i64Const(this.c.m, value);
  }

  private fuelGet(): ExpressionRef {
    return this.c.m.local.get(this.fuelLocal, this.c.b.i64);
  }

  private storeFuel(): ExpressionRef {
    return this.c.m.global.set(FUEL_GLOBAL, this.fuelGet());
  }

  private callYield(): ExpressionRef {
    return this.c.m.call(this.c.yieldName, [], this.c.b.none);
  }

  /** The global fuel less `amount`, as an expression. */
  private globalLess(amount: ExpressionRef): ExpressionRef {
    const { b, m } = this.c;
    return m.global.set(FUEL_GLOBAL, m.i64.sub(m.global.get(FUEL_GLOBAL, b.i64), amount));
  }

  private resultLocal(type: number): number {
    let index = this.resultLocals.get(type);
    if (index === undefined) {
      this.c.set.addVar(this.fn, type);
      index = this.nextLocal++;
      this.resultLocals.set(type, index);
    }
    return index;
  }

  private visit(expr: ExpressionRef, region: Region): ExpressionRef {
    const { b, walker, plan, imported } = this.c;
    const id = b.getExpressionId(expr);
    const cost = staticCost(b, expr);
    region.cost += cost;
    if (id === b.LoopId) return this.meterLoop(expr, region);
    let chargesAfter = false;
    if (id === b.CallId) {
      region.hasCall = true;
      const target = callTarget(b, expr);
      chargesAfter = plan.checked.has(target) || imported.has(target);
    } else if (id === b.CallIndirectId) {
      region.hasCall = true;
      chargesAfter = plan.indirectChecked;
    }
    if (cost > 0) region.open++;
    walker.mapChildren(expr, (child) => this.visit(child, region));
    if (cost > 0) region.open--;
    return this.rewrite(expr, id, region) ?? (chargesAfter ? this.chargeAfterCall(expr, region) : expr);
  }

  /** The instructions whose work grows with their operands, as charged calls; undefined for the others. */
  private rewrite(expr: ExpressionRef, id: number, region: Region): ExpressionRef | undefined {
    const { b, m, tables, outputWrite } = this.c;
    if (id === b.TableGrowId && b.getExpressionType(expr) === b.i32) return this.meterTableGrow(expr, region);
    if (id === b.CallId && tables.helpers.has(callTarget(b, expr))) return this.meterTableHelper(expr, region);
    if (id === b.MemoryGrowId) {
      region.hasCall = true;
      const delta = (b.getExpressionInfo(expr) as unknown as { delta: ExpressionRef }).delta;
      return this.chargeAfterCall(m.call(HELPER_NAMES.grow, [delta], b.i32), region);
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
      this.c.chunked = true;
      return this.chargeAfterCall(m.call(helper, [op.dest, id === b.MemoryCopyId ? op.source : op.value, op.size], b.none), region);
    }
    if (id === b.MemoryInitId) return this.meterInit(expr, region);
    if (id === b.CallId && outputWrite !== undefined && callTarget(b, expr) === outputWrite) {
      const operands = (b.getExpressionInfo(expr) as unknown as { operands: ExpressionRef[] }).operands;
      return this.chargeAfterCall(m.call(OUTPUT_WRITE_HELPER, operands, b.none), region);
    }
    return undefined;
  }

  /**
   * table.grow: charged a fuel per element of the size it leaves (V8 copies the whole table to grow
   * it), then checked, like memory.grow.
   */
  private meterTableGrow(expr: ExpressionRef, region: Region): ExpressionRef {
    const { b, m, tables } = this.c;
    region.hasCall = true;
    const table = (b.getExpressionInfo(expr) as unknown as { table: string }).table;
    this.c.tableOpFuel = Math.max(this.c.tableOpFuel, tables.grow.get(table) ?? 0);
    const local = this.resultLocal(b.i32);
    const size = m.i64.extend_u(m.table.size(table));
    const charged = m.block(null, [m.local.set(local, expr), this.globalLess(size), m.local.get(local, b.i32)], b.i32);
    return this.chargeAfterCall(charged, region);
  }

  /**
   * table.fill/copy/init (a helper of table-ops.ts): charged by the length once it has written that
   * many elements (a trap writes none and is not charged), then checked, like the bulk memory
   * helpers. elem.drop is constant work.
   */
  private meterTableHelper(expr: ExpressionRef, region: Region): ExpressionRef {
    const { b, m, tables } = this.c;
    const { target, operands } = b.getExpressionInfo(expr) as unknown as { target: string; operands: ExpressionRef[] };
    if (operands.length !== 3 || b.getExpressionType(expr) === b.unreachable) return expr;
    this.c.tableOpFuel = Math.max(this.c.tableOpFuel, TABLE_ELEMENT_FUEL * tables.helpers.get(target)!);
    (b as unknown as { Call: { setOperandAt(e: ExpressionRef, i: number, v: ExpressionRef): void } }).Call.setOperandAt(
      expr,
      2,
      m.local.tee(this.bulkLocal, operands[2]!, b.i32),
    );
    const written = m.i64.shl(m.i64.extend_u(m.local.get(this.bulkLocal, b.i32)), this.i64c(TABLE_ELEMENT_FUEL_LOG2));
    return this.chargeAfterCall(m.block(null, [expr, this.globalLess(written)]), region);
  }

  /**
   * memory.init: a constant small length stays inline (chargeInit); a long or unknown one goes
   * through a chunked helper for its segment, like copy/fill.
   */
  private meterInit(expr: ExpressionRef, region: Region): ExpressionRef {
    const { b, m, initHelpers } = this.c;
    if (constantBulkBytes(b, expr) !== undefined) return this.chargeInit(expr);
    region.hasCall = true;
    const op = b.getExpressionInfo(expr) as unknown as { segment: string; dest: ExpressionRef; offset: ExpressionRef; size: ExpressionRef };
    let helper = initHelpers.get(op.segment);
    if (helper === undefined) initHelpers.set(op.segment, (helper = `${HELPER_NAMES.init}${initHelpers.size}`));
    this.c.chunked = true;
    return this.chargeAfterCall(m.call(helper, [op.dest, op.offset, op.size], b.none), region);
  }

  /**
   * A call that may have run for long (a checked function, a host import, a helper) is followed
   * by a charge for the rest of this region and a check. The region was paid on entry, but that
   * may have been slices ago: returning through a deep stack must be paid as it runs, or a
   * recursion could unwind, doing each frame's tail, without ever running out of fuel.
   */
  private chargeAfterCall(call: ExpressionRef, region: Region): ExpressionRef {
    const { b, m } = this.c;
    const type = b.getExpressionType(call);
    if (type === b.unreachable) return call;
    const amount = this.i64c(0);
    region.pending.push({ amount, at: region.cost - region.open });
    const charge = [
      m.local.set(this.fuelLocal, m.i64.sub(m.global.get(FUEL_GLOBAL, b.i64), amount)),
      m.global.set(FUEL_GLOBAL, this.fuelGet()),
      m.if(m.i64.lt_s(this.fuelGet(), this.i64c(0)), this.callYield()),
    ];
    if (type === b.none) return m.block(null, [call, ...charge]);
    const local = this.resultLocal(type);
    return m.block(null, [m.local.set(local, call), ...charge, m.local.get(local, type)], type);
  }

  /**
   * The after-call charges of a finished region: what it entered after each call, plus what was
   * open around the call (those expressions finish after it).
   */
  private settle(region: Region): void {
    const constSet = (this.c.b as unknown as { Const: { setValueI64(e: ExpressionRef, v: number): void } }).Const;
    for (const p of region.pending) constSet.setValueI64(p.amount, region.cost - p.at);
  }

  /**
   * memory.init copies at most one data segment (bounded by the module's size); it stays inline
   * and is charged by its length. Both the local and the global are charged: inside a call-free
   * loop the local is the live count (the global is written back on the way out); elsewhere the
   * global is, and the local is reloaded before it is next read.
   */
  private chargeInit(op: ExpressionRef): ExpressionRef {
    const { b, m } = this.c;
    const size = (b.getExpressionInfo(op) as unknown as { size: ExpressionRef }).size;
    (b as unknown as { MemoryInit: { setSize(e: ExpressionRef, v: ExpressionRef): void } }).MemoryInit.setSize(
      op,
      m.local.tee(this.bulkLocal, size, b.i32),
    );
    const extra = () => m.i64.extend_u(m.i32.shr_u(m.local.get(this.bulkLocal, b.i32), m.i32.const(BULK_BYTES_PER_FUEL_LOG2)));
    return m.block(null, [op, m.local.set(this.fuelLocal, m.i64.sub(this.fuelGet(), extra())), this.globalLess(extra())]);
  }

  /**
   * Every loop becomes
   *   block $done (loop $again (block $out (br $done (loop $L (charge; br_if $out fuel<0) body)))
   *                (call yield) (refund) (br $again))
   * so the yield call sits *outside* the hot loop. Asyncify must instrument every function that
   * can reach the call, and inside such a function it guards each stretch of code with a state
   * check; with the call out of line, a call-free loop stays one unguarded stretch.
   *
   * A loop without calls cannot have its fuel read or changed by anyone else while it runs, so its
   * running fuel lives in a local (a register): the local is loaded on entry, and written back to
   * the global only where control leaves the loop — its end, every branch or return out of it, and
   * before the yield (loop-exits.ts). The iteration itself is a subtract and a predictable branch.
   * (A trap inside such a loop leaves the global at its value on entry or at the last pause: a
   * trapped run's fuelUsed may miss at most one slice of that loop.) A loop with a value falls back
   * to storing every iteration, which needs no exit bookkeeping.
   */
  private meterLoop(loop: ExpressionRef, parent: Region): ExpressionRef {
    const { b, m, set, options } = this.c;
    this.c.loops++;
    const region = newRegion();
    const nestedReloads = this.entryReloads.length;
    let body = this.visit((b.getExpressionInfo(loop) as unknown as { body: ExpressionRef }).body, region);
    this.settle(region);
    parent.hasCall ||= region.hasCall;
    const cost = Math.max(region.cost, 1);
    const label = this.c.labels++;
    const shape: LoopShape = {
      done: `__ferry_done${label}`,
      again: `__ferry_again${label}`,
      out: `__ferry_out${label}`,
      type: b.getExpressionType(loop),
      callFree: !region.hasCall,
      lazy: false,
      cost,
    };
    shape.lazy = shape.callFree && !options.eagerLoopFuel && (shape.type === b.none || shape.type === b.unreachable);
    const exhausted = m.br_if(shape.out, m.i64.lt_s(this.fuelGet(), this.i64c(0)));
    const charge = [m.local.set(this.fuelLocal, m.i64.sub(this.fuelGet(), this.i64c(cost)))];
    let header: ExpressionRef[];
    if (!shape.callFree) header = [...this.chargeFromGlobal(cost), exhausted];
    else if (shape.lazy) header = [...charge, exhausted];
    else header = [...charge, this.storeFuel(), exhausted];
    if (shape.lazy) {
      body = storeOnExits(this.c, body, (b.getExpressionInfo(loop) as unknown as { name: string | null }).name, () => this.storeFuel());
      // Loops nested in this one run where the local is live: their entry reloads become no-ops.
      for (const reload of this.entryReloads.splice(nestedReloads)) set.LocalSet.setValue(reload, this.fuelGet());
    }
    set.Loop.setBody(loop, m.block(null, [...header, body]));
    return this.retryAround(loop, shape);
  }

  /** The loop's way out when its fuel runs out: store, yield, refund the iteration, and go again. */
  private retryAround(loop: ExpressionRef, s: LoopShape): ExpressionRef {
    const { b, m } = this.c;
    const inner =
      s.type === b.unreachable
        ? loop
        : s.type === b.none
          ? m.block(null, [loop, ...(s.lazy ? [this.storeFuel()] : []), m.br(s.done)])
          : m.br(s.done, undefined, loop);
    const retry = m.loop(
      s.again,
      m.block(null, [
        m.block(s.out, [inner]),
        ...(s.lazy ? [this.storeFuel()] : []),
        this.callYield(),
        // The iteration that ran out is charged again when it re-enters, in the next slice:
        // refund it here, so a run's fuel does not depend on where its slices ended.
        m.global.set(FUEL_GLOBAL, m.i64.add(m.global.get(FUEL_GLOBAL, b.i64), this.i64c(s.cost))),
        ...(s.callFree ? [m.local.set(this.fuelLocal, m.global.get(FUEL_GLOBAL, b.i64))] : []),
        m.br(s.again),
      ]),
    );
    const type = s.type === b.unreachable ? b.none : s.type;
    if (!s.callFree) return m.block(s.done, [retry], type);
    const reload = m.local.set(this.fuelLocal, m.global.get(FUEL_GLOBAL, b.i64));
    this.entryReloads.push(reload);
    return m.block(s.done, [reload, retry], type);
  }

  private chargeFromGlobal(cost: number, check = false): ExpressionRef[] {
    const { b, m, plan, options } = this.c;
    const charge = [
      m.local.set(this.fuelLocal, m.i64.sub(m.global.get(FUEL_GLOBAL, b.i64), this.i64c(cost))),
      m.global.set(FUEL_GLOBAL, this.fuelGet()),
    ];
    if (check && options.stack && plan.recursive.has(this.name))
      charge.push(...options.stack.entryCheck(this.name, this.fuelGet(), this.callYield()));
    else if (check) charge.push(m.if(m.i64.lt_s(this.fuelGet(), this.i64c(0)), this.callYield()));
    return charge;
  }
}

interface LoopShape {
  done: string;
  again: string;
  out: string;
  type: number;
  callFree: boolean;
  /** Call-free without a value: the running fuel stays in the local, stored on the way out. */
  lazy: boolean;
  cost: number;
}
