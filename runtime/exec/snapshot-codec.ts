// Binary encoding of a Snapshot (byte layout and validation rules: docs/snapshot-format.md).
// Versioned, sectioned, sealed with sha256; memory travels in page chunks stored raw or deflated.

import { constants as bufferConstants } from "node:buffer";
import { createHash } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { FerryError } from "../errors.js";
import { DEFAULT_MAX_MEMORY_PAGES, WASM_PAGE_BYTES } from "../limits.js";
import { floatOfBits, type GlobalType, type GlobalValue, type MemoryPage, type Snapshot, type TableValue } from "./snapshot.js";

/** The 8 ASCII bytes every snapshot starts with. */
export const SNAPSHOT_MAGIC = "FERRYSNP";
/**
 * The newest format version this build writes and reads. It reads every version from 1 on, and
 * writes the lowest that can hold the snapshot: version 1 unless a global is v128 or a reference, or
 * tables travel (version 2), so a node running an older build still reads what it always could.
 */
export const SNAPSHOT_FORMAT_VERSION = 2;
/** The oldest format version this build reads. */
export const SNAPSHOT_OLDEST_FORMAT_VERSION = 1;

/** magic (8) + version u16 + total length u64. */
export const SNAPSHOT_HEADER_BYTES = 18;
/** The trailing sha256 over every preceding byte. */
export const SNAPSHOT_DIGEST_BYTES = 32;
/** tag u32 + payload length u64. */
export const SNAPSHOT_SECTION_HEADER_BYTES = 12;
/** wasm32 memories cannot be larger than 65536 pages (4 GiB). */
export const SNAPSHOT_MAX_MEMORY_PAGES = 65_536;
/** Pages per memory chunk this encoder writes: one compression decision and one zlib call per chunk. */
export const SNAPSHOT_CHUNK_PAGES = 16;
/** Largest chunk a decoder accepts, so one inflate never needs more than 16 MiB. */
export const SNAPSHOT_MAX_CHUNK_PAGES = 256;
/** Bytes "auto" deflates to guess whether a chunk is worth compressing. */
export const COMPRESSION_PROBE_BYTES = 4096;
/** "auto" deflates a chunk only if its probe shrinks below this fraction. */
export const COMPRESSION_PROBE_MAX_RATIO = 0.6;

export type SnapshotCompression = "auto" | "none" | "deflate";

export interface EncodeSnapshotOptions {
  /** "auto" (default) deflates chunks whose probe compresses well; "none" never; "deflate" always. */
  compression?: SnapshotCompression;
}

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

export type SnapshotSectionName = "meta" | "continuation" | "globals" | "memory" | "input" | "output" | "code" | "tables";

export interface SnapshotSectionInfo {
  name: SnapshotSectionName;
  tag: number;
  /** Offset of the section header from the start of the snapshot. */
  offset: number;
  /** Payload bytes as stored (excluding the 12-byte section header). */
  encodedBytes: number;
  /** Payload bytes once decoded; differs from encodedBytes only for memory (stored pages × 64 KiB). */
  decodedBytes: number;
}

export interface SnapshotInfo {
  formatVersion: number;
  codeHash: string;
  pipelineVersion: number;
  totalBytes: number;
  sections: SnapshotSectionInfo[];
  globalCount: number;
  memory: {
    /** Size of the memory in pages, including elided zero pages. */
    pageCount: number;
    /** Non-zero pages actually carried. */
    storedPageCount: number;
    chunkPages: number;
    chunkCount: number;
    rawChunks: number;
    deflatedChunks: number;
  };
  /** "none" when no chunk is deflated (including no chunks at all), "deflate" when all are. */
  compression: "none" | "deflate" | "mixed";
  /** Always true: inspectSnapshot throws the decoder's typed errors instead of returning a failed check. */
  integrityOk: true;
}

const MAGIC_BYTES: Uint8Array = new TextEncoder().encode(SNAPSHOT_MAGIC);

const TAG_META = 1;
const TAG_CONTINUATION = 2;
const TAG_GLOBALS = 3;
const TAG_MEMORY = 4;
const TAG_INPUT = 5;
const TAG_OUTPUT = 6;
const TAG_CODE = 7;
const TAG_TABLES = 8;
/**
 * Tags in the only order a snapshot may have them: 1..6 are required, code (7) and, from version 2,
 * tables (8) are optional.
 */
