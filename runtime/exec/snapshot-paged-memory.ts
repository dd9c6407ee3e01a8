// The memory section of format version 4 (docs/snapshot-format.md, "Version 4"): the page indices,
// then a page table — for each stored page the slot of its contents among the distinct pages, and
// each distinct page's sha256 — then the distinct pages in chunks. Identical pages travel once; each
// page is checked against its own digest, and the snapshot's seal covers everything but the chunk
// data (the page table stands for it), so sealing costs the table, not the memory.

import { createHash } from "node:crypto";
import { FerryError } from "../errors.js";
import type { MemoryImage, MemoryPage } from "./snapshot.js";
import type { ChunkPlan } from "./snapshot-compression.js";
import { type DistinctPages, PAGE_DIGEST_BYTES, pageDigest } from "./page-digests.js";
import { type MemoryLayout, chunkPagesOf, parseChunkTable, parsePageIndices, readChunkPages, writeChunks } from "./snapshot-memory.js";
import {
  CHUNK_ENTRY_BYTES,
  PAGE_INDEX_BYTES,
  type Reader,
  SNAPSHOT_CHUNK_PAGES,
  SNAPSHOT_MAX_MEMORY_PAGES,
  type Writer,
  malformed,
  view,
} from "./snapshot-wire.js";

/** page count, stored pages, pages per chunk, distinct pages: four u32. */
export const PAGED_MEMORY_FIXED_BYTES = 16;

/** The page table of a version 4 memory section, parsed. */
export interface PageTable {
  /** For each stored page, the slot of its contents among the distinct pages. */
  refs: Uint32Array;
  /** The distinct pages' digests, 32 bytes each, back to back (a view into the snapshot). */
  digests: Uint8Array;
  distinct: number;
}

/** The memory section's payload size: fixed part, indices and refs, digests, chunk table, data. */
export function pagedMemorySectionBytes(storedPages: number, distinct: number, chunks: ChunkPlan[]): number {
  let bytes =
    PAGED_MEMORY_FIXED_BYTES + storedPages * 2 * PAGE_INDEX_BYTES + distinct * PAGE_DIGEST_BYTES + chunks.length * CHUNK_ENTRY_BYTES;
  for (const c of chunks) bytes += c.encodedBytes;
  return bytes;
}

/** Write the section's payload; returns where the chunk data starts (the seal skips it). */
export function writePagedMemory(w: Writer, memory: MemoryImage, folded: DistinctPages, chunks: ChunkPlan[]): number {
  w.u32(memory.pageCount);
  w.u32(memory.pages.length);
  w.u32(SNAPSHOT_CHUNK_PAGES);
  w.u32(folded.distinct.length);
  // Straight loops over the output, not a call per field: a snapshot on a base walks every page.
  const { view: dv, out } = w;
  let at = w.pos;
  for (const p of memory.pages) {
    dv.setUint32(at, p.index, true);
    at += PAGE_INDEX_BYTES;
  }
  for (const ref of folded.refs) {
    dv.setUint32(at, ref, true);
    at += PAGE_INDEX_BYTES;
  }
  for (const d of folded.digests) {
    out.set(d, at);
    at += PAGE_DIGEST_BYTES;
  }
  w.pos = at;
  return writeChunks(w, chunks);
}

/**
 * Where the chunk data of a memory section with payload [start, end) begins: read from its fixed
 * part alone, before the seal is checked. A page table that does not fit is `snapshot_malformed`.
 */
export function chunkDataStart(dv: DataView, start: number, end: number): number {
  if (end - start < PAGED_MEMORY_FIXED_BYTES) throw malformed(`section memory: ${end - start} bytes cannot hold its fixed part`);
  const stored = dv.getUint32(start + 4, true);
  const chunkPages = dv.getUint32(start + 8, true);
  const distinct = dv.getUint32(start + 12, true);
  const chunks = chunkPages === 0 ? 0 : Math.ceil(distinct / chunkPages);
  const table = stored * 2 * PAGE_INDEX_BYTES + distinct * PAGE_DIGEST_BYTES + chunks * CHUNK_ENTRY_BYTES;
  if (table > end - start - PAGED_MEMORY_FIXED_BYTES) {
    throw malformed(
      `section memory: the page table of ${stored} pages (${distinct} distinct) needs ${table} bytes but only ${end - start - PAGED_MEMORY_FIXED_BYTES} remain (truncated page table)`,
    );
  }
  return start + PAGED_MEMORY_FIXED_BYTES + table;
}

/** The seal: sha256 of the body without the chunk data, i.e. of [0, dataStart) and [dataEnd, bodyEnd). */
export function sealOf(bytes: Uint8Array, dataStart: number, dataEnd: number, bodyEnd: number): Buffer {
  return createHash("sha256")
    .update(view(bytes, 0, dataStart))
    .update(view(bytes, dataEnd, bodyEnd - dataEnd))
    .digest();
}

