// Encoding a Snapshot (byte layout: docs/snapshot-format.md). Sizes are planned first and the output
// allocated once, so raw pages are copied exactly once and the only other full pass is the sha256 —
// or, in version 4 (`pageTable`), sha256 of the pages that carry no digest yet and a seal over the rest.

import { constants as bufferConstants } from "node:buffer";
import { createHash } from "node:crypto";
import { FerryError } from "../errors.js";
import type { Snapshot } from "./snapshot.js";
import { type ChunkPlan, type SnapshotCompression, planMemory } from "./snapshot-compression.js";
import { type DistinctPages, digestsOf, foldIdentical } from "./page-digests.js";
import { memorySectionBytes, writeMemory } from "./snapshot-memory.js";
import { pagedMemorySectionBytes, sealOf, writePagedMemory } from "./snapshot-paged-memory.js";
import { validateSnapshot } from "./snapshot-validate.js";
import { globalEntryBytes, writeGlobal, writeTable } from "./snapshot-values.js";
import {
  MAGIC_BYTES,
  META_BYTES,
  PAGED_FORMAT_VERSION,
  REQUIRED_SECTIONS,
  SNAPSHOT_DIGEST_BYTES,
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_SECTION_HEADER_BYTES,
  TABLE_FIXED_BYTES,
  TAG_CODE,
  TAG_CONTINUATION,
  TAG_GLOBALS,
  TAG_INPUT,
  TAG_MEMORY,
  TAG_META,
  TAG_OUTPUT,
  TAG_RESOURCES,
  TAG_TABLES,
  PartsWriter,
  V1_TYPES,
  Writer,
} from "./snapshot-wire.js";

export interface EncodeSnapshotOptions {
  /** "auto" (default) deflates chunks whose probe compresses well; "none" never; "deflate" always. */
  compression?: SnapshotCompression;
  /**
   * Write format version 4: a page table of per-page sha256 digests (pages that carry their digest
   * are not hashed again; identical pages are stored once) and a seal over everything but the pages'
   * bytes. Default false: the lowest of versions 1..3 that holds the snapshot, which older builds read.
   */
  pageTable?: boolean;
}

/** Every size the writer needs, decided before a byte is allocated. */
interface EncodePlan {
  version: number;
  total: number;
  chunks: ChunkPlan[];
  memoryBytes: number;
  globalsBytes: number;
  tablesBytes: number;
  /** The resource segment as JSON, when there is one. */
  resources: Uint8Array | undefined;
  /** Version 4: the stored pages folded by digest (the chunks hold the distinct ones). */
  folded: DistinctPages | undefined;
}

/**
 * Encode a snapshot. Throws FerryError `snapshot_malformed` if `s` breaks the Snapshot invariants,
 * `invalid_option` for a bad option.
 */
export function encodeSnapshot(s: Snapshot, options?: EncodeSnapshotOptions): Uint8Array {
  const compression = normaliseCompression(options);
  validateSnapshot(s);
  const plan = planEncoding(s, compression, options?.pageTable === true);
  // Its own ArrayBuffer (not the shared pool), so callers may transfer it to a worker or child.
  // Uninitialised is safe because the writer advances strictly sequentially and the final
  // position is asserted equal to the total: every byte is written exactly once.
  const out = Buffer.allocUnsafeSlow(plan.total);
  const w = new Writer(out);
  const data = writeSections(w, s, plan);
  const bodyEnd = plan.total - SNAPSHOT_DIGEST_BYTES;
  if (w.pos !== bodyEnd) throw new Error(`snapshot encoder wrote ${w.pos} bytes, planned ${bodyEnd}`); // a bug, not bad input
  const seal = data ? sealOf(out, data.start, data.end, bodyEnd) : createHash("sha256").update(out.subarray(0, bodyEnd)).digest();
  out.set(seal, bodyEnd);
  return new Uint8Array(out.buffer, out.byteOffset, plan.total);
}

/**
 * Encode a snapshot in format version 4 as a list of parts whose concatenation is what
 * `encodeSnapshot(s, { ...options, pageTable: true })` returns, without copying a raw page: the
 * parts refer to the snapshot's own page arrays (which must stay unchanged until the parts are
 * written out). What costs then grows with the pages that need hashing, not with the memory: for a
 * file (writev) or a stream, never for a buffer that must be whole.
 */
export function encodeSnapshotParts(s: Snapshot, options?: Omit<EncodeSnapshotOptions, "pageTable">): Uint8Array[] {
  const compression = normaliseCompression(options);
  validateSnapshot(s);
  const plan = planEncoding(s, compression, true);
  let pageBytes = 0;
  for (const c of plan.chunks) if (!c.deflated) pageBytes += c.encodedBytes;
  const head = Buffer.allocUnsafeSlow(plan.total - pageBytes);
  const w = new PartsWriter(head);
  const data = writeSections(w, s, plan)!;
  const bodyEnd = plan.total - SNAPSHOT_DIGEST_BYTES;
  if (w.pos + w.skipped !== bodyEnd) throw new Error(`snapshot encoder wrote ${w.pos + w.skipped} bytes, planned ${bodyEnd}`); // a bug
  w.bytes(sealOf(head, data.start, data.end, w.pos));
  return w.finish();
}