const SECTION_TAGS: readonly number[] = [TAG_META, TAG_CONTINUATION, TAG_GLOBALS, TAG_MEMORY, TAG_INPUT, TAG_OUTPUT, TAG_CODE, TAG_TABLES];
const SECTION_NAMES: readonly SnapshotSectionName[] = ["meta", "continuation", "globals", "memory", "input", "output", "code", "tables"];
const REQUIRED_SECTIONS = 6;
/** Sections a version knows: version 1 ends with code. */
const SECTIONS_IN_VERSION: Readonly<Record<number, number>> = { 1: 7, 2: 8 };

const CODE_HASH_BYTES = 32;
const META_BYTES = CODE_HASH_BYTES + 4;
const GLOBAL_ENTRY_BYTES = 16;
/** A v128 global's entry: its value takes 16 bytes instead of 8. */
const V128_GLOBAL_ENTRY_BYTES = 24;
/** A table's fixed part: index u32, type u8, 3 reserved, size u32. */
const TABLE_FIXED_BYTES = 12;
/** A null reference where a function index would be (globals and table elements). */
const NULL_REF = 0xffff_ffff;
const MEMORY_FIXED_BYTES = 12;
const PAGE_INDEX_BYTES = 4;
const CHUNK_ENTRY_BYTES = 8;

const CODEC_RAW = 0;
const CODEC_DEFLATE = 1;

/** Global types by their WebAssembly value-type byte, so other decoders can reuse their wasm tables. */
const TYPE_CODES: Readonly<Record<GlobalType, number>> = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
  funcref: 0x70,
  externref: 0x6f,
};
/** The global types version 1 has; the others need version 2. */
const V1_TYPES: ReadonlySet<GlobalType> = new Set(["i32", "i64", "f32", "f64"]);
const U128_MAX = (1n << 128n) - 1n;
const TYPES_BY_CODE: ReadonlyMap<number, GlobalType> = new Map(
  (Object.entries(TYPE_CODES) as [GlobalType, number][]).map(([t, c]) => [c, t]),
);

const MAX_U32 = 0xffff_ffff;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const U64_MAX = (1n << 64n) - 1n;

/** Smallest possible snapshot: header, six section headers, the fixed payloads, the digest. */
const MIN_SNAPSHOT_BYTES =
  SNAPSHOT_HEADER_BYTES + REQUIRED_SECTIONS * SNAPSHOT_SECTION_HEADER_BYTES + META_BYTES + 4 + MEMORY_FIXED_BYTES + SNAPSHOT_DIGEST_BYTES;

// ---------------------------------------------------------------------------------------------
// Encoding

interface ChunkPlan {
  pageCount: number;
  codec: typeof CODEC_RAW | typeof CODEC_DEFLATE;
  /** Pages to copy for a raw chunk. */
  pages: MemoryPage[];
  /** The deflate stream for a deflated chunk. */
  deflated: Uint8Array | undefined;
  encodedBytes: number;
}

/**
 * Encode a snapshot. Sizes are computed first and the output is allocated once, so raw pages are
 * copied exactly once and the only other full pass is the sha256. Throws FerryError
 * `snapshot_malformed` if `s` breaks the Snapshot invariants, `invalid_option` for a bad option.
 */
