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
// plus SPAN_FUEL, whatever the call graph. This file plans and bounds; function-meter.ts rewrites
// each function.

import { i64Const, irSetters, type Binaryen, type BinaryenModule, type ExpressionRef } from "./binaryen.js";
import { FunctionMeter } from "./function-meter.js";
import { addOutputWriteHelper, outputWriteImport } from "./host-call-helpers.js";
import { IrWalker } from "./ir-walk.js";
import { callTarget, staticCost, type MeterOptions, type ModuleMeter, type TableMetering } from "./meter-costs.js";
import { addMemoryInitHelper, addMeterHelpers, BULK_CHUNK_FUEL, FUEL_GLOBAL, GROW_FAILED_GLOBAL } from "./meter-helpers.js";
import { planChecks, type CallGraphFunction } from "./meter-plan.js";

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
        const target = callTarget(b, expr);
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

/** Imports other than yield: a call to one charges after it returns. */
function importedFunctions(b: Binaryen, m: BinaryenModule, yieldName: string): Set<string> {
  const imported = new Set<string>();
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const info = b.getFunctionInfo(m.getFunctionByIndex(f));
    if (info.base && info.name !== yieldName) imported.add(info.name);
  }
  return imported;
}

/**
 * Instrument `m` in place. `yieldName` is the internal name of the `ferry.yield` import, and
 * `tableFunctions` the functions reachable through call_indirect.
 */
export function meterModule(
  b: Binaryen,
  m: BinaryenModule,
  yieldName: string,
  tableFunctions: Set<string>,
  memoryName: string,
  options: MeterOptions = { eagerLoopFuel: false },
): MeterResult {
  const tables: TableMetering = options.tables ?? { helpers: new Map(), grow: new Map() };
  const walker = new IrWalker(b);
  const graph = callGraph(b, m, walker, tables);
  const c: ModuleMeter = {
    b,
    m,
    walker,
    set: irSetters(b),
    plan: planChecks(graph, tableFunctions),
    tables,
    options,
    yieldName,
    imported: importedFunctions(b, m, yieldName),
    outputWrite: outputWriteImport(b, m),
    initHelpers: new Map(),
    loops: 0,
    labels: 0,
    chunked: false,
    tableOpFuel: 0,
  };
  m.addGlobal(FUEL_GLOBAL, b.i64, true, i64Const(m, 0));
  m.addGlobal(GROW_FAILED_GLOBAL, b.i32, true, m.i32.const(0));

  const meters: FunctionMeter[] = [];
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const fn = m.getFunctionByIndex(f);
    const info = b.getFunctionInfo(fn);
    if (info.base) continue; // an import: no body
    if (tables.helpers.has(info.name)) continue; // a table helper: charged where it is called
    const meter = new FunctionMeter(c, fn);
    meter.meterBody();
    meters.push(meter);
  }
  for (const meter of meters) meter.addEntryCharge();
  // Added after the walk, so their own bulk operations are not rewritten into calls to themselves.
  addMeterHelpers(b, m, yieldName, memoryName);
  for (const [segment, helper] of c.initHelpers) addMemoryInitHelper(b, m, segment, helper, yieldName, memoryName);
  if (c.outputWrite !== undefined) addOutputWriteHelper(b, m, c.outputWrite, yieldName, memoryName);
  const maxFunctionSize = graph.reduce((most, f) => Math.max(most, f.size), 0);
  return {
    recursiveFunctions: [...c.plan.recursive],
    checkedFunctions: c.plan.checked.size,
    loops: c.loops,
    // Between two checks: the entry charges of the unchecked calls (at most the largest span), one
    // charge just before the failing check (a loop header, a checked function's entry or the rest
    // of a region after a call: at most the largest function), and — when the span ends in a call
    // to a chunked helper, whose first chunk runs before its first check — one chunk, or when it
    // ends in a table operation, that operation's charge (one call ends a span: not both).
    meterBound: c.plan.maxSpan + maxFunctionSize + Math.max(c.chunked ? BULK_CHUNK_FUEL : 0, c.tableOpFuel) + HELPER_OVERHEAD_FUEL,
  };
}

/** Fuel the instrumentation's own bookkeeping around one check may add to a span. */
const HELPER_OVERHEAD_FUEL = 16;
