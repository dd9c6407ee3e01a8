// A running guest (wasmtime's Instance + Store): the run / resume / pause state machine over the
// parts that hold its state — fuel and the slice deadline (fuel-slice.ts), the continuation struct
// and the Asyncify stack (asyncify-stack.ts), input, output and log (guest-io.ts), globals and tables
// as snapshot values (guest-globals.ts) — plus capture of the execution segment; restoring one is
// apply-snapshot.ts. The instance runs where its placement says (exec/placement.ts) and trusts it.
//
// Pausing works in one of two ways, decided by the guest:
// - transparent: fuel runs out at a check, `ferry.yield` starts an Asyncify unwind, the stack is
//   saved into the continuation struct and the export returns; resuming rewinds into the same call.
// - explicit: the guest imports `ferry.checkpoint`; when the slice ends it is given up to one more
//   slice to reach a checkpoint, which answers 1, and the guest returns with its state in memory.

import { EXPORTS } from "../code/export-names.js";
import type { EntryPoint } from "../code/segment.js";
import { guestPageCap } from "../code/memory-shift.js";
import { FerryError } from "../errors.js";
import { WASM_PAGE_BYTES } from "../limits.js";
import { discardOpenResources, type SegmentPart } from "../host/index.js";
import { GuestExit, GuestTrap } from "../traps.js";
import { applySnapshot, type RestoreTarget, restoreSegmentParts } from "./apply-snapshot.js";
import { type CaptureSource, captureSnapshot, captureSnapshotInTurns } from "./capture-snapshot.js";
import { type AsyncifyExports, AsyncifyStack } from "./asyncify-stack.js";
import {
  ContState,
  FLAG_AT_CHECKPOINT,
  FLAG_START_DONE,
  FLAG_STOPPING,
  FLAG_UNWOUND,
  freshHeader,
  type ContinuationHeader,
} from "./continuation.js";
import { FuelSlice } from "./fuel-slice.js";
import { PauseHooks, PausePoints } from "./pause-points.js";
import { GuestGlobals } from "./guest-globals.js";
import { GuestStreams, InstanceIo } from "./guest-io.js";
// For its effect: the host-call path's hidden classes, kept before the first instance (shape-anchor.ts).
import "./guest-io-sample.js";
import type { GuestModule } from "./guest-module.js";
import { instantiateGuest, type ResourceFunctions } from "./instantiate.js";
import {
  type InstanceConfig,
  checkRunOptions,
  checkSnapshotOptions,
  type Instance,
  type InstanceStatus,
  type PauseReason,
  type ResumeOptions,
  type RunOptions,
  type RunResult,
  type SnapshotOptions,
  type TrustClass,
} from "./instance-api.js";
import type { InProcessPlacement } from "./placement.js";
import type { Snapshot } from "./snapshot.js";
import { trapCause } from "./trap-cause.js";
import { argsForCall, checkArgs, normaliseValue, type WasmValue } from "./values.js";

export class GuestInstance implements Instance {
  readonly sandbox = "in-process" as const;
  readonly trust: TrustClass;
  /** What the host calls are given, and the state they read: the status lives there (guest-io.ts). */
  private readonly hostIo: InstanceIo;
  private get status(): InstanceStatus {
    return this.hostIo.status;
  }
  private set status(status: InstanceStatus) {
    this.hostIo.status = status;
  }
  private readonly exports: AsyncifyExports;
  /** The resource functions this instance was given (authenticated code), whose open handles dispose drops. */
  private readonly resourceFns: ResourceFunctions | undefined;
  private readonly memoryObject: WebAssembly.Memory;
  private readonly growFailed: WebAssembly.Global | undefined;
  private readonly stack: AsyncifyStack;
  private readonly fuel: FuelSlice;
  private readonly io: GuestStreams;
  private readonly globals: GuestGlobals;
  /**
   * Where guest address 0 is in the real memory: past the pages that hold the runtime's struct for a
   * guest without its own (CodeSegment.reservedPages), else 0. The struct is then at real address 0.
   */
  private readonly shift: number;
  /** The most pages the guest's own memory may reach. */
  private readonly pageCap: number;
  /** The host interfaces' own state (WASI's fd table and clock): the resource segment, by interface id. */
  private readonly segmentParts: Map<string, SegmentPart>;

