// A snapshot's execution segment in three numbers, for whoever shows jobs (the node's job views,
// the dashboard): memory held, pages touched, and the bytes of call frames Asyncify saved. Read from
// the snapshot in hand (no encoding, no copy); the continuation image is read by its own decoder.

import { decodeImage } from "./continuation.js";
import type { Snapshot } from "./snapshot.js";

export interface SnapshotStats {
  /** The guest's linear memory, in 64 KiB pages. */
  memoryPages: number;
  /** Pages holding a non-zero byte (a delta's together with its base's). */
  touchedPages: number;
  /** Bytes of call frames saved in the continuation (0 when no frame was on the stack at the pause). */
  savedFrameBytes: number;
}

/** `snapshot`'s numbers; a delta (`snapshot` captured `since` an earlier one) counts `base`'s pages too. */
export function snapshotStats(snapshot: Snapshot, base?: Snapshot): SnapshotStats {
  let touched = snapshot.memory.pages.length;
  if (base) {
    const pages = new Set(base.memory.pages.map((p) => p.index));
    for (const p of snapshot.memory.pages) pages.add(p.index);
    touched = pages.size;
  }
  return {
    memoryPages: snapshot.memory.pageCount,
    touchedPages: touched,
    savedFrameBytes: decodeImage(snapshot.continuation).stack.byteLength,
  };
}
