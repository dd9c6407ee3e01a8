// The memory section: the page count, the indices of the pages carried (zero pages are elided) and
// their bytes in chunks, each stored raw or deflated (snapshot-compression.ts decides which). Raw
// chunks decode as views into the input; deflated ones are inflated once the caps allow it.

import { WASM_PAGE_BYTES } from "../limits.js";
import type { MemoryImage, MemoryPage } from "./snapshot.js";
import { type ChunkPlan, type StoredChunk, inflateChunk } from "./snapshot-compression.js";
import {
  CHUNK_ENTRY_BYTES,
  CODEC_DEFLATE,
  CODEC_RAW,
  MEMORY_FIXED_BYTES,
  PAGE_INDEX_BYTES,
  type Reader,
  SNAPSHOT_CHUNK_PAGES,
  SNAPSHOT_MAX_CHUNK_PAGES,
  SNAPSHOT_MAX_MEMORY_PAGES,
  type Writer,
  malformed,
  view,
} from "./snapshot-wire.js";

export interface ChunkLayout extends StoredChunk {
  codec: typeof CODEC_RAW | typeof CODEC_DEFLATE;
  /** Index of the chunk's first page in the stored-page list. */
  firstPage: number;
}

/** The memory section parsed and validated, its contents not yet read. */
export interface MemoryLayout {
  pageCount: number;
  chunkPages: number;
  pageIndices: Uint32Array;
  chunks: ChunkLayout[];
}

/** The memory section's payload size for these chunks. */
export function memorySectionBytes(storedPages: number, chunks: ChunkPlan[]): number {
  let bytes = MEMORY_FIXED_BYTES + storedPages * PAGE_INDEX_BYTES + chunks.length * CHUNK_ENTRY_BYTES;
  for (const c of chunks) bytes += c.encodedBytes;
  return bytes;
}

/** Page count, stored pages, chunk size, the page indices, the chunk table, then each chunk's data. */
export function writeMemory(w: Writer, memory: MemoryImage, chunks: ChunkPlan[]): void {
  w.u32(memory.pageCount);
  w.u32(memory.pages.length);
  w.u32(SNAPSHOT_CHUNK_PAGES);
  for (const p of memory.pages) w.u32(p.index);
  writeChunks(w, chunks);
}

/** The chunk table, then each chunk's data; returns where the data starts. */
export function writeChunks(w: Writer, chunks: ChunkPlan[]): number {
  for (const c of chunks) {
    w.u8(c.codec);
    w.u8(0);
    w.u16(0);
    w.u32(c.encodedBytes);
  }
  const dataStart = w.pos;
  for (const c of chunks) {
    if (c.deflated) w.bytes(c.deflated);
    else for (const p of c.pages) w.page(p.bytes);
  }
  return dataStart;
}

export function parseMemoryLayout(r: Reader): MemoryLayout {
  const pageCount = r.u32("page count");
  if (pageCount > SNAPSHOT_MAX_MEMORY_PAGES) throw malformed(`page count ${pageCount} exceeds ${SNAPSHOT_MAX_MEMORY_PAGES}`);
  const stored = r.u32("stored page count");
  if (stored > pageCount) throw malformed(`stored page count ${stored} exceeds page count ${pageCount}`);
  const chunkPages = readChunkPages(r);
  const pageIndices = parsePageIndices(r, stored, pageCount);
  const chunks = parseChunkTable(r, stored, chunkPages);
  return { pageCount, chunkPages, pageIndices, chunks };
}

/** The pages-per-chunk field, in 1..SNAPSHOT_MAX_CHUNK_PAGES. */
export function readChunkPages(r: Reader): number {
  const chunkPages = r.u32("pages per chunk");
  if (chunkPages < 1 || chunkPages > SNAPSHOT_MAX_CHUNK_PAGES) {
    throw malformed(`pages per chunk ${chunkPages} is not in 1..${SNAPSHOT_MAX_CHUNK_PAGES}`);
  }
  return chunkPages;
}

