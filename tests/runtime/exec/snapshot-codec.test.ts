// Snapshot codec: round trips, compression choices, and that every damaged or hostile input fails
// with a typed snapshot_* FerryError. Hand-built inputs follow docs/snapshot-format.md, not the codec.

import { createHash } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { ErrorCode } from "../../../runtime/errors.js";
import {
  SNAPSHOT_CHUNK_PAGES,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_MAGIC,
  type SnapshotCompression,
  decodeSnapshot,
  encodeSnapshot,
  inspectSnapshot,
} from "../../../runtime/exec/snapshot-codec.js";
import { floatOfBits, type GlobalValue, type MemoryPage, type Snapshot } from "../../../runtime/exec/snapshot.js";
import { WASM_PAGE_BYTES } from "../../../runtime/limits.js";
import { comparableSnapshot, outcome } from "../../helpers/snapshots.js";

const COMPRESSIONS: SnapshotCompression[] = ["auto", "none", "deflate"];
const HEADER = 18;
const DIGEST = 32;
const SECTION_HEADER = 12;

// ---- helpers -------------------------------------------------------------------------------

/** The globals as decoding gives them back: a float without `bits` gets those its value is written as. */
function withBits(globals: GlobalValue[]): GlobalValue[] {
  return globals.map((g) => {
    if ((g.type !== "f32" && g.type !== "f64") || g.bits !== undefined) return g;
    const view = new DataView(new ArrayBuffer(8));
    if (g.type === "f32") view.setFloat32(0, g.value as number, true);
    else view.setFloat64(0, g.value as number, true);
    return { ...g, bits: g.type === "f32" ? view.getUint32(0, true) : view.getBigUint64(0, true) };
  });
}

/** The snapshot as decoding gives it back, its byte arrays as text (helpers/snapshots.ts). */
function comparable(s: Snapshot): unknown {
  return comparableSnapshot({ ...s, globals: withBits(s.globals) });
}

function decodeCode(bytes: Uint8Array): ErrorCode | "ok" {
  return outcome(() => decodeSnapshot(bytes));
}

/** Deterministic pseudo-random bytes (xorshift32), so big fixtures are cheap and reproducible. */
function prng(seed: number): () => number {
  let x = seed | 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = next();
  return out;
}

const WORDS =
  "the of and to in is was that for on with as by at from his her an which are be this have or had not but what all were when we there can been one more if will would about into time may only some these other than then its made first over after also new most state".split(
    " ",
  );

/** UTF-8 text with words drawn at random: compresses roughly like real prose. */
function textBytes(n: number, seed: number): Uint8Array {
  const next = prng(seed);
  let s = "";
  while (s.length < n) s += `${WORDS[next() % WORDS.length]}${next() % 11 === 0 ? ".\n" : " "}${next() % 97 === 0 ? next() : ""}`;
  return new TextEncoder().encode(s.slice(0, n));
}

function pages(indices: number[], fill: (i: number) => Uint8Array): MemoryPage[] {
  return indices.map((index) => ({ index, bytes: fill(index) }));
}

function baseSnapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    codeHash: "ab".repeat(32),
    pipelineVersion: 3,
    continuation: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
    globals: [
      { index: 0, type: "i32", value: -7 },
      { index: 2, type: "i64", value: -(2n ** 63n) },
      { index: 5, type: "f32", value: 1.5 },
      { index: 9, type: "f64", value: -0 },
    ],
    memory: { pageCount: 4, pages: pages([1, 3], (i) => textBytes(WASM_PAGE_BYTES, i + 1)) },
    input: new TextEncoder().encode("input"),
    output: new TextEncoder().encode("output so far"),
    ...overrides,
  };
}

/** Recompute the trailing sha256, as a forger (or a buggy encoder) would. */
function reseal(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  const end = out.byteLength - DIGEST;
  out.set(createHash("sha256").update(out.subarray(0, end)).digest(), end);
  return out;
}

/** Replace bytes [at, at + remove) by `insert`, fix the declared total length, reseal. */
function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength - remove + insert.byteLength);
  out.set(bytes.subarray(0, at), 0);
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.byteLength);
  new DataView(out.buffer).setBigUint64(10, BigInt(out.byteLength), true);
  return reseal(out);
}

function le32(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  for (const [i, v] of values.entries()) dv.setUint32(i * 4, v, true);
  return out;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** An independent writer of the documented layout: header, tagged sections, sha256. */
function buildSnapshot(sections: [tag: number, payload: Uint8Array][], version = 1): Uint8Array {
  const body = cat(
    ...sections.map(([tag, payload]) => {
      const h = new Uint8Array(SECTION_HEADER);
      const dv = new DataView(h.buffer);
      dv.setUint32(0, tag, true);
      dv.setBigUint64(4, BigInt(payload.byteLength), true);
      return cat(h, payload);
    }),
  );
  const total = HEADER + body.byteLength + DIGEST;
  const header = new Uint8Array(HEADER);
  header.set(new TextEncoder().encode(SNAPSHOT_MAGIC), 0);
  const dv = new DataView(header.buffer);
  dv.setUint16(8, version, true);
  dv.setBigUint64(10, BigInt(total), true);
  return reseal(cat(header, body, new Uint8Array(DIGEST)));
}

function metaPayload(hashHex: string, pipelineVersion: number): Uint8Array {
  return cat(Uint8Array.from(Buffer.from(hashHex, "hex")), le32(pipelineVersion));
}

function globalEntry(index: number, typeCode: number, lo: number, hi = 0): Uint8Array {
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, index, true);
  dv.setUint8(4, typeCode);
  dv.setUint32(8, lo, true);
  dv.setUint32(12, hi, true);
  return out;
}

interface ChunkSpec {
  codec: number;
  data: Uint8Array;
  length?: number;
}

function memoryPayload(pageCount: number, indices: number[], chunkPages: number, chunks: ChunkSpec[]): Uint8Array {
  const table = chunks.map((c) => {
    const e = new Uint8Array(8);
    const dv = new DataView(e.buffer);
    dv.setUint8(0, c.codec);
    dv.setUint32(4, c.length ?? c.data.byteLength, true);
    return e;
  });
  return cat(le32(pageCount, indices.length, chunkPages), le32(...indices), ...table, ...chunks.map((c) => c.data));
}

const EMPTY = new Uint8Array(0);

/** A few hundred bytes: sparse pages deflate to almost nothing, so every prefix and bit can be tried. */
function smallSnapshot(): Snapshot {
  const sparse = (i: number): Uint8Array => {
    const p = new Uint8Array(WASM_PAGE_BYTES);
    p.set(new TextEncoder().encode(`page ${i}`), 100 * i);
    return p;
  };
  return baseSnapshot({ memory: { pageCount: 4, pages: pages([1, 3], sparse) } });
}
const HASH = "0123456789abcdef".repeat(4);

