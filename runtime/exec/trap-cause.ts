// What a trap means for an instance: V8's kind (traps.ts), refined by what the instance was doing
// when it came — an unwind that overflowed the continuation buffer, a rewind the saved stack did
// not fit, the stack budget's `unreachable` (stack-budget.ts) or a failed grow's (meter-helpers.ts).

import { TRAP_MESSAGES, type TrapCode, classifyTrap } from "../traps.js";

/** The instance's state when the trap came. */
export interface TrapContext {
  unwinding: boolean;
  rewinding: boolean;
  /** Bytes of the continuation buffer. */
  stackCapacity: number;
  /** The instrumentation's flag: the stack budget ran out (its `unreachable`). */
  stackOverflowed: boolean;
  /** The instrumentation's flag: memory.grow failed at the cap (its `unreachable` or the guest's abort). */
  growFailed: boolean;
  pageCap: number;
}

/** The trap's code and the message a result carries. */
export function trapCause(error: unknown, c: TrapContext): { code: TrapCode; message: string } {
  const { trap, detail } = refine(error, c);
  return { code: trap, message: detail ? `${TRAP_MESSAGES[trap]}: ${detail}` : TRAP_MESSAGES[trap] };
}

function refine(error: unknown, c: TrapContext): { trap: TrapCode; detail: string | undefined } {
  const { trap, detail } = classifyTrap(error);
  if (c.unwinding) {
    return { trap: "continuation_overflow", detail: `the stack needed more than the ${c.stackCapacity}-byte continuation buffer` };
  }
  if (c.rewinding && trap !== "invalid_continuation")
    return { trap: "invalid_continuation", detail: `${trap} while rewinding the saved stack` };
  if (trap === "unreachable" && c.stackOverflowed) {
    return { trap: "stack_overflow", detail: `the call stack needed more than the ${c.stackCapacity}-byte continuation buffer holds` };
  }
  if ((trap === "unreachable" || trap === "guest_abort") && c.growFailed) {
    return { trap: "memory_limit", detail: `memory.grow failed at the cap of ${c.pageCap} pages` };
  }
  return { trap, detail };
}
