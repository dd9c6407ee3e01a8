// What a raw (uninstrumented) V8 run's exception means as a Ferry trap code. Written from V8's
// message templates (kWasmTrap*), independently of runtime/traps.ts, so a wrong mapping in
// the runtime shows up as a difference instead of being copied.

import type { TrapCode } from "../runtime/index.js";

const MESSAGES: Array<[string, TrapCode]> = [
  ["unreachable", "unreachable"],
  ["memory access out of bounds", "memory_out_of_bounds"],
  ["data segment out of bounds", "memory_out_of_bounds"],
  ["table index is out of bounds", "table_out_of_bounds"],
  ["element segment out of bounds", "table_out_of_bounds"],
  ["table access out of bounds", "table_out_of_bounds"],
  ["null function or function signature mismatch", "indirect_call_mismatch"],
  ["function signature mismatch", "indirect_call_mismatch"],
  ["invalid index into function table", "indirect_call_mismatch"],
  ["divide by zero", "integer_divide_by_zero"],
  ["remainder by zero", "integer_divide_by_zero"],
  ["divide result unrepresentable", "integer_overflow"],
  ["float unrepresentable in integer range", "invalid_conversion"],
];

/** The trap code for a raw run's exception, or undefined when it is not a trap V8 reports for Wasm. */
export function rawTrapCode(error: unknown): TrapCode | undefined {
  if (error instanceof RangeError && /call stack/i.test(error.message)) return "stack_overflow";
  if (!(error instanceof WebAssembly.RuntimeError)) return undefined;
  for (const [message, code] of MESSAGES) if (error.message === message) return code;
  return undefined;
}
