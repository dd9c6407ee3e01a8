// Drives runs to completion in slices, so the host always gets control back. In-process guests
// share the host's thread: they take turns (round-robin), one slice at a time, each slice sized
// from the guest's measured fuel rate to fit a wall-clock budget, with the event loop free between
// slices. Isolated guests run in their own processes, so each drives its own loop in parallel;
// their slices only bound how long a pause request waits.

import { FerryError } from "../errors.js";
import type { RunResult } from "../exec/instance-api.js";
import { TRAP_MESSAGES } from "../traps.js";
import type { WasmValue } from "../exec/values.js";
import type { Instance } from "../exec/instance-api.js";
import { SliceSizer, type SliceSizerOptions } from "./in-process/slice-sizer.js";

export interface SchedulerOptions extends SliceSizerOptions {
  /** Fuel per slice for isolated guests (a pause waits at most one such slice). Default 50M. */
  isolatedSliceFuel?: number;
  /**
   * Share of one CPU the in-process lane may use, in (0, 1] (like a cgroup's cpu.max): after a
   * slice of t ms the next starts t·(1/share − 1) ms later. Default 1 (no throttling).
   */
  cpuShare?: number;
  /**
   * Wall time over which cpuShare is kept, ms. Within a window the lane may run early and idle
   * later (late timers and overrunning slices are absorbed); across windows the share holds.
   * Default 1000.
   */
  cpuShareWindowMs?: number;
}

export interface JobOptions {
  /** Total fuel for the run; past it the run ends `trapped` with `out_of_fuel`. */
  fuelLimit?: number;
}

/** A run the scheduler is driving. `result` settles with `done`, `trapped`, or `paused` after `pause()`. */
export interface ScheduledJob {
  readonly instance: Instance;
  readonly result: Promise<RunResult>;
  /** Stop after the current slice and leave the instance paused (to snapshot or migrate it). */
  pause(): Promise<RunResult>;
}

interface Entry {
  instance: Instance;
  step: () => Promise<RunResult>;
  settle: (r: RunResult) => void;
  fail: (e: unknown) => void;
  pauseRequested: boolean;
  sizer: SliceSizer;
  fuel: number;
  /**
   * A guest paused in a sleep waits for this timer, one paused in an awaited host call for its
   * answer (Instance.settled), holding no slice; a pause request ends the wait.
   */
  sleeping?: { timer: ReturnType<typeof setTimeout> | undefined; result: RunResult; cancel(): void };
}

/** How long a result asks to wait before the next slice: a sleep's time, else none. */
function sleepOf(r: RunResult): number {
  return r.status === "paused" && r.reason === "sleep" ? Math.max(0, r.sleepMs ?? 0) : 0;
}

function awaits(r: RunResult): boolean {
  return r.status === "paused" && r.reason === "await";
}

export class Scheduler {
  private readonly lane: Entry[] = [];
  private pumping = false;
  private readonly isolatedSliceFuel: number;
  private readonly sizerOptions: SliceSizerOptions;

  constructor(options: SchedulerOptions = {}) {
    this.sizerOptions = options;
    new SliceSizer(options); // validates the options now, not at the first job
    this.isolatedSliceFuel = positiveInteger("isolatedSliceFuel", options.isolatedSliceFuel, 50_000_000);
    const share = options.cpuShare ?? 1;
    if (!(typeof share === "number" && share > 0 && share <= 1))
      throw new FerryError("invalid_option", `\`cpuShare\` must be a number in (0, 1], got ${String(share)}`);
    this.cpuShare = share;
    this.windowMs = positiveInteger("cpuShareWindowMs", options.cpuShareWindowMs, 1_000);
  }

  private readonly cpuShare: number;
  private readonly windowMs: number;
  /** Throttling window: when it began, and the lane's busy time in it. */
  private windowStart = 0;
  private windowBusyMs = 0;

  /**
   * How long the lane should idle after a slice of `busyMs` so that, over the current window, busy
   * time is `cpuShare` of wall time. Accounting over a window (not per slice) absorbs timers that
   * fire late and slices that overran, so the long-run share is the one asked for.
   */
  private throttle(busyMs: number): number {
    if (this.cpuShare >= 1) return 0;
    const now = performance.now();
    if (now - this.windowStart > this.windowMs) {
      this.windowStart = now - busyMs;
      this.windowBusyMs = 0;
    }
    this.windowBusyMs += busyMs;
    return Math.max(0, this.windowBusyMs / this.cpuShare - (now - this.windowStart));
  }

  /** In-process jobs waiting for their next turn (the running one included). */
  get queued(): number {
    return this.lane.length;
  }

  /** Start `entry(args)` on a fresh or finished instance and drive it to the end. */
  start(instance: Instance, entry: string, args: readonly WasmValue[] = [], options: JobOptions = {}): ScheduledJob {
    return this.schedule(instance, (fuel, first, sliceMs) =>
      first ? instance.run(entry, args, { fuel, fuelLimit: options.fuelLimit, sliceMs }) : instance.resume({ fuel, sliceMs }),
    );
  }