  private header: ContinuationHeader = freshHeader();

  /** The three pause points and the per-run state of the explicit (checkpoint) protocol. */
  private readonly pauses: PausePoints;

  constructor(
    readonly module: GuestModule,
    config: InstanceConfig,
    placement: InProcessPlacement,
  ) {
    this.trust = placement.trust;
    this.io = new GuestStreams(placement.input, placement.maxOutputBytes, placement.maxLogBytes, placement.onLog);
    this.shift = module.segment.reservedPages * WASM_PAGE_BYTES;
    this.pageCap = guestPageCap(module.segment.maxMemoryPages, module.segment.reservedPages);
    const hooks = new PauseHooks();
    this.hostIo = new InstanceIo(this.io, config.seed);
    const { instance, resources, parts } = instantiateGuest(module, placement, this.hostIo, hooks, hooks);
    this.resourceFns = resources;
    this.segmentParts = parts;
    this.exports = instance.exports as AsyncifyExports;
    this.memoryObject = this.exports[EXPORTS.memory] as WebAssembly.Memory;
    this.fuel = new FuelSlice(this.exports[EXPORTS.fuel] as WebAssembly.Global | undefined);
    this.growFailed = this.exports[EXPORTS.growFailed] as WebAssembly.Global | undefined;
    this.globals = new GuestGlobals(this.exports, module.segment);
    this.stack = AsyncifyStack.locate(this.exports, this.memoryObject, module.segment, config.continuationStackBytes);
    const run = { header: () => this.header, status: () => this.status };
    this.pauses = new PausePoints(module.segment, this.stack, this.fuel, run, placement.awaitDeadlineMs);
    hooks.points = this.pauses;
    this.hostIo.attach(this.fuel, this.stack, this.pauses.awaits, this.memoryObject, this.shift);
  }

  get codeHash(): string {
    return this.module.codeHash;
  }

  get state(): InstanceStatus {
    return this.status;
  }

  /** Everything the guest has written with `ferry.output_write` (carried across migrations). */
  output(): Uint8Array {
    return this.io.output.all();
  }

  /** The output written from byte `offset` on (what a stream has not seen yet). */
  outputSince(offset: number): Uint8Array {
    return this.io.output.since(offset);
  }

  /** Log lines written since this instance was created (not carried across migrations). */
  logs(): readonly string[] {
    return this.io.logLines;
  }

  /** The bytes this instance reads as input. */
  get inputBytes(): Uint8Array {
    return this.io.input;
  }

  /** Fuel used by the current (or last) run so far. */
  get fuelUsed(): number {
    return this.header.fuelConsumed;
  }

  /** The entry point and arguments of the current run, for weak mobility. */
  currentRun(): { entry: EntryPoint; args: WasmValue[] } | undefined {
    const entry = this.module.entryByIndex(this.header.entry);
    if (!entry) return undefined;
    return { entry, args: argsForCall(entry.params, this.header.args) };
  }

  /** A delta snapshot's memory scan is under way (in turns): the instance must not run meanwhile. */
  private capturing = false;

  async run(entry: string, args: readonly WasmValue[] = [], options: RunOptions = {}): Promise<RunResult> {
    this.assertUsable();
    if (this.status === "paused") throw new FerryError("instance_busy", "paused in a run: resume it, or dispose it");
    if (this.status === "trapped") throw new FerryError("instance_finished", "the instance trapped");
    const ep = this.module.entry(entry);
    const raw = checkArgs(entry, ep.params, args);
    const { fuel: slice, fuelLimit: limit, sliceMs } = checkRunOptions(options);
    this.fuel.ms = sliceMs;
    this.header = {
      state: ContState.Running,
      resumeLabel: 0,
      flags: this.header.flags & FLAG_START_DONE,
      fuelConsumed: 0,
      fuelLimit: limit,
      entry: ep.exportIndex,
      args: raw,
    };
    this.stack.clearResumeLabel();
    return this.settle(this.drive(slice));
  }