/** Parse and validate the version 4 memory section (its contents are checked when decoded). */
export function parsePagedMemoryLayout(r: Reader): MemoryLayout & { pageTable: PageTable } {
  const pageCount = r.u32("page count");
  if (pageCount > SNAPSHOT_MAX_MEMORY_PAGES) throw malformed(`page count ${pageCount} exceeds ${SNAPSHOT_MAX_MEMORY_PAGES}`);
  const stored = r.u32("stored page count");
  if (stored > pageCount) throw malformed(`stored page count ${stored} exceeds page count ${pageCount}`);
  const chunkPages = readChunkPages(r);
  const distinct = r.u32("distinct page count");
  if (distinct > stored) throw malformed(`distinct page count ${distinct} exceeds stored page count ${stored}`);
  const pageIndices = parsePageIndices(r, stored, pageCount);
  const refs = parseRefs(r, stored, distinct);
  r.need(distinct * PAGE_DIGEST_BYTES, `${distinct} page digests`);
  const digests = new Uint8Array(r.dv.buffer, r.dv.byteOffset + r.pos, distinct * PAGE_DIGEST_BYTES);
  r.pos += distinct * PAGE_DIGEST_BYTES;
  checkDistinctDigests(digests, distinct);
  const chunks = parseChunkTable(r, distinct, chunkPages);
  return { pageCount, chunkPages, pageIndices, chunks, pageTable: { refs, digests, distinct } };
}

/** Slots in first-use order: each at most one above the highest before it, and every slot used. */
function parseRefs(r: Reader, stored: number, distinct: number): Uint32Array {
  r.need(stored * PAGE_INDEX_BYTES, `${stored} page table slots`);
  const refs = new Uint32Array(stored);
  let next = 0;
  for (let i = 0; i < stored; i++) {
    const ref = r.dv.getUint32(r.pos, true);
    r.pos += PAGE_INDEX_BYTES;
    if (ref > next || ref >= distinct)
      throw malformed(`page table slot ${ref} at position ${i} is not an earlier slot or the next one (${next})`);
    if (ref === next) next++;
    refs[i] = ref;
  }
  if (next !== distinct) throw malformed(`the page table uses ${next} of its ${distinct} distinct pages`);
  return refs;
}

/** Distinct pages have distinct digests: identical pages are stored once. */
function checkDistinctDigests(digests: Uint8Array, distinct: number): void {
  const seen = new Set<string>();
  const all = Buffer.from(digests.buffer, digests.byteOffset, digests.byteLength);
  for (let j = 0; j < distinct; j++) {
    const key = all.toString("latin1", j * PAGE_DIGEST_BYTES, (j + 1) * PAGE_DIGEST_BYTES);
    if (seen.has(key)) throw malformed(`distinct page ${j} has the digest of an earlier one`);
    seen.add(key);
  }
}

/**
 * The stored pages, in order, each carrying its digest. Unless `verified` (the caller checked the
 * bytes as a whole already), each distinct page is checked against its digest first: a mismatch is
 * `snapshot_corrupt` naming the page.
 */
export function decodePagedPages(bytes: Uint8Array, layout: MemoryLayout, table: PageTable, verified: boolean): MemoryPage[] {
  const distinct = chunkPagesOf(bytes, layout.chunks);
  if (!verified) checkPages(distinct.map(pageDigest), layout, table);
  return pagesOfTable(distinct, layout, table);
}

/** Each distinct page's digest as computed (`computed`) against the table's: the first mismatch is `snapshot_corrupt`. */
export function checkPages(computed: readonly Uint8Array[], layout: MemoryLayout, table: PageTable): void {
  const digests = Buffer.from(table.digests.buffer, table.digests.byteOffset, table.digests.byteLength);
  for (const [j, d] of computed.entries()) {
    if (digests.compare(d, 0, PAGE_DIGEST_BYTES, j * PAGE_DIGEST_BYTES, (j + 1) * PAGE_DIGEST_BYTES) !== 0)
      throw pageCorrupt(j, layout, table);
  }
}

/** The stored pages from the distinct ones, each with its digest (a view into the table). */
export function pagesOfTable(distinct: readonly Uint8Array[], layout: MemoryLayout, table: PageTable): MemoryPage[] {
  return Array.from(layout.pageIndices, (index, i) => {
    const j = table.refs[i]!;
    return { index, bytes: distinct[j]!, digest: view(table.digests, j * PAGE_DIGEST_BYTES, PAGE_DIGEST_BYTES) };
  });
}

/** A distinct page whose bytes do not match its digest, named by the first memory page that holds it. */
export function pageCorrupt(j: number, layout: MemoryLayout, table: PageTable): FerryError {
  const first = table.refs.indexOf(j);
  return new FerryError(
    "snapshot_corrupt",
    `memory page ${layout.pageIndices[first]} (distinct page ${j}) does not match its sha256 in the page table`,
  );
}
