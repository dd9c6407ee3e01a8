// A running guest (wasmtime's Instance + Store): budgets, the run/resume/pause state machine, the
// continuation struct, and capture/apply of the execution segment.
//
// Pausing works in one of two ways, decided by the guest:
// - transparent: fuel runs out at a check, `ferry.yield` starts an Asyncify unwind, the stack is
//   saved into the continuation struct and the export returns; resuming rewinds into the same call.
// - explicit: the guest imports `ferry.checkpoint`; when the slice ends it is given up to one more
//   slice to reach a checkpoint, which answers 1, and the guest returns with its state in memory.

import { EXPORTS } from "../code/export-names.js";
import { discardOpenResources, hostImports, importTrust, resourceImports, type ResourceGrant } from "../host/index.js";
import { floatBitsExports } from "../code/float-global-bits.js";
import type { EntryPoint, SnapshotGlobal } from "../code/segment.js";
import { guestPageCap } from "../code/memory-shift.js";
import { MAX_NAMED_IMPORTS, nameSome } from "../code/validate.js";
import { FerryError } from "../errors.js";
import { DEFAULT_CONTINUATION_STACK_BYTES, DEFAULT_MAX_LOG_BYTES, DEFAULT_MAX_OUTPUT_BYTES, WASM_PAGE_BYTES } from "../limits.js";
import {
  CONTINUATION_ABI_VERSION,
  CONTINUATION_MAGIC,
  ContState,
  FLAG_AT_CHECKPOINT,
  FLAG_START_DONE,
  FLAG_STOPPING,
  FLAG_UNWOUND,
  HEADER_BYTES,
  NO_ENTRY,
  OFF,
  decodeImage,
  encodeImage,
  writeHeader,
  type ContinuationHeader,
} from "./continuation.js";
import type { GuestModule } from "./guest-module.js";
import { captureMemoryDelta } from "./snapshot-delta.js";
import { CapabilitySet, type Capability } from "../resources/capabilities.js";
import type { ResourceProvider } from "../resources/provider.js";
import {
  checkSnapshotOptions,
  type Instance,
  type InstanceOptions,
  type InstanceStatus,
  type ResumeOptions,
  type RunOptions,
  type RunResult,
  type RunValue,
  type SnapshotOptions,
  type TrustClass,
} from "./instance-api.js";
import { OutputBuffer } from "./output-buffer.js";
import { captureMemory, clearPagesOutside, floatOfBits, type GlobalValue, type Snapshot } from "./snapshot.js";
import { GuestTrap, TRAP_MESSAGES, classifyTrap, type TrapCode } from "../traps.js";
import { ReferenceValues } from "./ref-values.js";
import { argsForCall, checkArgs, type WasmValue } from "./values.js";

/** Engine-wide settings an instance needs. */
export interface InstanceConfig {
  continuationStackBytes: number;
  seed: number;
}

type Exports = Record<string, WebAssembly.ExportValue> & {
  asyncify_start_unwind?: (ptr: number) => void;
  asyncify_stop_unwind?: () => void;
  asyncify_start_rewind?: (ptr: number) => void;
  asyncify_stop_rewind?: () => void;
};

const UNLIMITED = Number.MAX_SAFE_INTEGER;

export class GuestInstance implements Instance {
  readonly sandbox = "in-process" as const;
  readonly trust: TrustClass;
  private status: InstanceStatus = "fresh";
  private readonly exports: Exports;
  /** The resource functions this instance was given (authenticated code), whose open handles dispose drops. */
  private readonly resourceFns: ReturnType<typeof resourceImports> | undefined;
  private readonly memoryObject: WebAssembly.Memory;
  private readonly fuelGlobal: WebAssembly.Global | undefined;
  private readonly growFailed: WebAssembly.Global | undefined;
  /** Address of the guest's own continuation struct, if it has one (SDK guests). */
  private readonly structAddress: number | undefined;
  private readonly stackCapacity: number;
  /**
   * Where guest address 0 is in the real memory: past the pages that hold the runtime's struct for a
   * guest without its own (CodeSegment.reservedPages), else 0. The struct is then at real address 0.
   */
  private readonly shift: number;
  /** The most pages the guest's own memory may reach. */
  private readonly pageCap: number;
  /** The room the code counts its recursive frames against (stack-budget.ts), when it counts them. */
  private readonly stackRoom: WebAssembly.Global | undefined;
  /** Tables and reference globals to and from snapshots, made when first needed (ref-values.ts). */
  private refs: ReferenceValues | undefined;

