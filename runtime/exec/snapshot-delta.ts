// Snapshot deltas for pre-copy migration: the pages that changed since a base snapshot (pages that
// became zero travel as explicit zero pages), with everything else (globals, continuation, I/O)
// taken whole from the newer snapshot. applyDelta(base, diffSnapshot(base, s)) equals s.

import { FerryError } from "../errors.js";
import { WASM_PAGE_BYTES } from "../limits.js";
import type { MemoryImage, MemoryPage, Snapshot } from "./snapshot.js";

const ZERO = new Uint8Array(WASM_PAGE_BYTES);

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** `current` with only the memory pages that differ from `base`. */
export function diffSnapshot(base: Snapshot, current: Snapshot): Snapshot {
  if (base.codeHash !== current.codeHash) throw new FerryError("snapshot_code_mismatch", "a delta needs two snapshots of the same module");
  const before = new Map(base.memory.pages.map((p) => [p.index, p.bytes]));
  const changed: MemoryPage[] = [];
  for (const page of current.memory.pages) {
    const old = before.get(page.index);
    before.delete(page.index);
    if (!old || !same(old, page.bytes)) changed.push(page);
  }
  // Pages the base had that are zero now (or beyond a smaller memory; memory never shrinks, but a
  // hostile base must not leak through).
  for (const index of before.keys()) if (index < current.memory.pageCount) changed.push({ index, bytes: ZERO });
  changed.sort((a, b) => a.index - b.index);
  return { ...current, memory: { pageCount: current.memory.pageCount, pages: changed } };
}

/** The full snapshot `delta` was taken from, given the `base` it was diffed against. */
export function applyDelta(base: Snapshot, delta: Snapshot): Snapshot {
  if (base.codeHash !== delta.codeHash) throw new FerryError("snapshot_code_mismatch", "the delta and its base are of different modules");
  if (delta.memory.pageCount < base.memory.pageCount) throw new FerryError("snapshot_malformed", "a delta cannot shrink memory");
  // Page objects are kept as they are, so a page that carries its digest (page-digests.ts) keeps it.
  const pages = new Map<number, MemoryPage>();
  for (const p of base.memory.pages) pages.set(p.index, p);
  for (const p of delta.memory.pages) {
    if (p.bytes.byteLength !== WASM_PAGE_BYTES || p.index >= delta.memory.pageCount)
      throw new FerryError("snapshot_malformed", `delta page ${p.index} is malformed`);
    if (same(p.bytes, ZERO)) pages.delete(p.index);
    else pages.set(p.index, p);
  }
  const merged = [...pages.values()].sort((a, b) => a.index - b.index);
  return { ...delta, memory: { pageCount: delta.memory.pageCount, pages: merged } };
}

/**
 * The pages of live `memory` that differ from `base`, copied: diffSnapshot's delta taken straight
 * from the instance, so an unchanged page costs a compare and no copy (a pre-copy round of a job
 * that changed little pauses it for a scan instead of a full copy).
 */
export function captureMemoryDelta(memory: Uint8Array, base: MemoryImage): MemoryImage {
  const scan = new DeltaScan(memory, base);
  scan.pages(0, scan.pageCount);
  return scan.image();
}

/**
 * captureMemoryDelta in turns of `pagesPerTurn` pages, the event loop free between them, so a
 * scan of a large memory never holds the host's thread for long. The caller keeps the memory from
 * changing meanwhile (the instance stays paused and refuses to run).
 */
export async function captureMemoryDeltaInTurns(memory: Uint8Array, base: MemoryImage, pagesPerTurn: number): Promise<MemoryImage> {
  const scan = new DeltaScan(memory, base);
  for (let from = 0; from < scan.pageCount; from += pagesPerTurn) {
    if (from > 0) await new Promise((resolve) => setImmediate(resolve));
    scan.pages(from, Math.min(scan.pageCount, from + pagesPerTurn));
  }
  return scan.image();
}

/** One delta scan of `memory` against `base`, page range by page range. */
class DeltaScan {
  readonly pageCount: number;
  private readonly before: Map<number, Uint8Array>;
  private readonly view: Buffer;
  private readonly found: MemoryPage[] = [];

  constructor(
    private readonly memory: Uint8Array,
    base: MemoryImage,
  ) {
    this.pageCount = memory.byteLength / WASM_PAGE_BYTES;
    if (base.pageCount > this.pageCount)
      throw new FerryError("invalid_option", "`since` has more memory than the instance: it is not an earlier snapshot of it");
    this.before = new Map(base.pages.map((p) => [p.index, p.bytes]));
    this.view = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  }

  pages(from: number, to: number): void {
    for (let index = from; index < to; index++) {
      const start = index * WASM_PAGE_BYTES;
      const old = this.before.get(index);
      if (old && this.view.compare(old, 0, WASM_PAGE_BYTES, start, start + WASM_PAGE_BYTES) === 0) continue;
      const zero = this.view.compare(ZERO, 0, WASM_PAGE_BYTES, start, start + WASM_PAGE_BYTES) === 0;
      if (zero) {
        if (old) this.found.push({ index, bytes: ZERO });
        continue;
      }
      this.found.push({ index, bytes: this.memory.slice(start, start + WASM_PAGE_BYTES) });
    }
  }

  image(): MemoryImage {
    return { pageCount: this.pageCount, pages: this.found };
  }
}
