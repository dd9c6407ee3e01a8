// How much a decoder is willing to allocate: a snapshot's memory is refused by its page count and by
// what its deflated chunks would inflate to before anything is inflated (a few MB of deflate can
// legitimately expand to 4 GiB). Every decoder in the project takes its caps from here.

import { FerryError } from "../errors.js";
import { DEFAULT_MAX_MEMORY_PAGES, WASM_PAGE_BYTES } from "../limits.js";
import { type MemoryLayout, inflatedBytes } from "./snapshot-memory.js";

export interface DecodeSnapshotOptions {
  /** Refuse (before inflating) a snapshot whose memory is larger than this many pages. Default 65536 (the format's limit). */
  maxMemoryPages?: number;
  /**
   * Refuse (before inflating) a snapshot whose deflated memory chunks would inflate to more than
   * this many bytes: what decoding allocates (raw pages are views into the input). Default
   * `maxMemoryPages` × 64 KiB when that is given, else DEFAULT_MAX_MEMORY_PAGES × 64 KiB (256 MiB).
   */
  maxDecodedBytes?: number;
}

/**
 * The caps to decode a snapshot with for an engine (or node, or CLI) whose guests get at most
 * `maxMemoryPages`: nothing larger could be restored there, so nothing larger is inflated. Every
 * decoder in the project takes its caps from here rather than from literals at the call.
 */
export function snapshotDecodeLimits(maxMemoryPages: number): Required<DecodeSnapshotOptions> {
  return { maxMemoryPages, maxDecodedBytes: maxMemoryPages * WASM_PAGE_BYTES };
}

/** The caps a decoder uses when given none: the engine's default memory cap. */
export const DEFAULT_SNAPSHOT_DECODE_LIMITS: Readonly<Required<DecodeSnapshotOptions>> = snapshotDecodeLimits(DEFAULT_MAX_MEMORY_PAGES);

/** Refuse, before inflating, a memory larger than the caps allow. */
export function checkDecodeLimits(layout: MemoryLayout, options: DecodeSnapshotOptions): void {
  if (options.maxMemoryPages !== undefined && layout.pageCount > options.maxMemoryPages) {
    throw new FerryError("snapshot_limit", `memory of ${layout.pageCount} pages exceeds the cap of ${options.maxMemoryPages}`);
  }
  const maxDecodedBytes = options.maxDecodedBytes ?? (options.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES) * WASM_PAGE_BYTES;
  const inflated = inflatedBytes(layout);
  if (inflated > maxDecodedBytes) {
    throw new FerryError("snapshot_limit", `compressed memory inflates to ${inflated} bytes, over the cap of ${maxDecodedBytes}`);
  }
}