  async resume(options: ResumeOptions = {}): Promise<RunResult> {
    this.assertUsable();
    if (this.status === "done" || this.status === "trapped") throw new FerryError("instance_finished", `the run is ${this.status}`);
    if (this.status !== "paused") throw new FerryError("instance_not_paused", `the instance is ${this.status}`);
    if (this.pauses.awaits.waiting) throw new FerryError("instance_busy", "resume() is already waiting for an awaited host call");
    const { fuel: slice, sliceMs } = checkRunOptions(options);
    // The thread is free meanwhile; the instance stays paused (a snapshot may be taken, or it may be disposed).
    if ((await this.pauses.awaits.waitForAnswer()) && this.state === "disposed")
      return this.trapped(new GuestTrap("disposed", "dispose() was called while awaiting a host call"));
    this.fuel.ms = sliceMs;
    return this.settle(this.drive(slice));
  }

  settled(): Promise<void> {
    return this.pauses.awaits.pending?.done ?? Promise.resolve();
  }

  /**
   * Capture the execution segment of a paused instance. By default memory is copied and the
   * instance can go on (a checkpoint). With `move: true` the snapshot takes the instance's memory
   * as it is, without copying, and the instance is disposed: migration, where the source forgets
   * the job once it has been shipped.
   */
  async snapshot(options: SnapshotOptions = {}): Promise<Snapshot> {
    this.assertUsable();
    if (this.status !== "paused") throw new FerryError("instance_not_paused", `cannot snapshot an instance that is ${this.status}`);
    const { move, since } = checkSnapshotOptions(options, this.module.segment.codeHash);
    let snapshot: Snapshot;
    if (since) {
      // A delta's scan goes in turns; meanwhile the instance refuses to run (assertUsable).
      this.capturing = true;
      try {
        snapshot = await captureSnapshotInTurns(this.parts(), since, () => this.assertUsable(true));
      } finally {
        this.capturing = false;
      }
    } else snapshot = captureSnapshot(this.parts(), { move, since, recycle: options.recycle });
    if (this.segmentParts.size > 0)
      snapshot.resources = Object.fromEntries([...this.segmentParts].map(([id, part]) => [id, part.capture()]));
    // Disposed, the instance never runs (or grows its memory) again, so the views stay valid.
    if (move) this.dispose();
    return snapshot;
  }

  /** Load a snapshot into this fresh instance, leaving it paused exactly where the source was (apply-snapshot.ts). */
  applySnapshot(s: Snapshot): void {
    this.assertUsable();
    if (this.status !== "fresh") throw new FerryError("instance_busy", "snapshots can only be applied to a fresh instance");
    restoreSegmentParts(this.segmentParts, s.resources);
    const { header, stack } = applySnapshot(this.parts(), s);
    this.header = header;
    this.stack.saved = stack;
    this.io.input = s.input;
    this.io.output.reset(s.output);
    this.status = "paused";
  }

  /** What capture-snapshot.ts and apply-snapshot.ts read and write. */
  private parts(): CaptureSource & RestoreTarget {
    return {
      module: this.module,
      header: this.header,
      stack: this.stack,
      globals: this.globals,
      memory: this.memoryObject,
      guestMemory: () => this.guestMemory(),
      pageCap: this.pageCap,
      exports: this.exports,
      input: this.io.input,
      output: () => this.output(),
    };
  }

