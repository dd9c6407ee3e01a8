// The places a running guest can stop, reached from inside a host call: `ferry.yield` (its
// fuel ran out, or its slice's time), `ferry.checkpoint` (an explicit guest asked whether to stop),
// a WASI sleep (poll_oneoff on a clock) and an awaited host call (awaited-calls.ts). Each either lets the guest go on, starts an Asyncify
// unwind (the run pauses; resuming rewinds into the same call), or — re-entered by that rewind —
// ends the rewind. The run state machine (guest-instance.ts) owns the status and the header; this
// file holds the per-run state of the explicit protocol and the decisions.

import type { CodeSegment } from "../code/segment.js";
import { GuestTrap } from "../traps.js";
import type { AsyncifyStack } from "./asyncify-stack.js";
import { AwaitedCalls } from "./awaited-calls.js";
import { type ContinuationHeader, FLAG_STOPPING, FLAG_UNWOUND } from "./continuation.js";
import type { FuelSlice } from "./fuel-slice.js";
import type { InstanceStatus, PauseReason, RunResult } from "./instance-api.js";
import type { PausingGate } from "./instantiate.js";
import type { Pausing, UNWOUND } from "../host/index.js";

/** Growth of the grace slices a guest without Asyncify gets, one after another. */
const GRACE_GROWTH = 4;
/** The largest grace slice (well inside a double's exact integers). */
const MAX_GRACE_FUEL = 2 ** 50;

/** The longest a guest that cannot unwind may block its thread in one sleep. */
const MAX_BLOCKING_SLEEP_MS = 60_000;

export class PausePoints {
  /** The guest's start function is running (it may not stop at a checkpoint). */
  inStart = false;
  /** Set while unwinding into a sleep: how long the guest wants to wait. */
  sleepMs: number | undefined;
  /** The explicit guest answered "stop" at a checkpoint in this slice. */
  stoppedAtCheckpoint = false;
  private checkpointRequested = false;
  private graceGiven = false;
  /** Awaited host calls: the one the guest is unwound in, and the answers of the call now running. */
  readonly awaits: AwaitedCalls;

  constructor(
    private readonly segment: CodeSegment,
    private readonly stack: AsyncifyStack,
    private readonly fuel: FuelSlice,
    private readonly run: { header(): ContinuationHeader; status(): InstanceStatus },
    awaitDeadlineMs: number,
  ) {
    this.awaits = new AwaitedCalls(
      stack,
      fuel,
      { canUnwind: segment.asyncify, assertRunning: () => this.assertRunning(), endRewind: () => this.endRewind() },
      awaitDeadlineMs,
    );
  }

  /** Why the guest just unwound: an await, a sleep, or its slice (fuel or time). */
  unwindReason(): PauseReason {
    if (this.awaits.unwoundToAwait) return "await";
    return this.sleepMs === undefined ? "fuel" : "sleep";
  }

  /** The paused result for `reason`; the sleep's length goes with it, and the unwind's cause is spent. */
  pausedResult(reason: PauseReason, fuelUsed: number): RunResult {
    const sleepMs = this.sleepMs;
    this.sleepMs = undefined;
    this.awaits.unwoundToAwait = false;
    if (reason === "sleep") return { status: "paused", reason, fuelUsed, sleepMs };
    return { status: "paused", reason, fuelUsed };
  }

  /** A trap or an exit ends the run: nothing is awaited, and the start function is no longer running. */
  abandon(): void {
    this.awaits.abandon();
    this.inStart = false;
  }

  /** A slice starts; `owesStop`: the guest was told to stop at a checkpoint and paused on its way out. */
  beginSlice(owesStop: boolean): void {
    this.stoppedAtCheckpoint = owesStop;
    this.checkpointRequested = false;
    this.graceGiven = false;
  }

  /** Re-entered by a rewind: the guest runs on from here. */
  private endRewind(): void {
    this.stack.stopRewind();
    this.run.header().flags &= ~FLAG_UNWOUND;
  }

