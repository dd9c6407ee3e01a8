// The execution segment as a value: everything needed to resume a paused guest elsewhere.
// Capture and apply live here; the binary encoding is in snapshot-codec.ts.

import { FerryError } from "../errors.js";
import { WASM_PAGE_BYTES } from "../limits.js";

export type GlobalType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref";

/** One mutable global of the *original* module, by its index in the original global space. */
export interface GlobalValue {
  index: number;
  type: GlobalType;
  /**
   * i32/f32/f64 as number, i64 as bigint, v128 as a bigint in 0..2^128-1 (lane bytes little-endian:
   * byte 0 of the vector is the lowest byte), funcref as the function's index in the original
   * module's function space or null, externref null (a Ferry guest can hold no other).
   */
  value: number | bigint | null;
  /**
   * f32/f64 only: the exact bits (f32 as a number in 0..2^32-1, f64 as a bigint in 0..2^64-1).
   * A JS number cannot be trusted to keep a NaN's payload, so where both are given, `bits` is
   * what a restore writes; `value` is there to read. Snapshots the runtime takes always have it.
   */
  bits?: number | bigint;
}

/** The value a float global's bits stand for (NaN payloads aside: a JS number may not keep them). */
export function floatOfBits(type: "f32" | "f64", bits: number | bigint): number {
  const view = new DataView(new ArrayBuffer(8));
  if (type === "f32") {
    view.setUint32(0, Number(bits), true);
    return view.getFloat32(0, true);
  }
  view.setBigUint64(0, BigInt(bits), true);
  return view.getFloat64(0, true);
}

/** One non-zero 64 KiB page of linear memory. */
export interface MemoryPage {
  index: number;
  bytes: Uint8Array; // exactly WASM_PAGE_BYTES long
  /**
   * sha256 of `bytes` (32 bytes), when known: a decoded version 4 snapshot's pages carry the digest
   * they were checked against, and encoding with `pageTable` gives every page it hashes one. An
   * encode reuses it instead of hashing the page again (page-digests.ts), so it must be the digest
   * of these bytes: a wrong one gives a snapshot that fails to decode (`snapshot_corrupt`).
   */
  digest?: Uint8Array;
}

/** Linear memory with zero pages elided. */
export interface MemoryImage {
  /** Total size of the memory in pages, including elided zero pages. */
  pageCount: number;
  /** Non-zero pages in ascending index order. */
  pages: MemoryPage[];
}

/**
 * One table of the *original* module that the guest can change (table.set, grow, fill, copy, init),
 * by its index in the original table space: its current size and every element, a function index
 * in the original module's function space or null (docs/snapshot-format.md, section 8).
 */
export interface TableValue {
  index: number;
  type: "funcref" | "externref";
  elements: Array<number | null>;
}

export interface Snapshot {
  /** sha256 of the original (uninstrumented) module bytes, lowercase hex. */
  codeHash: string;
  /** Version of the instrumentation pipeline that produced the running code. */
  pipelineVersion: number;
  /** Relocatable continuation struct image (docs/continuation-abi.md, "In snapshots"). */
  continuation: Uint8Array;
  globals: GlobalValue[];
  /** The tables the guest can change (absent when it can change none). */
  tables?: TableValue[];
  memory: MemoryImage;
  /** The instance's input and the output it has written so far. */
  input: Uint8Array;
  output: Uint8Array;
  /**
   * The resource segment: each stateful host interface's state by its id (WASI's fd table, clock and
   * pending sleep under "wasi"), as plain data. Absent when the module imports none.
   */
  resources?: Record<string, unknown>;
  /**
   * The original module bytes, when the snapshot carries its code segment too (strong mobility
   * to a node that may not have the module). Restoring checks them against `codeHash`.
   */
  code?: Uint8Array;
}

/** Images whose page buffers `captureMemory` allocated itself: the only ones it may recycle. */
const OWN_IMAGES = new WeakSet<MemoryImage>();

