// Deterministic fuel metering. Every function body and every loop body is a *region*; a region is
// charged once, on entry, for all the instructions it contains outside nested loops (if-arms are
// charged whether taken or not: fuel is a deterministic upper bound on work, not a cycle count).
// Fuel is checked only where unbounded work can start again: at loop headers, and at the entry of
// functions that can recurse. Any path between two checks is bounded by the module's size, so a
// guest always reaches a check, and so `ferry.yield`, within bounded work.

import { irSetters, type Binaryen, type BinaryenModule, type ExpressionRef } from "./binaryen.js";
import { IrWalker } from "./ir-walk.js";

export const FUEL_GLOBAL = "__ferry_fuel";
export const GROW_FAILED_GLOBAL = "__ferry_grow_failed";
/** Bulk memory operations cost one extra fuel per 2^6 = 64 bytes. */
const BULK_BYTES_PER_FUEL_LOG2 = 6;

interface Region {
  cost: number;
  hasCall: boolean;
}

interface FunctionFacts {
  name: string;
  callees: Set<string>;
  callsIndirect: boolean;
}

export interface MeterResult {
  /** Defined functions that got a fuel check at entry because they can recurse. */
  recursiveFunctions: string[];
  loops: number;
}

/**
 * Instrument `m` in place. `yieldName` is the internal name of the `ferry.yield` import, and
 * `tableFunctions` the functions reachable through call_indirect.
 */