export function encodeSnapshot(s: Snapshot, options?: EncodeSnapshotOptions): Uint8Array {
  const compression = normaliseCompression(options);
  validateSnapshot(s);

  const chunks = planMemory(s.memory.pages, compression);
  const storedPages = s.memory.pages.length;
  let memoryBytes = MEMORY_FIXED_BYTES + storedPages * PAGE_INDEX_BYTES + chunks.length * CHUNK_ENTRY_BYTES;
  for (const c of chunks) memoryBytes += c.encodedBytes;
  const globalsBytes = 4 + s.globals.reduce((n, g) => n + globalEntryBytes(g.type), 0);
  const tablesBytes = s.tables === undefined ? 0 : 4 + s.tables.reduce((n, t) => n + TABLE_FIXED_BYTES + 4 * t.elements.length, 0);
  const version = formatVersionFor(s);
  const sectionCount = REQUIRED_SECTIONS + (s.code === undefined ? 0 : 1) + (s.tables === undefined ? 0 : 1);
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
    SNAPSHOT_DIGEST_BYTES;
  if (total > bufferConstants.MAX_LENGTH) {
    throw new FerryError("snapshot_malformed", `cannot encode: ${total} bytes exceeds the largest buffer Node can allocate`);
  }

  // Its own ArrayBuffer (not the shared pool), so callers may transfer it to a worker or child.
  // Uninitialised is safe because the writer advances strictly sequentially and the final
  // position is asserted equal to the total: every byte is written exactly once.
  const out = Buffer.allocUnsafeSlow(total);
  const w = new Writer(out);

  w.bytes(MAGIC_BYTES);
  w.u16(version);
  w.u64(total);

  w.sectionHeader(TAG_META, META_BYTES);
  w.bytes(Buffer.from(s.codeHash, "hex"));
  w.u32(s.pipelineVersion);

  w.sectionHeader(TAG_CONTINUATION, s.continuation.byteLength);
  w.bytes(s.continuation);

  w.sectionHeader(TAG_GLOBALS, globalsBytes);
  w.u32(s.globals.length);
  for (const g of s.globals) writeGlobal(w, g);

  w.sectionHeader(TAG_MEMORY, memoryBytes);
  w.u32(s.memory.pageCount);
  w.u32(storedPages);
  w.u32(SNAPSHOT_CHUNK_PAGES);
  for (const p of s.memory.pages) w.u32(p.index);
  for (const c of chunks) {
    w.u8(c.codec);
    w.u8(0);
    w.u16(0);
    w.u32(c.encodedBytes);
  }
  for (const c of chunks) {
    if (c.deflated) w.bytes(c.deflated);
    else for (const p of c.pages) w.bytes(p.bytes);
  }

  w.sectionHeader(TAG_INPUT, s.input.byteLength);
  w.bytes(s.input);
  w.sectionHeader(TAG_OUTPUT, s.output.byteLength);
  w.bytes(s.output);
  if (s.code !== undefined) {
    w.sectionHeader(TAG_CODE, s.code.byteLength);
    w.bytes(s.code);
  }
  if (s.tables !== undefined) {
    w.sectionHeader(TAG_TABLES, tablesBytes);
    w.u32(s.tables.length);
    for (const t of s.tables) writeTable(w, t);
  }

  const bodyEnd = total - SNAPSHOT_DIGEST_BYTES;
  if (w.pos !== bodyEnd) throw new Error(`snapshot encoder wrote ${w.pos} bytes, planned ${bodyEnd}`); // a bug, not bad input
  out.set(createHash("sha256").update(out.subarray(0, bodyEnd)).digest(), bodyEnd);
  return new Uint8Array(out.buffer, out.byteOffset, total);
}

/** Version 1 unless the snapshot holds what only version 2 can: a v128 or reference global, or tables. */
function formatVersionFor(s: Snapshot): number {
  return s.tables === undefined && s.globals.every((g) => V1_TYPES.has(g.type)) ? 1 : 2;
}

function globalEntryBytes(type: GlobalType): number {
  return type === "v128" ? V128_GLOBAL_ENTRY_BYTES : GLOBAL_ENTRY_BYTES;
}

function normaliseCompression(options: EncodeSnapshotOptions | undefined): SnapshotCompression {
  const c = options?.compression ?? "auto";
  if (c !== "auto" && c !== "none" && c !== "deflate") {
    throw new FerryError("invalid_option", `compression must be "auto", "none" or "deflate", got ${JSON.stringify(c)}`);
  }
  return c;
}

function cannotEncode(detail: string): FerryError {
  return new FerryError("snapshot_malformed", `cannot encode: ${detail}`);
}

function isU32(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_U32;
}

