// The instrumentation pipeline, run once per (module, pipeline version, engine settings):
// validate → export memory and mutable globals → detach the start function → meter fuel →
// (a guest without its own continuation struct) shift its memory past the pages reserved for the
// struct → asyncify the yield import → optimize → validate → cap memory. Produces the code segment.
// The first stage (names, entries, exports, start, yield) is prepare.ts; the metering is meter.ts.

import { FerryError } from "../errors.js";
import { loadBinaryen, type Binaryen, type BinaryenModule } from "./binaryen.js";
import { ASYNCIFY_IMPORTS } from "../host/index.js";
import { trackDataDrops } from "./data-drops.js";
import { prepare, type Guest } from "./prepare.js";
import { EXPORTS } from "./export-names.js";
import { addFloatBitsAccessors } from "./float-global-bits.js";
import { IrWalker } from "./ir-walk.js";
import { capMemoryMaximum } from "./memory-cap.js";
import { reserveMemoryPrefix, shiftMemoryAccesses } from "./memory-shift.js";
import { meterModule } from "./meter.js";
import type { TableMetering } from "./meter-costs.js";
import { memoryName } from "./meter-helpers.js";
import { exportReferenceState } from "./ref-state.js";
import { PIPELINE_VERSION, sha256Hex, type CodeSegment, type InstrumentOptions } from "./segment.js";
import { splitRewindVersions } from "./rewind-split.js";
import { planTables, type TablePlan } from "./table-ops.js";
import { validateModule } from "./validate.js";
import type { ModuleStructure } from "./wasm-reader.js";

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
    const guest = prepare(b, m, structure, tablePlan, options);
    const metered = options.metering ? meter(b, m, guest, tablePlan, options) : NOT_METERED;
    const { tables, refFunctions } = exportState(b, m, guest, structure, tablePlan);
    const out = finish(b, m, guest, options);
    return {
      codeHash: sha256Hex(bytes),
      pipelineVersion: PIPELINE_VERSION,
      metering: options.metering,
      asyncify: options.asyncify,
      maxMemoryPages: options.limits.maxMemoryPages,
      bytes: out,
      originalBytes: bytes.byteLength,
      entries: guest.entries,
      globals: guest.globals,
      hasStart: guest.hasStart,
      hasContinuation: guest.hasContinuation,
      reservedPages: guest.reservedPages,
      continuationStackBytes: guest.reservedPages > 0 ? guest.stackBytes : 0,
      usesCheckpoints: guest.usesCheckpoints,
      initialMemoryPages: guest.initialMemoryPages,
      tables,
      refFunctions,
      ...metered,
    };
  } catch (e) {
    if (e instanceof FerryError) throw e;
    throw new FerryError("instrumentation_failed", describeThrown(e, b), { cause: e });
  } finally {
    m?.dispose();
  }
}

type MeterCounts = Pick<CodeSegment, "recursiveFunctions" | "checkedFunctions" | "meteredLoops" | "meterBound">;

const NOT_METERED: MeterCounts = { recursiveFunctions: 0, checkedFunctions: 0, meteredLoops: 0, meterBound: 0 };

function meter(b: Binaryen, m: BinaryenModule, guest: Guest, tablePlan: TablePlan, options: InstrumentOptions): MeterCounts {
  const counting = options.asyncify ? guest.stack : undefined;
  const tables = tableMetering(b, m, tablePlan, guest.tableBounds, guest.functionNames);
  const result = meterModule(b, m, guest.yieldName, guest.inTables, memoryName(b, m, EXPORTS.memory), {
    eagerLoopFuel: options.eagerLoopFuel ?? false,
    stack: counting,
    tables,
  });
  m.addGlobalExport("__ferry_fuel", EXPORTS.fuel);
  m.addGlobalExport("__ferry_grow_failed", EXPORTS.growFailed);
  return {
    recursiveFunctions: result.recursiveFunctions.length,
    checkedFunctions: result.checkedFunctions,
    meteredLoops: result.loops,
    meterBound: result.meterBound,
  };
}

/** Export what snapshots carry beyond memory and globals: dropped segments, float bits, tables and function references. */
function exportState(b: Binaryen, m: BinaryenModule, guest: Guest, structure: ModuleStructure, tablePlan: TablePlan) {
  const { functionNames, globals } = guest;
  const elemDrops = tablePlan.helpers.filter((h) => h.kind === "drop").map((h) => functionNames[h.function]!);
  globals.push(...trackDataDrops(b, m, new IrWalker(b), elemDrops));
  addFloatBitsAccessors(b, m, globals);
  const refState = exportReferenceState(b, m, structure, tablePlan, globals, functionNames, guest.tableBounds);
  // After the metering (its helpers' memory operations are shifted too, so they charge by guest
  // sizes), before Asyncify (whose own accesses to the struct are at real addresses).
  if (guest.reservedPages > 0) shiftMemoryAccesses(b, m, new IrWalker(b), guest.reservedPages);
  return refState;
}

/** Asyncify, the rewinding split, the optimizer, and the bytes: validated, memory capped, pages reserved. */
function finish(b: Binaryen, m: BinaryenModule, guest: Guest, options: InstrumentOptions): Uint8Array {
  const { stack } = guest;
  stack?.addExits(new IrWalker(b));

  b.setOptimizeLevel(2);
  b.setShrinkLevel(0);
  if (options.asyncify) runAsyncify(b, m);
  stack?.finish(new IrWalker(b), guest.inTables);
  // After everything that reads Asyncify's code as it wrote it, before the optimizer folds it.
  if (options.asyncify) splitRewindVersions(b, m, new IrWalker(b), pausingImports(b, m));
  optimizePreservingTraps(b, m);
  if (!m.validate()) throw new FerryError("instrumentation_failed", "the instrumented module does not validate");

  const capped = capMemoryMaximum(m.emitBinary(), options.limits.maxMemoryPages);
  const out = guest.reservedPages > 0 ? reserveMemoryPrefix(capped, guest.reservedPages) : capped;
  if (!WebAssembly.validate(out as BufferSource)) throw new FerryError("instrumentation_failed", "V8 rejects the instrumented module");
  return out;
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

/** The internal names of the module's imported functions that may pause (the registry's ASYNCIFY_IMPORTS). */
function pausingImports(b: Binaryen, m: BinaryenModule): Set<string> {
  const pausing = new Set(ASYNCIFY_IMPORTS.split(","));
  const names = new Set<string>();
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const fi = b.getFunctionInfo(m.getFunctionByIndex(f));
    if (fi.module && pausing.has(`${fi.module}.${fi.base}`)) names.add(fi.name);
  }
  return names;
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