  dispose(): void {
    this.status = "disposed";
    this.io.output.reset();
    this.stack.saved = new Uint8Array(0);
    this.pauses.awaits.abandon();
    // Handles left open are dropped, never committed; the provider gets back what they hold.
    if (this.resourceFns) discardOpenResources(this.resourceFns);
    for (const part of this.segmentParts.values()) part.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- the run loop ----

  private drive(slice: number): RunResult {
    this.status = "running";
    this.header.state = ContState.Running;
    // A guest told to stop at a checkpoint and paused on its way out still owes that stop.
    this.pauses.beginSlice((this.header.flags & FLAG_STOPPING) !== 0);
    this.header.flags &= ~FLAG_AT_CHECKPOINT;
    try {
      this.fuel.begin(slice, this.header);
      if (!(this.header.flags & FLAG_START_DONE)) {
        if (this.module.segment.hasStart) {
          this.pauses.inStart = true;
          this.call(EXPORTS.start, []);
          this.pauses.inStart = false;
          if (this.unwound()) return this.paused(this.pauses.unwindReason());
        }
        this.header.flags |= FLAG_START_DONE;
      }
      const entry = this.module.entryByIndex(this.header.entry)!;
      const value = this.call(entry.name, argsForCall(entry.params, this.header.args));
      if (this.unwound()) return this.paused(this.pauses.unwindReason());
      if (this.pauses.stoppedAtCheckpoint) {
        this.header.flags = (this.header.flags & ~FLAG_STOPPING) | FLAG_AT_CHECKPOINT;
        return this.paused("checkpoint");
      }
      // dispose() from a host callback (onLog, a resource provider) ends the run, never un-disposes.
      if (this.state === "disposed") throw new GuestTrap("disposed", "dispose() was called during the run");
      this.fuel.end(this.header);
      this.status = "done";
      this.header.state = ContState.Done;
      return { status: "done", value: normaliseValue(value), fuelUsed: this.header.fuelConsumed };
    } catch (error) {
      if (error instanceof GuestExit && this.status === "running") return this.exited(error.exitCode);
      return this.trapped(error);
    }
  }

  /**
   * The guest stopped running: parts that buffer (a WASI tree across a process boundary) push out
   * what they hold, so what the host sees — files, a snapshot — is what the guest did.
   */
  private settle(result: RunResult): RunResult {
    try {
      for (const part of this.segmentParts.values()) part.settle?.();
    } catch (error) {
      return this.trapped(error);
    }
    return result;
  }

  /** The guest ended itself (WASI proc_exit): done, with its exit code. */
  private exited(exitCode: number): RunResult {
    this.stack.abandon();
    this.pauses.abandon();
    this.fuel.end(this.header);
    this.status = "done";
    this.header.state = ContState.Done;
    return { status: "done", value: null, fuelUsed: this.header.fuelConsumed, exitCode };
  }

  private call(name: string, args: WasmValue[]): unknown {
    if (this.header.flags & FLAG_UNWOUND) this.stack.startRewind();
    const fn = this.exports[name] as (...a: WasmValue[]) => unknown;
    const value = fn(...args);
    // A rewind that never reached `ferry.yield` skipped the guest's code instead of resuming it
    // (a saved stack from somewhere else): the value is meaningless.
    if (this.stack.rewinding) throw new GuestTrap("invalid_continuation", "the export returned before the rewind reached its pause point");
    return value;
  }

  /** After the export returned: whether it was unwinding (the frames are now saved). */
  private unwound(): boolean {
    if (!this.stack.finishUnwind()) return false;
    this.header.flags |= FLAG_UNWOUND;
    return true;
  }

  private paused(reason: PauseReason): RunResult {
    if (this.status === "disposed") return this.trapped(new GuestTrap("disposed", "dispose() was called during the run"));
    this.fuel.end(this.header);
    this.status = "paused";
    this.header.state = ContState.Paused;
    this.stack.syncHeader(this.header);
    return this.pauses.pausedResult(reason, this.header.fuelConsumed);
  }

  private trapped(error: unknown): RunResult {
    const { code, message } = trapCause(error, {
      unwinding: this.stack.unwinding,
      rewinding: this.stack.rewinding,
      stackCapacity: this.stack.capacity,
      stackOverflowed: (this.exports[EXPORTS.stackOverflow] as WebAssembly.Global | undefined)?.value === 1,
      growFailed: this.growFailed?.value === 1,
      pageCap: this.pageCap,
    });
    this.stack.abandon();
    this.pauses.abandon();
    this.fuel.end(this.header);
    if (this.status !== "disposed") this.status = "trapped";
    this.header.state = ContState.Trapped;
    return { status: "trapped", code, message, fuelUsed: this.header.fuelConsumed };
  }

  // ---- fuel and the two pause points ----

  // ---- memory and I/O ----

  /**
   * The guest's memory at guest addresses: the one view host calls, snapshots and restores use, so
   * none of them sees the reserved pages or translates an address itself.
   */
  /** The guest's memory at guest addresses (guest-io.ts InstanceIo.memory). */
  private guestMemory(): Uint8Array {
    return this.hostIo.memory();
  }

  /** `capturer`: the delta capture itself asks, which its own flag does not stop. */
  private assertUsable(capturer = false): void {
    if (this.status === "disposed") throw new FerryError("instance_disposed");
    if (this.status === "running" || (this.capturing && !capturer)) throw new FerryError("instance_busy");
  }
}

export { ContState };
