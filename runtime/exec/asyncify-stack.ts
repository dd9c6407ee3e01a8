// The Asyncify stack of one instance: where the continuation struct is (the guest's own, or the
// runtime's at real address 0 in the pages reserved ahead of the guest's memory), unwinding the
// guest's frames into its buffer at a pause, keeping a copy of them while paused (what a snapshot
// carries), and rewinding them on resume. The struct stays in place either way, so a pause copies
// only the saved frames. The run state machine (guest-instance.ts) says when; this says how.

import type { CodeSegment } from "../code/segment.js";
import { EXPORTS } from "../code/export-names.js";
import { FerryError } from "../errors.js";
import { DEFAULT_CONTINUATION_STACK_BYTES } from "../limits.js";
import { CONTINUATION_ABI_VERSION, CONTINUATION_MAGIC, type ContinuationHeader, HEADER_BYTES, OFF, writeHeader } from "./continuation.js";

/** The guest's exports this file drives (Asyncify's four, and the struct's address). */
export type AsyncifyExports = Record<string, WebAssembly.ExportValue> & {
  asyncify_start_unwind?: (ptr: number) => void;
  asyncify_stop_unwind?: () => void;
  asyncify_start_rewind?: (ptr: number) => void;
  asyncify_stop_rewind?: () => void;
};

export class AsyncifyStack {
  /** Saved frames while unwound (a copy; the guest's struct may hold them too). */
  saved: Uint8Array = new Uint8Array(0);
  /** An unwind is under way: the export is returning frame by frame. */
  unwinding = false;
  /** A rewind is under way: the export is being re-entered down to its pause point. */
  rewinding = false;

  /** The room the code counts its recursive frames against (stack-budget.ts), when it counts them. */
  private readonly room: WebAssembly.Global | undefined;

  constructor(
    private readonly exports: AsyncifyExports,
    private readonly memory: WebAssembly.Memory,
    /** Address of the guest's own continuation struct, if it has one (SDK guests). */
    readonly structAddress: number | undefined,
    /** Bytes the struct's buffer holds for saved frames. */
    readonly capacity: number,
  ) {
    // Frames past the buffer's capacity trap stack_overflow, paused or not.
    this.room = exports[EXPORTS.stackRoom] as WebAssembly.Global | undefined;
    if (this.room) this.room.value = capacity - Number((exports[EXPORTS.stackReserve] as WebAssembly.Global).value);
  }

  /** A restored stack's room was counted against the source's buffer (`sourceCapacity`): this one may be larger or smaller. */
  rebaseRoom(sourceCapacity: number): void {
    if (this.room) this.room.value = Number(this.room.value) + this.capacity - sourceCapacity;
  }

  /**
   * The struct of a new instance: the guest's own (checked: aligned, inside memory, this ABI
   * version), else the runtime's buffer in the reserved pages (none without them: no Asyncify,
   * nothing is ever unwound).
   */
  static locate(exports: AsyncifyExports, memory: WebAssembly.Memory, segment: CodeSegment, engineStackBytes?: number): AsyncifyStack {
    if (!segment.hasContinuation) {
      const capacity = segment.reservedPages > 0 ? segment.continuationStackBytes : (engineStackBytes ?? DEFAULT_CONTINUATION_STACK_BYTES);
      return new AsyncifyStack(exports, memory, undefined, capacity);
    }
    const address = Number((exports[EXPORTS.continuation] as WebAssembly.Global).value) >>> 0;
    const view = new DataView(memory.buffer);
    const ok =
      address % 8 === 0 &&
      address + HEADER_BYTES <= view.byteLength &&
      view.getUint32(address + OFF.magic, true) === CONTINUATION_MAGIC &&
      view.getUint16(address + OFF.abiVersion, true) === CONTINUATION_ABI_VERSION &&
      view.getUint16(address + OFF.headerSize, true) === HEADER_BYTES;
    if (!ok) {
      throw new FerryError(
        "invalid_wasm",
        `ferry_continuation (${address}) does not point at a version ${CONTINUATION_ABI_VERSION} continuation struct`,
      );
    }
    const capacity = view.getUint32(address + OFF.stackCapacity, true);
    if (address + HEADER_BYTES + capacity > view.byteLength)
      throw new FerryError("invalid_wasm", "continuation stack buffer runs past the end of memory");
    return new AsyncifyStack(exports, memory, address, capacity);
  }

