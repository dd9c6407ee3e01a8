// Format version 4 (docs/snapshot-format.md, "Version 4"): the page table of per-page sha256
// digests, the seal over everything but the pages' bytes, identical pages stored once, digests
// reused instead of rehashed — and each kind of damage a typed error.

import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { FerryError } from "../../../runtime/errors.js";
import { applyDelta, diffSnapshot } from "../../../runtime/exec/snapshot-delta.js";
import { decodeSnapshot, encodeSnapshot, encodeSnapshotParts, inspectSnapshot } from "../../../runtime/exec/snapshot-codec.js";
import type { MemoryPage, Snapshot } from "../../../runtime/exec/snapshot.js";
import { WASM_PAGE_BYTES } from "../../../runtime/limits.js";
import { comparableSnapshot, outcome } from "../../helpers/snapshots.js";

const HEADER = 18;
const SECTION_HEADER = 12;

function page(index: number, fill: number): MemoryPage {
  const bytes = new Uint8Array(WASM_PAGE_BYTES);
  for (let i = 0; i < bytes.length; i += 97) bytes[i] = (fill + i) & 0xff;
  bytes[0] = fill;
  return { index, bytes };
}

function snapshot(pages: MemoryPage[], pageCount = 64): Snapshot {
  return {
    codeHash: "ab".repeat(32),
    pipelineVersion: 7,
    continuation: Uint8Array.of(1, 2, 3),
    globals: [{ index: 1, type: "i32", value: -5 }],
    memory: { pageCount, pages },
    input: new TextEncoder().encode("in"),
    output: new TextEncoder().encode("out"),
  };
}

function errorOf(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FerryError) return e;
    throw e;
  }
  throw new Error("expected a FerryError");
}

/** Offsets of the v4 memory section's parts, read by hand from the layout the doc gives. */
function memoryLayout(bytes: Uint8Array) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = HEADER;
  while (dv.getUint32(pos, true) !== 4) pos += SECTION_HEADER + Number(dv.getBigUint64(pos + 4, true));
  const start = pos + SECTION_HEADER;
  const stored = dv.getUint32(start + 4, true);
  const chunkPages = dv.getUint32(start + 8, true);
  const distinct = dv.getUint32(start + 12, true);
  const digests = start + 16 + 8 * stored;
  const data = digests + 32 * distinct + 8 * Math.ceil(distinct / chunkPages);
  return { start, stored, distinct, digests, data, length: Number(dv.getBigUint64(pos + 4, true)) };
}