  private assertRunning(): void {
    const status = this.run.status();
    if (status === "disposed") throw new GuestTrap("disposed", "dispose() was called during the run");
    if (status !== "running") throw new GuestTrap("host_error", `instance was ${status} during its run`);
  }

  onYield(): void {
    if (this.stack.rewinding) {
      this.endRewind();
      return;
    }
    this.assertRunning();
    if (!this.fuel.global) return; // unmetered: a voluntary safepoint the host cannot act on
    const header = this.run.header();
    const remaining = this.fuel.remaining();
    // Fuel left: a voluntary safepoint, or a bulk helper between two chunks; either ends the slice
    // only when it is past its deadline.
    if (remaining >= 0 && !this.fuel.pastDeadline()) {
      this.fuel.restoreCredit();
      return;
    }
    if (this.fuel.exhaustsLimit(header, remaining)) {
      this.fuel.end(header);
      throw new GuestTrap("out_of_fuel", `used ${header.fuelConsumed} of ${header.fuelLimit}`);
    }
    const explicitGrace = this.segment.usesCheckpoints && !this.graceGiven && !this.inStart;
    if (!this.segment.asyncify || explicitGrace) {
      // Cannot unwind, or an explicit guest deserves a chance to stop cleanly: one more slice,
      // and the next checkpoint answers "stop".
      this.graceGiven = true;
      this.checkpointRequested = true;
      this.fuel.end(header);
      // A guest that cannot unwind runs on to its next checkpoint or its end whatever the slice:
      // each further grace is four times the last, so a long run yields a few dozen times, not once
      // per first-slice's worth of fuel (70,000 times for c-lz's 4 MiB with a 20,000-fuel request).
      const grace = this.segment.asyncify ? this.fuel.request : Math.min(this.fuel.request * GRACE_GROWTH, MAX_GRACE_FUEL);
      this.fuel.begin(grace, header);
      return;
    }
    this.stack.startUnwind();
  }

  /** A WASI sleep: unwind so the run pauses instead of blocking (see host/interface.ts Pausing.sleep). */
  onSleep(ms: number): boolean {
    if (this.stack.rewinding) {
      this.endRewind();
      return false;
    }
    this.assertRunning();
    if (ms <= 0) return false;
    if (!this.segment.asyncify) {
      // Code that cannot unwind waits in place: only builds without Asyncify get here.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(ms, MAX_BLOCKING_SLEEP_MS));
      return false;
    }
    this.sleepMs = ms;
    this.stack.startUnwind();
    return true;
  }

  onCheckpoint(): number {
    if (this.checkpointRequested && !this.inStart && this.run.status() === "running") {
      this.stoppedAtCheckpoint = true;
      // Kept in the header: the fuel check after this call may pause the guest before it returns.
      this.run.header().flags |= FLAG_STOPPING;
      return 1;
    }
    return 0;
  }
}

/**
 * What host functions see of the pause points (Pausing) and the gate around the pausing imports,
 * over points made later (they need the instance's exports). A class, not closures per instance:
 * V8 inlines these calls' targets into the host-call code, and a target that changes with every
 * instance (and dies with it) throws that code away (guest-io.ts InstanceIo says more).
 */
export class PauseHooks implements Pausing, PausingGate {
  /** Set once the instance has made its points, before the guest runs. */
  points!: PausePoints;

  yield(): void {
    this.points.onYield();
  }
  checkpoint(): number {
    return this.points.onCheckpoint();
  }
  sleep(ms: number): boolean {
    return this.points.onSleep(ms);
  }
  settle<T>(key: string, start: () => Promise<T>): T | typeof UNWOUND {
    return this.points.awaits.settle(key, start);
  }
  enter(name: string): void {
    this.points.awaits.enter(name);
  }
  leave(threw: boolean): void {
    this.points.awaits.leave(threw);
  }
}
