// Decoding a snapshot: the envelope (magic, version, length, sha256 — version 4: the section frames and
// the seal) checked before any section's contents are looked at, then every section parsed and
// validated in tag order, and in version 4 each page checked against its digest. Every failure is a FerryError
// with a snapshot_* code; the memory caps (snapshot-decode-limits.ts) are checked before inflating.

import { createHash } from "node:crypto";
import { FerryError } from "../errors.js";
import { WASM_PAGE_BYTES } from "../limits.js";
import type { GlobalValue, MemoryPage, Snapshot, TableValue } from "./snapshot.js";
import { type DecodeSnapshotOptions, checkDecodeLimits } from "./snapshot-decode-limits.js";
import { type MemoryLayout, decodePages, parseMemoryLayout } from "./snapshot-memory.js";
import { type PageTable, chunkDataStart, decodePagedPages, parsePagedMemoryLayout, sealOf } from "./snapshot-paged-memory.js";
import { parseGlobals, parseTables } from "./snapshot-values.js";
import {
  CODE_HASH_BYTES,
  MAGIC_BYTES,
  META_BYTES,
  MIN_SNAPSHOT_BYTES,
  PAGED_FORMAT_VERSION,
  REQUIRED_SECTIONS,
  Reader,
  MAX_RESOURCES_BYTES,
  SECTIONS_IN_VERSION,
  SECTION_NAMES,
  SECTION_TAGS,
  SNAPSHOT_DIGEST_BYTES,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_OLDEST_FORMAT_VERSION,
  SNAPSHOT_SECTION_HEADER_BYTES,
  type SnapshotSectionInfo,
  malformed,
  readU64,
  view,
} from "./snapshot-wire.js";

/** Everything about a snapshot except the memory contents, parsed and validated. */
export interface Layout extends MemoryLayout {
  formatVersion: number;
  totalBytes: number;
  codeHash: string;
  pipelineVersion: number;
  continuation: Uint8Array;
  globals: GlobalValue[];
  input: Uint8Array;
  output: Uint8Array;
  code: Uint8Array | undefined;
  tables: TableValue[] | undefined;
  resources: Record<string, unknown> | undefined;
  sections: SnapshotSectionInfo[];
  /** Version 4: the memory's page table (which distinct page each stored page is, and their digests). */
  pageTable?: PageTable;
}

/** How to decode: the memory caps, and whether the format's own sha256 is left unchecked. */
export interface DecodeOptions extends DecodeSnapshotOptions {
  /**
   * The caller has just checked every byte of `bytes` against a sha256 of its own (a content-addressed
   * store's name for them): the format's digest, which could only find the same damage, is not
   * computed again. Every other check still runs.
   */
  digestChecked?: boolean;
}

/**
 * Decode and fully validate a snapshot. Raw memory pages, the continuation, input and output are
 * views into `bytes` (zero-copy); deflated chunks are inflated into fresh buffers. Snapshot
 * byte arrays are read-only by contract, and the caller must not modify `bytes` while the
 * Snapshot is in use. Every failure is a FerryError with a snapshot_* code.
 */
export function decodeSnapshot(bytes: Uint8Array, options: DecodeOptions = {}): Snapshot {
  const layout = parseLayout(bytes, options.digestChecked);
  checkDecodeLimits(layout, options);
  const pages = layout.pageTable
    ? decodePagedPages(bytes, layout, layout.pageTable, options.digestChecked === true)
    : decodePages(bytes, layout);
  return snapshotOf(layout, pages);
}

/** The Snapshot a parsed layout and its decoded pages stand for. */
export function snapshotOf(layout: Layout, pages: MemoryPage[]): Snapshot {
  const snapshot: Snapshot = {
    codeHash: layout.codeHash,
    pipelineVersion: layout.pipelineVersion,
    continuation: layout.continuation,
    globals: layout.globals,
    memory: { pageCount: layout.pageCount, pages },
    input: layout.input,
    output: layout.output,
  };
  if (layout.code !== undefined) snapshot.code = layout.code;
  if (layout.tables !== undefined) snapshot.tables = layout.tables;
  if (layout.resources !== undefined) snapshot.resources = layout.resources;
  return snapshot;
}