describe("version 4: the page table", () => {
  test("round trip, every compression; version 4 only when asked for; old versions still written by default", () => {
    const s = snapshot([page(0, 1), page(3, 2), page(9, 3), page(40, 4)]);
    for (const compression of ["auto", "none", "deflate"] as const) {
      const bytes = encodeSnapshot(s, { compression, pageTable: true });
      expect(inspectSnapshot(bytes).formatVersion).toBe(4);
      const back = decodeSnapshot(bytes);
      expect(comparableSnapshot(back)).toEqual(comparableSnapshot({ ...s, globals: back.globals }));
      for (const p of back.memory.pages) expect(Buffer.from(p.digest!).equals(createHash("sha256").update(p.bytes).digest())).toBe(true);
    }
    expect(inspectSnapshot(encodeSnapshot(s)).formatVersion).toBe(1);
  });

  test("identical pages are stored once and decode to the same contents at every index", () => {
    const zero = new Uint8Array(WASM_PAGE_BYTES);
    const same = page(0, 9).bytes;
    const pages = [
      { index: 1, bytes: same },
      { index: 2, bytes: Uint8Array.from(same) },
      { index: 5, bytes: zero },
      { index: 6, bytes: new Uint8Array(WASM_PAGE_BYTES) },
      page(7, 8),
    ];
    const bytes = encodeSnapshot(snapshot(pages), { compression: "none", pageTable: true });
    const m = memoryLayout(bytes);
    expect(m.stored).toBe(5);
    expect(m.distinct).toBe(3);
    expect(inspectSnapshot(bytes).memory).toMatchObject({ storedPageCount: 5, distinctPageCount: 3 });
    expect(bytes.byteLength).toBeLessThan(4 * WASM_PAGE_BYTES);
    const back = decodeSnapshot(bytes).memory.pages;
    expect(back.map((p) => p.index)).toEqual([1, 2, 5, 6, 7]);
    for (const [i, p] of back.entries()) expect(Buffer.from(p.bytes).equals(pages[i]!.bytes)).toBe(true);
  });

  test("a page that carries its digest is not hashed again; applyDelta keeps the base's digests", () => {
    const base = snapshot([page(0, 1), page(1, 2), page(2, 3)]);
    encodeSnapshot(base, { pageTable: true });
    const digests = base.memory.pages.map((p) => p.digest);
    expect(digests.every((d) => d?.byteLength === 32)).toBe(true);
    const next = snapshot([base.memory.pages[0]!, page(1, 77), base.memory.pages[2]!]);
    const whole = applyDelta(base, diffSnapshot(base, next));
    expect(whole.memory.pages[0]!.digest).toBe(digests[0]);
    expect(whole.memory.pages[2]!.digest).toBe(digests[2]);
    expect(whole.memory.pages[1]!.digest).toBeUndefined();
    // A wrong carried digest is not rehashed (that is the point) — and the decoder catches it.
    const lying = snapshot([{ ...page(0, 1), digest: new Uint8Array(32) }]);
    const e = errorOf(() => decodeSnapshot(encodeSnapshot(lying, { pageTable: true })));
    expect(e.code).toBe("snapshot_corrupt");
    expect(e.detail).toMatch(/memory page 0 .*does not match its sha256/);
  });

  test("a decoded snapshot re-encodes to the same bytes without hashing its pages", () => {
    const bytes = encodeSnapshot(snapshot([page(2, 5), page(4, 6)]), { compression: "none", pageTable: true });
    const back = decodeSnapshot(bytes);
    expect(back.memory.pages.every((p) => p.digest !== undefined)).toBe(true);
    expect(Buffer.from(encodeSnapshot(back, { compression: "none", pageTable: true })).equals(Buffer.from(bytes))).toBe(true);
  });

  test("a bad carried digest (not 32 bytes) is refused when encoding", () => {
    const s = snapshot([{ ...page(0, 1), digest: new Uint8Array(5) }]);
    expect(outcome(() => encodeSnapshot(s, { pageTable: true }))).toBe("snapshot_malformed");
  });
});

