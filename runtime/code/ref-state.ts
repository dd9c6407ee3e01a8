// Tables and reference-typed globals are execution state once code can change them (table.set,
// grow, fill, copy, init; global.set of a funcref). A snapshot describes a funcref by the index of
// its function in the original module, so that it means the same function in any instance; the
// host reads a table's elements and a global's value as JavaScript function objects, and needs to
// know which function each one is, and to have one for every function it must put back.
//
// So the instrumentation exports every table some instruction can write (`__ferry_table<i>`) and,
// when a table or a funcref global travels, every function a table or funcref can hold — those in
// element segments or named by ref.func — as `__ferry_fn<k>` (k its index in the original module).
// An exported function is the same JavaScript object as the table element or global value holding
// it (V8, like the JS API, keeps one per function), so reading is an identity lookup and writing is
// `table.set(i, exports.__ferry_fn<k>)`. An externref can only be null in a Ferry guest (no host
// function gives one), so it travels as null.

import { FerryError } from "../errors.js";
import type { Binaryen, BinaryenModule } from "./binaryen.js";
import { EXPORTS } from "./export-names.js";
import type { SnapshotGlobal, SnapshotTable } from "./segment.js";
import type { TablePlan } from "./table-ops.js";
import type { ModuleStructure } from "./wasm-reader.js";

/** A table of the original module that snapshots carry. */
/** Export names of the functions snapshots can name (`refFunctions` of the code segment). */
export function functionExport(index: number): string {
  return `${EXPORTS.functionPrefix}${index}`;
}

/**
 * Export the written tables and, when any table or funcref global travels, every function a
 * reference can hold. `functionNames` are the Binaryen names of the original module's functions,
 * by index. Returns the tables and the exported functions' indices.
 */
export function exportReferenceState(
  b: Binaryen,
  m: BinaryenModule,
  s: ModuleStructure,
  plan: TablePlan,
  globals: readonly SnapshotGlobal[],
  functionNames: readonly string[],
  bounds: readonly number[],
): { tables: SnapshotTable[]; refFunctions: number[] } {
  const tables: SnapshotTable[] = [];
  for (const index of plan.writtenTables) {
    const type = s.tables[index]?.type;
    if (type !== "funcref" && type !== "externref")
      throw new FerryError("unsupported_feature", `table ${index} holds ${type ?? "an unknown type"}, not funcref or externref`);
    const exportName = `${EXPORTS.tablePrefix}${index}`;
    m.addTableExport(b.getTableInfo(m.getTableByIndex(index)).name, exportName);
    tables.push({ index, type, exportName, max: bounds[index]! });
  }
  const travels = tables.some((t) => t.type === "funcref") || globals.some((g) => g.type === "funcref");
  if (!travels) return { tables, refFunctions: [] };
  for (const k of plan.referencedFunctions) m.addFunctionExport(functionNames[k]!, functionExport(k));
  return { tables, refFunctions: plan.referencedFunctions };
}

/**
 * Each table's bound, the most elements it can ever have: its initial size when no table.grow names
 * it (the `grown` tables), else its declared maximum capped at `cap` — which becomes its maximum, so
 * that V8 refuses (table.grow answers -1) a growth past the engine's table limit.
 */
export function capTables(b: Binaryen, m: BinaryenModule, cap: number, grown: ReadonlySet<number>): number[] {
  const raw = b as unknown as { _BinaryenTableSetMax(table: number, max: number): void };
  const bounds: number[] = [];
  for (let i = 0; i < m.getNumTables(); i++) {
    const table = m.getTableByIndex(i);
    const info = b.getTableInfo(table);
    if (!grown.has(i)) {
      bounds.push(info.initial);
      continue;
    }
    const max = info.max === undefined ? cap : Math.min(info.max, cap);
    if (info.max === undefined || info.max > cap) raw._BinaryenTableSetMax(table, max);
    bounds.push(max);
  }
  return bounds;
}