/** Checks the invariants the format relies on, so a bad value fails here and not on decode. */
function validateSnapshot(s: Snapshot): void {
  if (typeof s !== "object" || s === null) throw cannotEncode("snapshot is not an object");
  if (typeof s.codeHash !== "string" || !/^[0-9a-f]{64}$/.test(s.codeHash)) {
    throw cannotEncode("codeHash must be 64 lowercase hex digits");
  }
  if (!isU32(s.pipelineVersion)) throw cannotEncode("pipelineVersion must be an integer in 0..2^32-1");
  for (const key of ["continuation", "input", "output"] as const) {
    if (!(s[key] instanceof Uint8Array)) throw cannotEncode(`${key} must be a Uint8Array`);
  }
  if (s.code !== undefined && !(s.code instanceof Uint8Array)) throw cannotEncode("code must be a Uint8Array when present");
  if (!Array.isArray(s.globals)) throw cannotEncode("globals must be an array");
  let previous = -1;
  for (const [i, g] of s.globals.entries()) {
    if (!isU32(g?.index)) throw cannotEncode(`globals[${i}].index must be an integer in 0..2^32-1`);
    if (g.index <= previous) throw cannotEncode(`globals[${i}].index ${g.index} is not above the previous index ${previous}`);
    previous = g.index;
    checkGlobalValue(g, i);
  }
  if (s.tables !== undefined) checkTables(s.tables);
  const m = s.memory;
  if (typeof m !== "object" || m === null || !Array.isArray(m.pages)) throw cannotEncode("memory must be a MemoryImage");
  if (!isU32(m.pageCount) || m.pageCount > SNAPSHOT_MAX_MEMORY_PAGES) {
    throw cannotEncode(`memory.pageCount must be an integer in 0..${SNAPSHOT_MAX_MEMORY_PAGES}`);
  }
  previous = -1;
  for (const [i, p] of m.pages.entries()) {
    if (!isU32(p?.index) || p.index >= m.pageCount) {
      throw cannotEncode(`memory.pages[${i}].index must be an integer below pageCount ${m.pageCount}`);
    }
    if (p.index <= previous) throw cannotEncode(`memory.pages[${i}].index ${p.index} is not above the previous index ${previous}`);
    previous = p.index;
    if (!(p.bytes instanceof Uint8Array) || p.bytes.byteLength !== WASM_PAGE_BYTES) {
      throw cannotEncode(`memory.pages[${i}].bytes must be a Uint8Array of exactly ${WASM_PAGE_BYTES} bytes`);
    }
  }
}

function checkGlobalValue(g: GlobalValue, i: number): void {
  const v = g.value;
  if (g.bits !== undefined && g.type !== "f32" && g.type !== "f64")
    throw cannotEncode(`globals[${i}] is ${g.type}: only f32 and f64 globals carry bits`);
  switch (g.type) {
    case "i32":
      if (typeof v !== "number" || !Number.isInteger(v) || v < -0x8000_0000 || v > 0x7fff_ffff) {
        throw cannotEncode(`globals[${i}] is i32 but its value is not an integer in -2^31..2^31-1`);
      }
      return;
    case "i64":
      if (typeof v !== "bigint" || v < I64_MIN || v > I64_MAX) {
        throw cannotEncode(`globals[${i}] is i64 but its value is not a bigint in -2^63..2^63-1`);
      }
      return;
    case "f32":
      // A number that is not exactly a float32 would silently change on the round trip.
      if (typeof v !== "number" || (Math.fround(v) !== v && !Number.isNaN(v))) {
        throw cannotEncode(`globals[${i}] is f32 but its value is not exactly representable as a float32`);
      }
      checkFloatBits(g, i, v);
      return;
    case "f64":
      if (typeof v !== "number") throw cannotEncode(`globals[${i}] is f64 but its value is not a number`);
      checkFloatBits(g, i, v);
      return;
    case "v128":
      if (typeof v !== "bigint" || v < 0n || v > U128_MAX)
        throw cannotEncode(`globals[${i}] is v128 but its value is not a bigint in 0..2^128-1`);
      return;
    case "funcref":
      if (v !== null && !isFunctionIndex(v))
        throw cannotEncode(`globals[${i}] is funcref but its value is neither null nor a function index in 0..2^32-2`);
      return;
    case "externref":
      if (v !== null) throw cannotEncode(`globals[${i}] is externref but its value is not null (a guest holds no other externref)`);
      return;
    default:
      throw cannotEncode(`globals[${i}].type ${JSON.stringify(g.type)} is not i32, i64, f32, f64, v128, funcref or externref`);
  }
}

function isFunctionIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < NULL_REF;
}

function checkTables(tables: TableValue[]): void {
  if (!Array.isArray(tables)) throw cannotEncode("tables must be an array when present");
  let previous = -1;
  for (const [i, t] of tables.entries()) {
    if (!isU32(t?.index)) throw cannotEncode(`tables[${i}].index must be an integer in 0..2^32-1`);
    if (t.index <= previous) throw cannotEncode(`tables[${i}].index ${t.index} is not above the previous index ${previous}`);
    previous = t.index;
    if (t.type !== "funcref" && t.type !== "externref") throw cannotEncode(`tables[${i}].type must be "funcref" or "externref"`);
    if (!Array.isArray(t.elements) || t.elements.length > MAX_U32) throw cannotEncode(`tables[${i}].elements must be an array`);
    for (const [k, e] of t.elements.entries()) {
      if (e === null) continue;
      if (t.type === "externref") throw cannotEncode(`tables[${i}].elements[${k}] is not null (a guest holds no externref but null)`);
      if (!isFunctionIndex(e)) throw cannotEncode(`tables[${i}].elements[${k}] must be null or a function index in 0..2^32-2`);
    }
  }
}

function writeTable(w: Writer, t: TableValue): void {
  w.u32(t.index);
  w.u8(TYPE_CODES[t.type]);
  w.u8(0);
  w.u16(0);
  w.u32(t.elements.length);
  for (const e of t.elements) w.u32(e ?? NULL_REF);
}

/** A float's bits, when given, must be in range and stand for its value (any NaN for a NaN). */
function checkFloatBits(g: GlobalValue, i: number, value: number): void {
  const bits = g.bits;
  if (bits === undefined) return;
  const ok =
    g.type === "f32"
      ? typeof bits === "number" && Number.isInteger(bits) && bits >= 0 && bits <= 0xffff_ffff
      : typeof bits === "bigint" && bits >= 0n && bits <= U64_MAX;
  if (!ok) throw cannotEncode(`globals[${i}].bits must be ${g.type === "f32" ? "an integer in 0..2^32-1" : "a bigint in 0..2^64-1"}`);
  const of = floatOfBits(g.type as "f32" | "f64", bits);
  if (!Object.is(of, value) && !(Number.isNaN(of) && Number.isNaN(value))) {
    throw cannotEncode(`globals[${i}].bits stand for ${of}, not its value ${value}`);
  }
}

function writeGlobal(w: Writer, g: GlobalValue): void {
  w.u32(g.index);
  w.u8(TYPE_CODES[g.type]);
  w.u8(0);
  w.u16(0);
  const at = w.pos;
  w.view.setBigUint64(at, 0n, true); // the high half stays zero for 32-bit types
  switch (g.type) {
    case "i32":
      w.view.setInt32(at, g.value as number, true);
      break;
    case "f32":
      if (g.bits !== undefined) w.view.setUint32(at, g.bits as number, true);
      else w.view.setFloat32(at, g.value as number, true);
      break;
    case "i64":
      w.view.setBigInt64(at, g.value as bigint, true);
      break;
    case "f64":
      if (g.bits !== undefined) w.view.setBigUint64(at, g.bits as bigint, true);
      else w.view.setFloat64(at, g.value as number, true);
      break;
    case "funcref":
    case "externref":
      w.view.setUint32(at, (g.value as number | null) ?? NULL_REF, true);
      break;
    case "v128": {
      const v = g.value as bigint;
      w.view.setBigUint64(at, BigInt.asUintN(64, v), true);
      w.view.setBigUint64(at + 8, v >> 64n, true);
      w.pos += 8;
      break;
    }
  }
  w.pos += 8;
}

