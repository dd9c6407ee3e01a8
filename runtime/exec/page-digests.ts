// Per-page sha256 digests for the paged snapshot format (version 4, docs/snapshot-format.md): each
// 64 KiB page is hashed on its own, so a snapshot taken on a base hashes only the pages it changed
// (a page that carries its digest — decoded, or hashed by an earlier encode — is never hashed
// again), identical pages are found by digest and stored once, and the hashing of a full memory can
// be spread over threads (page-hash-pool.ts).

import { createHash } from "node:crypto";
import { WASM_PAGE_BYTES } from "../limits.js";
import type { MemoryPage } from "./snapshot.js";

/** sha256 output length: one page table entry. */
export const PAGE_DIGEST_BYTES = 32;

/** Digests per slab: kept side by side, so a later encode that walks them reads few cache lines. */
const SLAB_DIGESTS = 2048;
let slab = new Uint8Array(0);
let slabUsed = 0;

/** sha256 of one page's bytes (a view into a shared slab of digests). */
export function pageDigest(bytes: Uint8Array): Uint8Array {
  if (slabUsed === slab.byteLength) {
    slab = new Uint8Array(SLAB_DIGESTS * PAGE_DIGEST_BYTES);
    slabUsed = 0;
  }
  const d = slab.subarray(slabUsed, slabUsed + PAGE_DIGEST_BYTES);
  slabUsed += PAGE_DIGEST_BYTES;
  d.set(createHash("sha256").update(bytes).digest());
  return d;
}

/** The digest of the all-zero page, known without hashing (a delta's pages that became zero). */
export const ZERO_PAGE_DIGEST: Uint8Array = pageDigest(new Uint8Array(WASM_PAGE_BYTES));

/** A page's digest as carried on it, if it has a well-formed one. */
export function carriedDigest(page: MemoryPage): Uint8Array | undefined {
  const d = page.digest;
  return d instanceof Uint8Array && d.byteLength === PAGE_DIGEST_BYTES ? d : undefined;
}

/**
 * The bytes arrays of the pages that carry no digest yet, each once (a delta's zero pages share one):
 * what a caller hashes, inline or on the pool, then hands to `giveDigests`.
 */
export function bytesToHash(pages: readonly MemoryPage[]): Uint8Array[] {
  const seen = new Set<Uint8Array>();
  for (const p of pages) if (!carriedDigest(p)) seen.add(p.bytes);
  return [...seen];
}

/** Give each page without a digest the one computed for its bytes (`digests[i]` of `hashed[i]`). */
export function giveDigests(pages: readonly MemoryPage[], hashed: readonly Uint8Array[], digests: readonly Uint8Array[]): void {
  const byBytes = new Map(hashed.map((b, i) => [b, digests[i]!]));
  for (const p of pages) {
    const d = byBytes.get(p.bytes);
    if (d && !carriedDigest(p) && Object.isExtensible(p)) p.digest = d;
  }
}

/**
 * Every page's digest, in order: the one it carries, or sha256 of its bytes (hashed once per bytes
 * array). A page that had none is given it (`page.digest`), so the next snapshot that reuses the
 * page object — applyDelta keeps the base's — does not hash it again. Snapshot bytes are read-only
 * by contract; a page changed in place after it was hashed gives a snapshot whose decode fails
 * (`snapshot_corrupt`), never a wrong memory.
 */
export function digestsOf(pages: readonly MemoryPage[]): Uint8Array[] {
  const byBytes = new Map<Uint8Array, Uint8Array>();
  return pages.map((p) => {
    const carried = carriedDigest(p);
    if (carried) return carried;
    let d = byBytes.get(p.bytes);
    if (!d) {
      d = pageDigest(p.bytes);
      byBytes.set(p.bytes, d);
    }
    if (Object.isExtensible(p)) p.digest = d;
    return d;
  });
}

/** Pages with identical contents folded together: which distinct page each stored page is, and the distinct pages in first-use order. */
export interface DistinctPages {
  /** For each stored page, the slot of its contents among `distinct`. */
  refs: Uint32Array;
  /** One page per distinct digest, in order of first use. */
  distinct: MemoryPage[];
  /** The digest of each distinct page. */
  digests: Uint8Array[];
}

/**
 * Fold identical pages by digest (`digests[i]` is the digest of `pages[i]`). Looked up by the
 * digest's first 6 bytes as a number, then compared whole: no string or buffer per page, since a
 * snapshot on a base walks every page of a large memory to change a few.
 */
export function foldIdentical(pages: readonly MemoryPage[], digests: readonly Uint8Array[]): DistinctPages {
  const slots = new Map<number, number | number[]>();
  const refs = new Uint32Array(pages.length);
  const distinct: MemoryPage[] = [];
  const distinctDigests: Uint8Array[] = [];
  for (const [i, p] of pages.entries()) {
    const d = digests[i]!;
    const key = d[0]! + d[1]! * 0x100 + d[2]! * 0x1_0000 + d[3]! * 0x100_0000 + d[4]! * 0x1_0000_0000 + d[5]! * 0x100_0000_0000;
    const found = slots.get(key);
    let slot = found === undefined ? undefined : sameDigest(found, d, distinctDigests);
    if (slot === undefined) {
      slot = distinct.length;
      distinct.push(p);
      distinctDigests.push(d);
      slots.set(key, found === undefined ? slot : [...(typeof found === "number" ? [found] : found), slot]);
    }
    refs[i] = slot;
  }
  return { refs, distinct, digests: distinctDigests };
}

/** The slot among `candidates` whose digest equals `d`, if any. */
function sameDigest(candidates: number | number[], d: Uint8Array, digests: readonly Uint8Array[]): number | undefined {
  for (const slot of typeof candidates === "number" ? [candidates] : candidates) {
    const other = digests[slot]!;
    let equal = true;
    for (let k = 0; k < PAGE_DIGEST_BYTES && equal; k++) equal = other[k] === d[k];
    if (equal) return slot;
  }
  return undefined;
}