/** `stored` page indices, strictly ascending, each below `pageCount`. */
export function parsePageIndices(r: Reader, stored: number, pageCount: number): Uint32Array {
  r.need(stored * PAGE_INDEX_BYTES, `${stored} page indices`);
  const pageIndices = new Uint32Array(stored);
  let previous = -1;
  for (let i = 0; i < stored; i++) {
    const index = r.dv.getUint32(r.pos, true);
    r.pos += PAGE_INDEX_BYTES;
    if (index <= previous) throw malformed(`page index ${index} at position ${i} is not above the previous index ${previous}`);
    if (index >= pageCount) throw malformed(`page index ${index} is not below the page count ${pageCount}`);
    pageIndices[i] = index;
    previous = index;
  }
  return pageIndices;
}

/** The chunk table over `pages` pages of data, then the chunk data (which must follow it exactly). */
export function parseChunkTable(r: Reader, pagesInChunks: number, chunkPages: number): ChunkLayout[] {
  const chunkCount = Math.ceil(pagesInChunks / chunkPages);
  r.need(chunkCount * CHUNK_ENTRY_BYTES, `${chunkCount} chunk entries`);
  const chunks: ChunkLayout[] = [];
  let offset = r.pos + chunkCount * CHUNK_ENTRY_BYTES;
  for (let k = 0; k < chunkCount; k++) {
    const codec = r.dv.getUint8(r.pos);
    const reserved = r.dv.getUint8(r.pos + 1) | r.dv.getUint16(r.pos + 2, true);
    const encodedBytes = r.dv.getUint32(r.pos + 4, true);
    r.pos += CHUNK_ENTRY_BYTES;
    const firstPage = k * chunkPages;
    const pages = Math.min(chunkPages, pagesInChunks - firstPage);
    if (reserved !== 0) throw malformed(`chunk ${k}: reserved bytes are not zero`);
    if (codec === CODEC_RAW) {
      if (encodedBytes !== pages * WASM_PAGE_BYTES) {
        throw malformed(`chunk ${k}: raw chunk of ${pages} pages has ${encodedBytes} bytes, expected ${pages * WASM_PAGE_BYTES}`);
      }
    } else if (codec !== CODEC_DEFLATE) {
      throw malformed(`chunk ${k}: unknown codec ${codec}`);
    }
    chunks.push({ codec, firstPage, pageCount: pages, offset, encodedBytes });
    offset += encodedBytes;
  }
  r.need(offset - r.pos, "chunk data");
  r.pos = offset;
  return chunks;
}

/** Bytes the deflated chunks inflate to: what decoding allocates (raw pages are views into the input). */
export function inflatedBytes(layout: MemoryLayout): number {
  let inflated = 0;
  for (const c of layout.chunks) if (c.codec === CODEC_DEFLATE) inflated += c.pageCount * WASM_PAGE_BYTES;
  return inflated;
}

/** The stored pages, in order: views into `bytes` for raw chunks, into fresh buffers for deflated ones. */
export function decodePages(bytes: Uint8Array, layout: MemoryLayout): MemoryPage[] {
  const chunked = chunkPagesOf(bytes, layout.chunks);
  return chunked.map((b, i) => ({ index: layout.pageIndices[i]!, bytes: b }));
}

/** Every page the chunks hold, in order: views into `bytes` (raw) or into each chunk's inflated buffer. */
export function chunkPagesOf(bytes: Uint8Array, chunks: readonly ChunkLayout[]): Uint8Array[] {
  const last = chunks[chunks.length - 1];
  const out: Uint8Array[] = new Array(last ? last.firstPage + last.pageCount : 0);
  for (const [k, c] of chunks.entries()) {
    const data = c.codec === CODEC_RAW ? view(bytes, c.offset, c.encodedBytes) : inflateChunk(bytes, c, k);
    for (let i = 0; i < c.pageCount; i++) out[c.firstPage + i] = view(data, i * WASM_PAGE_BYTES, WASM_PAGE_BYTES);
  }
  return out;
}