  private header: ContinuationHeader = {
    state: ContState.Fresh,
    resumeLabel: 0,
    flags: 0,
    fuelConsumed: 0,
    fuelLimit: 0,
    entry: NO_ENTRY,
    args: [],
  };
  /** Saved Asyncify frames while unwound (a copy; the guest's struct may hold them too). */
  private savedStack: Uint8Array = new Uint8Array(0);

  // Per-slice state.
  private sliceRequest = UNLIMITED;
  private sliceBudget = 0;
  /** performance.now() past which the slice ends early (Infinity: no wall-clock budget). */
  private sliceDeadline = Infinity;
  private sliceMs: number | undefined;
  /**
   * Fuel taken out of the fuel global to make the guest's next check fail (a slice past its
   * deadline): the slice's true remaining fuel is the global plus this.
   */
  private fuelCredit = 0n;
  private unwinding = false;
  private rewinding = false;
  private inStart = false;
  private checkpointRequested = false;
  private stoppedAtCheckpoint = false;
  private graceGiven = false;

  private input: Uint8Array;
  private readonly outputBuffer = new OutputBuffer();
  private logBytes = 0;
  private readonly logLines: string[] = [];
  private readonly maxOutputBytes: number;
  private readonly maxLogBytes: number;
  private readonly onLog: ((line: string) => void) | undefined;

  constructor(
    readonly module: GuestModule,
    config: InstanceConfig,
    options: InstanceOptions = {},
  ) {
    this.trust = options.trust ?? "anonymous";
    this.input = options.input ?? new Uint8Array(0);
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.maxLogBytes = options.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES;
    this.onLog = options.onLog;

    this.shift = module.segment.reservedPages * WASM_PAGE_BYTES;
    this.pageCap = guestPageCap(module.segment.maxMemoryPages, module.segment.reservedPages);
    const self = this;
    const io = {
      memory: () => self.guestMemory(),
      get input() {
        return self.input;
      },
      writeOutput: (bytes: Uint8Array) => self.writeOutput(bytes),
      writeLog: (line: string) => self.writeLog(line),
      charge: (fuel: number) => self.chargeFuel(fuel),
      afterCall: () => self.afterHostCall(),
      seed: config.seed,
    };
    const grant = resourceGrant(module, this.trust, options);
    this.resourceFns =
      grant &&
      resourceImports(
        grant,
        () => self.guestMemory(),
        (fuel) => self.chargeFuel(fuel),
      );
    const instance = instantiate(
      module.wasm,
      hostImports({
        io,
        pausing: {
          yield: () => this.onYield(),
          checkpoint: () => this.onCheckpoint(),
        },
        resources: this.resourceFns,
      }),
    );
    this.exports = instance.exports as Exports;
    this.memoryObject = this.exports[EXPORTS.memory] as WebAssembly.Memory;
    this.fuelGlobal = this.exports[EXPORTS.fuel] as WebAssembly.Global | undefined;
    this.growFailed = this.exports[EXPORTS.growFailed] as WebAssembly.Global | undefined;

    if (module.segment.hasContinuation) {
      const address = Number((this.exports[EXPORTS.continuation] as WebAssembly.Global).value) >>> 0;
      const view = this.view();
      const ok =
        address % 8 === 0 &&
        address + HEADER_BYTES <= view.byteLength &&
        view.getUint32(address + OFF.magic, true) === CONTINUATION_MAGIC &&
        view.getUint16(address + OFF.abiVersion, true) === CONTINUATION_ABI_VERSION &&
        view.getUint16(address + OFF.headerSize, true) === HEADER_BYTES;
      if (!ok)
        throw new FerryError(
          "invalid_wasm",
          `ferry_continuation (${address}) does not point at a version ${CONTINUATION_ABI_VERSION} continuation struct`,
        );
      const capacity = view.getUint32(address + OFF.stackCapacity, true);
      if (address + HEADER_BYTES + capacity > view.byteLength)
        throw new FerryError("invalid_wasm", "continuation stack buffer runs past the end of memory");
      this.structAddress = address;
      this.stackCapacity = capacity;
    } else {
      // The buffer in the reserved pages; without them (no Asyncify) nothing is ever unwound.
      this.stackCapacity =
        module.segment.reservedPages > 0
          ? module.segment.continuationStackBytes
          : (config.continuationStackBytes ?? DEFAULT_CONTINUATION_STACK_BYTES);
    }
    // Frames past the continuation buffer's capacity trap stack_overflow, paused or not (stack-budget.ts).
    this.stackRoom = this.exports[EXPORTS.stackRoom] as WebAssembly.Global | undefined;
    if (this.stackRoom)
      this.stackRoom.value = this.stackCapacity - Number((this.exports[EXPORTS.stackReserve] as WebAssembly.Global).value);
  }