/** A valid hand-built snapshot whose sections the caller may replace. */
function handBuilt(replace: Partial<Record<number, Uint8Array>> = {}, order = [1, 2, 3, 4, 5, 6], version = 1): Uint8Array {
  const defaults: Record<number, Uint8Array> = {
    1: metaPayload(HASH, 1),
    2: EMPTY,
    3: le32(0),
    4: memoryPayload(2, [1], 16, [{ codec: 0, data: textBytes(WASM_PAGE_BYTES, 9) }]),
    5: EMPTY,
    6: EMPTY,
  };
  return buildSnapshot(
    order.map((tag) => [tag, replace[tag] ?? defaults[tag] ?? EMPTY]),
    version,
  );
}

// ---- arbitraries ---------------------------------------------------------------------------

const pageContent = fc.record({ kind: fc.constantFrom("random", "text", "sparse"), seed: fc.integer() }).map(({ kind, seed }) => {
  if (kind === "random") return randomBytes(WASM_PAGE_BYTES, seed);
  if (kind === "text") return textBytes(WASM_PAGE_BYTES, seed);
  const p = new Uint8Array(WASM_PAGE_BYTES);
  p[Math.abs(seed) % WASM_PAGE_BYTES] = (seed & 0xff) | 1;
  return p;
});

const memoryImage = fc
  .oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 48 }),
    fc.integer({ min: 1, max: 65_536 }), // huge sparse memories: only a few pages are stored
  )
  .chain((pageCount) =>
    fc
      .uniqueArray(fc.integer({ min: 0, max: Math.max(0, pageCount - 1) }), { maxLength: pageCount === 0 ? 0 : Math.min(pageCount, 36) })
      .chain((indices) => {
        const sorted = [...indices].sort((a, b) => a - b);
        return fc.array(pageContent, { minLength: sorted.length, maxLength: sorted.length }).map((contents) => ({
          pageCount,
          pages: sorted.map((index, i) => ({ index, bytes: contents[i]! })),
        }));
      }),
  );

const globalValue = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ type: "i32" as const, value })),
  fc
    .oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n))
    .map((value) => ({ type: "i64" as const, value })),
  fc.float().map((value) => ({ type: "f32" as const, value })),
  fc
    .oneof(fc.double(), fc.constantFrom(Number.NaN, -0, Infinity, -Infinity, Number.MIN_VALUE))
    .map((value) => ({ type: "f64" as const, value })),
  // As the runtime captures them: exact bits (NaN payloads included) beside the value.
  fc.integer({ min: 0, max: 0xffff_ffff }).map((bits) => ({ type: "f32" as const, value: floatOfBits("f32", bits), bits })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((bits) => ({ type: "f64" as const, value: floatOfBits("f64", bits), bits })),
);

const globals = fc.uniqueArray(fc.integer({ min: 0, max: 0xffff_ffff }), { maxLength: 12 }).chain((indices) => {
  const sorted = [...indices].sort((a, b) => a - b);
  return fc
    .array(globalValue, { minLength: sorted.length, maxLength: sorted.length })
    .map((values) => sorted.map((index, i): GlobalValue => ({ index, ...values[i]! })));
});

const snapshot: fc.Arbitrary<Snapshot> = fc.record({
  codeHash: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex")),
  pipelineVersion: fc.integer({ min: 0, max: 0xffff_ffff }),
  continuation: fc.uint8Array({ maxLength: 400 }),
  globals,
  memory: memoryImage,
  input: fc.uint8Array({ maxLength: 300 }),
  output: fc.uint8Array({ maxLength: 300 }),
  code: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined }),
});

// ---- round trips ---------------------------------------------------------------------------

