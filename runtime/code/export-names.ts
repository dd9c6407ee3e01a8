// The names the instrumentation adds to every module's exports: how the runtime finds the memory,
// the fuel, the snapshot globals and the rest in an instrumented module. The imports a guest may use
// are not here: runtime/host/ declares them, and validation and instrumentation derive from it.

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