export interface CaptureOptions {
  /** Copy the pages (default). `false` returns views into `memory` itself. */
  copy?: boolean;
  /** An earlier image whose page buffers may be overwritten instead of allocating new ones. */
  recycle?: MemoryImage;
}

/**
 * The non-zero pages of `memory` (comparing against a zero page is a native memcmp that stops at
 * the first non-zero byte, so scanning costs little next to copying).
 *
 * Copying is bounded by fresh memory, not by memcpy: the kernel zero-fills every new page on
 * first touch. Two ways around it: `recycle` (periodic checkpoints: the previous snapshot, once
 * written out, lends its buffers, which are already mapped) and `copy: false` (migration: views
 * into a memory that will never be written again because the guest moved away). New buffers come
 * from `Buffer.allocUnsafe`, since every byte is overwritten at once.
 */
export function captureMemory(memory: Uint8Array, options: CaptureOptions = {}): MemoryImage {
  const copy = options.copy ?? true;
  const pageCount = memory.byteLength / WASM_PAGE_BYTES;
  const pages: MemoryPage[] = [];
  const spare = copy ? takeBuffers(options.recycle) : [];
  const view = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  for (let index = 0; index < pageCount; index++) {
    const start = index * WASM_PAGE_BYTES;
    if (view.compare(ZERO_PAGE, 0, WASM_PAGE_BYTES, start, start + WASM_PAGE_BYTES) === 0) continue;
    if (!copy) {
      pages.push({ index, bytes: memory.subarray(start, start + WASM_PAGE_BYTES) });
      continue;
    }
    let bytes = spare.pop();
    if (!bytes) {
      const page = Buffer.allocUnsafe(WASM_PAGE_BYTES);
      // A plain Uint8Array over the page: Buffer's `slice` is a view, Uint8Array's a copy, and
      // callers of a snapshot should get the usual typed-array behaviour.
      bytes = new Uint8Array(page.buffer, page.byteOffset, WASM_PAGE_BYTES);
    }
    bytes.set(memory.subarray(start, start + WASM_PAGE_BYTES));
    pages.push({ index, bytes });
  }
  const image = { pageCount, pages };
  if (copy) OWN_IMAGES.add(image);
  return image;
}

/** The page buffers of an image `captureMemory` copied, which then no longer owns them. */
function takeBuffers(image: MemoryImage | undefined): Uint8Array[] {
  if (image === undefined) return [];
  if (!OWN_IMAGES.has(image)) {
    throw new FerryError("invalid_option", "`recycle` takes a snapshot captured by `snapshot()` in this process and not recycled before");
  }
  OWN_IMAGES.delete(image);
  const buffers = image.pages.map((p) => p.bytes);
  // The old image is spent: make that visible rather than let it show the new pages' bytes.
  image.pages = [];
  image.pageCount = 0;
  return buffers;
}

/**
 * Zero every non-zero page of `memory` that `image` does not hold (those it holds get overwritten).
 * `candidates`: the only pages that can be non-zero (a fresh instance's data-segment pages), so the
 * rest of memory is never read — restore costs the touched pages, not the memory's size.
 */
export function clearPagesOutside(memory: Uint8Array, image: MemoryImage, candidates?: readonly number[]): void {
  const held = new Set(image.pages.map((p) => p.index));
  const view = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  const pageCount = memory.byteLength / WASM_PAGE_BYTES;
  const indices = candidates ?? Array.from({ length: pageCount }, (_, i) => i);
  for (const index of indices) {
    if (index >= pageCount || held.has(index)) continue;
    const start = index * WASM_PAGE_BYTES;
    if (view.compare(ZERO_PAGE, 0, WASM_PAGE_BYTES, start, start + WASM_PAGE_BYTES) !== 0) memory.fill(0, start, start + WASM_PAGE_BYTES);
  }
}

/** Total bytes of non-zero pages: what a snapshot of this memory actually carries. */
export function touchedBytes(image: MemoryImage): number {
  return image.pages.length * WASM_PAGE_BYTES;
}

export const ZERO_PAGE: Buffer = Buffer.alloc(WASM_PAGE_BYTES);
