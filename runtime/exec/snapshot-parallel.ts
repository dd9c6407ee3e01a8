// Version 4 snapshots encoded and decoded with the page hashing spread over threads
// (page-hash-pool.ts): the pages' sha256 is the only work that grows with the memory besides one
// copy, so a full encode or decode runs at the pool's hashing rate instead of one thread's. Pages
// that carry their digest are not hashed at all; the rest is encodeSnapshot and decodeSnapshot.

import type { MemoryPage, Snapshot } from "./snapshot.js";
import { bytesToHash, giveDigests } from "./page-digests.js";
import { type PageHashPool, sharedPageHashPool } from "./page-hash-pool.js";
import { type DecodeOptions, parseLayout, snapshotOf } from "./snapshot-decode.js";
import { checkDecodeLimits } from "./snapshot-decode-limits.js";
import { type EncodeSnapshotOptions, encodeSnapshot } from "./snapshot-encode.js";
import { decodePages, chunkPagesOf } from "./snapshot-memory.js";
import { checkPages, pagesOfTable } from "./snapshot-paged-memory.js";
import { validateSnapshot } from "./snapshot-validate.js";

/** encodeSnapshot(s, { ...options, pageTable: true }), the pages without a digest hashed on `pool` first (and given theirs). */
export async function encodeSnapshotParallel(
  s: Snapshot,
  options: Omit<EncodeSnapshotOptions, "pageTable"> = {},
  pool: PageHashPool = sharedPageHashPool(),
): Promise<Uint8Array> {
  validateSnapshot(s);
  await digestPages(s.memory.pages, pool);
  return encodeSnapshot(s, { ...options, pageTable: true });
}

/** Give every page that carries no digest its sha256, hashed on `pool` (then a version 4 encode hashes nothing). */
export async function digestPages(pages: readonly MemoryPage[], pool: PageHashPool = sharedPageHashPool()): Promise<void> {
  const todo = bytesToHash(pages);
  giveDigests(pages, todo, await pool.hash(todo));
}

/**
 * decodeSnapshot, a version 4 snapshot's pages checked against their digests on `pool`. Same
 * checks in the same order, same errors; older versions decode as decodeSnapshot does.
 */
export async function decodeSnapshotParallel(
  bytes: Uint8Array,
  options: DecodeOptions = {},
  pool: PageHashPool = sharedPageHashPool(),
): Promise<Snapshot> {
  const layout = parseLayout(bytes, options.digestChecked);
  checkDecodeLimits(layout, options);
  const table = layout.pageTable;
  if (!table) return snapshotOf(layout, decodePages(bytes, layout));
  const distinct = chunkPagesOf(bytes, layout.chunks);
  if (!options.digestChecked) checkPages(await pool.hash(distinct), layout, table);
  return snapshotOf(layout, pagesOfTable(distinct, layout, table));
}