describe("round trip", () => {
  for (const compression of COMPRESSIONS) {
    test(`decode(encode(s)) deep-equals s for arbitrary snapshots with compression "${compression}"`, () => {
      fc.assert(
        fc.property(snapshot, (s) => {
          expect(comparable(decodeSnapshot(encodeSnapshot(s, { compression })))).toEqual(comparable(s));
        }),
        { numRuns: 40 },
      );
    });
  }

  test("i64 extremes, NaN, -0 and infinities survive bit-exactly", () => {
    const s = baseSnapshot({
      globals: [
        { index: 0, type: "i64", value: -(2n ** 63n) },
        { index: 1, type: "i64", value: 2n ** 63n - 1n },
        { index: 2, type: "f64", value: Number.NaN },
        { index: 3, type: "f64", value: -0 },
        { index: 4, type: "f32", value: -0 },
        { index: 5, type: "f32", value: Number.NaN },
        { index: 6, type: "f32", value: -Infinity },
        { index: 7, type: "i32", value: -(2 ** 31) },
      ],
    });
    const back = decodeSnapshot(encodeSnapshot(s)).globals;
    expect(back).toEqual(withBits(s.globals));
    expect(Object.is(back[3]!.value, -0)).toBe(true);
    expect(Object.is(back[4]!.value, -0)).toBe(true);
  });

  test("empty memory and pageCount 0 round-trip", () => {
    for (const memory of [
      { pageCount: 0, pages: [] },
      { pageCount: 65_536, pages: [] },
    ]) {
      const s = baseSnapshot({ memory, globals: [], continuation: EMPTY, input: EMPTY, output: EMPTY });
      expect(comparable(decodeSnapshot(encodeSnapshot(s)))).toEqual(comparable(s));
    }
  });

  test("re-encoding a decoded snapshot reproduces the same bytes", () => {
    const s = baseSnapshot({
      memory: {
        pageCount: 40,
        pages: pages([0, 1, 2, 30, 39], (i) => (i % 2 ? randomBytes(WASM_PAGE_BYTES, i) : textBytes(WASM_PAGE_BYTES, i))),
      },
    });
    for (const compression of COMPRESSIONS) {
      const bytes = encodeSnapshot(s, { compression });
      expect(Buffer.from(encodeSnapshot(decodeSnapshot(bytes), { compression })).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  test("the encoder writes exactly the layout documented in docs/snapshot-format.md", () => {
    const page = textBytes(WASM_PAGE_BYTES, 4);
    const s: Snapshot = {
      codeHash: HASH,
      pipelineVersion: 7,
      continuation: Uint8Array.from([9, 9]),
      globals: [
        { index: 1, type: "i32", value: -1 },
        { index: 4, type: "f64", value: 1 },
      ],
      memory: { pageCount: 3, pages: [{ index: 2, bytes: page }] },
      input: Uint8Array.from([1]),
      output: EMPTY,
    };
    const expected = buildSnapshot([
      [1, metaPayload(HASH, 7)],
      [2, Uint8Array.from([9, 9])],
      [3, cat(le32(2), globalEntry(1, 0x7f, 0xffff_ffff), globalEntry(4, 0x7c, 0, 0x3ff0_0000))],
      [4, memoryPayload(3, [2], SNAPSHOT_CHUNK_PAGES, [{ codec: 0, data: page }])],
      [5, Uint8Array.from([1])],
      [6, EMPTY],
    ]);
    expect(Buffer.from(encodeSnapshot(s, { compression: "none" })).equals(Buffer.from(expected))).toBe(true);
  });

  test("the worked example in docs/snapshot-format.md encodes and decodes as documented", () => {
    const hex = `
      46 45 52 52 59 53 4e 50 01 00 bf 00 00 00 00 00 00 00 01 00 00 00 24 00 00 00 00 00 00 00 00 11
      22 33 44 55 66 77 88 99 aa bb cc dd ee ff 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 01 00
      00 00 02 00 00 00 00 00 00 00 00 00 00 00 03 00 00 00 14 00 00 00 00 00 00 00 01 00 00 00 03 00
      00 00 7f 00 00 00 fe ff ff ff 00 00 00 00 04 00 00 00 0c 00 00 00 00 00 00 00 02 00 00 00 00 00
      00 00 10 00 00 00 05 00 00 00 01 00 00 00 00 00 00 00 41 06 00 00 00 00 00 00 00 00 00 00 00 21
      25 97 c0 f8 70 80 eb f7 43 70 b9 bd 6f 14 56 d0 91 fe 37 31 6b 45 8c c3 0d 2a 1e af cc 9a 41`;
    const bytes = Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ""), "hex"));
    const s: Snapshot = {
      codeHash: "00112233445566778899aabbccddeeff".repeat(2),
      pipelineVersion: 1,
      continuation: EMPTY,
      globals: [{ index: 3, type: "i32", value: -2 }],
      memory: { pageCount: 2, pages: [] },
      input: Uint8Array.from([0x41]),
      output: EMPTY,
    };
    expect(comparable(decodeSnapshot(bytes))).toEqual(comparable(s));
    expect(Buffer.from(encodeSnapshot(s, { compression: "none" })).equals(Buffer.from(bytes))).toBe(true);
  });

  test("the code segment is optional: absent stays absent, present is carried in section 7", () => {
    const without = decodeSnapshot(encodeSnapshot(baseSnapshot()));
    expect("code" in without).toBe(false);
    const code = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const bytes = encodeSnapshot(baseSnapshot({ code }));
    expect(decodeSnapshot(bytes).code).toEqual(code);
    expect(inspectSnapshot(bytes).sections.at(-1)).toMatchObject({ name: "code", tag: 7, encodedBytes: 8 });
    expect(decodeCode(handBuilt({ 7: code }, [1, 2, 3, 4, 5, 6, 7]))).toBe("ok");
  });

  test("raw pages decode as zero-copy views into the input bytes", () => {
    const bytes = encodeSnapshot(baseSnapshot(), { compression: "none" });
    const decoded = decodeSnapshot(bytes);
    for (const p of decoded.memory.pages) expect(p.bytes.buffer).toBe(bytes.buffer);
    expect(decoded.input.buffer).toBe(bytes.buffer);
  });

  test("decoded byte arrays are plain Uint8Arrays even when the input is a Buffer", () => {
    const decoded = decodeSnapshot(Buffer.from(encodeSnapshot(baseSnapshot())));
    for (const b of [decoded.continuation, decoded.input, decoded.output, ...decoded.memory.pages.map((p) => p.bytes)]) {
      expect(Object.getPrototypeOf(b)).toBe(Uint8Array.prototype);
    }
  });

  test("a decoded snapshot with deflated chunks re-encodes even though its pages share one buffer", () => {
    const s = baseSnapshot({ memory: { pageCount: 20, pages: pages([...Array(20).keys()], (i) => textBytes(WASM_PAGE_BYTES, i)) } });
    const decoded = decodeSnapshot(encodeSnapshot(s, { compression: "deflate" }));
    expect(comparable(decodeSnapshot(encodeSnapshot(decoded, { compression: "auto" })))).toEqual(comparable(s));
  });
});

// ---- encoder input validation ----------------------------------------------------------------

describe("encoder rejects values that break the Snapshot invariants", () => {
  const page = new Uint8Array(WASM_PAGE_BYTES).fill(1);
  const bad: [string, Partial<Snapshot>][] = [
    ["uppercase code hash", { codeHash: "AB".repeat(32) }],
    ["short code hash", { codeHash: "ab" }],
    ["negative pipeline version", { pipelineVersion: -1 }],
    ["fractional pipeline version", { pipelineVersion: 1.5 }],
    ["page index >= pageCount", { memory: { pageCount: 2, pages: [{ index: 2, bytes: page }] } }],
    [
      "pages out of order",
      {
        memory: {
          pageCount: 4,
          pages: [
            { index: 2, bytes: page },
            { index: 1, bytes: page },
          ],
        },
      },
    ],
    [
      "duplicate pages",
      {
        memory: {
          pageCount: 4,
          pages: [
            { index: 1, bytes: page },
            { index: 1, bytes: page },
          ],
        },
      },
    ],
    ["short page", { memory: { pageCount: 4, pages: [{ index: 1, bytes: page.subarray(1) }] } }],
    ["pageCount above 65536", { memory: { pageCount: 65_537, pages: [] } }],
    ["i32 out of range", { globals: [{ index: 0, type: "i32", value: 2 ** 31 }] }],
    ["i32 not an integer", { globals: [{ index: 0, type: "i32", value: 0.5 }] }],
    ["i64 given a number", { globals: [{ index: 0, type: "i64", value: 1 }] }],
    ["i64 out of range", { globals: [{ index: 0, type: "i64", value: 2n ** 63n }] }],
    ["f32 not representable", { globals: [{ index: 0, type: "f32", value: 0.1 }] }],
    ["f64 given a bigint", { globals: [{ index: 0, type: "f64", value: 1n }] }],
    ["unknown global type", { globals: [{ index: 0, type: "v128" as never, value: 0 }] }],
    [
      "globals out of order",
      {
        globals: [
          { index: 3, type: "i32", value: 0 },
          { index: 1, type: "i32", value: 0 },
        ],
      },
    ],
    ["input not bytes", { input: "text" as never }],
    ["code not bytes", { code: [0, 97, 115, 109] as never }],
  ];
  for (const [name, overrides] of bad) {
    test(`${name} → snapshot_malformed`, () => {
      expect(outcome(() => encodeSnapshot(baseSnapshot(overrides)))).toBe("snapshot_malformed");
    });
  }

  test("unknown compression option → invalid_option", () => {
    expect(outcome(() => encodeSnapshot(baseSnapshot(), { compression: "gzip" as never }))).toBe("invalid_option");
  });
});

// ---- compression ---------------------------------------------------------------------------

describe("compression", () => {
  const indices = [...Array(32).keys()];
  const text = baseSnapshot({ memory: { pageCount: 64, pages: pages(indices, (i) => textBytes(WASM_PAGE_BYTES, i)) } });
  const noise = baseSnapshot({ memory: { pageCount: 64, pages: pages(indices, (i) => randomBytes(WASM_PAGE_BYTES, i + 100)) } });

  test('"auto" deflates a text-like memory image to well under half its raw size', () => {
    const none = encodeSnapshot(text, { compression: "none" });
    const auto = encodeSnapshot(text, { compression: "auto" });
    expect(auto.byteLength).toBeLessThan(none.byteLength / 2);
    expect(inspectSnapshot(auto).compression).toBe("deflate");
  });

  test('"auto" stores random bytes raw, no bigger than "none" plus a small overhead', () => {
    const none = encodeSnapshot(noise, { compression: "none" });
    const auto = encodeSnapshot(noise, { compression: "auto" });
    expect(auto.byteLength).toBeLessThanOrEqual(none.byteLength + 64);
    const info = inspectSnapshot(auto);
    expect(info.compression).toBe("none");
    expect(info.memory.rawChunks).toBe(2);
  });

  test('"none" never deflates and "deflate" deflates every chunk, even incompressible ones', () => {
    expect(inspectSnapshot(encodeSnapshot(text, { compression: "none" })).memory.deflatedChunks).toBe(0);
    const info = inspectSnapshot(encodeSnapshot(noise, { compression: "deflate" }));
    expect(info.compression).toBe("deflate");
    expect(info.memory.deflatedChunks).toBe(info.memory.chunkCount);
  });

  test('"auto" decides per chunk: text chunks deflated, random chunks raw', () => {
    const mixed = baseSnapshot({
      memory: {
        pageCount: 64,
        pages: pages(indices, (i) => (i < SNAPSHOT_CHUNK_PAGES ? textBytes(WASM_PAGE_BYTES, i) : randomBytes(WASM_PAGE_BYTES, i))),
      },
    });
    const info = inspectSnapshot(encodeSnapshot(mixed, { compression: "auto" }));
    expect(info.compression).toBe("mixed");
    expect(info.memory).toMatchObject({ chunkCount: 2, rawChunks: 1, deflatedChunks: 1 });
  });

  test("mostly-zero pages (one non-zero byte) compress to almost nothing", () => {
    const sparse = baseSnapshot({
      memory: {
        pageCount: 16,
        pages: pages([...Array(16).keys()], (i) => {
          const p = new Uint8Array(WASM_PAGE_BYTES);
          p[i * 7] = 1;
          return p;
        }),
      },
    });
    expect(encodeSnapshot(sparse).byteLength).toBeLessThan(16 * 1024);
  });
});

// ---- truncation ----------------------------------------------------------------------------

describe("truncation", () => {
  test("every proper prefix of a small snapshot → snapshot_truncated (the empty input and magic prefixes included)", () => {
    const bytes = encodeSnapshot(smallSnapshot(), { compression: "deflate" });
    expect(bytes.byteLength).toBeLessThan(1024); // small enough to try every prefix
    for (let n = 0; n < bytes.byteLength; n++) {
      const prefix = bytes.subarray(0, n);
      expect(decodeCode(prefix), `prefix of ${n} bytes`).toBe("snapshot_truncated");
      expect(
        outcome(() => inspectSnapshot(prefix)),
        `prefix of ${n} bytes`,
      ).toBe("snapshot_truncated");
    }
  });

  test("prefixes of a snapshot with raw pages → snapshot_truncated", () => {
    const bytes = encodeSnapshot(baseSnapshot(), { compression: "none" });
    for (let n = 0; n < bytes.byteLength; n += n < 200 ? 1 : 997) {
      expect(decodeCode(bytes.subarray(0, n)), `prefix of ${n} bytes`).toBe("snapshot_truncated");
    }
    expect(decodeCode(bytes.subarray(0, bytes.byteLength - 1))).toBe("snapshot_truncated");
  });

  test("a short input that is not a prefix of the magic → snapshot_malformed", () => {
    expect(decodeCode(new TextEncoder().encode("hello"))).toBe("snapshot_malformed");
    expect(decodeCode(new TextEncoder().encode("FERRYSNX"))).toBe("snapshot_malformed");
  });

  test("bytes beyond the declared length → snapshot_malformed", () => {
    const bytes = encodeSnapshot(baseSnapshot());
    expect(decodeCode(cat(bytes, Uint8Array.from([0])))).toBe("snapshot_malformed");
  });
});

// ---- header --------------------------------------------------------------------------------

describe("header", () => {
  test("wrong magic → snapshot_malformed", () => {
    const bytes = Uint8Array.from(encodeSnapshot(baseSnapshot()));
    bytes.set(new TextEncoder().encode("PNGFILE!"), 0);
    expect(decodeCode(bytes)).toBe("snapshot_malformed");
    expect(decodeCode(new Uint8Array(1000))).toBe("snapshot_malformed");
  });

  test("a future (or zero) format version → snapshot_version, checked before length and digest", () => {
    for (const version of [SNAPSHOT_FORMAT_VERSION + 1, 0, 0xffff]) {
      const bytes = Uint8Array.from(encodeSnapshot(baseSnapshot()));
      new DataView(bytes.buffer).setUint16(8, version, true);
      expect(decodeCode(bytes)).toBe("snapshot_version");
      expect(decodeCode(bytes.subarray(0, 12))).toBe("snapshot_version");
      expect(outcome(() => inspectSnapshot(bytes))).toBe("snapshot_version");
    }
  });

  test("a declared length smaller than the smallest snapshot → snapshot_malformed", () => {
    const bytes = Uint8Array.from(encodeSnapshot(baseSnapshot()));
    new DataView(bytes.buffer).setBigUint64(10, 20n, true);
    expect(decodeCode(bytes.subarray(0, 20))).toBe("snapshot_malformed");
  });

  test("a declared length above 2^53 → snapshot_truncated", () => {
    const bytes = Uint8Array.from(encodeSnapshot(baseSnapshot()));
    new DataView(bytes.buffer).setBigUint64(10, 2n ** 64n - 1n, true);
    expect(decodeCode(bytes)).toBe("snapshot_truncated");
  });
});

// ---- integrity -----------------------------------------------------------------------------

describe("integrity", () => {
  test("any single flipped bit → the header's code or snapshot_corrupt, never another exception", () => {
    const bytes = encodeSnapshot(smallSnapshot(), { compression: "deflate" });
    expect(bytes.byteLength).toBeLessThan(1024);
    const total = bytes.byteLength;
    for (let i = 0; i < total; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = Uint8Array.from(bytes);
        flipped[i]! ^= 1 << bit;
        let expected: ErrorCode;
        if (i < 8)
          expected = "snapshot_malformed"; // magic
        else if (i < 10) {
          // A version this build reads (1 → 3) leaves the digest to catch the flip.
          const version = new DataView(flipped.buffer).getUint16(8, true);
          expected = version >= 1 && version <= SNAPSHOT_FORMAT_VERSION ? "snapshot_corrupt" : "snapshot_version";
        } else if (i < HEADER) {
          const declared = Number(new DataView(flipped.buffer).getBigUint64(10, true));
          expected = declared > total ? "snapshot_truncated" : "snapshot_malformed";
        } else expected = "snapshot_corrupt";
        expect(decodeCode(flipped), `bit ${bit} of byte ${i}`).toBe(expected);
      }
    }
  });

  test("a flipped bit in a 64 KiB raw page → snapshot_corrupt", () => {
    const bytes = Uint8Array.from(encodeSnapshot(baseSnapshot(), { compression: "none" }));
    bytes[bytes.byteLength - 40_000]! ^= 0x10;
    expect(decodeCode(bytes)).toBe("snapshot_corrupt");
    expect(outcome(() => inspectSnapshot(bytes))).toBe("snapshot_corrupt");
  });

  test("digestChecked (the caller hashed the bytes already) skips only the format's sha256", () => {
    const bytes = Uint8Array.from(encodeSnapshot(baseSnapshot(), { compression: "none" }));
    const digestFlipped = Uint8Array.from(bytes);
    digestFlipped[digestFlipped.byteLength - 1]! ^= 0x01;
    expect(decodeCode(digestFlipped)).toBe("snapshot_corrupt");
    expect(comparableSnapshot(decodeSnapshot(digestFlipped, { digestChecked: true }))).toEqual(comparableSnapshot(decodeSnapshot(bytes)));
    // The structure is still checked: a cut-off snapshot is refused all the same.
    expect(outcome(() => decodeSnapshot(bytes.subarray(0, bytes.byteLength - 1), { digestChecked: true }))).toBe("snapshot_truncated");
  });
});

