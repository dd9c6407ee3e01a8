// Page hashing over worker threads (page-hash-pool.ts) and the parallel encode/decode built on it:
// the same bytes and the same errors as the single-threaded codec, whatever the pool size.

import { createHash } from "node:crypto";
import { afterAll, describe, expect, test } from "vitest";
import { FerryError } from "../../../runtime/errors.js";
import { PageHashPool } from "../../../runtime/exec/page-hash-pool.js";
import { decodeSnapshot, encodeSnapshot } from "../../../runtime/exec/snapshot-codec.js";
import { decodeSnapshotParallel, encodeSnapshotParallel } from "../../../runtime/exec/snapshot-parallel.js";
import type { MemoryPage, Snapshot } from "../../../runtime/exec/snapshot.js";
import { WASM_PAGE_BYTES } from "../../../runtime/limits.js";
import { comparableSnapshot } from "../../helpers/snapshots.js";

const pools = [new PageHashPool(1), new PageHashPool(3)];
afterAll(async () => {
  for (const p of pools) await p.close();
});

function pages(n: number, seed: number): MemoryPage[] {
  return Array.from({ length: n }, (_, index) => {
    const bytes = new Uint8Array(WASM_PAGE_BYTES);
    const words = new Uint32Array(bytes.buffer);
    let x = (seed * 7919 + index + 1) | 0;
    for (let i = 0; i < words.length; i += 16) words[i] = x = (x * 1103515245 + 12345) | 0;
    return { index, bytes };
  });
}

function snapshot(memoryPages: MemoryPage[]): Snapshot {
  return {
    codeHash: "cd".repeat(32),
    pipelineVersion: 1,
    continuation: new Uint8Array(0),
    globals: [],
    memory: { pageCount: 1024, pages: memoryPages },
    input: new Uint8Array(0),
    output: new Uint8Array(0),
  };
}

describe("page hash pool", () => {
  test.each(pools.map((p) => [p.size, p] as const))("%i worker(s): each page's sha256, in order", async (_size, pool) => {
    const ps = pages(300, 1).map((p) => p.bytes);
    const digests = await pool.hash(ps);
    expect(digests).toHaveLength(300);
    for (const [i, d] of digests.entries()) expect(Buffer.from(d).equals(createHash("sha256").update(ps[i]!).digest())).toBe(true);
    expect(await pool.hash([])).toEqual([]);
  });

  test("the parallel encode gives the single-threaded encode's bytes; the parallel decode its snapshot and its errors", async () => {
    const s = snapshot(pages(200, 2));
    const plain = encodeSnapshot(snapshot(pages(200, 2)), { compression: "none", pageTable: true });
    for (const pool of pools) {
      const fresh = snapshot(pages(200, 2));
      const bytes = await encodeSnapshotParallel(fresh, { compression: "none" }, pool);
      expect(Buffer.from(bytes).equals(Buffer.from(plain))).toBe(true);
      expect(fresh.memory.pages.every((p) => p.digest?.byteLength === 32)).toBe(true);
      const back = await decodeSnapshotParallel(bytes, {}, pool);
      expect(comparableSnapshot(back)).toEqual(comparableSnapshot(decodeSnapshot(bytes)));
      const damaged = Uint8Array.from(bytes);
      damaged[damaged.byteLength - 32 - 5 * WASM_PAGE_BYTES]! ^= 1; // a byte of page 195
      const e = await decodeSnapshotParallel(damaged, {}, pool).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(FerryError);
      expect((e as FerryError).code).toBe("snapshot_corrupt");
      expect((e as FerryError).detail).toMatch(/memory page 195/);
    }
    expect(s.memory.pages[0]!.digest).toBeUndefined();
  });

  test("a worker that dies mid-hash costs time, not the answer: the caller hashes its pieces", async () => {
    const pool = new PageHashPool(1);
    const ps = pages(400, 4).map((p) => p.bytes);
    const running = pool.hash(ps);
    // White-box: the pool's one worker, killed while it holds pieces.
    const internals = pool as unknown as { workers: Array<{ worker: { terminate(): Promise<number> } }> };
    await internals.workers[0]!.worker.terminate();
    const digests = await running;
    for (const [i, d] of digests.entries()) expect(Buffer.from(d).equals(createHash("sha256").update(ps[i]!).digest())).toBe(true);
    expect((await pool.hash(ps.slice(0, 100))).length).toBe(100); // and the next hash starts another worker
    await pool.close();
  });

  test("a closed pool refuses work with a typed error", async () => {
    const pool = new PageHashPool(1);
    await pool.close();
    await expect(pool.hash(pages(100, 3).map((p) => p.bytes))).rejects.toMatchObject({ code: "invalid_option" });
  });
});
