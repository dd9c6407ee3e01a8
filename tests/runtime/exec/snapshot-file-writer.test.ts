// SnapshotFileWriter with the page table (format version 4): the file holds the prefix and the
// encoded snapshot (written as parts with writev, more parts than one writev takes), its sha256 is
// what the writer reports, and the caller's pages get back the digests the worker computed.

import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { applyDelta } from "../../../runtime/exec/snapshot-delta.js";
import { decodeSnapshot, encodeSnapshot } from "../../../runtime/exec/snapshot-codec.js";
import { SnapshotFileWriter } from "../../../runtime/exec/snapshot-file-writer.js";
import type { MemoryPage, Snapshot } from "../../../runtime/exec/snapshot.js";
import { WASM_PAGE_BYTES } from "../../../runtime/limits.js";

const dir = mkdtempSync(join(tmpdir(), "pagedigest-writer-"));
const writer = new SnapshotFileWriter();
afterAll(async () => {
  await writer.close();
  rmSync(dir, { recursive: true, force: true });
});

function snapshot(pages: MemoryPage[], pageCount: number): Snapshot {
  return {
    codeHash: "ef".repeat(32),
    pipelineVersion: 1,
    continuation: new Uint8Array(0),
    globals: [],
    memory: { pageCount, pages },
    input: new Uint8Array(0),
    output: new Uint8Array(0),
  };
}

test("a version 4 file: prefix + snapshot, its sha256, and the digests handed back to the caller's pages", async () => {
  const count = 1030; // more raw pages than one writev takes (IOV_MAX 1024)
  const pages = Array.from({ length: count }, (_, index) => {
    const bytes = new Uint8Array(WASM_PAGE_BYTES);
    new DataView(bytes.buffer).setUint32(0, index + 1, true);
    bytes[WASM_PAGE_BYTES - 1] = index & 0xff;
    return { index, bytes };
  });
  const s = snapshot(pages, count);
  const prefix = new TextEncoder().encode("PREFIX");
  const file = await writer.write(s, { dir, prefix, compression: "none", pageTable: true });
  const bytes = readFileSync(file.temp);
  expect(file.size).toBe(bytes.byteLength);
  expect(createHash("sha256").update(bytes).digest("hex")).toBe(file.sha256);
  expect(bytes.subarray(0, prefix.byteLength).toString()).toBe("PREFIX");
  const body = new Uint8Array(bytes.buffer, bytes.byteOffset + prefix.byteLength, bytes.byteLength - prefix.byteLength);
  const plain = snapshot(
    pages.map((p) => ({ index: p.index, bytes: p.bytes })),
    count,
  );
  expect(Buffer.from(body).equals(Buffer.from(encodeSnapshot(plain, { compression: "none", pageTable: true })))).toBe(true);
  for (const p of s.memory.pages) expect(Buffer.from(p.digest!).equals(createHash("sha256").update(p.bytes).digest())).toBe(true);

  // A rebase on it: the kept pages keep their digests; the file decodes to the merged memory.
  const changed = { index: 7, bytes: new Uint8Array(WASM_PAGE_BYTES).fill(9) };
  const next = applyDelta(s, snapshot([changed], count));
  expect(next.memory.pages[0]!.digest).toBe(s.memory.pages[0]!.digest);
  const second = await writer.write(next, { dir, compression: "none", pageTable: true });
  const back = decodeSnapshot(new Uint8Array(readFileSync(second.temp)));
  expect(back.memory.pages[7]!.bytes[0]).toBe(9);
  expect(back.memory.pages).toHaveLength(count);
});
