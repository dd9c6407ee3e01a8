// Memory chunks stored raw or deflated: the encoder's per-chunk decision (a cheap probe first, so an
// incompressible chunk is not deflated for nothing) and the decoder's bounded inflate, which takes
// exactly a chunk's page count × 64 KiB or fails as malformed.

import { deflateRawSync, inflateRawSync } from "node:zlib";
import { WASM_PAGE_BYTES } from "../limits.js";
import type { MemoryPage } from "./snapshot.js";
import {
  CODEC_DEFLATE,
  CODEC_RAW,
  COMPRESSION_PROBE_BYTES,
  COMPRESSION_PROBE_MAX_RATIO,
  SNAPSHOT_CHUNK_PAGES,
  malformed,
  view,
} from "./snapshot-wire.js";

export type SnapshotCompression = "auto" | "none" | "deflate";

export interface ChunkPlan {
  pageCount: number;
  codec: typeof CODEC_RAW | typeof CODEC_DEFLATE;
  /** Pages to copy for a raw chunk. */
  pages: MemoryPage[];
  /** The deflate stream for a deflated chunk. */
  deflated: Uint8Array | undefined;
  encodedBytes: number;
}

/** Decide each chunk's codec and deflate what should be deflated, before anything is allocated. */
export function planMemory(pages: MemoryPage[], compression: SnapshotCompression): ChunkPlan[] {
  const plans: ChunkPlan[] = [];
  let scratch: Buffer | undefined;
  for (let first = 0; first < pages.length; first += SNAPSHOT_CHUNK_PAGES) {
    const chunkPages = pages.slice(first, first + SNAPSHOT_CHUNK_PAGES);
    const rawBytes = chunkPages.length * WASM_PAGE_BYTES;
    const raw: ChunkPlan = {
      pageCount: chunkPages.length,
      codec: CODEC_RAW,
      pages: chunkPages,
      deflated: undefined,
      encodedBytes: rawBytes,
    };
    if (compression === "none" || (compression === "auto" && !probeSaysCompress(chunkPages))) {
      plans.push(raw);
      continue;
    }
    let input = contiguousView(chunkPages);
    if (!input) {
      scratch ??= Buffer.allocUnsafe(SNAPSHOT_CHUNK_PAGES * WASM_PAGE_BYTES);
      for (const [i, p] of chunkPages.entries()) scratch.set(p.bytes, i * WASM_PAGE_BYTES);
      input = scratch.subarray(0, rawBytes);
    }
    const deflated = deflateRawSync(input, { level: 1 });
    if (compression === "auto" && deflated.byteLength >= rawBytes) {
      plans.push(raw);
      continue;
    }
    plans.push({ pageCount: chunkPages.length, codec: CODEC_DEFLATE, pages: [], deflated, encodedBytes: deflated.byteLength });
  }
  return plans;
}

/**
 * Deflate a few samples spread over the chunk (COMPRESSION_PROBE_BYTES in all) and compress the
 * chunk only if they shrink well. Costs one small zlib call (~50 µs); deflating an incompressible
 * 1 MiB chunk for nothing costs ~20 ms.
 */
function probeSaysCompress(chunkPages: MemoryPage[]): boolean {
  const samples = 4;
  const sampleBytes = COMPRESSION_PROBE_BYTES / samples;
  const chunkBytes = chunkPages.length * WASM_PAGE_BYTES;
  const probe = Buffer.allocUnsafe(COMPRESSION_PROBE_BYTES);
  for (let i = 0; i < samples; i++) {
    const offset = Math.floor((i * chunkBytes) / samples);
    const page = chunkPages[Math.floor(offset / WASM_PAGE_BYTES)]!.bytes;
    const within = Math.min(offset % WASM_PAGE_BYTES, WASM_PAGE_BYTES - sampleBytes);
    probe.set(page.subarray(within, within + sampleBytes), i * sampleBytes);
  }
  return deflateRawSync(probe, { level: 1 }).byteLength < COMPRESSION_PROBE_MAX_RATIO * COMPRESSION_PROBE_BYTES;
}

/** The chunk as one view when its pages already lie back to back in one buffer (e.g. a decoded snapshot). */
function contiguousView(chunkPages: MemoryPage[]): Uint8Array | undefined {
  const first = chunkPages[0]!.bytes;
  for (let i = 1; i < chunkPages.length; i++) {
    const b = chunkPages[i]!.bytes;
    if (b.buffer !== first.buffer || b.byteOffset !== first.byteOffset + i * WASM_PAGE_BYTES) return undefined;
  }
  return new Uint8Array(first.buffer, first.byteOffset, chunkPages.length * WASM_PAGE_BYTES);
}

/** Where a stored chunk is and what it must inflate to. */
export interface StoredChunk {
  /** Absolute offset of the chunk's data in the snapshot. */
  offset: number;
  encodedBytes: number;
  pageCount: number;
}

/** Inflate one chunk into a buffer of exactly its page count × 64 KiB; anything else is malformed. */
export function inflateChunk(bytes: Uint8Array, c: StoredChunk, k: number): Uint8Array {
  const expected = c.pageCount * WASM_PAGE_BYTES;
  const src = view(bytes, c.offset, c.encodedBytes);
  let result: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    // `info: true` (documented in node:zlib) also returns the engine, whose bytesWritten is the input consumed.
    // chunkSize one past the expected size gets the output in a single allocation.
    result = inflateRawSync(src, { info: true, maxOutputLength: expected, chunkSize: expected + 1 }) as unknown as typeof result;
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    const why = code === "ERR_BUFFER_TOO_LARGE" ? `inflates to more than ${expected} bytes` : `invalid deflate stream (${String(code)})`;
    throw malformed(`chunk ${k}: ${why}`, e);
  }
  if (result.buffer.byteLength !== expected) {
    throw malformed(`chunk ${k}: inflates to ${result.buffer.byteLength} bytes, expected ${expected}`);
  }
  if (result.engine.bytesWritten !== c.encodedBytes) {
    throw malformed(`chunk ${k}: ${c.encodedBytes - result.engine.bytesWritten} trailing bytes after the deflate stream`);
  }
  return result.buffer;
}