/** Header, length and digest checks, in that order, before any section is looked at. */
function checkEnvelope(bytes: Uint8Array, digestChecked: boolean): { dv: DataView; total: number; version: number } {
  if (!(bytes instanceof Uint8Array)) throw malformed("input is not a Uint8Array");
  const n = bytes.byteLength;
  const magicSeen = Math.min(n, MAGIC_BYTES.length);
  for (let i = 0; i < magicSeen; i++) {
    if (bytes[i] !== MAGIC_BYTES[i]) throw malformed("not a Ferry snapshot");
  }
  // A prefix of the magic (including nothing at all) is a cut-off snapshot, not a foreign file.
  if (n < MAGIC_BYTES.length + 2) throw new FerryError("snapshot_truncated", `${n} bytes is shorter than the fixed header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n);
  const version = dv.getUint16(MAGIC_BYTES.length, true);
  if (version < SNAPSHOT_OLDEST_FORMAT_VERSION || version > SNAPSHOT_FORMAT_VERSION) {
    throw new FerryError(
      "snapshot_version",
      `found format version ${version}, this build supports versions ${SNAPSHOT_OLDEST_FORMAT_VERSION} to ${SNAPSHOT_FORMAT_VERSION}`,
    );
  }
  if (n < SNAPSHOT_HEADER_BYTES) throw new FerryError("snapshot_truncated", `${n} bytes is shorter than the fixed header`);
  const lo = dv.getUint32(10, true);
  const hi = dv.getUint32(14, true);
  const total = hi * 0x1_0000_0000 + lo; // may round above 2^53, which only matters for being > n
  if (total < MIN_SNAPSHOT_BYTES) {
    throw malformed(`declared length ${total} is smaller than the smallest possible snapshot (${MIN_SNAPSHOT_BYTES})`);
  }
  if (n < total) throw new FerryError("snapshot_truncated", `declared length is ${total} bytes but only ${n} are present`);
  if (n > total) throw malformed(`${n - total} trailing bytes after the declared length of ${total}`);
  const bodyEnd = total - SNAPSHOT_DIGEST_BYTES;
  // Version 4's seal leaves the chunk data out: it is checked once the sections are found (checkSeal).
  if (digestChecked || version >= PAGED_FORMAT_VERSION) return { dv, total, version };
  const digest = createHash("sha256")
    .update(view(bytes, 0, bodyEnd))
    .digest();
  for (let i = 0; i < SNAPSHOT_DIGEST_BYTES; i++) {
    if (digest[i] !== bytes[bodyEnd + i]) throw new FerryError("snapshot_corrupt", "sha256 does not match the contents");
  }
  return { dv, total, version };
}

/** The envelope checked and the sections found, in order; an optional section not present is undefined. */
interface Sections {
  version: number;
  total: number;
  sections: SnapshotSectionInfo[];
  payloads: Array<Reader | undefined>;
}

function readSections(bytes: Uint8Array, digestChecked: boolean): Sections {
  const { dv, total, version } = checkEnvelope(bytes, digestChecked);
  const bodyEnd = total - SNAPSHOT_DIGEST_BYTES;
  const sections: SnapshotSectionInfo[] = [];
  const payloads: Array<Reader | undefined> = [];
  let pos = SNAPSHOT_HEADER_BYTES;
  const tags = SECTION_TAGS.slice(0, SECTIONS_IN_VERSION[version]);

  for (const [i, expected] of tags.entries()) {
    const name = SECTION_NAMES[i]!;
    if (pos === bodyEnd) {
      if (i >= REQUIRED_SECTIONS) break;
      throw malformed(`section ${name} (tag ${expected}) is missing`);
    }
    if (bodyEnd - pos < SNAPSHOT_SECTION_HEADER_BYTES) {
      throw malformed(`section header at offset ${pos} runs past the end of the body`);
    }
    const tag = dv.getUint32(pos, true);
    // An optional section may be absent: a later known tag is the next section's.
    if (i >= REQUIRED_SECTIONS && tag > expected && tags.includes(tag)) {
      payloads.push(undefined);
      continue;
    }
    checkTag(tag, pos, expected, tags);
    const length = readU64(dv, pos + 4, `section ${name} length`);
    const start = pos + SNAPSHOT_SECTION_HEADER_BYTES;
    if (length > bodyEnd - start) {
      throw malformed(`section ${name} declares ${length} bytes but only ${bodyEnd - start} remain before the digest`);
    }
    sections.push({ name, tag, offset: pos, encodedBytes: length, decodedBytes: length });
    payloads.push(new Reader(dv, start, start + length, `section ${name}`));
    pos = start + length;
  }
  if (pos !== bodyEnd) {
    if (bodyEnd - pos >= SNAPSHOT_SECTION_HEADER_BYTES) checkTag(dv.getUint32(pos, true), pos, undefined, tags);
    throw malformed(`${bodyEnd - pos} trailing bytes after the last section`);
  }
  if (version >= PAGED_FORMAT_VERSION && !digestChecked) checkSeal(bytes, dv, payloads[3]!, bodyEnd);
  return { version, total, sections, payloads };
}

/** Version 4: the seal over the body without the memory's chunk data, checked before any section's contents. */
function checkSeal(bytes: Uint8Array, dv: DataView, memory: Reader, bodyEnd: number): void {
  const dataStart = chunkDataStart(dv, memory.pos, memory.end);
  const seal = sealOf(bytes, dataStart, memory.end, bodyEnd);
  for (let i = 0; i < SNAPSHOT_DIGEST_BYTES; i++) {
    if (seal[i] !== bytes[bodyEnd + i])
      throw new FerryError("snapshot_corrupt", "the seal (sha256 of the header, sections and page table) does not match");
  }
}

/** Parse and validate every section: everything about the snapshot but the memory's contents. */
export function parseLayout(bytes: Uint8Array, digestChecked = false): Layout {
  const { version, total, sections, payloads } = readSections(bytes, digestChecked);

  const [meta, cont, glob, mem, inp, outp, code, tab, res] = payloads as [
    Reader,
    Reader,
    Reader,
    Reader,
    Reader,
    Reader,
    Reader?,
    Reader?,
    Reader?,
  ];
  meta.need(META_BYTES, "code hash and pipeline version");
  const codeHash = Buffer.from(bytes.buffer, bytes.byteOffset + meta.pos, CODE_HASH_BYTES).toString("hex");
  meta.pos += CODE_HASH_BYTES;
  const pipelineVersion = meta.u32("pipeline version");
  meta.finish();

  const continuation = view(bytes, cont.pos, cont.end - cont.pos);
  const globals = parseGlobals(glob, version);
  glob.finish();
  const tables = tab && parseTables(tab);
  tab?.finish();

  const memory = version >= PAGED_FORMAT_VERSION ? parsePagedMemoryLayout(mem) : parseMemoryLayout(mem);
  mem.finish();
  sections[3]!.decodedBytes = memory.pageIndices.length * WASM_PAGE_BYTES;

  return {
    formatVersion: version,
    totalBytes: total,
    codeHash,
    pipelineVersion,
    continuation,
    globals,
    ...memory,
    input: view(bytes, inp.pos, inp.end - inp.pos),
    output: view(bytes, outp.pos, outp.end - outp.pos),
    code: code && view(bytes, code.pos, code.end - code.pos),
    tables,
    resources: res && parseResources(bytes, res),
    sections,
  };
}

/** The resource segment: a JSON object of interface id → state (each interface checks its own at restore). */
function parseResources(bytes: Uint8Array, r: Reader): Record<string, unknown> {
  const length = r.end - r.pos;
  if (length > MAX_RESOURCES_BYTES) throw malformed(`section resources is ${length} bytes, the limit is ${MAX_RESOURCES_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(view(bytes, r.pos, length)));
  } catch (e) {
    throw malformed(`section resources is not UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw malformed("section resources is not a JSON object");
  r.pos = r.end;
  // A null prototype: interface ids are looked up by name, and "__proto__" must be just a name.
  return Object.assign(Object.create(null) as Record<string, unknown>, value);
}

/** Sections must be exactly meta, continuation, globals, memory, input, output, then optionally code: nothing else, once each. */
function checkTag(tag: number, offset: number, expected: number | undefined, known: readonly number[]): void {
  const index = known.indexOf(tag);
  if (index < 0) throw malformed(`unknown section tag ${tag} at offset ${offset}`);
  if (expected === undefined || tag < expected) {
    // Tags are strictly ordered, so any tag at or below the last one seen is a repeat.
    throw malformed(`duplicate section ${SECTION_NAMES[index]} at offset ${offset}`);
  }
  if (tag > expected) {
    const missing = SECTION_NAMES[SECTION_TAGS.indexOf(expected)];
    throw malformed(`section ${missing} is missing or out of order (found ${SECTION_NAMES[index]} at offset ${offset})`);
  }
}
