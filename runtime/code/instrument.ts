// The instrumentation pipeline, run once per (module, pipeline version, engine settings):
// validate → export memory and mutable globals → detach the start function → meter fuel →
// (a guest without its own continuation struct) shift its memory past the pages reserved for the
// struct → asyncify the yield import → optimize → validate → cap memory. Produces the code segment.

import { FerryError } from "../errors.js";
import { loadBinaryen, type Binaryen, type BinaryenModule } from "./binaryen.js";
import { ASYNCIFY_IMPORTS, CHECKPOINT_IMPORT, FERRY_MODULE, YIELD_IMPORT } from "../host/index.js";
import { trackDataDrops } from "./data-drops.js";
import { EXPORTS } from "./export-names.js";
import { addFloatBitsAccessors } from "./float-global-bits.js";
import { IrWalker } from "./ir-walk.js";
import { capMemoryMaximum } from "./memory-cap.js";
import { reserveMemoryPrefix, reservedPagesFor, shiftMemoryAccesses } from "./memory-shift.js";
import { meterModule } from "./meter.js";
import type { TableMetering } from "./meter-costs.js";
import { memoryName } from "./meter-helpers.js";
import { capTables, exportReferenceState } from "./ref-state.js";
import {
  PIPELINE_VERSION,
  sha256Hex,
  stackBytesOf,
  type CodeSegment,
  type EntryPoint,
  type InstrumentOptions,
  type SnapshotGlobal,
} from "./segment.js";
import { splitRewindVersions } from "./rewind-split.js";
import { StackBudget } from "./stack-budget.js";
import { planTables, type TablePlan } from "./table-ops.js";
import { validateModule } from "./validate.js";
import type { FuncSig } from "./wasm-reader.js";