// ---- structure (valid digest, invalid contents) ---------------------------------------------

describe("structure with a correct sha256", () => {
  test("the hand-built baseline is valid (so each case below fails for its one reason)", () => {
    expect(decodeCode(handBuilt())).toBe("ok");
  });

  const page = textBytes(WASM_PAGE_BYTES, 9);
  const cases: [string, () => Uint8Array][] = [
    ["page index >= pageCount", () => handBuilt({ 4: memoryPayload(2, [2], 16, [{ codec: 0, data: page }]) })],
    ["page indices not ascending", () => handBuilt({ 4: memoryPayload(4, [2, 1], 16, [{ codec: 0, data: cat(page, page) }]) })],
    ["duplicate page index", () => handBuilt({ 4: memoryPayload(4, [1, 1], 16, [{ codec: 0, data: cat(page, page) }]) })],
    ["pageCount above 65536", () => handBuilt({ 4: memoryPayload(65_537, [], 16, []) })],
    ["stored pages above pageCount", () => handBuilt({ 4: cat(le32(0, 1, 16, 0)) })],
    ["pages per chunk 0", () => handBuilt({ 4: memoryPayload(2, [], 0, []) })],
    ["pages per chunk above 256", () => handBuilt({ 4: memoryPayload(2, [], 257, []) })],
    ["raw chunk of the wrong size", () => handBuilt({ 4: memoryPayload(2, [1], 16, [{ codec: 0, data: page.subarray(1) }]) })],
    ["unknown chunk codec", () => handBuilt({ 4: memoryPayload(2, [1], 16, [{ codec: 2, data: page }]) })],
    [
      "chunk reserved bytes non-zero",
      () => {
        const m = memoryPayload(2, [1], 16, [{ codec: 0, data: page }]);
        m[12 + 4 + 1] = 1;
        return handBuilt({ 4: m });
      },
    ],
    [
      "inflated page one byte short",
      () => handBuilt({ 4: memoryPayload(2, [1], 16, [{ codec: 1, data: deflateRawSync(page.subarray(1)) }]) }),
    ],
    [
      "inflated page one byte long",
      () => handBuilt({ 4: memoryPayload(2, [1], 16, [{ codec: 1, data: deflateRawSync(cat(page, Uint8Array.from([7]))) }]) }),
    ],
    [
      "deflate stream with trailing bytes",
      () => handBuilt({ 4: memoryPayload(2, [1], 16, [{ codec: 1, data: cat(deflateRawSync(page), Uint8Array.from([0, 0])) }]) }),
    ],
    [
      "deflate stream cut short",
      () => {
        const d = deflateRawSync(page);
        return handBuilt({ 4: memoryPayload(2, [1], 16, [{ codec: 1, data: d.subarray(0, d.length - 4) }]) });
      },
    ],
    [
      "deflate stream that is garbage",
      () => handBuilt({ 4: memoryPayload(2, [1], 16, [{ codec: 1, data: Uint8Array.from([0xff, 0xff, 0xff]) }]) }),
    ],
    ["empty deflate chunk", () => handBuilt({ 4: memoryPayload(2, [1], 16, [{ codec: 1, data: EMPTY }]) })],
    [
      "chunk data longer than its table says",
      () => handBuilt({ 4: cat(memoryPayload(2, [1], 16, [{ codec: 0, data: page }]), Uint8Array.from([0])) }),
    ],
    [
      "chunk table claims more data than the section holds",
      () => handBuilt({ 4: memoryPayload(2, [1], 16, [{ codec: 1, data: deflateRawSync(page), length: 1 << 30 }]) }),
    ],
    ["page index table runs past the section", () => handBuilt({ 4: le32(8, 4, 16, 1) })],
    ["unknown section tag", () => handBuilt({}, [1, 2, 3, 4, 5, 6, 8])],
    ["unknown section tag in place of a required one", () => handBuilt({}, [1, 2, 3, 4, 5, 8])],
    ["optional code section before output", () => handBuilt({}, [1, 2, 3, 4, 5, 7, 6])],
    ["duplicate code section", () => handBuilt({}, [1, 2, 3, 4, 5, 6, 7, 7])],
    ["code section without output", () => handBuilt({}, [1, 2, 3, 4, 5, 7])],
    ["unknown section tag 0", () => handBuilt({}, [0, 1, 2, 3, 4, 5, 6])],
    ["duplicate section", () => handBuilt({}, [1, 2, 3, 3, 4, 5, 6])],
    ["duplicate section after the last", () => handBuilt({}, [1, 2, 3, 4, 5, 6, 6])],
    ["missing section", () => handBuilt({}, [1, 2, 4, 5, 6])],
    ["missing last section", () => handBuilt({}, [1, 2, 3, 4, 5])],
    ["sections out of order", () => handBuilt({}, [1, 3, 2, 4, 5, 6])],
    ["meta too short", () => handBuilt({ 1: metaPayload(HASH, 1).subarray(0, 35) })],
    ["meta too long", () => handBuilt({ 1: cat(metaPayload(HASH, 1), Uint8Array.from([0])) })],
    ["global with unknown type code", () => handBuilt({ 3: cat(le32(1), globalEntry(0, 0x7b, 0)) })],
    ["i32 global with non-zero high bits", () => handBuilt({ 3: cat(le32(1), globalEntry(0, 0x7f, 1, 1)) })],
    ["globals not ascending", () => handBuilt({ 3: cat(le32(2), globalEntry(5, 0x7f, 0), globalEntry(5, 0x7f, 0)) })],
    [
      "global reserved bytes non-zero",
      () => {
        const g = globalEntry(0, 0x7f, 0);
        g[6] = 1;
        return handBuilt({ 3: cat(le32(1), g) });
      },
    ],
    ["global count larger than the section", () => handBuilt({ 3: cat(le32(2), globalEntry(0, 0x7f, 0)) })],
    ["global count of 2^32-1", () => handBuilt({ 3: le32(0xffff_ffff) })],
    ["globals section with trailing bytes", () => handBuilt({ 3: cat(le32(0), Uint8Array.from([1])) })],
  ];
  for (const [name, make] of cases) {
    test(`${name} → snapshot_malformed`, () => {
      expect(decodeCode(make())).toBe("snapshot_malformed");
    });
  }

  test("trailing bytes between the last section and the digest → snapshot_malformed", () => {
    const bytes = encodeSnapshot(baseSnapshot());
    for (const extra of [1, 11, 12, 100]) {
      expect(decodeCode(splice(bytes, bytes.byteLength - DIGEST, 0, new Uint8Array(extra)))).toBe("snapshot_malformed");
    }
  });

  test("a section length running past the digest → snapshot_malformed", () => {
    const bytes = Uint8Array.from(encodeSnapshot(baseSnapshot()));
    const output = inspectSnapshot(bytes).sections[5]!;
    new DataView(bytes.buffer).setBigUint64(output.offset + 4, 1000n, true);
    expect(decodeCode(reseal(bytes))).toBe("snapshot_malformed");
    new DataView(bytes.buffer).setBigUint64(output.offset + 4, 2n ** 63n, true);
    expect(decodeCode(reseal(bytes))).toBe("snapshot_malformed");
  });

  test("a page index patched to pageCount in an encoder-made snapshot → snapshot_malformed", () => {
    const bytes = Uint8Array.from(encodeSnapshot(baseSnapshot(), { compression: "none" }));
    const memory = inspectSnapshot(bytes).sections[3]!;
    new DataView(bytes.buffer).setUint32(memory.offset + SECTION_HEADER + 12 + 4, 4, true); // second index := pageCount
    expect(decodeCode(reseal(bytes))).toBe("snapshot_malformed");
  });
});

