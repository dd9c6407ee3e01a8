// Which passive data and element segments a guest has dropped is part of its execution segment:
// after `data.drop`, `memory.init` from that segment traps, and after `elem.drop`, `table.init`. A
// fresh instance (a restore, a migration) starts with every passive segment intact, so the drops are
// recorded where snapshots see them — one mutable i32 global per dropped-somewhere segment, set next
// to its `data.drop` (or in the helper every `elem.drop` became, table-ops.ts) — and
// `__ferry_redrop`, which the runtime calls after restoring the globals, drops them again.

import type { Binaryen, BinaryenModule, ExpressionRef } from "./binaryen.js";
import { irSetters } from "./binaryen.js";
import { EXPORTS } from "./export-names.js";
import type { SnapshotGlobal } from "./segment.js";
import type { IrWalker } from "./ir-walk.js";

/**
 * Rewrite every `data.drop` to set its segment's flag first, and every elem.drop helper (by name,
 * table-ops.ts) to set its own, add the redrop export, and return the flag globals (exported like
 * the module's own mutable globals, so snapshots carry them).
 */
export function trackDataDrops(b: Binaryen, m: BinaryenModule, walker: IrWalker, elemDrops: readonly string[] = []): SnapshotGlobal[] {
  const flags = new Map<string, string>();
  const flagOf = (segment: string): string => {
    let name = flags.get(segment);
    if (!name) {
      name = `__ferry_dropped_${flags.size}`;
      flags.set(segment, name);
    }
    return name;
  };
  const rewrite = (expr: ExpressionRef): ExpressionRef => {
    walker.mapChildren(expr, rewrite);
    if (b.getExpressionId(expr) !== b.DataDropId) return expr;
    const segment = (b.getExpressionInfo(expr) as unknown as { segment: string }).segment;
    return m.block(null, [m.global.set(flagOf(segment), m.i32.const(1)), expr], b.none);
  };
  const set = irSetters(b);
  const defined: number[] = [];
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const fn = m.getFunctionByIndex(f);
    if (!b.getFunctionInfo(fn).base) defined.push(fn);
  }
  // Globals are added after the walk (it needs their names only): adding one moves no function.
  for (const fn of defined) set.Function.setBody(fn, rewrite(b.getFunctionInfo(fn).body));
  const elemFlags = new Map<string, string>();
  for (const helper of elemDrops) {
    const name = `__ferry_dropped_${flags.size + elemFlags.size}`;
    elemFlags.set(helper, name);
    const fn = m.getFunction(helper);
    set.Function.setBody(fn, m.block(null, [m.global.set(name, m.i32.const(1)), b.getFunctionInfo(fn).body]));
  }
  if (flags.size === 0 && elemFlags.size === 0) return [];

  const out: SnapshotGlobal[] = [];
  const redrop: ExpressionRef[] = [];
  // An elem.drop helper is metered like any function: called here, between runs, its entry charge
  // lands on a fuel global the next slice overwrites.
  const drops: Array<[flag: string, drop: () => ExpressionRef]> = [
    ...[...flags].map(([segment, name]): [string, () => ExpressionRef] => [name, () => m.data.drop(segment)]),
    ...[...elemFlags].map(([helper, name]): [string, () => ExpressionRef] => [name, () => m.call(helper, [], b.none)]),
  ];
  for (const [name, drop] of drops) {
    const index = m.getNumGlobals();
    m.addGlobal(name, b.i32, true, m.i32.const(0));
    const exportName = `${EXPORTS.globalPrefix}${index}`;
    m.addGlobalExport(name, exportName);
    out.push({ index, type: "i32", exportName });
    redrop.push(m.if(m.global.get(name, b.i32), drop()));
  }
  m.addFunction(REDROP_FUNCTION, b.none, b.none, [], m.block(null, redrop));
  m.addFunctionExport(REDROP_FUNCTION, EXPORTS.redrop);
  return out;
}

const REDROP_FUNCTION = "__ferry_redrop";
