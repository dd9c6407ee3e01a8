// The fourth pause point: an awaited host call (host/interface.ts Pausing.settle). A host function
// declared `pauses` starts a promise and asks for an unwind; the run pauses with reason "await"; the
// instance waits for the promise with its thread free — bounded by a deadline, past which the call
// counts as failed with AwaitTimeout — and the rewind re-enters the same call, which asks again with
// the same key and gets the answer. Only a function declared `pauses` may await (the gate below is
// derived from the descriptors): an unwind asked for anywhere else would pass through frames
// Asyncify never instrumented, so it traps host_error instead.
//
// Nothing here travels in a snapshot: a restored instance re-enters the call with no answer and the
// call starts its operation again (the idempotency rule in docs/resource-segment.md).

import { AwaitTimeout, UNWOUND } from "../host/index.js";
import { GuestTrap } from "../traps.js";
import type { AsyncifyStack } from "./asyncify-stack.js";
import type { FuelSlice } from "./fuel-slice.js";

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The awaited operation the guest is unwound in. */
export interface PendingCall {
  key: string;
  /** Set once the promise settled or the deadline passed (whichever came first). */
  outcome: Outcome | undefined;
  /** Resolves when `outcome` is set; never rejects. */
  done: Promise<void>;
  /** Stop the deadline's timer (the instance is gone): the outcome becomes a failure. */
  cancel(): void;
}

/** What the pause points lend: the run's checks and the end of a rewind. */
export interface AwaitHooks {
  canUnwind: boolean;
  assertRunning(): void;
  endRewind(): void;
}

export class AwaitedCalls {
  /** Set while the guest is unwound in an awaited call (paused "await"). */
  pending: PendingCall | undefined;
  /** resume() is waiting for the pending call's answer. */
  waiting = false;
  /** The last unwind was for an await (the pause reason). */
  unwoundToAwait = false;
  /** Answers settled during the pausing import now running, by key: a re-entry asks for them again. */
  private readonly answers = new Map<string, Outcome>();
  /** The pausing import now running (undefined: none, and nothing may await). */
  private inCall: string | undefined;
  /** Fuel that import has been charged so far (the instance adds to it): an invocation that unwinds to await gets it back. */
  chargedInCall = 0;
  /** That import started an await (and is unwinding for it). */
  private awaitedHere = false;

  constructor(
    private readonly stack: AsyncifyStack,
    private readonly fuel: FuelSlice,
    private readonly hooks: AwaitHooks,
    /** Longest wait for one call, ms. */
    readonly deadlineMs: number,
  ) {}

  /** Around every call to an import declared `pauses` (instantiate.ts). */
  enter(name: string): void {
    this.inCall = name;
    this.awaitedHere = false;
    this.chargedInCall = 0;
  }

  /** The import returned (`threw`: by an exception). */
  leave(threw: boolean): void {
    this.inCall = undefined;
    if (this.stack.unwinding && !threw) {
      // Unwinding to await: the call is made again by the rewind, which pays for it then.
      if (this.awaitedHere) {
        this.fuel.charge(-this.chargedInCall);
        this.fuel.settle();
      }
      return;
    }
    // Map.clear is a call into the runtime, not inlined: only when there is something to clear.
    if (this.answers.size !== 0) this.answers.clear();
    // Re-entered by a rewind and answered without awaiting (a restore onto a synchronous tree): the
    // rewind ends here, where the call returns.
    if (!threw && this.stack.rewinding) this.hooks.endRewind();
  }

  settle<T>(key: string, start: () => Promise<T>): T | typeof UNWOUND {
    if (this.inCall === undefined) throw new GuestTrap("host_error", "a host function that does not pause asked to await");
    if (this.stack.rewinding) {
      this.hooks.endRewind();
      const pending = this.pending;
      this.pending = undefined;
      // Its answer is kept under its key: the call may first ask again for what it awaited before.
      // Absent after a restore (nothing travels): the operation starts again below.
      if (pending?.outcome) this.answers.set(pending.key, pending.outcome);
    }
    const answer = this.answers.get(key);
    if (answer) {
      if (answer.ok) return answer.value as T;
      throw answer.error;
    }
    this.hooks.assertRunning();
    if (!this.hooks.canUnwind) throw new GuestTrap("host_error", `${this.inCall} cannot await: the module was built without Asyncify`);
    this.pending = this.begin(key, start);
    this.unwoundToAwait = this.awaitedHere = true;
    this.stack.startUnwind();
    return UNWOUND;
  }

  /** resume(): wait for the pending call's answer (or its deadline) with the thread free; false when there was nothing to wait for. */
  async waitForAnswer(): Promise<boolean> {
    const pending = this.pending;
    if (!pending || pending.outcome) return false;
    this.waiting = true;
    await pending.done;
    this.waiting = false;
    return true;
  }

  /** Start the operation and its deadline. */
  private begin(key: string, start: () => Promise<unknown>): PendingCall {
    let promise: Promise<unknown>;
    try {
      promise = Promise.resolve(start());
    } catch (error) {
      promise = Promise.reject(error);
    }
    const call: PendingCall = { key, outcome: undefined, done: Promise.resolve(), cancel: () => {} };
    call.done = new Promise<void>((resolve) => {
      const finish = (outcome: Outcome): void => {
        if (call.outcome) return;
        call.outcome = outcome;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => finish({ ok: false, error: new AwaitTimeout(this.deadlineMs) }), this.deadlineMs);
      call.cancel = () => finish({ ok: false, error: new GuestTrap("disposed") });
      promise.then(
        (value) => finish({ ok: true, value }),
        (error: unknown) => finish({ ok: false, error }),
      );
    });
    return call;
  }

  /** A trap or the end of the instance: nothing is awaited any more. */
  abandon(): void {
    this.pending?.cancel();
    this.pending = undefined;
    this.answers.clear();
    this.inCall = undefined;
    this.unwoundToAwait = false;
  }
}