// ---- fuzz ----------------------------------------------------------------------------------

describe("fuzz", () => {
  const seeds = [
    encodeSnapshot(smallSnapshot(), { compression: "deflate" }),
    encodeSnapshot(baseSnapshot({ memory: { pageCount: 0, pages: [] }, globals: [] })),
    handBuilt({
      4: memoryPayload(3, [0, 2], 1, [
        { codec: 1, data: deflateRawSync(textBytes(WASM_PAGE_BYTES, 1)) },
        { codec: 0, data: textBytes(WASM_PAGE_BYTES, 2) },
      ]),
    }),
  ];
  const allowed = new Set<string>(["ok", "snapshot_truncated", "snapshot_corrupt", "snapshot_malformed", "snapshot_version"]);

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({
      kind: fc.constant("u32" as const),
      at: fc.nat(),
      value: fc.oneof(fc.constantFrom(0, 1, 0xffff_ffff, 65_536, 65_537, 0x8000_0000), fc.nat()),
    }),
    fc.record({
      kind: fc.constant("splice" as const),
      at: fc.nat(),
      remove: fc.nat({ max: 40 }),
      insert: fc.uint8Array({ maxLength: 40 }),
    }),
  );

  type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

  function mutate(base: Uint8Array, ms: Mutation[], fix: boolean): Uint8Array {
    let b: Uint8Array = Uint8Array.from(base);
    for (const m of ms) {
      // Leave the magic and version alone when resealing, so mutations reach the section parser.
      const lo = fix ? HEADER : 0;
      const hi = fix ? b.byteLength - DIGEST : b.byteLength;
      if (hi <= lo) break;
      const at = lo + (m.at % (hi - lo));
      if (m.kind === "flip") b[at]! ^= 1 << m.bit;
      else if (m.kind === "set") b[at] = m.value;
      else if (m.kind === "u32") {
        if (at + 4 <= hi) new DataView(b.buffer).setUint32(at, m.value, true);
      } else {
        const remove = Math.min(m.remove, hi - at);
        b = fix ? splice(b, at, remove, m.insert) : cat(b.subarray(0, at), m.insert, b.subarray(at + remove));
      }
    }
    return fix ? reseal(b) : b;
  }

  for (const fix of [false, true]) {
    test(`mutated snapshots${fix ? " with a recomputed length and sha256" : ""} only ever throw snapshot_* FerryErrors`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 }), (base, ms) => {
          const b = mutate(base, ms, fix);
          const decoded = decodeCode(b);
          const inspected = outcome(() => inspectSnapshot(b));
          expect(allowed.has(decoded)).toBe(true);
          expect(allowed.has(inspected)).toBe(true);
          if (fix) expect(["ok", "snapshot_malformed"]).toContain(decoded);
          // inspect checks everything decode does except the contents of deflate streams.
          if (decoded === "ok") expect(inspected).toBe("ok");
          if (inspected !== "ok") expect(decoded).toBe(inspected);
        }),
        { numRuns: 1500 },
      );
    });
  }

  test("random bytes behind a valid header only ever throw snapshot_* FerryErrors", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (body) => {
        const header = new Uint8Array(HEADER);
        header.set(new TextEncoder().encode(SNAPSHOT_MAGIC));
        const dv = new DataView(header.buffer);
        dv.setUint16(8, SNAPSHOT_FORMAT_VERSION, true);
        dv.setBigUint64(10, BigInt(HEADER + body.byteLength + DIGEST), true);
        const b = reseal(cat(header, body, new Uint8Array(DIGEST)));
        expect(["snapshot_malformed", "ok"]).toContain(decodeCode(b));
      }),
      { numRuns: 1000 },
    );
  });

  test("non-Uint8Array input → snapshot_malformed", () => {
    expect(outcome(() => decodeSnapshot("FERRYSNP" as never))).toBe("snapshot_malformed");
    expect(outcome(() => decodeSnapshot(null as never))).toBe("snapshot_malformed");
  });
});

