// Encoding a Snapshot (byte layout: docs/snapshot-format.md). Sizes are planned first and the output
// allocated once, so raw pages are copied exactly once and the only other full pass is the sha256.

import { constants as bufferConstants } from "node:buffer";
import { createHash } from "node:crypto";
import { FerryError } from "../errors.js";
import type { Snapshot } from "./snapshot.js";
import { type ChunkPlan, type SnapshotCompression, planMemory } from "./snapshot-compression.js";
import { memorySectionBytes, writeMemory } from "./snapshot-memory.js";
import { validateSnapshot } from "./snapshot-validate.js";
import { globalEntryBytes, writeGlobal, writeTable } from "./snapshot-values.js";
import {
  MAGIC_BYTES,
  META_BYTES,
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
  V1_TYPES,
  Writer,
} from "./snapshot-wire.js";

export interface EncodeSnapshotOptions {
  /** "auto" (default) deflates chunks whose probe compresses well; "none" never; "deflate" always. */
  compression?: SnapshotCompression;
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
}

/**
 * Encode a snapshot. Throws FerryError `snapshot_malformed` if `s` breaks the Snapshot invariants,
 * `invalid_option` for a bad option.
 */
export function encodeSnapshot(s: Snapshot, options?: EncodeSnapshotOptions): Uint8Array {
  const compression = normaliseCompression(options);
  validateSnapshot(s);
  const plan = planEncoding(s, compression);
  // Its own ArrayBuffer (not the shared pool), so callers may transfer it to a worker or child.
  // Uninitialised is safe because the writer advances strictly sequentially and the final
  // position is asserted equal to the total: every byte is written exactly once.
  const out = Buffer.allocUnsafeSlow(plan.total);
  const w = new Writer(out);
  writeSections(w, s, plan);
  const bodyEnd = plan.total - SNAPSHOT_DIGEST_BYTES;
  if (w.pos !== bodyEnd) throw new Error(`snapshot encoder wrote ${w.pos} bytes, planned ${bodyEnd}`); // a bug, not bad input
  out.set(createHash("sha256").update(out.subarray(0, bodyEnd)).digest(), bodyEnd);
  return new Uint8Array(out.buffer, out.byteOffset, plan.total);
}

function planEncoding(s: Snapshot, compression: SnapshotCompression): EncodePlan {
  const chunks = planMemory(s.memory.pages, compression);
  const memoryBytes = memorySectionBytes(s.memory.pages.length, chunks);
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
  return { version: formatVersionFor(s), total, chunks, memoryBytes, globalsBytes, tablesBytes, resources };
}

/** The header, then every section in tag order (the digest is the caller's). */
function writeSections(w: Writer, s: Snapshot, plan: EncodePlan): void {
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
  writeMemory(w, s.memory, plan.chunks);

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
