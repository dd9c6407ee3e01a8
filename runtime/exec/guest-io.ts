// What a guest reads and writes through the host: its input, its output (kept whole, carried across
// migrations, capped by maxOutputBytes) and its log lines (capped by maxLogBytes, handed to onLog as
// written, not carried). Past a cap the call traps `output_limit`.

import type { GuestIo } from "../host/index.js";
import { keepShape } from "../shape-anchor.js";
import { GuestTrap } from "../traps.js";
import type { AsyncifyStack } from "./asyncify-stack.js";
import type { AwaitedCalls } from "./awaited-calls.js";
import type { FuelSlice } from "./fuel-slice.js";
import type { InstanceStatus } from "./instance-api.js";
import { OutputBuffer } from "./output-buffer.js";

export class GuestStreams {
  readonly output = new OutputBuffer();
  readonly logLines: string[] = [];
  private logBytes = 0;

  constructor(
    public input: Uint8Array,
    private readonly maxOutputBytes: number,
    private readonly maxLogBytes: number,
    private readonly onLog: ((line: string) => void) | undefined,
  ) {}

  /** Past the limit, the output keeps what fits (so it does not depend on how the writes were cut) and the run traps. */
  writeOutput(bytes: Uint8Array): void {
    const room = this.maxOutputBytes - this.output.byteLength;
    if (bytes.byteLength > room) {
      this.output.append(bytes.subarray(0, Math.max(0, room)));
      throw new GuestTrap("output_limit", `output would exceed ${this.maxOutputBytes} bytes`);
    }
    this.output.append(bytes);
  }

  writeLog(line: string): void {
    this.logBytes += line.length + 1;
    if (this.logBytes > this.maxLogBytes) throw new GuestTrap("output_limit", `log would exceed ${this.maxLogBytes} bytes`);
    this.logLines.push(line);
    this.onLog?.(line);
  }
}

/**
 * The GuestIo an instance's host calls are given, and the state those calls read on every call: the
 * instance's status (kept here by GuestInstance), its fuel, its stack's unwinding flag, its awaited
 * calls and its memory. One class with light samples kept (shape-anchor.ts), never closures made
 * per instance: V8 inlines `io.charge(...)` and `io.memory()` into every host call's optimised code,
 * and a target or a hidden class that dies with each job takes that code with it.
 */
export class InstanceIo implements GuestIo {
  /** The instance's status (GuestInstance reads and writes it here). */
  status: InstanceStatus = "fresh";
  private fuel!: FuelSlice;
  private stack!: AsyncifyStack;
  private awaits!: AwaitedCalls;
  private memoryObject!: WebAssembly.Memory;
  /** Bytes of reserved pages ahead of the guest's address 0. */
  private shift = 0;
  /** The guest's memory at guest addresses: one view per buffer (a grow detaches the buffer, emptying it). */
  private view: Uint8Array | undefined;

  constructor(
    private readonly streams: GuestStreams,
    readonly seed: number,
  ) {}

  /** What exists only once the module is instantiated (the imports need this object first). */
  attach(fuel: FuelSlice, stack: AsyncifyStack, awaits: AwaitedCalls, memory: WebAssembly.Memory, shift: number): void {
    this.fuel = fuel;
    this.stack = stack;
    this.awaits = awaits;
    this.memoryObject = memory;
    this.shift = shift;
  }

  /**
   * The guest's memory at guest addresses: the one view host calls, snapshots and restores use, so
   * none of them sees the reserved pages or translates an address itself. Asked for on every host
   * call: the buffer getter is read again only after a grow emptied the view.
   */
  memory(): Uint8Array {
    if (!this.view?.byteLength) this.view = new Uint8Array(this.memoryObject.buffer, this.shift);
    return this.view;
  }

  /** A host call's work, taken from the running slice (unmetered code has no fuel to take). */
  charge(fuel: number): void {
    if (this.status !== "running") return;
    this.fuel.charge(fuel);
    this.awaits.chargedInCall += Math.ceil(fuel);
  }

  /**
   * After every host call: its charges reach the fuel global (fuel-slice.ts settle), and a slice
   * past its deadline is made to fail the guest's next fuel check (the one the metering puts right
   * after the call), without changing the fuel it has used.
   */
  afterCall(): void {
    this.fuel.settle();
    if (this.status !== "running" || this.stack.unwinding) return;
    this.fuel.forceCheck();
  }

  get input(): Uint8Array {
    return this.streams.input;
  }

  writeOutput(bytes: Uint8Array): void {
    this.streams.writeOutput(bytes);
  }

  /** A log line; onLog may have disposed the instance, which ends the run. */
  writeLog(line: string): void {
    this.streams.writeLog(line);
    if (this.status === "disposed") throw new GuestTrap("disposed", "dispose() was called from onLog");
  }
}

keepShape(new GuestStreams(new Uint8Array(0), 0, 0, undefined));
