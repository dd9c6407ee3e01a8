// The execution segment as a value: everything needed to resume a paused guest elsewhere.
// Capture and apply live here; the binary encoding is in snapshot-codec.ts.

import { WASM_PAGE_BYTES } from "../limits.js";

export type GlobalType = "i32" | "i64" | "f32" | "f64";

/** One mutable global of the *original* module, by its index in the original global space. */
export interface GlobalValue {
  index: number;
  type: GlobalType;
  /** i32/f32/f64 as number, i64 as bigint. */
  value: number | bigint;
}

/** One non-zero 64 KiB page of linear memory. */
export interface MemoryPage {
  index: number;
  bytes: Uint8Array; // exactly WASM_PAGE_BYTES long
}

/** Linear memory with zero pages elided. */
export interface MemoryImage {
  /** Total size of the memory in pages, including elided zero pages. */
  pageCount: number;
  /** Non-zero pages in ascending index order. */
  pages: MemoryPage[];
}

export interface Snapshot {
  /** sha256 of the original (uninstrumented) module bytes, lowercase hex. */
  codeHash: string;
  /** Version of the instrumentation pipeline that produced the running code. */
  pipelineVersion: number;
  /** Relocatable continuation struct image (docs/continuation-abi.md, "In snapshots"). */
  continuation: Uint8Array;
  globals: GlobalValue[];
  memory: MemoryImage;
  /** The instance's input and the output it has written so far. */
  input: Uint8Array;
  output: Uint8Array;
  /**
   * The original module bytes, when the snapshot carries its code segment too (strong mobility
   * to a node that may not have the module). Restoring checks them against `codeHash`.
   */
  code?: Uint8Array;
}

/** Copy memory out, skipping pages that are all zero. Comparing against a zero page is a native memcmp. */
export function captureMemory(memory: Uint8Array): MemoryImage {
  const pageCount = memory.byteLength / WASM_PAGE_BYTES;
  const pages: MemoryPage[] = [];
  const view = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  for (let index = 0; index < pageCount; index++) {
    const start = index * WASM_PAGE_BYTES;
    if (view.compare(ZERO_PAGE, 0, WASM_PAGE_BYTES, start, start + WASM_PAGE_BYTES) === 0) continue;
    pages.push({ index, bytes: memory.slice(start, start + WASM_PAGE_BYTES) });
  }
  return { pageCount, pages };
}

/** Total bytes of non-zero pages: what a snapshot of this memory actually carries. */
export function touchedBytes(image: MemoryImage): number {
  return image.pages.length * WASM_PAGE_BYTES;
}

export const ZERO_PAGE: Buffer = Buffer.alloc(WASM_PAGE_BYTES);
