// The import allow-list: the only functions a guest may import, with their exact signatures
// (docs/continuation-abi.md). Shared by validation (what may be imported) and exec (what is provided).

import type { FuncSig, ValType } from "./wasm-reader.js";

export const HOST_MODULE = "ferry";
export const YIELD_IMPORT = "yield";
/**
 * Added by the metering (never importable by a guest: not in the allow-list): the helpers call it
 * after a large chunk of bulk work or a grow of a large memory, so the host can look at the slice's
 * clock. It cannot unwind (Asyncify does not list it); a late slice is ended by the fuel check that
 * follows, which the host makes fail.
 */
export const CLOCK_IMPORT = "__ferry_clock";
/** The `module.base` Asyncify treats as able to unwind; nothing else is. */
export const ASYNCIFY_IMPORTS = `${HOST_MODULE}.${YIELD_IMPORT}`;

const sig = (params: ValType[], results: ValType[]): FuncSig => ({ params, results });

/**
 * Imports only authenticated code may use: the capability-checked resource interface
 * (runtime/resources/host-interface.ts). A module importing them compiles, but instantiating it as
 * anonymous code is refused with `import_not_allowed`.
 */
export const AUTHENTICATED_IMPORTS: Record<string, FuncSig> = {
  resource_open: sig(["i32", "i32", "i32"], ["i32"]),
  resource_read: sig(["i32", "i32", "i32"], ["i32"]),
  resource_write: sig(["i32", "i32", "i32"], ["i32"]),
  resource_close: sig(["i32"], []),
};

export const ALLOWED_IMPORTS: Record<string, Record<string, FuncSig>> = {
  ferry: {
    // Pure computation: every guest may import these.
    yield: sig([], []),
    checkpoint: sig([], ["i32"]),
    log: sig(["i32", "i32"], []),
    input_size: sig([], ["i32"]),
    input_read: sig(["i32", "i32", "i32"], ["i32"]),
    output_write: sig(["i32", "i32"], []),
    ...AUTHENTICATED_IMPORTS,
  },
  // AssemblyScript's runtime hooks.
  env: {
    abort: sig(["i32", "i32", "i32", "i32"], []),
    trace: sig(["i32", "i32", "f64", "f64", "f64", "f64", "f64"], []),
    seed: sig([], ["f64"]),
  },
};

export function formatSig(s: FuncSig): string {
  return `(${s.params.join(", ")}) -> (${s.results.join(", ")})`;
}

export function sameSig(a: FuncSig, b: FuncSig): boolean {
  return a.params.join() === b.params.join() && a.results.join() === b.results.join();
}

/** Names the instrumentation adds to every module's exports. */
export const EXPORTS = {
  memory: "__ferry_memory",
  start: "__ferry_start",
  fuel: "__ferry_fuel",
  growFailed: "__ferry_grow_failed",
  continuation: "ferry_continuation",
  globalPrefix: "__ferry_g",
  /** A float global's exact bits as an integer, read and written (float-global-bits.ts). */
  globalBitsGetPrefix: "__ferry_gbits_get",
  globalBitsSetPrefix: "__ferry_gbits_set",
  /** Drops again the passive data segments a restored guest had dropped (data-drops.ts). */
  redrop: "__ferry_redrop",
  /**
   * Room left in the continuation buffer for recursive frames, counted by the code; set by the
   * host to its buffer's capacity less `stackReserve` before a run: below 0 a call traps
   * stack_overflow (stack-budget.ts).
   */
  stackRoom: "__ferry_stack_room",
  /** The most the frames of non-recursive functions can take together, bytes (a constant). */
  stackReserve: "__ferry_stack_reserve",
  /** Set by the code just before the trap that means stack_overflow. */
  stackOverflow: "__ferry_stack_overflow",
  /** A table some instruction can change, by its index in the original module (ref-state.ts). */
  tablePrefix: "__ferry_table",
  /** A function a table or funcref can hold, by its index in the original module (ref-state.ts). */
  functionPrefix: "__ferry_fn",
} as const;
