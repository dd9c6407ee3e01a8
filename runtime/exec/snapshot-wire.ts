// The snapshot wire format's fixed parts (docs/snapshot-format.md): the magic, versions, section
// tags and entry sizes every encoder and decoder file shares, and the two bounds-checked cursors
// (Writer for encoding, Reader for one section's payload). No logic about what a section means.

import { FerryError } from "../errors.js";
import type { GlobalType } from "./snapshot.js";

/** The 8 ASCII bytes every snapshot starts with. */
export const SNAPSHOT_MAGIC = "FERRYSNP";
/**
 * The newest format version this build writes and reads. It reads every version from 1 on, and
 * writes the lowest that can hold the snapshot: version 1 unless a global is v128 or a reference, or
 * tables travel (version 2), or the resource segment does (version 3), so a node running an older
 * build still reads what it always could.
 */
export const SNAPSHOT_FORMAT_VERSION = 4;
/**
 * The paged format: version 3's sections with a page table of per-page sha256 digests in the memory
 * section and a seal over everything but the pages' bytes (docs/snapshot-format.md, "Version 4").
 * Written only when asked for (`pageTable: true`).
 */
export const PAGED_FORMAT_VERSION = 4;
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

export type SnapshotSectionName = "meta" | "continuation" | "globals" | "memory" | "input" | "output" | "code" | "tables" | "resources";

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

export const MAGIC_BYTES: Uint8Array = new TextEncoder().encode(SNAPSHOT_MAGIC);

export const TAG_META = 1;
export const TAG_CONTINUATION = 2;
export const TAG_GLOBALS = 3;
export const TAG_MEMORY = 4;
export const TAG_INPUT = 5;
export const TAG_OUTPUT = 6;
export const TAG_CODE = 7;
export const TAG_TABLES = 8;
/** The resource segment (version 3): each stateful host interface's state, as UTF-8 JSON. */
export const TAG_RESOURCES = 9;
/** Largest resource section a decoder accepts (a WASI fd table of 256 entries is far smaller). */
export const MAX_RESOURCES_BYTES = 1024 * 1024;
/**
 * Tags in the only order a snapshot may have them: 1..6 are required, code (7), from version 2
 * tables (8) and from version 3 resources (9) are optional.
 */
export const SECTION_TAGS: readonly number[] = [
  TAG_META,
  TAG_CONTINUATION,
  TAG_GLOBALS,
  TAG_MEMORY,
  TAG_INPUT,
  TAG_OUTPUT,
  TAG_CODE,
  TAG_TABLES,
  TAG_RESOURCES,
];
export const SECTION_NAMES: readonly SnapshotSectionName[] = [
  "meta",
  "continuation",
  "globals",
  "memory",
  "input",
  "output",
  "code",
  "tables",
  "resources",
];
export const REQUIRED_SECTIONS = 6;
/** Sections a version knows: version 1 ends with code. */
export const SECTIONS_IN_VERSION: Readonly<Record<number, number>> = { 1: 7, 2: 8, 3: 9, 4: 9 };

export const CODE_HASH_BYTES = 32;
export const META_BYTES = CODE_HASH_BYTES + 4;
export const GLOBAL_ENTRY_BYTES = 16;
/** A v128 global's entry: its value takes 16 bytes instead of 8. */
export const V128_GLOBAL_ENTRY_BYTES = 24;
/** A table's fixed part: index u32, type u8, 3 reserved, size u32. */
export const TABLE_FIXED_BYTES = 12;
/** A null reference where a function index would be (globals and table elements). */
export const NULL_REF = 0xffff_ffff;
export const MEMORY_FIXED_BYTES = 12;
export const PAGE_INDEX_BYTES = 4;
export const CHUNK_ENTRY_BYTES = 8;

export const CODEC_RAW = 0;
export const CODEC_DEFLATE = 1;

/** Global types by their WebAssembly value-type byte, so other decoders can reuse their wasm tables. */
export const TYPE_CODES: Readonly<Record<GlobalType, number>> = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
  funcref: 0x70,
  externref: 0x6f,
};
/** The global types version 1 has; the others need version 2. */
export const V1_TYPES: ReadonlySet<GlobalType> = new Set(["i32", "i64", "f32", "f64"]);
export const U128_MAX = (1n << 128n) - 1n;
export const TYPES_BY_CODE: ReadonlyMap<number, GlobalType> = new Map(
  (Object.entries(TYPE_CODES) as [GlobalType, number][]).map(([t, c]) => [c, t]),
);

export const MAX_U32 = 0xffff_ffff;
export const I64_MIN = -(1n << 63n);
export const I64_MAX = (1n << 63n) - 1n;
export const U64_MAX = (1n << 64n) - 1n;

/** Smallest possible snapshot: header, six section headers, the fixed payloads, the digest. */
export const MIN_SNAPSHOT_BYTES =
  SNAPSHOT_HEADER_BYTES + REQUIRED_SECTIONS * SNAPSHOT_SECTION_HEADER_BYTES + META_BYTES + 4 + MEMORY_FIXED_BYTES + SNAPSHOT_DIGEST_BYTES;

/** A snapshot_malformed error (what every decode-side check throws). */
export function malformed(detail: string, cause?: unknown): FerryError {
  return new FerryError("snapshot_malformed", detail, cause === undefined ? undefined : { cause });
}

/** A plain Uint8Array view (never a Buffer), whatever kind of array `b` is. */
export function view(b: Uint8Array, offset: number, length: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + offset, length);
}

export function readU64(dv: DataView, at: number, what: string): number {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  if (hi > 0x1f_ffff) throw malformed(`${what} does not fit in 2^53`);
  return hi * 0x1_0000_0000 + lo;
}

/** Sequential writer over the one output buffer an encode allocates. */
export class Writer {
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
  /** A raw memory page: copied here; PartsWriter refers to it instead. */
  page(b: Uint8Array): void {
    this.bytes(b);
  }
  sectionHeader(tag: number, length: number): void {
    this.u32(tag);
    this.u64(length);
  }
}

/**
 * A Writer whose output is a list of parts: everything it writes goes to `out` (the head), but raw
 * memory pages are not copied — the list refers to them where they belong. `pos` counts head bytes
 * only; `skipped` the page bytes left out.
 */
export class PartsWriter extends Writer {
  readonly parts: Uint8Array[] = [];
  skipped = 0;
  private cut = 0;
  override page(b: Uint8Array): void {
    if (this.pos > this.cut) this.parts.push(view(this.out, this.cut, this.pos - this.cut));
    this.parts.push(b);
    this.cut = this.pos;
    this.skipped += b.byteLength;
  }
  /** The parts, the head's last stretch included. */
  finish(): Uint8Array[] {
    if (this.pos > this.cut) this.parts.push(view(this.out, this.cut, this.pos - this.cut));
    this.cut = this.pos;
    return this.parts;
  }
}

/** Bounds-checked cursor over one section's payload. */
export class Reader {
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
