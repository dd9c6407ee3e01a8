// Guest failures as a closed enum (wasmtime's trap_encoding in spirit): a trapped run is a result
// value carrying one of these codes, each with one fixed message.

export const TRAP_MESSAGES = {
  out_of_fuel: "guest used up its fuel budget",
  memory_limit: "guest needed more memory than its cap allows",
  stack_overflow: "guest call stack overflowed",
  continuation_overflow: "guest call stack did not fit in the continuation buffer",
  invalid_continuation: "the saved call stack does not lead back to a pause point",
  unreachable: "guest executed an unreachable instruction",
  memory_out_of_bounds: "guest accessed memory out of bounds",
  table_out_of_bounds: "guest accessed a table out of bounds",
  indirect_call_mismatch: "guest made an indirect call to a null or mistyped function",
  integer_divide_by_zero: "guest divided an integer by zero",
  integer_overflow: "guest integer operation overflowed",
  invalid_conversion: "guest converted a float that does not fit the integer type",
  guest_abort: "guest aborted",
  output_limit: "guest wrote more output or log than allowed",
  host_error: "a host function failed",
  capability_denied: "guest used a resource its capabilities do not grant",
  resource_quota: "guest's files would exceed their disk quota",
  disposed: "the instance was disposed while it ran",
  resource_unreachable: "an awaited host call failed or passed its deadline",
  // The isolated sandbox: the child process hosting the guest ended or had to be ended.
  deadline_exceeded: "guest ran past its wall-clock deadline",
  sandbox_out_of_memory: "the sandbox process ran out of memory",
  sandbox_crashed: "the sandbox process exited unexpectedly",
  sandbox_killed: "the sandbox process was killed by a signal",
} as const;

export type TrapCode = keyof typeof TRAP_MESSAGES;

export const TRAP_CODES = Object.keys(TRAP_MESSAGES) as TrapCode[];

/**
 * Thrown by a host function that ends the program on the guest's own request (WASI's `proc_exit`):
 * the run is `done` with this exit code, not trapped. Never escapes the runtime.
 */
export class GuestExit extends Error {
  constructor(readonly exitCode: number) {
    super(`the guest exited with code ${exitCode}`);
    this.name = "GuestExit";
  }
}

/** Thrown by host functions to end the guest with a specific trap; never escapes the runtime. */
export class GuestTrap extends Error {
  readonly trap: TrapCode;
  readonly detail: string | undefined;
  constructor(trap: TrapCode, detail?: string) {
    super(detail ? `${TRAP_MESSAGES[trap]}: ${detail}` : TRAP_MESSAGES[trap]);
    this.trap = trap;
    this.detail = detail;
  }
}

// V8's RuntimeError messages, in the order they are tested. They are stable across V8 versions
// (they come from the spec test suite's expectations), so matching on them is safe.
const V8_TRAPS: Array<[RegExp, TrapCode]> = [
  [/unreachable/i, "unreachable"],
  [/memory access out of bounds|data segment .*out of bounds|out of bounds memory/i, "memory_out_of_bounds"],
  [/table index is out of bounds|table access out of bounds|element segment/i, "table_out_of_bounds"],
  [/null function|signature mismatch|function signature/i, "indirect_call_mismatch"],
  [/divide by zero|remainder by zero/i, "integer_divide_by_zero"],
  [/float unrepresentable|invalid conversion/i, "invalid_conversion"],
  // i32/i64.div_s of the minimum by -1: V8 says "divide result unrepresentable".
  [/integer overflow|divide result unrepresentable/i, "integer_overflow"],
];

/** Classify whatever a guest call threw. Host-function GuestTraps keep their own code. */
export function classifyTrap(error: unknown): { trap: TrapCode; detail: string | undefined } {
  if (error instanceof GuestTrap) return { trap: error.trap, detail: error.detail };
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return { trap: "stack_overflow", detail: undefined };
  }
  if (error instanceof WebAssembly.RuntimeError) {
    for (const [pattern, trap] of V8_TRAPS) if (pattern.test(error.message)) return { trap, detail: undefined };
    return { trap: "unreachable", detail: error.message };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { trap: "host_error", detail: message };
}