function planEncoding(s: Snapshot, compression: SnapshotCompression, pageTable: boolean): EncodePlan {
  const pages = s.memory.pages;
  const folded = pageTable ? foldIdentical(pages, digestsOf(pages)) : undefined;
  const chunks = planMemory(folded ? folded.distinct : pages, compression);
  const memoryBytes = folded
    ? pagedMemorySectionBytes(pages.length, folded.distinct.length, chunks)
    : memorySectionBytes(pages.length, chunks);
  const globalsBytes = 4 + s.globals.reduce((n, g) => n + globalEntryBytes(g.type), 0);
  const tablesBytes = s.tables === undefined ? 0 : 4 + s.tables.reduce((n, t) => n + TABLE_FIXED_BYTES + 4 * t.elements.length, 0);
  const resources = resourcesBytes(s);
  const sectionCount = REQUIRED_SECTIONS + (s.code === undefined ? 0 : 1) + (s.tables === undefined ? 0 : 1) + (resources ? 1 : 0);
  const total =
    SNAPSHOT_HEADER_BYTES +
    sectionCount * SNAPSHOT_SECTION_HEADER_BYTES +
    META_BYTES +
    s.continuation.byteLength +
    globalsBytes +
    memoryBytes +
    s.input.byteLength +
    s.output.byteLength +
    (s.code?.byteLength ?? 0) +
    tablesBytes +
    (resources?.byteLength ?? 0) +
    SNAPSHOT_DIGEST_BYTES;
  if (total > bufferConstants.MAX_LENGTH) {
    throw new FerryError("snapshot_malformed", `cannot encode: ${total} bytes exceeds the largest buffer Node can allocate`);
  }
  const version = folded ? PAGED_FORMAT_VERSION : formatVersionFor(s);
  return { version, total, chunks, memoryBytes, globalsBytes, tablesBytes, resources, folded };
}

/**
 * The header, then every section in tag order (the digest is the caller's). Version 4: returns
 * where the memory's chunk data lies, which the seal leaves out.
 */
function writeSections(w: Writer, s: Snapshot, plan: EncodePlan): { start: number; end: number } | undefined {
  w.bytes(MAGIC_BYTES);
  w.u16(plan.version);
  w.u64(plan.total);

  w.sectionHeader(TAG_META, META_BYTES);
  w.bytes(Buffer.from(s.codeHash, "hex"));
  w.u32(s.pipelineVersion);

  w.sectionHeader(TAG_CONTINUATION, s.continuation.byteLength);
  w.bytes(s.continuation);

  w.sectionHeader(TAG_GLOBALS, plan.globalsBytes);
  w.u32(s.globals.length);
  for (const g of s.globals) writeGlobal(w, g);

  w.sectionHeader(TAG_MEMORY, plan.memoryBytes);
  let data: { start: number; end: number } | undefined;
  if (plan.folded) data = { start: writePagedMemory(w, s.memory, plan.folded, plan.chunks), end: w.pos };
  else writeMemory(w, s.memory, plan.chunks);

  w.sectionHeader(TAG_INPUT, s.input.byteLength);
  w.bytes(s.input);
  w.sectionHeader(TAG_OUTPUT, s.output.byteLength);
  w.bytes(s.output);
  if (s.code !== undefined) {
    w.sectionHeader(TAG_CODE, s.code.byteLength);
    w.bytes(s.code);
  }
  if (s.tables !== undefined) {
    w.sectionHeader(TAG_TABLES, plan.tablesBytes);
    w.u32(s.tables.length);
    for (const t of s.tables) writeTable(w, t);
  }
  if (plan.resources) {
    w.sectionHeader(TAG_RESOURCES, plan.resources.byteLength);
    w.bytes(plan.resources);
  }
  return data;
}

/** The resource segment as UTF-8 JSON, or undefined when the snapshot has none. */
function resourcesBytes(s: Snapshot): Uint8Array | undefined {
  if (s.resources === undefined) return undefined;
  let json: string;
  try {
    json = JSON.stringify(s.resources);
  } catch (e) {
    throw new FerryError("snapshot_malformed", `cannot encode: the resource segment is not plain data (${(e as Error).message})`);
  }
  return new TextEncoder().encode(json);
}

/** Version 1 unless the snapshot holds what only version 2 can (a v128 or reference global, tables) or version 3 (a resource segment). */
function formatVersionFor(s: Snapshot): number {
  if (s.resources !== undefined) return 3;
  return s.tables === undefined && s.globals.every((g) => V1_TYPES.has(g.type)) ? 1 : 2;
}

function normaliseCompression(options: EncodeSnapshotOptions | undefined): SnapshotCompression {
  const c = options?.compression ?? "auto";
  if (c !== "auto" && c !== "none" && c !== "deflate") {
    throw new FerryError("invalid_option", `compression must be "auto", "none" or "deflate", got ${JSON.stringify(c)}`);
  }
  return c;
}
