// What every host call shares, whichever interface it belongs to: its fuel (the crossing plus the
// bytes it moves) and the bounds check of a guest pointer before the host touches the bytes.

import { GuestTrap } from "../traps.js";
import type { GuestIo, Pausing, UNWOUND } from "./interface.js";

/**
 * Host calls are charged fuel by the work they cause, not one unit each: the crossing, plus one fuel
 * per 2^HOST_BYTES_PER_FUEL_LOG2 bytes they move in or out of guest memory (output, log, input,
 * resources), the rate of bulk memory operations. The guest checks fuel right after every host
 * call returns, so an expensive call ends its slice there.
 */
export const HOST_CALL_FUEL = 10;
export const HOST_BYTES_PER_FUEL_LOG2 = 2;

/** The fuel a host call costs for moving `bytes`. */
export function hostCallFuel(bytes: number): number {
  return HOST_CALL_FUEL + Math.ceil(bytes / (1 << HOST_BYTES_PER_FUEL_LOG2));
}

/** `len` bytes of guest memory at `ptr` (both read as u32), or the trap `what` names ("host call read"). */
export function guestBytes(memory: Uint8Array, ptr: number, len: number, what: string): Uint8Array {
  const start = ptr >>> 0;
  const length = len >>> 0;
  if (start + length > memory.byteLength) throw new GuestTrap("memory_out_of_bounds", `${what} ${length} bytes at ${start}`);
  return memory.subarray(start, start + length);
}

/**
 * `fn` as a host call: charged for the crossing (the function charges its bytes itself), then the
 * deadline check. Every call but the pause points and the clock goes through here.
 */
export function charged<A extends number[], R>(io: Pick<GuestIo, "charge" | "afterCall">, fn: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => {
    io.charge(HOST_CALL_FUEL);
    const result = fn(...args);
    io.afterCall();
    return result;
  };
}

/**
 * For Ferry's own imports that await (Pausing.settle): the answer, UNWOUND (return at once), or —
 * the promise rejected or passed its deadline (AwaitTimeout) — the trap `resource_unreachable`. WASI
 * answers EIO instead (wasi/settling-directory.ts). A GuestTrap (disposed...) keeps its code.
 */
export function settledOrUnreachable<T>(pausing: Pausing, key: string, start: () => Promise<T>): T | typeof UNWOUND {
  try {
    return pausing.settle(key, start);
  } catch (e) {
    if (e instanceof GuestTrap) throw e;
    throw new GuestTrap("resource_unreachable", e instanceof Error ? e.message : String(e));
  }
}
