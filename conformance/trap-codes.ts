// The spec suite's trap messages (the reference interpreter's wording, which assert_trap and
// assert_exhaustion carry) as Ferry trap codes (runtime/traps.ts). Matched by prefix: the
// suite sometimes adds detail ("uninitialized element 2").

import type { TrapCode } from "../runtime/index.js";

const SPEC_TRAPS: ReadonlyArray<readonly [string, TrapCode]> = [
  ["unreachable", "unreachable"],
  ["integer divide by zero", "integer_divide_by_zero"],
  // Division (i32.div_s of the minimum by -1). A float truncated out of range is also "integer
  // overflow" to the spec, but invalid_conversion to Ferry (and V8), which do not tell it from NaN.
  ["integer overflow", "integer_overflow"],
  ["invalid conversion to integer", "invalid_conversion"],
  ["out of bounds memory access", "memory_out_of_bounds"],
  ["data segment dropped", "memory_out_of_bounds"],
  ["out of bounds table access", "table_out_of_bounds"],
  ["element segment dropped", "table_out_of_bounds"],
  // call_indirect past the end of the table: V8 and Ferry call it a table bound.
  ["undefined element", "table_out_of_bounds"],
  // call_indirect through a null slot or to a function of another type.
  ["uninitialized element", "indirect_call_mismatch"],
  ["indirect call type mismatch", "indirect_call_mismatch"],
  ["call stack exhausted", "stack_overflow"],
];

/** Other codes a message may stand for, depending on the instruction (which the message does not name). */
const ALSO: Partial<Record<TrapCode, readonly TrapCode[]>> = { integer_overflow: ["invalid_conversion"] };

/** The Ferry trap code for a spec trap message, or undefined when Ferry has none (null references, casts, atomics). */
export function specTrapCode(text: string): TrapCode | undefined {
  return SPEC_TRAPS.find(([prefix]) => text.startsWith(prefix))?.[1];
}

/**
 * The code to expect: the message's own, or — where the message is ambiguous — the one of its
 * alternatives raw V8 trapped with (so Ferry must then agree with V8 as well as with the spec).
 */
export function expectedTrapCode(text: string, raw: TrapCode | undefined): TrapCode | undefined {
  const code = specTrapCode(text);
  if (code && raw && ALSO[code]?.includes(raw)) return raw;
  return code;
}