export async function instrument(bytes: Uint8Array, options: InstrumentOptions): Promise<CodeSegment> {
  const structure = validateModule(bytes, options.limits);
  const b = await loadBinaryen();
  let m: BinaryenModule | undefined;
  try {
    // table.init/copy/fill and elem.drop become calls to helpers Binaryen can see around (table-ops.ts).
    const tablePlan = planTables(bytes, structure);
    m = readBinary(b, tablePlan.bytes, structure.elementSegments > 0);
    m.setFeatures(SUPPORTED_FEATURES(b));
    if (!m.validate()) {
      throw new FerryError(
        "unsupported_feature",
        "the code uses a proposal outside MVP, sign-ext, non-trapping float-to-int, bulk memory, reference types, SIMD and multi-value",
      );
    }
    // Binaryen's names of the original functions and of the table helpers, by index, before anything is added.
    const functionNames = Array.from({ length: m.getNumFunctions() }, (_, i) => b.getFunctionInfo(m!.getFunctionByIndex(i)).name);
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

    let recursiveFunctions = 0;
    let checkedFunctions = 0;
    let meteredLoops = 0;
    let meterBound = 0;
    // Pausable recursion counts the frames a pause would save, so that a stack too deep for the
    // continuation buffer traps the same way paused or not (stack-budget.ts). The counter is a
    // snapshot global with or without Asyncify, so that both kinds of engine restore each other's
    // checkpoints; only Asyncify's frames are counted.
    const stack = options.metering ? new StackBudget(b, m) : undefined;
    if (stack) globals.push(stack.global);
    const inTables = new Set(tablePlan.referencedFunctions.map((k) => functionNames[k]!));
    if (options.metering) {
      const counting = options.asyncify ? stack : undefined;
      const tables = tableMetering(b, m, tablePlan, tableBounds, functionNames);
      const result = meterModule(b, m, yieldName, inTables, memoryName(b, m, EXPORTS.memory), {
        eagerLoopFuel: options.eagerLoopFuel ?? false,
        stack: counting,
        tables,
      });
      recursiveFunctions = result.recursiveFunctions.length;
      checkedFunctions = result.checkedFunctions;
      meteredLoops = result.loops;
      meterBound = result.meterBound;
      m.addGlobalExport("__ferry_fuel", EXPORTS.fuel);
      m.addGlobalExport("__ferry_grow_failed", EXPORTS.growFailed);
    }

    const elemDrops = tablePlan.helpers.filter((h) => h.kind === "drop").map((h) => functionNames[h.function]!);
    globals.push(...trackDataDrops(b, m, new IrWalker(b), elemDrops));
    addFloatBitsAccessors(b, m, globals);
    const { tables, refFunctions } = exportReferenceState(b, m, structure, tablePlan, globals, functionNames, tableBounds);
    // After the metering (its helpers' memory operations are shifted too, so they charge by guest
    // sizes), before Asyncify (whose own accesses to the struct are at real addresses).
    if (reservedPages > 0) shiftMemoryAccesses(b, m, new IrWalker(b), reservedPages);

    stack?.addExits(new IrWalker(b));

    b.setOptimizeLevel(2);
    b.setShrinkLevel(0);
    if (options.asyncify) runAsyncify(b, m);
    stack?.finish(new IrWalker(b), inTables);
    // After everything that reads Asyncify's code as it wrote it, before the optimizer folds it.
    if (options.asyncify) splitRewindVersions(b, m, new IrWalker(b), yieldName);
    optimizePreservingTraps(b, m);
    if (!m.validate()) throw new FerryError("instrumentation_failed", "the instrumented module does not validate");

    const capped = capMemoryMaximum(m.emitBinary(), options.limits.maxMemoryPages);
    const out = reservedPages > 0 ? reserveMemoryPrefix(capped, reservedPages) : capped;
    if (!WebAssembly.validate(out as BufferSource)) throw new FerryError("instrumentation_failed", "V8 rejects the instrumented module");
    return {
      codeHash: sha256Hex(bytes),
      pipelineVersion: PIPELINE_VERSION,
      metering: options.metering,
      asyncify: options.asyncify,
      maxMemoryPages: options.limits.maxMemoryPages,
      bytes: out,
      originalBytes: bytes.byteLength,
      entries,
      globals,
      hasStart,
      hasContinuation,
      reservedPages,
      continuationStackBytes: reservedPages > 0 ? stackBytes : 0,
      usesCheckpoints,
      initialMemoryPages,
      tables,
      refFunctions,
      recursiveFunctions,
      checkedFunctions,
      meteredLoops,
      meterBound,
    };
  } catch (e) {
    if (e instanceof FerryError) throw e;
    throw new FerryError("instrumentation_failed", describeThrown(e, b), { cause: e });
  } finally {
    m?.dispose();
  }
}

/**
 * Binaryen's reader refuses some modules V8 accepts (a table.init naming a declarative element
 * segment, which Binaryen drops while reading): the module is valid, Ferry cannot instrument it.
 */
function readBinary(b: Binaryen, bytes: Uint8Array, hasElementSegments: boolean): BinaryenModule {
  try {
    return b.readBinary(bytes);
  } catch (e) {
    const hint = hasElementSegments ? " (a known case: table.init or elem.drop naming a declarative element segment)" : "";
    throw new FerryError("unsupported_feature", `the instrumenter cannot read this module${hint}: ${describeThrown(e, b)}`, { cause: e });
  }
}

/**
 * Binaryen's optimizer passes that replace an instruction it can prove will trap with
 * `unreachable`: directize (call_indirect through a constant null, out-of-range or mistyped slot)
 * and memory-packing (memory.init of a dropped or active segment, out-of-range constants; it also
 * folds the zero-length memory.init the init helper uses as its bounds check). Both are right about
 * *whether* the program traps but change *which* trap it raises, and a guest's trap code must be
 * the one V8 raises on the original module. Every other -O2 pass keeps implicit traps as long as
 * trapsNeverHappen is off (tests/trap-codes.test.ts checks each trap raw, straight and sliced).
 */
export const TRAP_CHANGING_PASSES = ["directize", "memory-packing"] as const;