  /** Where the struct is during an unwind or rewind. */
  private base(): number {
    return this.structAddress ?? 0;
  }

  private view(): DataView {
    return new DataView(this.memory.buffer);
  }

  startUnwind(): void {
    const base = this.base();
    const view = this.view();
    view.setUint32(base + OFF.asyncifyCurrent, base + HEADER_BYTES, true);
    view.setUint32(base + OFF.asyncifyEnd, base + HEADER_BYTES + this.capacity, true);
    this.unwinding = true;
    this.exports.asyncify_start_unwind!(base + OFF.asyncifyCurrent);
  }

  /** After the export returned: if it was unwinding, stop and keep the saved frames (true). */
  finishUnwind(): boolean {
    if (!this.unwinding) return false;
    this.exports.asyncify_stop_unwind!(); // traps if the frames overflowed the buffer
    const base = this.base();
    const current = this.view().getUint32(base + OFF.asyncifyCurrent, true);
    const memory = new Uint8Array(this.memory.buffer);
    const start = base + HEADER_BYTES;
    const length = Math.max(0, Math.min(current, memory.byteLength) - start);
    // Copied into a buffer kept for the next pause (a snapshot copies the frames again): a new
    // ArrayBuffer at every pause counts as external memory and brings V8's collections forward.
    if (this.scratch.byteLength < length) this.scratch = new Uint8Array(Math.max(length, 2 * this.scratch.byteLength, 1024));
    this.saved = this.scratch.subarray(0, length);
    this.saved.set(memory.subarray(start, start + length));
    this.unwinding = false;
    return true;
  }
  private scratch = new Uint8Array(0);

  startRewind(): void {
    const base = this.base();
    new Uint8Array(this.memory.buffer).set(this.saved, base + HEADER_BYTES);
    const view = this.view();
    view.setUint32(base + OFF.asyncifyCurrent, base + HEADER_BYTES + this.saved.byteLength, true);
    view.setUint32(base + OFF.asyncifyEnd, base + HEADER_BYTES + this.capacity, true);
    this.rewinding = true;
    this.exports.asyncify_start_rewind!(base + OFF.asyncifyCurrent);
  }

  /** The rewind reached the pause point: the guest runs on from there and the copy is spent. */
  stopRewind(): void {
    this.exports.asyncify_stop_rewind!();
    this.rewinding = false;
    this.saved = new Uint8Array(0);
  }

  /** A trap ends any unwind or rewind under way. */
  abandon(): void {
    this.unwinding = this.rewinding = false;
  }

  /** SDK guests see the host's view of the run in their struct. */
  syncHeader(header: ContinuationHeader): void {
    if (this.structAddress === undefined) return;
    const view = this.view();
    const base = this.structAddress;
    const current = view.getUint32(base + OFF.asyncifyCurrent, true);
    const end = view.getUint32(base + OFF.asyncifyEnd, true);
    writeHeader(view, base, { ...header, resumeLabel: this.resumeLabel(header.resumeLabel) }, { current, end, capacity: this.capacity });
  }

  /** An SDK guest's resume label is in its struct (the guest writes it); otherwise the host's `kept`. */
  resumeLabel(kept: number): number {
    if (this.structAddress === undefined) return kept;
    return this.view().getInt32(this.structAddress + OFF.resumeLabel, true);
  }

  /** A new run starts at label 0. */
  clearResumeLabel(): void {
    if (this.structAddress !== undefined) this.view().setInt32(this.structAddress + OFF.resumeLabel, 0, true);
  }
}
