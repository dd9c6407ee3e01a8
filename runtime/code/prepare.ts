// The pipeline's first stage (instrument.ts runs the others): refuse the names the instrumentation
// reserves, list the entry points, export the memory and the mutable globals under known names,
// detach the start function and make sure the module imports the yield the metering calls. What it
// learns about the guest (Guest) travels to the later stages.

import { FerryError } from "../errors.js";
import { CHECKPOINT_IMPORT, FERRY_MODULE, YIELD_IMPORT } from "../host/index.js";
import type { Binaryen, BinaryenModule } from "./binaryen.js";
import { EXPORTS } from "./export-names.js";
import { reservedPagesFor } from "./memory-shift.js";
import { capTables } from "./ref-state.js";
import { stackBytesOf, type EntryPoint, type InstrumentOptions, type SnapshotGlobal } from "./segment.js";
import { StackBudget } from "./stack-budget.js";
import type { TablePlan } from "./table-ops.js";
import type { FuncSig, ModuleStructure } from "./wasm-reader.js";

/** What the pipeline's stages learn about the guest and carry from one to the next. */
export interface Guest {
  /** Binaryen's names of the original functions and of the table helpers, by index, before anything is added. */
  functionNames: string[];
  tableBounds: number[];
  entries: EntryPoint[];
  hasContinuation: boolean;
  usesCheckpoints: boolean;
  stackBytes: number;
  reservedPages: number;
  initialMemoryPages: number;
  globals: SnapshotGlobal[];
  hasStart: boolean;
  yieldName: string;
  /**
   * Pausable recursion counts the frames a pause would save, so that a stack too deep for the
   * continuation buffer traps the same way paused or not (stack-budget.ts). The counter is a
   * snapshot global with or without Asyncify, so that both kinds of engine restore each other's
   * checkpoints; only Asyncify's frames are counted.
   */
  stack: StackBudget | undefined;
  inTables: Set<string>;
}

/** Refuse reserved names, then export the memory and mutable globals, detach the start function and make sure of the yield import. */
export function prepare(
  b: Binaryen,
  m: BinaryenModule,
  structure: ModuleStructure,
  tablePlan: TablePlan,
  options: InstrumentOptions,
): Guest {
  const functionNames = Array.from({ length: m.getNumFunctions() }, (_, i) => b.getFunctionInfo(m.getFunctionByIndex(i)).name);
  const tableBounds = capTables(b, m, options.limits.maxTableElements, tablePlan.grownTables);

  refuseReservedExports(structure.exports);
  refuseReservedNames(b, m);
  const entries: EntryPoint[] = [];
  structure.exports.forEach((e, exportIndex) => {
    if (e.kind !== "func") return;
    const sig: FuncSig = structure.types[structure.functionTypes[e.index]!]!;
    entries.push({ name: e.name, exportIndex, params: sig.params, results: sig.results });
  });
  const hasContinuation = structure.exports.some((e) => e.name === EXPORTS.continuation && e.kind === "global");
  const usesCheckpoints = structure.imports.some((i) => i.module === FERRY_MODULE && i.name === CHECKPOINT_IMPORT);

  const stackBytes = stackBytesOf(options);
  const reservedPages = options.asyncify && !hasContinuation ? reservedPagesFor(stackBytes) : 0;

  const initialMemoryPages = exportMemory(b, m);
  const globals = exportMutableGlobals(b, m);
  const hasStart = detachStart(b, m);
  const yieldName = ensureYieldImport(b, m);
  const stack = options.metering ? new StackBudget(b, m) : undefined;
  if (stack) globals.push(stack.global);
  const inTables = new Set(tablePlan.referencedFunctions.map((k) => functionNames[k]!));
  return {
    ...{ functionNames, tableBounds, entries, hasContinuation, usesCheckpoints, stackBytes, reservedPages },
    ...{ initialMemoryPages, globals, hasStart, yieldName, stack, inTables },
  };
}

/**
 * Export names the instrumentation adds (the memory, fuel, globals, start, and Asyncify's
 * controls). A module exporting one of them would have its export shadowed, or shadow ours, so it is
 * refused up front, naming the export. `ferry_continuation` is the guest's own to export.
 */
function refuseReservedExports(exports: ReadonlyArray<{ name: string }>): void {
  for (const e of exports) {
    if (e.name.startsWith("__ferry_") || e.name.startsWith("asyncify_")) {
      throw new FerryError("invalid_wasm", `export "${e.name}" uses a name the instrumentation reserves (__ferry_* and asyncify_*)`);
    }
  }
}

