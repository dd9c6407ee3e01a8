// Structure-aware snapshot mutations (docs/snapshot-format.md): a snapshot is parsed into its
// header, sections and digest; mutations rewrite fields, payloads and framing; the result is
// serialized again, resealed (length and sha256 — version 4: the seal — fixed, so the mutation reaches the deeper checks)
// or not. Every mutation is plain data, so a case file replays and shrinks it.

import { createHash } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import type { Rng } from "./rng.js";

const HEADER = 18;
const DIGEST = 32;
const FRAME = 12;
const PAGE = 65_536;

export const TAGS = { meta: 1, continuation: 2, globals: 3, memory: 4, input: 5, output: 6, code: 7 } as const;

interface Section {
  tag: number;
  payload: Uint8Array;
  /** Added to the payload length written in the frame (a frame that lies about its length). */
  lengthLie: number;
}

export interface Parsed {
  version: number;
  sections: Section[];
}

export type Mutation =
  /** Write `bytes` (hex) at `offset` of section `tag`'s payload (growing it if needed). */
  | { kind: "write"; tag: number; offset: number; hex: string }
  /** Write an unsigned integer of `size` bytes, little-endian. */
  | { kind: "int"; tag: number; offset: number; size: 1 | 2 | 4 | 8; value: string }
  | { kind: "resize"; tag: number; length: number; fill: number }
  | { kind: "drop"; tag: number }
  | { kind: "duplicate"; tag: number }
  | { kind: "swap"; a: number; b: number }
  | { kind: "retag"; tag: number; to: number }
  | { kind: "lie"; tag: number; delta: number }
  /** Replace the memory section with one of `pages` pages, `stored` of them stored in deflated zero chunks of `chunkPages`. */
  | { kind: "memory"; pages: number; stored: number; chunkPages: number; codec: 0 | 1; trailing: number }
  | { kind: "version"; value: number }
  /** After sealing: flip one bit, or cut the bytes. */
  | { kind: "flip"; offset: number; bit: number }
  | { kind: "truncate"; length: number };

export function parseSnapshot(bytes: Uint8Array): Parsed {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint16(8, true);
  const sections: Section[] = [];
  let pos = HEADER;
  const end = bytes.byteLength - DIGEST;
  while (pos + FRAME <= end) {
    const tag = dv.getUint32(pos, true);
    const length = Number(dv.getBigUint64(pos + 4, true));
    sections.push({ tag, payload: bytes.slice(pos + FRAME, pos + FRAME + length), lengthLie: 0 });
    pos += FRAME + length;
  }
  return { version, sections };
}

export function serialize(p: Parsed, reseal: boolean): Uint8Array {
  const body = p.sections.reduce((n, s) => n + FRAME + s.payload.byteLength, 0);
  const total = HEADER + body + DIGEST;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode("FERRYSNP"), 0);
  dv.setUint16(8, p.version, true);
  dv.setBigUint64(10, BigInt(total), true);
  let pos = HEADER;
  let pageData: [number, number] | undefined;
  for (const s of p.sections) {
    dv.setUint32(pos, s.tag >>> 0, true);
    dv.setBigUint64(pos + 4, BigInt.asUintN(64, BigInt(s.payload.byteLength + s.lengthLie)), true);
    out.set(s.payload, pos + FRAME);
    if (s.tag === TAGS.memory && pageData === undefined) pageData = pagedChunkData(s.payload, pos + FRAME);
    pos += FRAME + s.payload.byteLength;
  }
  // Version 4 seals everything but the memory's chunk data (the page table's digests stand for it).
  const sealed =
    p.version >= 4 && pageData
      ? [out.subarray(0, pageData[0]), out.subarray(pageData[1], total - DIGEST)]
      : [out.subarray(0, total - DIGEST)];
  const hash = createHash("sha256");
  for (const part of sealed) hash.update(part);
  const digest = hash.digest();
  out.set(reseal ? digest : digest.map((b) => b ^ 0x5a), total - DIGEST);
  return out;
}