/** Decide each chunk's codec and deflate what should be deflated, before anything is allocated. */
function planMemory(pages: MemoryPage[], compression: SnapshotCompression): ChunkPlan[] {
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

class Writer {
  readonly view: DataView;
  pos = 0;
  constructor(readonly out: Uint8Array) {
    this.view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  }
  u8(v: number): void {
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }
  u16(v: number): void {
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }
  u32(v: number): void {
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  u64(v: number): void {
    this.view.setUint32(this.pos, v % 0x1_0000_0000, true);
    this.view.setUint32(this.pos + 4, Math.floor(v / 0x1_0000_0000), true);
    this.pos += 8;
  }
  bytes(b: Uint8Array): void {
    this.out.set(b, this.pos);
    this.pos += b.byteLength;
  }
  sectionHeader(tag: number, length: number): void {
    this.u32(tag);
    this.u64(length);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface ChunkLayout {
  codec: typeof CODEC_RAW | typeof CODEC_DEFLATE;
  /** Index of the chunk's first page in the stored-page list. */
  firstPage: number;
  pageCount: number;
  /** Absolute offset of the chunk's data in the snapshot. */
  offset: number;
  encodedBytes: number;
}

/** Everything about a snapshot except the memory contents, parsed and validated. */
interface Layout {
  formatVersion: number;
  totalBytes: number;
  codeHash: string;
  pipelineVersion: number;
  continuation: Uint8Array;
  globals: GlobalValue[];
  pageCount: number;
  chunkPages: number;
  pageIndices: Uint32Array;
  chunks: ChunkLayout[];
  input: Uint8Array;
  output: Uint8Array;
  code: Uint8Array | undefined;
  tables: TableValue[] | undefined;
  sections: SnapshotSectionInfo[];
}

/**
 * Decode and fully validate a snapshot. Raw memory pages, the continuation, input and output are
 * views into `bytes` (zero-copy); deflated chunks are inflated into fresh buffers. Snapshot
 * byte arrays are read-only by contract, and the caller must not modify `bytes` while the
 * Snapshot is in use. Every failure is a FerryError with a snapshot_* code.
 */
export function decodeSnapshot(bytes: Uint8Array, options: DecodeSnapshotOptions = {}): Snapshot {
  const layout = parseLayout(bytes);
  // Checked before inflating anything: a few MB of deflate can legitimately expand to 4 GiB.
  if (options.maxMemoryPages !== undefined && layout.pageCount > options.maxMemoryPages) {
    throw new FerryError("snapshot_limit", `memory of ${layout.pageCount} pages exceeds the cap of ${options.maxMemoryPages}`);
  }
  const maxDecodedBytes = options.maxDecodedBytes ?? (options.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES) * WASM_PAGE_BYTES;
  let inflated = 0;
  for (const c of layout.chunks) if (c.codec === CODEC_DEFLATE) inflated += c.pageCount * WASM_PAGE_BYTES;
  if (inflated > maxDecodedBytes) {
    throw new FerryError("snapshot_limit", `compressed memory inflates to ${inflated} bytes, over the cap of ${maxDecodedBytes}`);
  }
  const pages: MemoryPage[] = new Array(layout.pageIndices.length);
  for (const [k, c] of layout.chunks.entries()) {
    const data = c.codec === CODEC_RAW ? view(bytes, c.offset, c.encodedBytes) : inflateChunk(bytes, c, k);
    for (let i = 0; i < c.pageCount; i++) {
      pages[c.firstPage + i] = { index: layout.pageIndices[c.firstPage + i]!, bytes: view(data, i * WASM_PAGE_BYTES, WASM_PAGE_BYTES) };
    }
  }
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
  return snapshot;
}

/**
 * Describe a snapshot for `ferry inspect`. Checks the header, length and digest and parses every
 * section exactly as decodeSnapshot does (same errors), but never inflates memory chunks, so a
 * deflate stream that is itself broken is only detected by decodeSnapshot.
 */
export function inspectSnapshot(bytes: Uint8Array): SnapshotInfo {
  const layout = parseLayout(bytes);
  const deflatedChunks = layout.chunks.filter((c) => c.codec === CODEC_DEFLATE).length;
  const chunkCount = layout.chunks.length;
  return {
    formatVersion: layout.formatVersion,
    codeHash: layout.codeHash,
    pipelineVersion: layout.pipelineVersion,
    totalBytes: layout.totalBytes,
    sections: layout.sections,
    globalCount: layout.globals.length,
    memory: {
      pageCount: layout.pageCount,
      storedPageCount: layout.pageIndices.length,
      chunkPages: layout.chunkPages,
      chunkCount,
      rawChunks: chunkCount - deflatedChunks,
      deflatedChunks,
    },
    compression: deflatedChunks === 0 ? "none" : deflatedChunks === chunkCount ? "deflate" : "mixed",
    integrityOk: true,
  };
}

function malformed(detail: string, cause?: unknown): FerryError {
  return new FerryError("snapshot_malformed", detail, cause === undefined ? undefined : { cause });
}

/** A plain Uint8Array view (never a Buffer), whatever kind of array `b` is. */
function view(b: Uint8Array, offset: number, length: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + offset, length);
}

/** Header, length and digest checks, in that order, before any section is looked at. */
function checkEnvelope(bytes: Uint8Array): { dv: DataView; total: number; version: number } {
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
  const digest = createHash("sha256")
    .update(view(bytes, 0, bodyEnd))
    .digest();
  for (let i = 0; i < SNAPSHOT_DIGEST_BYTES; i++) {
    if (digest[i] !== bytes[bodyEnd + i]) throw new FerryError("snapshot_corrupt", "sha256 does not match the contents");
  }
  return { dv, total, version };
}

function parseLayout(bytes: Uint8Array): Layout {
  const { dv, total, version } = checkEnvelope(bytes);
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

  const [meta, cont, glob, mem, inp, outp, code, tab] = payloads as [Reader, Reader, Reader, Reader, Reader, Reader, Reader?, Reader?];
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

  const memory = parseMemoryLayout(mem);
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
    sections,
  };
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

function readU64(dv: DataView, at: number, what: string): number {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  if (hi > 0x1f_ffff) throw malformed(`${what} does not fit in 2^53`);
  return hi * 0x1_0000_0000 + lo;
}

function parseGlobals(r: Reader, version: number): GlobalValue[] {
  const count = r.u32("global count");
  // Every entry takes at least 16 bytes: a count the payload cannot hold fails before the loop.
  r.need(count * GLOBAL_ENTRY_BYTES, `${count} globals`);
  const globals: GlobalValue[] = [];
  let previous = -1;
  for (let i = 0; i < count; i++) {
    r.need(GLOBAL_ENTRY_BYTES, `global ${i}`);
    const at = r.pos;
    const index = r.dv.getUint32(at, true);
    const code = r.dv.getUint8(at + 4);
    const type = TYPES_BY_CODE.get(code);
    if (index <= previous) throw malformed(`global ${i}: index ${index} is not above the previous index ${previous}`);
    previous = index;
    if (type === undefined || (version < 2 && !V1_TYPES.has(type)))
      throw malformed(`global ${i}: unknown type code 0x${code.toString(16)} in a version ${version} snapshot`);
    if (r.dv.getUint8(at + 5) !== 0 || r.dv.getUint16(at + 6, true) !== 0) throw malformed(`global ${i}: reserved bytes are not zero`);
    r.need(globalEntryBytes(type), `global ${i}`);
    const v = at + 8;
    if (type === "i64") globals.push({ index, type, value: r.dv.getBigInt64(v, true) });
    else if (type === "f64") globals.push({ index, type, value: r.dv.getFloat64(v, true), bits: r.dv.getBigUint64(v, true) });
    else if (type === "v128") globals.push({ index, type, value: r.dv.getBigUint64(v, true) | (r.dv.getBigUint64(v + 8, true) << 64n) });
    else {
      if (r.dv.getUint32(v + 4, true) !== 0) throw malformed(`global ${i}: high 32 bits of the ${type} value are not zero`);
      const low = r.dv.getUint32(v, true);
      if (type === "i32") globals.push({ index, type, value: r.dv.getInt32(v, true) });
      else if (type === "f32") globals.push({ index, type, value: r.dv.getFloat32(v, true), bits: low });
      else if (type === "funcref") globals.push({ index, type, value: low === NULL_REF ? null : low });
      else if (low !== NULL_REF) throw malformed(`global ${i}: an externref global can only be null (0xffffffff)`);
      else globals.push({ index, type, value: null });
    }
    r.pos += globalEntryBytes(type);
  }
  return globals;
}

function parseTables(r: Reader): TableValue[] {
  const count = r.u32("table count");
  const tables: TableValue[] = [];
  let previous = -1;
  for (let i = 0; i < count; i++) {
    r.need(TABLE_FIXED_BYTES, `table ${i}`);
    const index = r.dv.getUint32(r.pos, true);
    const code = r.dv.getUint8(r.pos + 4);
    const reserved = r.dv.getUint8(r.pos + 5) | r.dv.getUint16(r.pos + 6, true);
    const size = r.dv.getUint32(r.pos + 8, true);
    r.pos += TABLE_FIXED_BYTES;
    if (index <= previous) throw malformed(`table ${i}: index ${index} is not above the previous index ${previous}`);
    previous = index;
    const type = TYPES_BY_CODE.get(code);
    if (type !== "funcref" && type !== "externref")
      throw malformed(`table ${i}: element type code 0x${code.toString(16)} is not funcref (0x70) or externref (0x6f)`);
    if (reserved !== 0) throw malformed(`table ${i}: reserved bytes are not zero`);
    r.need(4 * size, `table ${i}'s ${size} elements`);
    const elements: Array<number | null> = new Array(size);
    for (let k = 0; k < size; k++) {
      const e = r.dv.getUint32(r.pos + 4 * k, true);
      if (e !== NULL_REF && type === "externref") throw malformed(`table ${i}: element ${k} of an externref table is not null`);
      elements[k] = e === NULL_REF ? null : e;
    }
    r.pos += 4 * size;
    tables.push({ index, type, elements });
  }
  return tables;
}

function parseMemoryLayout(r: Reader): Pick<Layout, "pageCount" | "chunkPages" | "pageIndices" | "chunks"> {
  const pageCount = r.u32("page count");
  if (pageCount > SNAPSHOT_MAX_MEMORY_PAGES) throw malformed(`page count ${pageCount} exceeds ${SNAPSHOT_MAX_MEMORY_PAGES}`);
  const stored = r.u32("stored page count");
  if (stored > pageCount) throw malformed(`stored page count ${stored} exceeds page count ${pageCount}`);
  const chunkPages = r.u32("pages per chunk");
  if (chunkPages < 1 || chunkPages > SNAPSHOT_MAX_CHUNK_PAGES) {
    throw malformed(`pages per chunk ${chunkPages} is not in 1..${SNAPSHOT_MAX_CHUNK_PAGES}`);
  }

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

  const chunkCount = Math.ceil(stored / chunkPages);
  r.need(chunkCount * CHUNK_ENTRY_BYTES, `${chunkCount} chunk entries`);
  const chunks: ChunkLayout[] = [];
  let offset = r.pos + chunkCount * CHUNK_ENTRY_BYTES;
  for (let k = 0; k < chunkCount; k++) {
    const codec = r.dv.getUint8(r.pos);
    const reserved = r.dv.getUint8(r.pos + 1) | r.dv.getUint16(r.pos + 2, true);
    const encodedBytes = r.dv.getUint32(r.pos + 4, true);
    r.pos += CHUNK_ENTRY_BYTES;
    const firstPage = k * chunkPages;
    const pages = Math.min(chunkPages, stored - firstPage);
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
  return { pageCount, chunkPages, pageIndices, chunks };
}

/** Inflate one chunk into a buffer of exactly its page count × 64 KiB; anything else is malformed. */
function inflateChunk(bytes: Uint8Array, c: ChunkLayout, k: number): Uint8Array {
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

/** Bounds-checked cursor over one section's payload. */
class Reader {
  pos: number;
  constructor(
    readonly dv: DataView,
    start: number,
    readonly end: number,
    readonly where: string,
  ) {
    this.pos = start;
  }
  need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      throw malformed(`${this.where}: ${what} needs ${n} bytes at offset ${this.pos} but only ${this.end - this.pos} remain`);
    }
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** The payload must be used up exactly. */
  finish(): void {
    if (this.pos !== this.end) throw malformed(`${this.where} has ${this.end - this.pos} trailing bytes`);
  }
}