export function meterModule(b: Binaryen, m: BinaryenModule, yieldName: string, tableFunctions: Set<string>, options: { eagerLoopFuel: boolean } = { eagerLoopFuel: false }): MeterResult {
  const walker = new IrWalker(b);
  const set = irSetters(b);
  const i64 = b.i64;
  // binaryen.js 132 takes one bigint for i64.const; its typings still describe (low, high).
  const i64c = (value: number): ExpressionRef => (m.i64.const as unknown as (v: bigint) => ExpressionRef)(BigInt(value));
  m.addGlobal(FUEL_GLOBAL, i64, true, i64c(0));
  m.addGlobal(GROW_FAILED_GLOBAL, b.i32, true, m.i32.const(0));

  const facts: FunctionFacts[] = [];
  const entries: Array<{ fn: number; name: string; cost: number; charge: (cost: number, check: boolean) => ExpressionRef[] }> = [];
  let loops = 0;
  let labels = 0;

  const count = m.getNumFunctions();
  for (let f = 0; f < count; f++) {
    const fn = m.getFunctionByIndex(f);
    const info = b.getFunctionInfo(fn);
    if (info.base) continue; // an import: no body
    const params = b.expandType(info.params).length;
    // Three scratch locals per function: the running fuel (i64), a memory.grow result (i32) and
    // a bulk-memory length (i32).
    const fuelLocal = params + info.vars.length;
    const growLocal = fuelLocal + 1;
    const bulkLocal = fuelLocal + 2;
    set.addVar(fn, i64);
    set.addVar(fn, b.i32);
    set.addVar(fn, b.i32);

    const own: FunctionFacts = { name: info.name, callees: new Set(), callsIndirect: false };
    facts.push(own);

    const fuelGet = () => m.local.get(fuelLocal, i64);
    const storeFuel = () => m.global.set(FUEL_GLOBAL, fuelGet());
    const callYield = () => m.call(yieldName, [], b.none);
    // Entry reloads (`local = global`) of the call-free loops built so far in this function: one
    // nested in a call-free loop must not reload (there the local is current and the global stale).
    const entryReloads: ExpressionRef[] = [];

    const visit = (expr: ExpressionRef, region: Region): ExpressionRef => {
      const id = b.getExpressionId(expr);
      if (id !== b.BlockId && id !== b.NopId) region.cost += 1;
      if (id === b.LoopId) return meterLoop(expr, region);
      if (id === b.CallId) {
        region.hasCall = true;
        own.callees.add((b.getExpressionInfo(expr) as unknown as { target: string }).target);
      } else if (id === b.CallIndirectId) {
        region.hasCall = true;
        own.callsIndirect = true;
      }
      walker.mapChildren(expr, (child) => visit(child, region));
      if (id === b.MemoryGrowId) return noteGrowFailure(expr);
      if (id === b.MemoryFillId || id === b.MemoryCopyId) return chargeBulk(expr, id === b.MemoryFillId ? "MemoryFill" : "MemoryCopy");
      return expr;
    };

    // memory.fill / memory.copy are one instruction but their work grows with their length (a
    // 256 MiB fill takes tens of ms): charge one more fuel per 64 bytes, after the operation. Both
    // the local and the global are charged: inside a call-free loop the local is the live count
    // (the global is written back on the way out); elsewhere the global is, and the local is
    // reloaded before it is next read.
    const chargeBulk = (op: ExpressionRef, kind: "MemoryFill" | "MemoryCopy"): ExpressionRef => {
      const size = (b.getExpressionInfo(op) as unknown as { size: ExpressionRef }).size;
      (b as unknown as Record<string, { setSize(e: ExpressionRef, v: ExpressionRef): void }>)[kind]!.setSize(op, m.local.tee(bulkLocal, size, b.i32));
      const extra = () => m.i64.extend_u(m.i32.shr_u(m.local.get(bulkLocal, b.i32), m.i32.const(BULK_BYTES_PER_FUEL_LOG2)));
      return m.block(null, [
        op,
        m.local.set(fuelLocal, m.i64.sub(fuelGet(), extra())),
        m.global.set(FUEL_GLOBAL, m.i64.sub(m.global.get(FUEL_GLOBAL, i64), extra())),
      ]);
    };

    // memory.grow returning -1 sets a flag, so a later trap can be reported as memory_limit.
    const noteGrowFailure = (grow: ExpressionRef): ExpressionRef =>
      m.block(null, [
        m.local.set(growLocal, grow),
        m.if(
          m.i32.eq(m.local.get(growLocal, b.i32), m.i32.const(-1)),
          m.global.set(GROW_FAILED_GLOBAL, m.i32.const(1)),
        ),
        m.local.get(growLocal, b.i32),
      ], b.i32);

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
      const region: Region = { cost: 0, hasCall: false };
      const nestedReloads = entryReloads.length;
      let body = visit((b.getExpressionInfo(loop) as unknown as { body: ExpressionRef }).body, region);
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
        type === b.unreachable ? loop : type === b.none ? m.block(null, [loop, ...(lazy ? [storeFuel()] : []), m.br(done)]) : m.br(done, undefined, loop);
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
        const label = kind === b.BlockId || kind === b.LoopId ? (b.getExpressionInfo(expr) as unknown as { name: string | null }).name : null;
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
      const charge = [
        m.local.set(fuelLocal, m.i64.sub(m.global.get(FUEL_GLOBAL, i64), i64c(cost))),
        m.global.set(FUEL_GLOBAL, fuelGet()),
      ];
      if (check) charge.push(m.if(m.i64.lt_s(fuelGet(), i64c(0)), callYield()));
      return charge;
    };

    const region: Region = { cost: 0, hasCall: false };
    set.Function.setBody(fn, visit(info.body, region));
    entries.push({ fn, name: info.name, cost: Math.max(region.cost, 1), charge: chargeFromGlobal });
  }

  // Entry charges go in last: whether an entry also checks depends on the whole call graph.
  const recursive = findRecursive(facts, tableFunctions);
  for (const e of entries) {
    const body = b.getFunctionInfo(e.fn).body;
    set.Function.setBody(e.fn, m.block(null, [...e.charge(e.cost, recursive.has(e.name)), body]));
  }
  return { recursiveFunctions: [...recursive], loops };
}

/** Functions on a call-graph cycle (Tarjan's SCC). Indirect calls may reach any table function. */
function findRecursive(facts: FunctionFacts[], tableFunctions: Set<string>): Set<string> {
  const defined = new Set(facts.map((f) => f.name));
  const edges = new Map<string, string[]>();
  for (const f of facts) {
    const out = [...f.callees].filter((c) => defined.has(c));
    if (f.callsIndirect) for (const t of tableFunctions) if (defined.has(t)) out.push(t);
    edges.set(f.name, out);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const recursive = new Set<string>();
  let next = 0;

  // Iterative Tarjan: guest call graphs can be deep enough to overflow a recursive one.
  for (const root of edges.keys()) {
    if (index.has(root)) continue;
    const work: Array<{ node: string; edge: number }> = [{ node: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const out = edges.get(top.node)!;
      if (top.edge < out.length) {
        const to = out[top.edge++]!;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]!.node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== top.node);
        const selfLoop = edges.get(top.node)!.includes(top.node);
        if (component.length > 1 || selfLoop) for (const c of component) recursive.add(c);
      }
    }
  }
  return recursive;
}