  get codeHash(): string {
    return this.module.codeHash;
  }

  get state(): InstanceStatus {
    return this.status;
  }

  /** Everything the guest has written with `ferry.output_write` (carried across migrations). */
  output(): Uint8Array {
    return this.outputBuffer.all();
  }

  /** The output written from byte `offset` on (what a stream has not seen yet). */
  outputSince(offset: number): Uint8Array {
    return this.outputBuffer.since(offset);
  }

  /** Log lines written since this instance was created (not carried across migrations). */
  logs(): readonly string[] {
    return this.logLines;
  }

  /** The bytes this instance reads as input. */
  get inputBytes(): Uint8Array {
    return this.input;
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

  async run(entry: string, args: readonly WasmValue[] = [], options: RunOptions = {}): Promise<RunResult> {
    this.assertUsable();
    if (this.status === "paused") throw new FerryError("instance_busy", "paused in a run: resume it, or dispose it");
    if (this.status === "trapped") throw new FerryError("instance_finished", "the instance trapped");
    const ep = this.module.entry(entry);
    const raw = checkArgs(entry, ep.params, args);
    const slice = checkFuel("fuel", options.fuel);
    const limit = options.fuelLimit === undefined ? 0 : checkFuel("fuelLimit", options.fuelLimit);
    this.sliceMs = checkSliceMs(options.sliceMs);
    this.header = {
      state: ContState.Running,
      resumeLabel: 0,
      flags: this.header.flags & FLAG_START_DONE,
      fuelConsumed: 0,
      fuelLimit: limit,
      entry: ep.exportIndex,
      args: raw,
    };
    if (this.structAddress !== undefined) this.view().setInt32(this.structAddress + OFF.resumeLabel, 0, true);
    return this.drive(slice);
  }

  async resume(options: ResumeOptions = {}): Promise<RunResult> {
    this.assertUsable();
    if (this.status === "done" || this.status === "trapped") throw new FerryError("instance_finished", `the run is ${this.status}`);
    if (this.status !== "paused") throw new FerryError("instance_not_paused", `the instance is ${this.status}`);
    const slice = checkFuel("fuel", options.fuel);
    this.sliceMs = checkSliceMs(options.sliceMs);
    return this.drive(slice);
  }

  /**
   * Capture the execution segment of a paused instance. By default memory is copied and the
   * instance can go on (a checkpoint). With `move: true` the snapshot takes the instance's memory
   * as it is, without copying, and the instance is disposed: migration, where the source forgets
   * the job once it has been shipped.
   */
  async snapshot(options: SnapshotOptions = {}): Promise<Snapshot> {
    return this.capture(options);
  }

  private capture(options: SnapshotOptions): Snapshot {
    this.assertUsable();
    if (this.status !== "paused") throw new FerryError("instance_not_paused", `cannot snapshot an instance that is ${this.status}`);
    const { move, since } = checkSnapshotOptions(options, this.module.segment.codeHash);
    const header: ContinuationHeader = { ...this.header, state: ContState.Paused, resumeLabel: this.readResumeLabel() };
    const segment = this.module.segment;
    const snapshot: Snapshot = {
      codeHash: segment.codeHash,
      pipelineVersion: segment.pipelineVersion,
      continuation: encodeImage(header, this.savedStack, this.stackCapacity),
      globals: segment.globals.map((g) => this.readGlobal(g)),
      memory: since
        ? captureMemoryDelta(this.guestMemory(), since.memory)
        : captureMemory(this.guestMemory(), { copy: !move, recycle: options.recycle?.memory }),
      input: this.input,
      output: move ? this.output() : this.output().slice(),
    };
    if (segment.tables.length > 0) snapshot.tables = this.references().readTables();
    // Disposed, the instance never runs (or grows its memory) again, so the views stay valid.
    if (move) this.dispose();
    return snapshot;
  }

  /** Load a snapshot into this fresh instance, leaving it paused exactly where the source was. */
  applySnapshot(s: Snapshot): void {
    this.assertUsable();
    if (this.status !== "fresh") throw new FerryError("instance_busy", "snapshots can only be applied to a fresh instance");
    const segment = this.module.segment;
    const { header, stack, capacity } = decodeImage(s.continuation);
    const malformed = (detail: string): never => {
      throw new FerryError("snapshot_malformed", detail);
    };
    if (header.state !== ContState.Paused) malformed(`continuation state is ${header.state}, expected paused`);
    const entry =
      this.module.entryByIndex(header.entry) ?? malformed(`entry export ${header.entry} is not a function export of this module`);
    if (header.args.length !== entry.params.length)
      malformed(`entry "${entry.name}" takes ${entry.params.length} arguments, the snapshot has ${header.args.length}`);
    if (header.flags & FLAG_UNWOUND && !segment.asyncify) {
      throw new FerryError("snapshot_pipeline_mismatch", "the snapshot holds an unwound stack but this engine does not asyncify");
    }
    const globals = new Map(s.globals.map((g) => [g.index, g]));
    if (globals.size !== segment.globals.length || segment.globals.some((g) => globals.get(g.index)?.type !== g.type)) {
      malformed("mutable globals do not match the module's");
    }

    this.references().check(s, segment.globals);
    const currentPages = this.guestMemory().byteLength / WASM_PAGE_BYTES;
    if (s.memory.pageCount < currentPages) malformed(`memory has ${s.memory.pageCount} pages, the module starts with ${currentPages}`);
    if (s.memory.pageCount > this.pageCap) {
      throw new FerryError("snapshot_limit", `memory of ${s.memory.pageCount} pages exceeds the cap of ${this.pageCap}`);
    }
    for (const page of s.memory.pages) {
      if (
        !Number.isSafeInteger(page.index) ||
        page.index < 0 ||
        page.index >= s.memory.pageCount ||
        page.bytes.byteLength !== WASM_PAGE_BYTES
      ) {
        malformed(`memory page ${page.index} is not a whole page inside the ${s.memory.pageCount}-page memory`);
      }
    }
    // The saved stack is rewound through the continuation buffer this instance will use (the guest's
    // own, or the one in the reserved pages): a longer one would be written past it.
    if (stack.byteLength > this.stackCapacity) {
      throw new FerryError(
        "snapshot_limit",
        `saved stack of ${stack.byteLength} bytes exceeds the ${this.stackCapacity}-byte continuation buffer`,
      );
    }
    // Fresh memory holds only the data segments. The snapshot's elided pages must read as zero:
    // clear the few that are not, rather than writing (and so faulting in) the whole memory.
    clearPagesOutside(this.guestMemory(), s.memory);
    if (s.memory.pageCount > currentPages) this.memoryObject.grow(s.memory.pageCount - currentPages);
    const memory = this.guestMemory();
    for (const page of s.memory.pages) memory.set(page.bytes, page.index * WASM_PAGE_BYTES);

    for (const g of segment.globals) this.writeGlobal(g, globals.get(g.index)!);
    if (s.tables) this.references().writeTables(s.tables);
    // The room was counted against the source's buffer: this one may be larger or smaller.
    if (this.stackRoom) this.stackRoom.value = Number(this.stackRoom.value) + this.stackCapacity - capacity;
    // The passive data segments the guest had dropped (their flags are among the globals).
    (this.exports[EXPORTS.redrop] as (() => void) | undefined)?.();
    this.header = { ...header, state: ContState.Paused };
    this.savedStack = stack.slice();
    this.input = s.input;
    this.outputBuffer.reset(s.output);
    this.status = "paused";
  }

  dispose(): void {
    this.status = "disposed";
    this.outputBuffer.reset();
    this.savedStack = new Uint8Array(0);
    // Handles left open are dropped, never committed; the provider gets back what they hold.
    if (this.resourceFns) discardOpenResources(this.resourceFns);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- the run loop ----

  private drive(slice: number): RunResult {
    this.status = "running";
    this.header.state = ContState.Running;
    // A guest told to stop at a checkpoint and paused on its way out still owes that stop.
    this.stoppedAtCheckpoint = (this.header.flags & FLAG_STOPPING) !== 0;
    this.checkpointRequested = false;
    this.graceGiven = false;
    this.header.flags &= ~FLAG_AT_CHECKPOINT;
    try {
      this.beginSlice(slice);
      if (!(this.header.flags & FLAG_START_DONE)) {
        if (this.module.segment.hasStart) {
          this.inStart = true;
          this.call(EXPORTS.start, []);
          this.inStart = false;
          if (this.finishUnwind()) return this.paused("fuel");
        }
        this.header.flags |= FLAG_START_DONE;
      }
      const entry = this.module.entryByIndex(this.header.entry)!;
      const value = this.call(entry.name, argsForCall(entry.params, this.header.args));
      if (this.finishUnwind()) return this.paused("fuel");
      if (this.stoppedAtCheckpoint) {
        this.header.flags = (this.header.flags & ~FLAG_STOPPING) | FLAG_AT_CHECKPOINT;
        return this.paused("checkpoint");
      }
      // dispose() from a host callback (onLog, a resource provider) ends the run, never un-disposes.
      if (this.state === "disposed") throw new GuestTrap("disposed", "dispose() was called during the run");
      this.endSlice();
      this.status = "done";
      this.header.state = ContState.Done;
      return { status: "done", value: normaliseValue(value), fuelUsed: this.header.fuelConsumed };
    } catch (error) {
      return this.trapped(error);
    }
  }

  private call(name: string, args: WasmValue[]): unknown {
    if (this.header.flags & FLAG_UNWOUND) this.startRewind();
    const fn = this.exports[name] as (...a: WasmValue[]) => unknown;
    const value = fn(...args);
    // A rewind that never reached `ferry.yield` skipped the guest's code instead of resuming it
    // (a saved stack from somewhere else): the value is meaningless.
    if (this.rewinding) throw new GuestTrap("invalid_continuation", "the export returned before the rewind reached its pause point");
    return value;
  }

  private paused(reason: "fuel" | "checkpoint"): RunResult {
    if (this.status === "disposed") return this.trapped(new GuestTrap("disposed", "dispose() was called during the run"));
    this.endSlice();
    this.status = "paused";
    this.header.state = ContState.Paused;
    this.syncStructHeader();
    return { status: "paused", reason, fuelUsed: this.header.fuelConsumed };
  }

  private trapped(error: unknown): RunResult {
    let { trap, detail } = classifyTrap(error);
    if (this.unwinding) {
      trap = "continuation_overflow";
      detail = `the stack needed more than the ${this.stackCapacity}-byte continuation buffer`;
    } else if (this.rewinding && trap !== "invalid_continuation") {
      detail = `${trap} while rewinding the saved stack`;
      trap = "invalid_continuation";
    } else if (trap === "unreachable" && (this.exports[EXPORTS.stackOverflow] as WebAssembly.Global | undefined)?.value === 1) {
      trap = "stack_overflow";
      detail = `the call stack needed more than the ${this.stackCapacity}-byte continuation buffer holds`;
    } else if ((trap === "unreachable" || trap === "guest_abort") && this.growFailed && this.growFailed.value === 1) {
      trap = "memory_limit";
      detail = `memory.grow failed at the cap of ${this.pageCap} pages`;
    }
    this.unwinding = this.rewinding = this.inStart = false;
    this.endSlice();
    if (this.status !== "disposed") this.status = "trapped";
    this.header.state = ContState.Trapped;
    return {
      status: "trapped",
      code: trap,
      message: detail ? `${TRAP_MESSAGES[trap]}: ${detail}` : TRAP_MESSAGES[trap],
      fuelUsed: this.header.fuelConsumed,
    };
  }

  // ---- fuel ----

  private beginSlice(slice: number): void {
    this.sliceRequest = slice;
    const limit = this.header.fuelLimit;
    if (limit > 0 && this.header.fuelConsumed >= limit) {
      throw new GuestTrap("out_of_fuel", `the run already used ${this.header.fuelConsumed} of its ${limit} fuel`);
    }
    this.sliceBudget = limit > 0 ? Math.min(slice, limit - this.header.fuelConsumed) : slice;
    this.sliceDeadline = this.sliceMs === undefined ? Infinity : performance.now() + this.sliceMs;
    this.fuelCredit = 0n;
    if (this.fuelGlobal) this.fuelGlobal.value = BigInt(this.sliceBudget);
  }

  /** Fold what the slice used into the run's total. */
  private endSlice(): void {
    if (!this.fuelGlobal) return;
    this.header.fuelConsumed += this.sliceBudget - this.remainingFuel();
    this.sliceBudget = 0;
    this.fuelCredit = 0n;
    this.fuelGlobal.value = 0n;
  }

  /** The slice's true remaining fuel (negative once overdrawn). */
  private remainingFuel(): number {
    return Number((this.fuelGlobal!.value as bigint) + this.fuelCredit);
  }

  private pastDeadline(): boolean {
    return this.sliceDeadline !== Infinity && performance.now() > this.sliceDeadline;
  }

  /**
   * After every host call: a slice past its deadline is made to fail the guest's next fuel check
   * (the one the metering puts right after the call), without changing the fuel it has used.
   */
  private afterHostCall(): void {
    if (!this.fuelGlobal || this.status !== "running" || this.unwinding || !this.pastDeadline()) return;
    const global = this.fuelGlobal.value as bigint;
    if (global < 0n) return;
    this.fuelCredit += global + 1n;
    this.fuelGlobal.value = -1n;
  }

  /** A host call's work, taken from the running slice (unmetered code has no fuel to take). */
  private chargeFuel(fuel: number): void {
    if (!this.fuelGlobal || this.status !== "running") return;
    this.fuelGlobal.value = (this.fuelGlobal.value as bigint) - BigInt(Math.ceil(fuel));
  }

  // ---- the two pause points ----

  private onYield(): void {
    if (this.rewinding) {
      this.exports.asyncify_stop_rewind!();
      this.rewinding = false;
      this.header.flags &= ~FLAG_UNWOUND;
      this.savedStack = new Uint8Array(0);
      return;
    }
    if (this.status === "disposed") throw new GuestTrap("disposed", "dispose() was called during the run");
    if (this.status !== "running") throw new GuestTrap("host_error", `instance was ${this.status} during its run`);
    if (!this.fuelGlobal) return; // unmetered: a voluntary safepoint the host cannot act on
    const remaining = this.remainingFuel();
    // Fuel left: a voluntary safepoint, or a bulk helper between two chunks; either ends the slice
    // only when it is past its deadline.
    if (remaining >= 0 && !this.pastDeadline()) {
      this.restoreCredit();
      return;
    }
    const limit = this.header.fuelLimit;
    if (remaining < 0 && limit > 0 && this.header.fuelConsumed + this.sliceBudget - remaining >= limit) {
      this.endSlice();
      throw new GuestTrap("out_of_fuel", `used ${this.header.fuelConsumed} of ${limit}`);
    }
    const segment = this.module.segment;
    const explicitGrace = segment.usesCheckpoints && !this.graceGiven && !this.inStart;
    if (!segment.asyncify || explicitGrace) {
      // Cannot unwind, or an explicit guest deserves a chance to stop cleanly: one more slice,
      // and the next checkpoint answers "stop".
      this.graceGiven = true;
      this.checkpointRequested = true;
      this.endSlice();
      this.beginSlice(this.sliceRequest);
      return;
    }
    this.startUnwind();
  }

  /** A forced check that did not end the slice (a guest may also call yield itself): give the fuel back. */
  private restoreCredit(): void {
    if (this.fuelCredit === 0n) return;
    this.fuelGlobal!.value = (this.fuelGlobal!.value as bigint) + this.fuelCredit;
    this.fuelCredit = 0n;
  }

  private onCheckpoint(): number {
    if (this.checkpointRequested && !this.inStart && this.status === "running") {
      this.stoppedAtCheckpoint = true;
      // Kept in the header: the fuel check after this call may pause the guest before it returns.
      this.header.flags |= FLAG_STOPPING;
      return 1;
    }
    return 0;
  }

  // ---- Globals ----

  /** A mutable global's value; a float's or a vector's exact bits through its accessors (float-global-bits.ts). */
  private readGlobal(g: SnapshotGlobal): GlobalValue {
    if (g.type === "funcref" || g.type === "externref") return this.references().readGlobal(g);
    if (g.type === "v128") {
      const get = this.exports[floatBitsExports(g).get] as (half: number) => bigint;
      return { index: g.index, type: g.type, value: BigInt.asUintN(64, get(0)) | (BigInt.asUintN(64, get(1)) << 64n) };
    }
    const value = (this.exports[g.exportName] as WebAssembly.Global).value as number | bigint;
    if (g.type !== "f32" && g.type !== "f64") return { index: g.index, type: g.type, value };
    const get = this.exports[floatBitsExports(g).get] as (() => number | bigint) | undefined;
    if (!get) return { index: g.index, type: g.type, value };
    const raw = get();
    const bits = g.type === "f32" ? Number(raw) >>> 0 : BigInt.asUintN(64, BigInt(raw));
    return { index: g.index, type: g.type, value: floatOfBits(g.type, bits), bits };
  }

  private writeGlobal(g: SnapshotGlobal, v: GlobalValue): void {
    if (g.type === "funcref" || g.type === "externref") {
      this.references().writeGlobal(g, v);
      return;
    }
    if (g.type === "v128") {
      const bits = v.value as bigint;
      (this.exports[floatBitsExports(g).set] as (low: bigint, high: bigint) => void)(
        BigInt.asIntN(64, bits),
        BigInt.asIntN(64, bits >> 64n),
      );
      return;
    }
    const set = this.exports[floatBitsExports(g).set] as ((bits: number | bigint) => void) | undefined;
    if (v.bits !== undefined && set) set(g.type === "f32" ? Number(v.bits) | 0 : BigInt.asIntN(64, BigInt(v.bits)));
    else (this.exports[g.exportName] as WebAssembly.Global).value = v.value;
  }

  private references(): ReferenceValues {
    return (this.refs ??= new ReferenceValues(this.exports, this.module.segment));
  }

  // ---- Asyncify and the continuation struct ----

  /**
   * Where the struct is during an unwind or rewind: the guest's own, or the runtime's at real
   * address 0, in the pages reserved for it ahead of the guest's memory. Either way it stays in
   * place, so a pause copies only the saved frames.
   */
  private structBase(): number {
    return this.structAddress ?? 0;
  }

  private startUnwind(): void {
    const base = this.structBase();
    const view = this.view();
    view.setUint32(base + OFF.asyncifyCurrent, base + HEADER_BYTES, true);
    view.setUint32(base + OFF.asyncifyEnd, base + HEADER_BYTES + this.stackCapacity, true);
    this.unwinding = true;
    this.exports.asyncify_start_unwind!(base + OFF.asyncifyCurrent);
  }

  /** After the export returned: if it was unwinding, stop and keep the saved frames. */
  private finishUnwind(): boolean {
    if (!this.unwinding) return false;
    this.exports.asyncify_stop_unwind!(); // traps if the frames overflowed the buffer
    const base = this.structBase();
    const current = this.view().getUint32(base + OFF.asyncifyCurrent, true);
    this.savedStack = new Uint8Array(this.memoryObject.buffer).slice(base + HEADER_BYTES, current);
    this.unwinding = false;
    this.header.flags |= FLAG_UNWOUND;
    return true;
  }

  private startRewind(): void {
    const base = this.structBase();
    const memory = new Uint8Array(this.memoryObject.buffer);
    memory.set(this.savedStack, base + HEADER_BYTES);
    const view = this.view();
    view.setUint32(base + OFF.asyncifyCurrent, base + HEADER_BYTES + this.savedStack.byteLength, true);
    view.setUint32(base + OFF.asyncifyEnd, base + HEADER_BYTES + this.stackCapacity, true);
    this.rewinding = true;
    this.exports.asyncify_start_rewind!(base + OFF.asyncifyCurrent);
  }

  /** SDK guests see the host's view of the run in their struct. */
  private syncStructHeader(): void {
    if (this.structAddress === undefined) return;
    const view = this.view();
    const base = this.structAddress;
    const current = view.getUint32(base + OFF.asyncifyCurrent, true);
    const end = view.getUint32(base + OFF.asyncifyEnd, true);
    writeHeader(view, base, { ...this.header, resumeLabel: this.readResumeLabel() }, { current, end, capacity: this.stackCapacity });
  }

  private readResumeLabel(): number {
    if (this.structAddress === undefined) return this.header.resumeLabel;
    return this.view().getInt32(this.structAddress + OFF.resumeLabel, true);
  }

  private view(): DataView {
    return new DataView(this.memoryObject.buffer);
  }

  /**
   * The guest's memory at guest addresses: the one view host calls, snapshots and restores use, so
   * none of them sees the reserved pages or translates an address itself.
   */
  private guestMemory(): Uint8Array {
    return new Uint8Array(this.memoryObject.buffer, this.shift);
  }

  // ---- I/O ----

  /** Past the limit, the output keeps what fits (so it does not depend on how the writes were cut) and the run traps. */
  private writeOutput(bytes: Uint8Array): void {
    const room = this.maxOutputBytes - this.outputBuffer.byteLength;
    if (bytes.byteLength > room) {
      this.outputBuffer.append(bytes.subarray(0, Math.max(0, room)));
      throw new GuestTrap("output_limit", `output would exceed ${this.maxOutputBytes} bytes`);
    }
    this.outputBuffer.append(bytes);
  }

  private writeLog(line: string): void {
    this.logBytes += line.length + 1;
    if (this.logBytes > this.maxLogBytes) throw new GuestTrap("output_limit", `log would exceed ${this.maxLogBytes} bytes`);
    this.logLines.push(line);
    this.onLog?.(line);
    if (this.status === "disposed") throw new GuestTrap("disposed", "dispose() was called from onLog");
  }

  private assertUsable(): void {
    if (this.status === "disposed") throw new FerryError("instance_disposed");
    if (this.status === "running") throw new FerryError("instance_busy");
  }
}

/**
 * The trust check: anonymous code gets pure-compute imports only, so a module importing the
 * resource interface cannot run anonymously; authenticated code gets the interface, checked
 * against its capabilities on every call.
 */
function resourceGrant(module: GuestModule, trust: TrustClass, options: InstanceOptions): ResourceGrant | undefined {
  if (trust === "anonymous") {
    const privileged = WebAssembly.Module.imports(module.wasm).filter((i) => importTrust(i.module, i.name) === "authenticated");
    if (privileged.length > 0) {
      const names = nameSome(
        privileged.map((i) => `"${i.module}.${i.name}"`),
        MAX_NAMED_IMPORTS,
        "imports",
      );
      throw new FerryError(
        "import_not_allowed",
        `${names} ${privileged.length === 1 ? "is" : "are"} for authenticated code; anonymous code gets pure-compute imports only`,
      );
    }
    if (options.capabilities?.length || options.resources) {
      throw new FerryError("invalid_option", "`capabilities` and `resources` require trust: 'authenticated'");
    }
    return undefined;
  }
  return { capabilities: new CapabilitySet(options.capabilities ?? []), provider: options.resources ?? NO_RESOURCES };
}

const NO_RESOURCES: ResourceProvider = { open: () => undefined };

/**
 * V8's instantiation: an active data or element segment that does not fit its memory or table makes
 * it trap (the spec's instantiation trap), and such a module can never run — a typed refusal, not
 * V8's RuntimeError escaping the engine.
 */
function instantiate(wasm: WebAssembly.Module, imports: WebAssembly.Imports): WebAssembly.Instance {
  try {
    return new WebAssembly.Instance(wasm, imports);
  } catch (e) {
    if (!(e instanceof WebAssembly.RuntimeError)) throw e;
    throw new FerryError("invalid_wasm", `the module cannot be instantiated: ${e.message.replace(/^WebAssembly\.Instance\(\): /, "")}`);
  }
}

function checkSliceMs(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new FerryError("invalid_option", `\`sliceMs\` must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

function checkFuel(name: string, value: number | undefined): number {
  if (value === undefined) return UNLIMITED;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new FerryError("invalid_option", `\`${name}\` must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function normaliseValue(value: unknown): RunValue {
  if (value === undefined) return null;
  if (Array.isArray(value)) return value as WasmValue[];
  return value as WasmValue;
}

export { ContState };