function optimizePreservingTraps(b: Binaryen, m: BinaryenModule): void {
  b.setTrapsNeverHappen(false);
  for (const pass of TRAP_CHANGING_PASSES) b.addPassToSkip(pass);
  try {
    m.optimize();
  } finally {
    b.clearPassesToSkip();
  }
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

/**
 * A readable message for whatever Binaryen threw: not every throw is an Error. A C++ exception
 * arrives as an object holding only a pointer; Binaryen (when given) decodes it to its what().
 */
export function describeThrown(e: unknown, b?: Binaryen): string {
  if (e instanceof Error) return e.message;
  const cpp = b && cppExceptionMessage(b, e);
  if (cpp) return cpp;
  if (typeof e === "object" && e !== null) {
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string" && message) return message;
    try {
      const json = JSON.stringify(e);
      if (json && json !== "{}") return `Binaryen failed: ${json.slice(0, 200)}`;
    } catch {
      // a cyclic object: fall through
    }
    return `Binaryen failed with a ${(e as object).constructor?.name ?? "non-Error"} exception`;
  }
  return `Binaryen failed: ${String(e)}`;
}

function cppExceptionMessage(b: Binaryen, e: unknown): string | undefined {
  if (typeof e !== "object" || e === null || typeof (e as { gC?: unknown }).gC !== "number") return undefined;
  const decode = (b as unknown as { getExceptionMessage?: (e: unknown) => [string, string] }).getExceptionMessage;
  try {
    const [type, message] = decode?.(e) ?? [];
    const text = (message ?? "").replace(/^Fatal: /, "").trim();
    return text ? `Binaryen failed: ${text}` : type ? `Binaryen failed with ${type}` : undefined;
  } catch {
    return undefined; // a pointer that no longer decodes: the caller's generic message
  }
}

const SUPPORTED_FEATURES = (b: Binaryen): number => {
  const F = b.Features;
  return (
    F.MVP |
    F.MutableGlobals |
    F.SignExt |
    F.NontrappingFPToInt |
    F.BulkMemory |
    F.BulkMemoryOpt |
    F.ReferenceTypes |
    F.SIMD128 |
    F.Multivalue
  );
};

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

/**
 * The most elements each table helper can write in one call (table-ops.ts): its table's bound, and
 * for table.init the segment's length too; and each table's bound for table.grow.
 */
function tableMetering(b: Binaryen, m: BinaryenModule, plan: TablePlan, bounds: number[], functionNames: readonly string[]): TableMetering {
  const helpers = new Map<string, number>();
  for (const h of plan.helpers) {
    if (h.kind === "drop") continue;
    const bound =
      h.kind === "copy"
        ? Math.min(bounds[h.table]!, bounds[h.source]!)
        : h.kind === "init"
          ? Math.min(bounds[h.table]!, plan.segmentLengths[h.segment] ?? 0)
          : bounds[h.table]!;
    helpers.set(functionNames[h.function]!, bound);
  }
  const grow = new Map(bounds.map((bound, i) => [b.getTableInfo(m.getTableByIndex(i)).name, bound]));
  return { helpers, grow };
}

/**
 * Asyncify cannot save a reference-typed value (funcref, externref) live across a call that may
 * pause (Binaryen: "Asyncify does not yet support non-number types"): such a module is refused,
 * naming the limitation, rather than failing as an instrumentation error.
 */
function runAsyncify(b: Binaryen, m: BinaryenModule): void {
  b.setPassArgument("asyncify-imports", ASYNCIFY_IMPORTS);
  try {
    m.runPasses(["asyncify"]);
  } catch (e) {
    const message = describeThrown(e, b);
    if (/non-number types/.test(message)) {
      throw new FerryError(
        "unsupported_feature",
        "a funcref or externref value is live across a call that can pause, which Asyncify cannot save (reference-typed locals across calls)",
        { cause: e },
      );
    }
    throw e;
  } finally {
    b.setPassArgument("asyncify-imports", null);
  }
}
