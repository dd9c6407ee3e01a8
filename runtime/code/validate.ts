// Validation of untrusted module bytes: WebAssembly validity, the import allow-list, features the
// instrumenter supports, and size limits — all before any byte reaches Binaryen.

import { FerryError } from "../errors.js";
import { allowedImport } from "../host/index.js";
import { readFunctionStats } from "./code-reader.js";
import { readModuleStructure, type FuncSig, type ModuleStructure } from "./wasm-reader.js";

export interface ModuleLimits {
  maxModuleBytes: number;
  maxFunctions: number;
  maxImports: number;
  maxExports: number;
  maxGlobals: number;
  maxTableElements: number;
  maxDataBytes: number;
  maxMemoryPages: number;
  // Per-function caps on what makes instrumentation super-linear (docs/sandboxes.md, "Compile limits").
  maxFunctionBodyBytes: number;
  /** Parameters plus declared locals. */
  maxFunctionLocals: number;
  maxFunctionLoops: number;
  /** `call` and `call_indirect` instructions. */
  maxFunctionCalls: number;
  /** Deepest nesting of block, loop and if. */
  maxNestingDepth: number;
  /** Deepest nesting of loops and ifs (not counting plain blocks). */
  maxLoopIfDepth: number;
  /** Targets of all of a function's br_tables together. */
  maxBrTableTargets: number;
}

const TAG_SECTION = 13;

/** The checks that cost nothing (size and header): the host runs them before handing bytes to a compile worker. */
export function checkHeader(bytes: Uint8Array, limits: Pick<ModuleLimits, "maxModuleBytes">): void {
  if (bytes.byteLength > limits.maxModuleBytes) {
    throw new FerryError("module_limit", `module is ${bytes.byteLength} bytes, the limit is ${limits.maxModuleBytes}`);
  }
  if (bytes.byteLength < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new FerryError("not_wasm", "missing the \\0asm magic number");
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new FerryError("not_wasm", "not a version 1 core module (components and other layers are not supported)");
  }
}

export function validateModule(bytes: Uint8Array, limits: ModuleLimits): ModuleStructure {
  checkHeader(bytes, limits);
  if (!WebAssembly.validate(bytes as BufferSource)) {
    // A proposal this V8 does not know (memory64, multi-memory) is worth naming precisely.
    try {
      checkFeatures(readModuleStructure(bytes));
    } catch (e) {
      if (e instanceof FerryError && e.code === "unsupported_feature") throw e;
    }
    // Compile to get V8's reason; validate() only says yes or no.
    let reason = "rejected by the WebAssembly validator";
    try {
      new WebAssembly.Module(bytes as BufferSource);
    } catch (e) {
      reason = e instanceof Error ? e.message.replace(/^WebAssembly\.Module\(\): /, "") : reason;
    }
    throw new FerryError("invalid_wasm", reason);
  }
  const s = readModuleStructure(bytes);
  checkCount("imports", s.imports.length, limits.maxImports);
  checkCount("functions", s.functionTypes.length, limits.maxFunctions);
  checkCount("exports", s.exports.length, limits.maxExports);
  checkCount("globals", s.globals.length, limits.maxGlobals);
  checkCount("data bytes", s.dataBytes, limits.maxDataBytes);
  for (const [i, t] of s.tables.entries()) {
    checkCount(`table ${i} initial elements`, t.min, limits.maxTableElements);
    if (t.max !== undefined && t.max > limits.maxTableElements) {
      // A larger declared maximum is harmless only if growth is capped; we cap by refusing.
      checkCount(`table ${i} maximum elements`, t.max, limits.maxTableElements);
    }
  }

  refuseImports(s.imports);

  checkFeatures(s);
  checkFunctions(bytes, s, limits);
  const memory = s.memories[0];
  if (memory && memory.min > limits.maxMemoryPages) {
    throw new FerryError("memory_limit", `initial memory is ${memory.min} pages, the cap is ${limits.maxMemoryPages}`);
  }
  return s;
}

