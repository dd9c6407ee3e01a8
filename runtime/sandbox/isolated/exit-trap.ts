// How a sandbox child's end turns into a trap code for the call it was serving: the reason the
// pool itself had for killing it wins; otherwise the exit signal, exit code and stderr decide.

import type { TrapCode } from "../../traps.js";

/** Why the pool ended a child on purpose (`protocol`: it broke the host-call protocol). */
export type KillReason = "deadline" | "disposed" | "retired" | "protocol" | "callback";

export interface ChildExit {
  /** Set when the pool killed the child itself. */
  killedBy: KillReason | undefined;
  signal: NodeJS.Signals | null;
  code: number | null;
  /** The child reported running out of heap (stderr, or a worker's ERR_WORKER_OUT_OF_MEMORY). */
  outOfMemory: boolean;
}

/** V8's fatal message when the heap limit is reached ("Reached heap limit ... heap out of memory"). */
export const HEAP_OOM_PATTERN = /heap out of memory|Reached heap limit|ERR_WORKER_OUT_OF_MEMORY/i;

/** Signals another process sends to end one; the rest (SIGABRT, SIGSEGV, …) mean it crashed. */
const EXTERNAL_SIGNALS = new Set<string>(["SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"]);

export function exitTrap(exit: ChildExit): TrapCode {
  if (exit.killedBy === "deadline") return "deadline_exceeded";
  if (exit.killedBy === "disposed" || exit.killedBy === "retired") return "disposed";
  // It broke the host-call protocol (garbled, oversized or unasked-for requests): a host call failed.
  if (exit.killedBy === "protocol") return "host_error";
  // The host's own callback (onLog) threw while the run was in flight: as in-process, a host failure.
  if (exit.killedBy === "callback") return "host_error";
  // V8 aborts (SIGABRT) after printing its OOM message; check the message before the signal.
  if (exit.outOfMemory) return "sandbox_out_of_memory";
  if (exit.signal !== null && EXTERNAL_SIGNALS.has(exit.signal)) return "sandbox_killed";
  return "sandbox_crashed";
}