/** Internal names (from a name section) the instrumentation adds functions and globals under. */
function refuseReservedNames(b: Binaryen, m: BinaryenModule): void {
  const check = (kind: string, name: string) => {
    if (name.startsWith("__ferry_"))
      throw new FerryError(
        "invalid_wasm",
        `${kind} name "${name}" in the name section uses a prefix the instrumentation reserves (__ferry_*)`,
      );
  };
  for (let i = 0; i < m.getNumFunctions(); i++) check("function", b.getFunctionInfo(m.getFunctionByIndex(i)).name);
  for (let i = 0; i < m.getNumGlobals(); i++) check("global", b.getGlobalInfo(m.getGlobalByIndex(i)).name);
}

/** Give the memory a known export name (adding a 1-page memory if there is none). */
function exportMemory(b: Binaryen, m: BinaryenModule): number {
  if (!m.hasMemory()) {
    // setMemory replaces the data segments: a module without a memory may still have passive ones
    // (for data.drop), which must stay.
    m.setMemory(1, 1, EXPORTS.memory, passiveSegments(m));
    return 1;
  }
  const info = m.getMemoryInfo();
  const name = memoryInternalName(b, m);
  m.addMemoryExport(name, EXPORTS.memory);
  return info.initial;
}

/** The data segments of a module without a memory (all passive: an active one needs a memory), as setMemory takes them. */
function passiveSegments(m: BinaryenModule): Array<{ name: string; data: Uint8Array; passive: true; offset: number }> {
  // getNumDataSegments and getDataSegmentInfo are in binaryen.js but not in its type declarations.
  const data = m as unknown as {
    getNumDataSegments(): number;
    getDataSegmentByIndex(i: number): number;
    getDataSegmentInfo(ref: number): { name: string; data: ArrayBuffer };
  };
  return Array.from({ length: data.getNumDataSegments() }, (_, i) => {
    const segment = data.getDataSegmentInfo(data.getDataSegmentByIndex(i));
    return { name: segment.name, data: new Uint8Array(segment.data), passive: true, offset: 0 };
  });
}

function memoryInternalName(b: Binaryen, m: BinaryenModule): string {
  for (let i = 0; i < m.getNumExports(); i++) {
    const e = b.getExportInfo(m.getExportByIndex(i));
    if (e.kind === b.ExternalMemory) return e.value;
  }
  return "0"; // Binaryen's name for an unnamed memory read from a binary
}

function exportMutableGlobals(b: Binaryen, m: BinaryenModule): SnapshotGlobal[] {
  const out: SnapshotGlobal[] = [];
  const count = m.getNumGlobals();
  for (let index = 0; index < count; index++) {
    const info = b.getGlobalInfo(m.getGlobalByIndex(index));
    if (!info.mutable || info.module) continue;
    const type = (
      {
        [b.i32]: "i32",
        [b.i64]: "i64",
        [b.f32]: "f32",
        [b.f64]: "f64",
        [b.v128]: "v128",
        [b.funcref]: "funcref",
        [b.externref]: "externref",
      } as Record<number, SnapshotGlobal["type"]>
    )[info.type];
    if (!type) throw new FerryError("unsupported_feature", `mutable global ${index} has a type that cannot be snapshotted`);
    const exportName = `${EXPORTS.globalPrefix}${index}`;
    m.addGlobalExport(info.name, exportName);
    out.push({ index, type, exportName });
  }
  return out;
}

/** The start function becomes an export the runtime calls as the first, metered part of a run. */
function detachStart(b: Binaryen, m: BinaryenModule): boolean {
  const start = m.getStart();
  if (!start) return false;
  const name = b.getFunctionInfo(start).name;
  (b as unknown as { _BinaryenSetStart(module: number, fn: number): void })._BinaryenSetStart(m.ptr, 0);
  m.addFunctionExport(name, EXPORTS.start);
  return true;
}

function ensureYieldImport(b: Binaryen, m: BinaryenModule): string {
  for (let i = 0; i < m.getNumFunctions(); i++) {
    const info = b.getFunctionInfo(m.getFunctionByIndex(i));
    if (info.module === FERRY_MODULE && info.base === YIELD_IMPORT) return info.name;
  }
  m.addFunctionImport("__ferry_yield", FERRY_MODULE, YIELD_IMPORT, b.none, b.none);
  return "__ferry_yield";
}