  /** Drive a paused instance (say, a restored snapshot) to the end. */
  continue(instance: Instance): ScheduledJob {
    if (instance.state !== "paused") throw new FerryError("instance_not_paused", `cannot continue an instance that is ${instance.state}`);
    return this.schedule(instance, (fuel, _first, sliceMs) => instance.resume({ fuel, sliceMs }));
  }

  /** `call` runs one slice: `sliceMs` is its wall-clock budget (in-process only: an isolated guest has its own thread). */
  private schedule(
    instance: Instance,
    call: (fuel: number, first: boolean, sliceMs: number | undefined) => Promise<RunResult>,
  ): ScheduledJob {
    let settle!: (r: RunResult) => void;
    let fail!: (e: unknown) => void;
    const result = new Promise<RunResult>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    let first = true;
    const entry: Entry = {
      instance,
      pauseRequested: false,
      sizer: new SliceSizer(this.sizerOptions),
      fuel: 0,
      settle,
      fail,
      step: () => {
        const r = call(entry.fuel, first, instance.sandbox === "in-process" ? entry.sizer.sliceMs : undefined);
        first = false;
        return r;
      },
    };
    const job: ScheduledJob = {
      instance,
      result,
      pause: () => {
        entry.pauseRequested = true;
        const sleeping = entry.sleeping;
        if (sleeping) {
          clearTimeout(sleeping.timer);
          entry.sleeping = undefined;
          sleeping.cancel();
          settle(sleeping.result);
        }
        return result;
      },
    };
    if (instance.sandbox === "in-process") {
      this.lane.push(entry);
      this.pump();
    } else {
      void this.driveIsolated(entry);
    }
    return job;
  }

  /** Round-robin over in-process jobs: one slice each, then back to the event loop. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(() => void this.turn());
  }

  private async turn(): Promise<void> {
    const entry = this.lane.shift();
    if (!entry) {
      this.pumping = false;
      return;
    }
    let busyMs = 0;
    try {
      entry.fuel = entry.sizer.nextFuel();
      const fuelBefore = entry.instance.state === "paused" ? entry.instance.fuelUsed : 0;
      const started = performance.now();
      const r = await entry.step();
      busyMs = performance.now() - started;
      entry.sizer.observe(r.fuelUsed - fuelBefore, busyMs);
      if (r.status === "paused" && !entry.pauseRequested && entry.instance.state === "paused") this.requeue(entry, r);
      else entry.settle(r);
    } catch (e) {
      this.failed(entry, e);
    }
    // setImmediate, not a microtask: timers and I/O run between two guests' slices.
    const idleMs = this.throttle(busyMs);
    if (idleMs >= 1) setTimeout(() => void this.turn(), idleMs);
    else setImmediate(() => void this.turn());
  }

  /** Back in the lane: at once, or when a sleeping guest's time has come, or an awaiting guest's answer. */
  private requeue(entry: Entry, r: RunResult): void {
    const ms = sleepOf(r);
    if (ms === 0 && !awaits(r)) {
      this.lane.push(entry);
      return;
    }
    void this.sleep(entry, r, ms).then((due) => {
      if (!due) return;
      this.lane.push(entry);
      this.pump();
    });
  }

  private async driveIsolated(entry: Entry): Promise<void> {
    entry.fuel = this.isolatedSliceFuel;
    try {
      for (;;) {
        const r = await entry.step();
        if (r.status !== "paused" || entry.pauseRequested || entry.instance.state !== "paused") return entry.settle(r);
        const ms = sleepOf(r);
        if ((ms > 0 || awaits(r)) && !(await this.sleep(entry, r, ms))) return;
      }
    } catch (e) {
      this.failed(entry, e);
    }
  }

  /** Wait out a sleep, or an awaited call's answer; false when a pause request ended the wait (the job has settled). */
  private sleep(entry: Entry, r: RunResult, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const due = (): void => {
        if (entry.sleeping !== waiting) return;
        clearTimeout(waiting.timer);
        entry.sleeping = undefined;
        resolve(true);
      };
      const waiting = { result: r, cancel: () => resolve(false), timer: ms > 0 ? setTimeout(due, ms) : undefined };
      entry.sleeping = waiting;
      if (awaits(r)) void entry.instance.settled().then(due);
    });
  }

  /**
   * A slice that could not start. An instance disposed between two slices ends the job the way a
   * dispose during a slice does (trapped `disposed`, as the isolated sandbox reports it); anything
   * else is a host error and rejects.
   */
  private failed(entry: Entry, e: unknown): void {
    if (entry.instance.state === "disposed") {
      entry.settle({ status: "trapped", code: "disposed", message: TRAP_MESSAGES.disposed, fuelUsed: entry.instance.fuelUsed });
    } else {
      entry.fail(e);
    }
  }
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new FerryError("invalid_option", `\`${name}\` must be a positive integer, got ${String(value)}`);
  return value;
}