/** Where a version 4 memory payload at `at` keeps its chunk data (docs/snapshot-format.md), if its fixed part says so. */
function pagedChunkData(payload: Uint8Array, at: number): [number, number] | undefined {
  if (payload.byteLength < 16) return undefined;
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const stored = dv.getUint32(4, true);
  const chunkPages = dv.getUint32(8, true);
  const distinct = dv.getUint32(12, true);
  const start = 16 + 8 * stored + 32 * distinct + 8 * (chunkPages === 0 ? 0 : Math.ceil(distinct / chunkPages));
  return start <= payload.byteLength ? [at + start, at + payload.byteLength] : undefined;
}

/** Apply `mutations` to a valid snapshot; structure mutations first, then sealing, then byte-level ones. */
export function mutate(base: Uint8Array, mutations: readonly Mutation[], reseal: boolean): Uint8Array {
  const p = parseSnapshot(base);
  const find = (tag: number): Section | undefined => p.sections.find((s) => s.tag === tag);
  for (const m of mutations) {
    switch (m.kind) {
      case "write": {
        const s = find(m.tag);
        if (!s) break;
        const bytes = Buffer.from(m.hex, "hex");
        s.payload = grow(s.payload, m.offset + bytes.length);
        s.payload.set(bytes, m.offset);
        break;
      }
      case "int": {
        const s = find(m.tag);
        if (!s) break;
        s.payload = grow(s.payload, m.offset + m.size);
        const v = BigInt.asUintN(m.size * 8, BigInt(m.value));
        for (let i = 0; i < m.size; i++) s.payload[m.offset + i] = Number((v >> BigInt(8 * i)) & 0xffn);
        break;
      }
      case "resize": {
        const s = find(m.tag);
        if (!s) break;
        const next = new Uint8Array(m.length).fill(m.fill);
        next.set(s.payload.subarray(0, Math.min(m.length, s.payload.byteLength)));
        s.payload = next;
        break;
      }
      case "drop":
        p.sections = p.sections.filter((s) => s.tag !== m.tag);
        break;
      case "duplicate": {
        const k = p.sections.findIndex((s) => s.tag === m.tag);
        if (k >= 0) p.sections.splice(k, 0, { ...p.sections[k]!, payload: p.sections[k]!.payload.slice() });
        break;
      }
      case "swap": {
        const a = p.sections[m.a % Math.max(1, p.sections.length)];
        const b = p.sections[m.b % Math.max(1, p.sections.length)];
        if (a && b) [a.tag, a.payload, b.tag, b.payload] = [b.tag, b.payload, a.tag, a.payload];
        break;
      }
      case "retag": {
        const s = find(m.tag);
        if (s) s.tag = m.to;
        break;
      }
      case "lie": {
        const s = find(m.tag);
        if (s) s.lengthLie = m.delta;
        break;
      }
      case "memory": {
        const s = find(TAGS.memory);
        if (s) s.payload = memoryPayload(m.pages, m.stored, m.chunkPages, m.codec, m.trailing);
        break;
      }
      case "version":
        p.version = m.value;
        break;
      default:
        break;
    }
  }
  let out = serialize(p, reseal);
  for (const m of mutations) {
    if (m.kind === "flip" && out.byteLength > 0) {
      out = out.slice();
      out[m.offset % out.byteLength]! ^= 1 << (m.bit & 7);
    } else if (m.kind === "truncate") {
      out = out.slice(0, Math.min(m.length, out.byteLength));
    }
  }
  return out;
}

function grow(b: Uint8Array, length: number): Uint8Array {
  if (b.byteLength >= length) return b;
  const next = new Uint8Array(length);
  next.set(b);
  return next;
}

/** A memory section of zero pages stored in chunks: deflate makes them tiny, a decoder must not let them balloon. */
const memoryCache = new Map<string, Uint8Array>();

function memoryPayload(pages: number, stored: number, chunkPages: number, codec: 0 | 1, trailing: number): Uint8Array {
  const key = `${pages}/${stored}/${chunkPages}/${codec}/${trailing}`;
  let payload = memoryCache.get(key);
  if (!payload) {
    // Bounded: some payloads are tens of MiB, and a long run meets hundreds of parameter sets.
    if (memoryCache.size >= 16) memoryCache.clear();
    memoryCache.set(key, (payload = buildMemoryPayload(pages, stored, chunkPages, codec, trailing)));
  }
  return payload.slice();
}