// ---- inspect -------------------------------------------------------------------------------

describe("inspectSnapshot", () => {
  const s = baseSnapshot({
    memory: {
      pageCount: 100,
      pages: pages(
        [...Array(20).keys()].map((i) => i * 5),
        (i) => (i < 80 ? textBytes(WASM_PAGE_BYTES, i) : randomBytes(WASM_PAGE_BYTES, i)),
      ),
    },
  });

  test("reports version, code hash, pipeline version, counts and sizes that add up to the total", () => {
    const bytes = encodeSnapshot(s, { compression: "auto" });
    const info = inspectSnapshot(bytes);
    expect(info).toMatchObject({
      formatVersion: 1, // nothing in it needs version 2
      codeHash: s.codeHash,
      pipelineVersion: s.pipelineVersion,
      totalBytes: bytes.byteLength,
      globalCount: 4,
      integrityOk: true,
      memory: { pageCount: 100, storedPageCount: 20, chunkPages: SNAPSHOT_CHUNK_PAGES, chunkCount: 2 },
    });
    expect(info.sections.map((x) => x.name)).toEqual(["meta", "continuation", "globals", "memory", "input", "output"]);
    const payloads = info.sections.reduce((n, x) => n + x.encodedBytes, 0);
    expect(HEADER + info.sections.length * SECTION_HEADER + payloads + DIGEST).toBe(bytes.byteLength);
    const byName = Object.fromEntries(info.sections.map((x) => [x.name, x]));
    expect(byName.continuation).toMatchObject({ encodedBytes: 8, decodedBytes: 8 });
    expect(byName.input).toMatchObject({ encodedBytes: 5, decodedBytes: 5 });
    expect(byName.output).toMatchObject({ encodedBytes: 13, decodedBytes: 13 });
    expect(byName.globals).toMatchObject({ encodedBytes: 4 + 4 * 16, decodedBytes: 4 + 4 * 16 });
    expect(byName.meta).toMatchObject({ encodedBytes: 36, decodedBytes: 36 });
    expect(byName.memory!.decodedBytes).toBe(20 * WASM_PAGE_BYTES);
    expect(byName.memory!.encodedBytes).toBeLessThan(20 * WASM_PAGE_BYTES); // the text chunk was deflated
    expect(info.memory.rawChunks + info.memory.deflatedChunks).toBe(2);
    expect(info.sections[0]!.offset).toBe(HEADER);
  });

  test("section sizes match between compression modes except for memory", () => {
    const none = inspectSnapshot(encodeSnapshot(s, { compression: "none" }));
    expect(none.compression).toBe("none");
    const memory = none.sections[3]!;
    expect(memory.encodedBytes).toBe(12 + 20 * 4 + 2 * 8 + 20 * WASM_PAGE_BYTES);
    expect(memory.decodedBytes).toBe(20 * WASM_PAGE_BYTES);
  });

  test("does not inflate memory: a broken deflate stream inspects fine but fails to decode", () => {
    const bytes = handBuilt({ 4: memoryPayload(2, [1], 16, [{ codec: 1, data: Uint8Array.from([0xff, 0xff, 0xff]) }]) });
    expect(inspectSnapshot(bytes).memory).toMatchObject({ pageCount: 2, storedPageCount: 1, deflatedChunks: 1 });
    expect(decodeCode(bytes)).toBe("snapshot_malformed");
  });

  test("an empty memory reports zero chunks and no compression", () => {
    const info = inspectSnapshot(encodeSnapshot(baseSnapshot({ memory: { pageCount: 0, pages: [] } })));
    expect(info.memory).toMatchObject({ pageCount: 0, storedPageCount: 0, chunkCount: 0 });
    expect(info.compression).toBe("none");
  });
});

