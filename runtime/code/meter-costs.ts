// What the metering charges and the state it shares across a module's functions: the static cost of
// an instruction, the table operations' bounds, and the per-module context each FunctionMeter
// (function-meter.ts) reads and adds to. A leaf of the metering: meter.ts and function-meter.ts
// both import it.

import type { Binaryen, BinaryenModule, ExpressionRef, IrSetters } from "./binaryen.js";
import type { IrWalker } from "./ir-walk.js";
import { BULK_BYTES_PER_FUEL_LOG2, INLINE_BULK_BYTES } from "./meter-helpers.js";
import type { MeterPlan } from "./meter-plan.js";
import type { StackBudget } from "./stack-budget.js";

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
export const TABLE_ELEMENT_FUEL_LOG2 = 3;

export interface MeterOptions {
  eagerLoopFuel: boolean;
  /** With Asyncify: recursive functions count their frames, checked with their fuel (stack-budget.ts). */
  stack?: StackBudget;
  tables?: TableMetering;
}

/** A function body or a loop body: charged once, on entry, for what it contains outside nested loops. */
export interface Region {
  cost: number;
  hasCall: boolean;
  /** Expressions entered but not yet left in this region: they finish after a call returns. */
  open: number;
  /** After-call charges whose amount (the rest of this region) is known once the region is done. */
  pending: Array<{ amount: ExpressionRef; at: number }>;
}

export function newRegion(): Region {
  return { cost: 0, hasCall: false, open: 0, pending: [] };
}

/** The module being metered and what its functions' meters share and add to. */
export interface ModuleMeter {
  b: Binaryen;
  m: BinaryenModule;
  walker: IrWalker;
  set: IrSetters;
  plan: MeterPlan;
  tables: TableMetering;
  options: MeterOptions;
  /** Internal name of the `ferry.yield` import. */
  yieldName: string;
  /** Imports other than yield: a call to one charges after it returns. */
  imported: ReadonlySet<string>;
  /** The internal name of `ferry.output_write`, when imported: its calls go to a chunking helper. */
  outputWrite: string | undefined;
  /** Data segment name → its memory.init helper. */
  initHelpers: Map<string, string>;
  loops: number;
  /** Numbers the labels each metered loop adds (module-wide, so names never clash). */
  labels: number;
  /** Whether any bulk operation goes through a chunked helper (its first chunk adds to a span). */
  chunked: boolean;
  /** The most fuel one table operation charges before the check after it. */
  tableOpFuel: number;
}

/** Fuel for an instruction outside the rewritten ones: 1, plus the bytes of a small constant bulk op. */
export function staticCost(b: Binaryen, expr: ExpressionRef): number {
  const id = b.getExpressionId(expr);
  if (id === b.BlockId || id === b.NopId) return 0;
  if (id === b.MemoryFillId || id === b.MemoryCopyId) {
    const bytes = constantBulkBytes(b, expr);
    if (bytes !== undefined) return 1 + (bytes >> BULK_BYTES_PER_FUEL_LOG2);
  }
  return 1;
}

/** The length of a memory.fill/copy when it is a constant small enough to stay inline. */
export function constantBulkBytes(b: Binaryen, expr: ExpressionRef): number | undefined {
  const size = (b.getExpressionInfo(expr) as unknown as { size: ExpressionRef }).size;
  if (b.getExpressionId(size) !== b.ConstId) return undefined;
  const bytes = (b.getExpressionInfo(size) as unknown as { value: number }).value >>> 0;
  return bytes <= INLINE_BULK_BYTES ? bytes : undefined;
}

/** The target of a `call` expression. */
export function callTarget(b: Binaryen, expr: ExpressionRef): string {
  return (b.getExpressionInfo(expr) as unknown as { target: string }).target;
}