function buildMemoryPayload(pages: number, stored: number, chunkPages: number, codec: 0 | 1, trailing: number): Uint8Array {
  const count = Math.min(stored, pages);
  const chunkCount = chunkPages > 0 ? Math.ceil(count / chunkPages) : 0;
  const chunks: Uint8Array[] = [];
  for (let k = 0; k < chunkCount; k++) {
    const n = Math.min(chunkPages, count - k * chunkPages);
    // Raw chunks are capped (a mutant must stay small in memory); a wrong size is itself a good mutation.
    const raw = new Uint8Array(Math.min(n, 4) * PAGE);
    const data = codec === 1 ? deflateRawSync(new Uint8Array(n * PAGE), { level: 1 }) : raw;
    chunks.push(trailing > 0 && k === chunkCount - 1 ? Buffer.concat([data, new Uint8Array(trailing)]) : data);
  }
  const head = 12 + 4 * count + 8 * chunkCount;
  const out = new Uint8Array(head + chunks.reduce((n, c) => n + c.byteLength, 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, pages, true);
  dv.setUint32(4, count, true);
  dv.setUint32(8, chunkPages, true);
  for (let i = 0; i < count; i++) dv.setUint32(12 + 4 * i, Math.floor((i * pages) / Math.max(1, count)), true);
  let pos = 12 + 4 * count;
  let data = head;
  for (const c of chunks) {
    dv.setUint8(pos, codec);
    dv.setUint32(pos + 4, c.byteLength, true);
    out.set(c, data);
    pos += 8;
    data += c.byteLength;
  }
  return out;
}

// ---- drawing mutations that hit the structure ----

const INTERESTING = [
  "0",
  "1",
  "2",
  "3",
  "7",
  "8",
  "15",
  "16",
  "95",
  "96",
  "97",
  "255",
  "256",
  "4096",
  "65535",
  "65536",
  "65537",
  "2147483647",
  "2147483648",
  "4294967295",
  "4294967296",
  "9007199254740991",
  "18446744073709551615",
];

/** Field offsets worth hitting, per section (docs/continuation-abi.md and docs/snapshot-format.md). */
function fieldsOf(tag: number, payload: Uint8Array): Array<{ offset: number; size: 1 | 2 | 4 | 8 }> {
  switch (tag) {
    case TAGS.meta:
      return [
        { offset: 32, size: 4 },
        { offset: 0, size: 8 },
      ];
    case TAGS.continuation:
      // magic, abi, header size, state, resume label, asyncify current/end, capacity, flags, fuel, limit, entry, arg count, args, stack
      return [
        { offset: 0, size: 4 },
        { offset: 4, size: 2 },
        { offset: 6, size: 2 },
        { offset: 8, size: 4 },
        { offset: 12, size: 4 },
        { offset: 16, size: 4 },
        { offset: 20, size: 4 },
        { offset: 24, size: 4 },
        { offset: 28, size: 4 },
        { offset: 32, size: 8 },
        { offset: 40, size: 8 },
        { offset: 48, size: 4 },
        { offset: 52, size: 4 },
        { offset: 56, size: 8 },
        { offset: 64, size: 8 },
        ...(payload.byteLength > 96
          ? [
              { offset: 96, size: 4 as const },
              { offset: 96 + 4 * Math.floor((payload.byteLength - 100) / 8), size: 4 as const },
            ]
          : []),
      ];
    case TAGS.globals: {
      const out: Array<{ offset: number; size: 1 | 2 | 4 | 8 }> = [{ offset: 0, size: 4 }];
      for (let k = 0; 4 + 16 * k + 16 <= payload.byteLength && k < 8; k++)
        out.push(
          { offset: 4 + 16 * k, size: 4 },
          { offset: 8 + 16 * k, size: 1 },
          { offset: 9 + 16 * k, size: 1 },
          { offset: 12 + 16 * k, size: 8 },
        );
      return out;
    }
    case TAGS.memory: {
      const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      const stored = payload.byteLength >= 12 ? dv.getUint32(4, true) : 0;
      const out: Array<{ offset: number; size: 1 | 2 | 4 | 8 }> = [
        { offset: 0, size: 4 },
        { offset: 4, size: 4 },
        { offset: 8, size: 4 },
      ];
      const table = 12 + 4 * stored;
      if (stored > 0) out.push({ offset: 12, size: 4 }, { offset: table - 4, size: 4 });
      if (table + 8 <= payload.byteLength)
        out.push({ offset: table, size: 1 }, { offset: table + 1, size: 1 }, { offset: table + 4, size: 4 });
      if (table + 16 <= payload.byteLength)
        out.push({ offset: table + 8 + 3, size: 1 }, { offset: Math.min(payload.byteLength - 4, table + 40), size: 4 });
      return out;
    }
    default:
      return payload.byteLength >= 4 ? [{ offset: 0, size: 4 }] : [];
  }
}

export function drawMutations(rng: Rng, base: Uint8Array): Mutation[] {
  const p = parseSnapshot(base);
  const n = rng.pick([1, 1, 1, 2, 3, 5]);
  const out: Mutation[] = [];
  for (let k = 0; k < n; k++) out.push(drawOne(rng, p, base.byteLength));
  return out;
}

function drawOne(rng: Rng, p: Parsed, size: number): Mutation {
  const s = rng.pick(p.sections);
  const r = rng.int(100);
  if (r < 45) {
    const fields = fieldsOf(s.tag, s.payload);
    if (fields.length > 0) {
      const f = rng.pick(fields);
      let current = 0n;
      for (let i = 0; i < f.size && f.offset + i < s.payload.byteLength; i++) current |= BigInt(s.payload[f.offset + i]!) << BigInt(8 * i);
      const value = rng.chance(0.5) ? rng.pick(INTERESTING) : String(current + BigInt(rng.pick([-8, -1, 1, 2, 8, 4096])));
      return { kind: "int", tag: s.tag, offset: f.offset, size: f.size, value };
    }
  }
  if (r < 60 && s.payload.byteLength > 0) {
    const len = rng.range(1, 8);
    return { kind: "write", tag: s.tag, offset: rng.int(s.payload.byteLength), hex: Buffer.from(rng.bytes(len)).toString("hex") };
  }
  if (r < 66)
    return {
      kind: "resize",
      tag: s.tag,
      length: rng.chance(0.5) ? rng.int(s.payload.byteLength + 1) : s.payload.byteLength + rng.logInt(70_000),
      fill: rng.int(256),
    };
  if (r < 69) return { kind: "drop", tag: s.tag };
  if (r < 72) return { kind: "duplicate", tag: s.tag };
  if (r < 74) return { kind: "swap", a: rng.int(p.sections.length), b: rng.int(p.sections.length) };
  if (r < 76) return { kind: "retag", tag: s.tag, to: rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 0xffffffff]) };
  if (r < 79) return { kind: "lie", tag: s.tag, delta: rng.pick([-1, 1, 12, -12, 1 << 20, 2 ** 40]) };
  if (r < 86) {
    const pages = rng.pick([0, 1, 2, 17, 255, 256, 257, 4096, 65_535, 65_536, 65_537]);
    return {
      kind: "memory",
      pages,
      stored: rng.pick([0, 1, 2, 16, Math.min(pages, 512), Math.min(pages, 300)]),
      chunkPages: rng.pick([0, 1, 16, 256, 257]),
      codec: rng.chance(0.7) ? 1 : 0,
      trailing: rng.chance(0.1) ? rng.range(1, 8) : 0,
    };
  }
  if (r < 88) return { kind: "version", value: rng.pick([0, 2, 0xffff]) };
  if (r < 95) return { kind: "flip", offset: rng.int(size), bit: rng.int(8) };
  return { kind: "truncate", length: rng.int(size) };
}