// ---- version 2: v128 and reference globals, tables -------------------------------------------

describe("format version 2", () => {
  const v2Globals: GlobalValue[] = [
    { index: 0, type: "i32", value: 7 },
    { index: 2, type: "v128", value: (0xfedcba9876543210n << 64n) | 0x0123456789abcdefn },
    { index: 3, type: "funcref", value: 5 },
    { index: 4, type: "funcref", value: null },
    { index: 9, type: "externref", value: null },
  ];
  const tables = [
    { index: 0, type: "funcref" as const, elements: [3, null, 0, 4_000_000] },
    { index: 2, type: "externref" as const, elements: [null, null] },
  ];

  test("a snapshot with only version 1 contents is written as version 1, byte for byte as before", () => {
    const bytes = encodeSnapshot(baseSnapshot());
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true)).toBe(1);
    expect(inspectSnapshot(bytes).formatVersion).toBe(1);
  });

  test("v128, funcref and externref globals and tables round-trip as version 2", () => {
    for (const s of [
      baseSnapshot({ globals: v2Globals }),
      baseSnapshot({ tables }),
      baseSnapshot({ globals: v2Globals, tables, code: Uint8Array.from([0, 97, 115, 109]) }),
    ]) {
      const bytes = encodeSnapshot(s, { compression: "none" });
      expect(inspectSnapshot(bytes).formatVersion).toBe(2);
      expect(comparable(decodeSnapshot(bytes))).toEqual(comparable({ ...s, globals: withBits(s.globals) }));
    }
  });

  test("the encoder writes exactly the version 2 layout documented in docs/snapshot-format.md", () => {
    const page = textBytes(WASM_PAGE_BYTES, 4);
    const s = baseSnapshot({
      globals: v2Globals,
      tables,
      memory: { pageCount: 3, pages: [{ index: 2, bytes: page }] },
      input: EMPTY,
      output: EMPTY,
      continuation: EMPTY,
    });
    const v128 = new Uint8Array(24);
    const dv = new DataView(v128.buffer);
    dv.setUint32(0, 2, true);
    dv.setUint8(4, 0x7b);
    dv.setBigUint64(8, 0x0123456789abcdefn, true);
    dv.setBigUint64(16, 0xfedcba9876543210n, true);
    const table = (index: number, code: number, elements: number[]): Uint8Array =>
      cat(le32(index), Uint8Array.from([code, 0, 0, 0]), le32(elements.length), le32(...elements));
    const expected = buildSnapshot(
      [
        [1, metaPayload(s.codeHash, s.pipelineVersion)],
        [2, EMPTY],
        [
          3,
          cat(
            le32(5),
            globalEntry(0, 0x7f, 7),
            v128,
            globalEntry(3, 0x70, 5),
            globalEntry(4, 0x70, 0xffff_ffff),
            globalEntry(9, 0x6f, 0xffff_ffff),
          ),
        ],
        [4, memoryPayload(3, [2], SNAPSHOT_CHUNK_PAGES, [{ codec: 0, data: page }])],
        [5, EMPTY],
        [6, EMPTY],
        [8, cat(le32(2), table(0, 0x70, [3, 0xffff_ffff, 0, 4_000_000]), table(2, 0x6f, [0xffff_ffff, 0xffff_ffff]))],
      ],
      2,
    );
    expect(Buffer.from(encodeSnapshot(s, { compression: "none" })).equals(Buffer.from(expected))).toBe(true);
  });

  const tableEntry = (index: number, code: number, size: number, ...elements: number[]): Uint8Array =>
    cat(le32(index), Uint8Array.from([code, 0, 0, 0]), le32(size), le32(...elements));
  const cases: [string, () => Uint8Array][] = [
    ["a v128 global in a version 1 snapshot", () => handBuilt({ 3: cat(le32(1), globalEntry(0, 0x7b, 0), new Uint8Array(8)) })],
    ["a funcref global in a version 1 snapshot", () => handBuilt({ 3: cat(le32(1), globalEntry(0, 0x70, 0xffff_ffff)) })],
    ["a tables section in a version 1 snapshot", () => handBuilt({ 8: le32(0) }, [1, 2, 3, 4, 5, 6, 8])],
    ["a v128 global cut short", () => handBuilt({ 3: cat(le32(1), globalEntry(0, 0x7b, 0)) }, undefined, 2)],
    ["a funcref global with non-zero high bits", () => handBuilt({ 3: cat(le32(1), globalEntry(0, 0x70, 1, 1)) }, undefined, 2)],
    ["an externref global that is not null", () => handBuilt({ 3: cat(le32(1), globalEntry(0, 0x6f, 0)) }, undefined, 2)],
    ["tables out of order", () => handBuilt({ 8: cat(le32(2), tableEntry(1, 0x70, 0), tableEntry(1, 0x70, 0)) }, [1, 2, 3, 4, 5, 6, 8], 2)],
    ["a table of i32", () => handBuilt({ 8: cat(le32(1), tableEntry(0, 0x7f, 0)) }, [1, 2, 3, 4, 5, 6, 8], 2)],
    [
      "a table's reserved bytes non-zero",
      () => {
        const t = tableEntry(0, 0x70, 0);
        t[6] = 1;
        return handBuilt({ 8: cat(le32(1), t) }, [1, 2, 3, 4, 5, 6, 8], 2);
      },
    ],
    [
      "a table with fewer elements than its size",
      () => handBuilt({ 8: cat(le32(1), tableEntry(0, 0x70, 3, 1, 2)) }, [1, 2, 3, 4, 5, 6, 8], 2),
    ],
    [
      "an externref table element that is not null",
      () => handBuilt({ 8: cat(le32(1), tableEntry(0, 0x6f, 1, 0)) }, [1, 2, 3, 4, 5, 6, 8], 2),
    ],
    ["a tables section with trailing bytes", () => handBuilt({ 8: cat(le32(0), Uint8Array.from([1])) }, [1, 2, 3, 4, 5, 6, 8], 2)],
    ["a tables section before code", () => handBuilt({ 8: le32(0) }, [1, 2, 3, 4, 5, 6, 8, 7], 2)],
    ["two tables sections", () => handBuilt({ 8: le32(0) }, [1, 2, 3, 4, 5, 6, 8, 8], 2)],
  ];
  for (const [name, make] of cases) {
    test(`${name} → snapshot_malformed`, () => {
      expect(decodeCode(make())).toBe("snapshot_malformed");
    });
  }

  test("a version 2 snapshot with code and tables, or either, decodes", () => {
    for (const order of [
      [1, 2, 3, 4, 5, 6, 7, 8],
      [1, 2, 3, 4, 5, 6, 8],
      [1, 2, 3, 4, 5, 6, 7],
      [1, 2, 3, 4, 5, 6],
    ]) {
      expect(decodeCode(handBuilt({ 8: cat(le32(1), tableEntry(0, 0x70, 2, 1, 0xffff_ffff)) }, order, 2))).toBe("ok");
    }
  });

  const bad: [string, Partial<Snapshot>][] = [
    ["a v128 given a number", { globals: [{ index: 0, type: "v128", value: 1 }] }],
    ["a v128 past 2^128", { globals: [{ index: 0, type: "v128", value: 1n << 128n }] }],
    ["a funcref of -1", { globals: [{ index: 0, type: "funcref", value: -1 }] }],
    ["a funcref of 2^32-1 (the null marker)", { globals: [{ index: 0, type: "funcref", value: 0xffff_ffff }] }],
    ["an externref that is not null", { globals: [{ index: 0, type: "externref", value: 0 }] }],
    [
      "tables out of order",
      {
        tables: [
          { index: 2, type: "funcref", elements: [] },
          { index: 1, type: "funcref", elements: [] },
        ],
      },
    ],
    ["a table element that is no function index", { tables: [{ index: 0, type: "funcref", elements: [1.5] }] }],
    ["an externref table element", { tables: [{ index: 0, type: "externref", elements: [0] }] }],
  ];
  for (const [name, overrides] of bad) {
    test(`encoding ${name} → snapshot_malformed`, () => {
      expect(outcome(() => encodeSnapshot(baseSnapshot(overrides)))).toBe("snapshot_malformed");
    });
  }
});