describe("version 4: damage", () => {
  const s = snapshot([page(0, 1), page(1, 2), page(5, 1), page(6, 3)]);

  test("a page's bytes that do not match its digest → snapshot_corrupt naming the page; the seal does not cover them", () => {
    const bytes = Uint8Array.from(encodeSnapshot(s, { compression: "none", pageTable: true }));
    const m = memoryLayout(bytes);
    bytes[m.data + WASM_PAGE_BYTES + 10]! ^= 0x40; // the second distinct page: memory page 1
    const e = errorOf(() => decodeSnapshot(bytes));
    expect(e.code).toBe("snapshot_corrupt");
    expect(e.detail).toMatch(/memory page 1 \(distinct page 1\)/);
    // inspect checks the seal, not the pages; the store's own check (digestChecked) skips both.
    expect(outcome(() => inspectSnapshot(bytes))).toBe("ok");
    expect(outcome(() => decodeSnapshot(bytes, { digestChecked: true }))).toBe("ok");
  });

  test("a flipped digest or page index, or any other byte outside the pages → seal mismatch, snapshot_corrupt", () => {
    const bytes = encodeSnapshot(s, { compression: "none", pageTable: true });
    const m = memoryLayout(bytes);
    for (const at of [m.digests + 3, m.start + 16, bytes.byteLength - 33, bytes.byteLength - 1, HEADER + SECTION_HEADER + 2]) {
      const flipped = Uint8Array.from(bytes);
      flipped[at]! ^= 1;
      const e = errorOf(() => decodeSnapshot(flipped));
      expect(e.code, `byte ${at}`).toBe("snapshot_corrupt");
      expect(e.detail).toMatch(/seal/);
    }
  });

  test("every bit of a small version 4 snapshot outside its page data: a header code, snapshot_malformed or snapshot_corrupt", () => {
    const bytes = encodeSnapshot(snapshot([page(0, 1)], 2), { compression: "deflate", pageTable: true });
    const m = memoryLayout(bytes);
    for (let i = HEADER; i < bytes.byteLength; i++) {
      if (i >= m.data && i < m.start + m.length) continue; // the page data: its digest's job, tested above
      for (let bit = 0; bit < 8; bit++) {
        const flipped = Uint8Array.from(bytes);
        flipped[i]! ^= 1 << bit;
        expect(["snapshot_corrupt", "snapshot_malformed"], `bit ${bit} of byte ${i}`).toContain(outcome(() => decodeSnapshot(flipped)));
      }
    }
  });

  test("a truncated page table (a distinct count larger than the section holds) → snapshot_malformed naming it", () => {
    const bytes = Uint8Array.from(encodeSnapshot(s, { compression: "none", pageTable: true }));
    const m = memoryLayout(bytes);
    new DataView(bytes.buffer).setUint32(m.start + 12, 70_000, true);
    const e = errorOf(() => decodeSnapshot(bytes));
    expect(e.code).toBe("snapshot_malformed");
    expect(e.detail).toMatch(/truncated page table/);
    // A cut-off transfer is still told apart by the total length.
    expect(outcome(() => decodeSnapshot(bytes.subarray(0, m.digests + 40)))).toBe("snapshot_truncated");
  });

  test("a page table whose slots skip, or repeat a digest, with a valid seal → snapshot_malformed", () => {
    const bytes = encodeSnapshot(s, { compression: "none", pageTable: true });
    const m = memoryLayout(bytes);
    const reseal = (b: Uint8Array) => {
      const bodyEnd = b.byteLength - 32;
      const seal = createHash("sha256")
        .update(b.subarray(0, m.data))
        .update(b.subarray(m.start + m.length, bodyEnd))
        .digest();
      b.set(seal, bodyEnd);
      return b;
    };
    const skip = Uint8Array.from(bytes);
    new DataView(skip.buffer).setUint32(m.start + 16 + 4 * m.stored, 1, true); // first slot 1, not 0
    expect(errorOf(() => decodeSnapshot(reseal(skip))).detail).toMatch(/slot 1 at position 0/);
    const twin = Uint8Array.from(bytes);
    twin.copyWithin(m.digests + 32, m.digests, m.digests + 32);
    expect(errorOf(() => decodeSnapshot(reseal(twin))).detail).toMatch(/digest of an earlier one/);
  });
});

describe("version 4 as parts", () => {
  test("the parts concatenate to encodeSnapshot's bytes; raw pages are the snapshot's own arrays, not copies", () => {
    const s = snapshot([page(0, 1), page(3, 2), page(4, 2), page(9, 3)]);
    s.memory.pages[2] = { index: 4, bytes: s.memory.pages[1]!.bytes }; // an identical page: stored once
    for (const compression of ["auto", "none", "deflate"] as const) {
      const parts = encodeSnapshotParts(s, { compression });
      const whole = encodeSnapshot(s, { compression, pageTable: true });
      expect(Buffer.concat(parts).equals(Buffer.from(whole))).toBe(true);
      if (compression === "none") {
        const own = new Set(s.memory.pages.map((p) => p.bytes));
        expect(parts.filter((p) => own.has(p))).toHaveLength(3);
      }
    }
    expect(Buffer.concat(encodeSnapshotParts(snapshot([]))).equals(Buffer.from(encodeSnapshot(snapshot([]), { pageTable: true })))).toBe(
      true,
    );
  });
});
