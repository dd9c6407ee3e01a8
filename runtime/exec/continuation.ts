// The continuation struct (docs/continuation-abi.md): layout constants, and the host-side view of
// the header that travels in snapshots as a relocatable image.

import { FerryError } from "../errors.js";
import { CONTINUATION_HEADER_BYTES, MAX_ENTRY_ARGS } from "../limits.js";

export const CONTINUATION_MAGIC = 0x59525246; // "FRRY" in memory order
export const CONTINUATION_ABI_VERSION = 1;
export const HEADER_BYTES = CONTINUATION_HEADER_BYTES;
export const NO_ENTRY = 0xffffffff;
/** Argument slots in the header (`args[5]`); an entry's further arguments are kept by the host. */
export const ARG_SLOTS = 5;

/** Byte offsets of the header fields. */
export const OFF = {
  magic: 0,
  abiVersion: 4,
  headerSize: 6,
  state: 8,
  resumeLabel: 12,
  asyncifyCurrent: 16,
  asyncifyEnd: 20,
  stackCapacity: 24,
  flags: 28,
  fuelConsumed: 32,
  fuelLimit: 40,
  entry: 48,
  argCount: 52,
  args: 56,
} as const;

export enum ContState {
  Fresh = 0,
  Running = 1,
  Paused = 2,
  Done = 3,
  Trapped = 4,
}

export const FLAG_START_DONE = 1;
export const FLAG_UNWOUND = 2;
export const FLAG_AT_CHECKPOINT = 4;
/** A checkpoint told the guest to stop, and it was paused (out of fuel) before its export returned. */
export const FLAG_STOPPING = 8;

/** Everything the header records, as the host keeps it between runs. */
export interface ContinuationHeader {
  state: ContState;
  resumeLabel: number;
  flags: number;
  fuelConsumed: number;
  fuelLimit: number;
  entry: number;
  /** Raw 64-bit argument patterns, all of them (the header's slots hold the first ARG_SLOTS). */
  args: bigint[];
}

/** The header of an instance that has not run. */
export function freshHeader(): ContinuationHeader {
  return { state: ContState.Fresh, resumeLabel: 0, flags: 0, fuelConsumed: 0, fuelLimit: 0, entry: NO_ENTRY, args: [] };
}

/**
 * Write `h` into a 96-byte header at `offset` of `view`, with the given Asyncify pointers.
 * `arg_count` is the entry's whole argument count; the slots hold the first ARG_SLOTS.
 */
export function writeHeader(
  view: DataView,
  offset: number,
  h: ContinuationHeader,
  asyncify: { current: number; end: number; capacity: number },
): void {
  view.setUint32(offset + OFF.magic, CONTINUATION_MAGIC, true);
  view.setUint16(offset + OFF.abiVersion, CONTINUATION_ABI_VERSION, true);
  view.setUint16(offset + OFF.headerSize, HEADER_BYTES, true);
  view.setUint32(offset + OFF.state, h.state, true);
  view.setInt32(offset + OFF.resumeLabel, h.resumeLabel, true);
  view.setUint32(offset + OFF.asyncifyCurrent, asyncify.current, true);
  view.setUint32(offset + OFF.asyncifyEnd, asyncify.end, true);
  view.setUint32(offset + OFF.stackCapacity, asyncify.capacity, true);
  view.setUint32(offset + OFF.flags, h.flags, true);
  view.setBigUint64(offset + OFF.fuelConsumed, BigInt(h.fuelConsumed), true);
  view.setBigUint64(offset + OFF.fuelLimit, BigInt(h.fuelLimit), true);
  view.setUint32(offset + OFF.entry, h.entry, true);
  view.setUint32(offset + OFF.argCount, h.args.length, true);
  for (let i = 0; i < ARG_SLOTS; i++) {
    view.setBigUint64(offset + OFF.args + 8 * i, BigInt.asUintN(64, h.args[i] ?? 0n), true);
  }
}

/**
 * The relocatable image stored in snapshots: header (Asyncify pointers as offsets) + used stack,
 * then the arguments past the header's slots (8 bytes each, raw patterns), if the entry has any.
 */
export function encodeImage(h: ContinuationHeader, stack: Uint8Array, capacity: number): Uint8Array {
  const more = h.args.slice(ARG_SLOTS);
  const stackEnd = HEADER_BYTES + stack.byteLength;
  const image = new Uint8Array(stackEnd + 8 * more.length);
  const view = new DataView(image.buffer);
  writeHeader(view, 0, h, { current: stackEnd, end: HEADER_BYTES + capacity, capacity });
  image.set(stack, HEADER_BYTES);
  for (const [i, a] of more.entries()) view.setBigUint64(stackEnd + 8 * i, BigInt.asUintN(64, a), true);
  return image;
}

export function decodeImage(image: Uint8Array): { header: ContinuationHeader; stack: Uint8Array; capacity: number } {
  const bad = (detail: string): never => {
    throw new FerryError("snapshot_malformed", `continuation: ${detail}`);
  };
  if (image.byteLength < HEADER_BYTES) bad(`image is ${image.byteLength} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (view.getUint32(OFF.magic, true) !== CONTINUATION_MAGIC) bad("bad magic");
  const abi = view.getUint16(OFF.abiVersion, true);
  if (abi !== CONTINUATION_ABI_VERSION) bad(`ABI version ${abi}, this runtime supports ${CONTINUATION_ABI_VERSION}`);
  if (view.getUint16(OFF.headerSize, true) !== HEADER_BYTES) bad("unexpected header size");
  const current = view.getUint32(OFF.asyncifyCurrent, true);
  const end = view.getUint32(OFF.asyncifyEnd, true);
  const capacity = view.getUint32(OFF.stackCapacity, true);
  const argCount = view.getUint32(OFF.argCount, true);
  if (argCount > MAX_ENTRY_ARGS) bad(`${argCount} arguments, at most ${MAX_ENTRY_ARGS}`);
  const moreBytes = 8 * Math.max(0, argCount - ARG_SLOTS);
  if (current < HEADER_BYTES || current + moreBytes !== image.byteLength) bad("stack length does not match the image size");
  if (end !== HEADER_BYTES + capacity || current > end) bad("stack pointers are inconsistent");
  const state = view.getUint32(OFF.state, true);
  if (state > ContState.Trapped) bad(`unknown state ${state}`);
  const args: bigint[] = [];
  for (let i = 0; i < argCount; i++) args.push(view.getBigUint64(i < ARG_SLOTS ? OFF.args + 8 * i : current + 8 * (i - ARG_SLOTS), true));
  const fuelConsumed = Number(view.getBigUint64(OFF.fuelConsumed, true));
  const fuelLimit = Number(view.getBigUint64(OFF.fuelLimit, true));
  return {
    header: {
      state,
      resumeLabel: view.getInt32(OFF.resumeLabel, true),
      flags: view.getUint32(OFF.flags, true),
      fuelConsumed,
      fuelLimit,
      entry: view.getUint32(OFF.entry, true),
      args,
    },
    stack: image.subarray(HEADER_BYTES, current),
    capacity,
  };
}