/** Offending imports named in one refusal; past this many, a count of the rest. */
export const MAX_NAMED_IMPORTS = 10;

/**
 * Every import outside the allow-list or with the wrong signature, named in one error: a WASI
 * program should learn its whole list in one attempt, not one import per attempt.
 */
function refuseImports(imports: ModuleStructure["imports"]): void {
  const problems: string[] = [];
  for (const imp of imports) {
    const allowed = allowedImport(imp.module, imp.name);
    if (imp.kind !== "func" || !allowed) {
      problems.push(`${imp.kind} import "${imp.module}"."${imp.name}"`);
    } else if (!imp.sig || !sameSig(imp.sig, allowed)) {
      const found = imp.sig ? formatSig(imp.sig) : "an unknown type";
      problems.push(`"${imp.module}"."${imp.name}" is declared as ${found}, the host provides ${formatSig(allowed)}`);
    }
  }
  if (problems.length === 0) return;
  throw new FerryError("import_not_allowed", nameSome(problems, MAX_NAMED_IMPORTS, "imports"));
}

export function formatSig(s: FuncSig): string {
  return `(${s.params.join(", ")}) -> (${s.results.join(", ")})`;
}

export function sameSig(a: FuncSig, b: FuncSig): boolean {
  return a.params.join() === b.params.join() && a.results.join() === b.results.join();
}

/** "a; b; c" or, past `max`, "a; b (and 3 more imports; 5 in all)". */
export function nameSome(items: readonly string[], max: number, noun: string): string {
  if (items.length <= max) return items.join("; ");
  return `${items.slice(0, max).join("; ")} (and ${items.length - max} more ${noun}; ${items.length} in all)`;
}

/** Module-level uses of proposals the instrumenter cannot handle. Code-level ones Binaryen finds. */
function checkFeatures(s: ModuleStructure): void {
  if (s.memories.length > 1) throw new FerryError("unsupported_feature", "more than one memory (multi-memory)");
  const memory = s.memories[0];
  if (memory?.is64) throw new FerryError("unsupported_feature", "64-bit memory (memory64)");
  if (memory?.shared) throw new FerryError("unsupported_feature", "shared memory (threads)");
  if (s.sectionIds.includes(TAG_SECTION)) throw new FerryError("unsupported_feature", "exception handling (tag section)");
  for (const [i, g] of s.globals.entries()) {
    if (g.mutable && !["i32", "i64", "f32", "f64", "v128", "funcref", "externref"].includes(g.type)) {
      throw new FerryError("unsupported_feature", `mutable global ${i} of type ${g.type} cannot be snapshotted`);
    }
  }
}

/** The per-function caps, at the first function over one (nothing after it is read). */
function checkFunctions(bytes: Uint8Array, s: ModuleStructure, limits: ModuleLimits): void {
  readFunctionStats(bytes, s, (f) => {
    const over = (what: string, value: number, max: number): void => {
      if (value > max) throw new FerryError("module_limit", `function ${f.index} has ${value} ${what}, the limit is ${max}`);
    };
    over("bytes of code (maxFunctionBodyBytes)", f.bodyBytes, limits.maxFunctionBodyBytes);
    over("locals (maxFunctionLocals)", f.locals, limits.maxFunctionLocals);
    over("loops (maxFunctionLoops)", f.loops, limits.maxFunctionLoops);
    over("calls (maxFunctionCalls)", f.calls, limits.maxFunctionCalls);
    over("levels of block nesting (maxNestingDepth)", f.maxDepth, limits.maxNestingDepth);
    over("levels of loop and if nesting (maxLoopIfDepth)", f.maxLoopIfDepth, limits.maxLoopIfDepth);
    over("br_table targets (maxBrTableTargets)", f.brTableTargets, limits.maxBrTableTargets);
  });
}

function checkCount(what: string, value: number, max: number): void {
  if (value > max) throw new FerryError("module_limit", `${value} ${what}, the limit is ${max}`);
}
