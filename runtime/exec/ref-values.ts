// Tables and reference-typed globals of a running guest, read into and written from a snapshot
// (runtime/code/ref-state.ts says what the instrumentation exports for it). A funcref travels as its
// function's index in the original module; the instance's exported functions `__ferry_fn<k>` are the
// very objects its tables and globals hold, so reading is a lookup and writing puts them back.
// An externref is always null in a Ferry guest (no host function gives one).

import { functionExport } from "../code/ref-state.js";
import type { CodeSegment, SnapshotGlobal } from "../code/segment.js";
import { FerryError } from "../errors.js";
import type { GlobalValue, Snapshot, TableValue } from "./snapshot.js";

type Exports = Record<string, WebAssembly.ExportValue>;

export class ReferenceValues {
  /** Function object → its index in the original module, and back. */
  private readonly indexOf = new Map<unknown, number>();
  private readonly functionOf = new Map<number, unknown>();

  constructor(
    private readonly exports: Exports,
    private readonly segment: Pick<CodeSegment, "tables" | "refFunctions">,
  ) {
    for (const k of segment.refFunctions) {
      const fn = exports[functionExport(k)];
      this.functionOf.set(k, fn);
      // Two functions the optimizer merged are one object: either index names it.
      if (!this.indexOf.has(fn)) this.indexOf.set(fn, k);
    }
  }

  readGlobal(g: SnapshotGlobal): GlobalValue {
    return {
      index: g.index,
      type: g.type,
      value: this.indexOfValue((this.exports[g.exportName] as WebAssembly.Global).value, `global ${g.index}`),
    };
  }

  writeGlobal(g: SnapshotGlobal, v: GlobalValue): void {
    (this.exports[g.exportName] as WebAssembly.Global).value = v.value === null ? null : this.functionOf.get(v.value as number);
  }

  /** The tables the code can change, as they are now. */
  readTables(): TableValue[] {
    return this.segment.tables.map((t) => {
      const table = this.exports[t.exportName] as WebAssembly.Table;
      const elements = new Array<number | null>(table.length);
      for (let i = 0; i < table.length; i++) elements[i] = this.indexOfValue(table.get(i), `table ${t.index} element ${i}`);
      return { index: t.index, type: t.type, elements };
    });
  }

  /**
   * Check a snapshot's tables and reference globals against this fresh instance before anything is
   * written: the same tables, no smaller than they start and within their bound, and every function
   * one of those this module's references can name.
   */
  check(s: Snapshot, globals: readonly SnapshotGlobal[]): void {
    const malformed = (detail: string): never => {
      throw new FerryError("snapshot_malformed", detail);
    };
    const named = (value: unknown, where: string): void => {
      if (value !== null && !this.functionOf.has(value as number))
        malformed(`${where} names function ${String(value)}, which no reference of this module can hold`);
    };
    const values = new Map(s.globals.map((v) => [v.index, v]));
    for (const g of globals) if (g.type === "funcref") named(values.get(g.index)?.value ?? null, `global ${g.index}`);
    const want = this.segment.tables;
    const got = s.tables ?? [];
    if (got.length !== want.length || want.some((t, i) => got[i]!.index !== t.index || got[i]!.type !== t.type)) {
      malformed(
        `the snapshot's tables (${got.map((t) => t.index).join(", ") || "none"}) are not the ones this module's code changes (${want.map((t) => t.index).join(", ") || "none"})`,
      );
    }
    for (const [i, t] of want.entries()) {
      const size = got[i]!.elements.length;
      const start = (this.exports[t.exportName] as WebAssembly.Table).length;
      if (size < start) malformed(`table ${t.index} has ${size} elements, the module starts it with ${start}`);
      if (size > t.max) throw new FerryError("snapshot_limit", `table ${t.index} of ${size} elements exceeds its bound of ${t.max}`);
      for (const [k, e] of got[i]!.elements.entries()) named(e, `table ${t.index} element ${k}`);
    }
  }

  /** Put the tables of a checked snapshot into this fresh instance. */
  writeTables(tables: readonly TableValue[]): void {
    for (const [i, t] of this.segment.tables.entries()) {
      const table = this.exports[t.exportName] as WebAssembly.Table;
      const elements = tables[i]!.elements;
      if (elements.length > table.length) table.grow(elements.length - table.length, null);
      for (let k = 0; k < elements.length; k++) table.set(k, elements[k] === null ? null : this.functionOf.get(elements[k]!));
    }
  }

  private indexOfValue(value: unknown, where: string): number | null {
    if (value === null) return null;
    const index = this.indexOf.get(value);
    // Every function a reference can hold is exported (ref-state.ts): a bug, not bad input.
    if (index === undefined) throw new Error(`${where} holds a function Ferry did not export`);
    return index;
  }
}
