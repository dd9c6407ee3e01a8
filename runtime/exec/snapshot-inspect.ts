// `ferry inspect`'s view of a snapshot: its sections, sizes and compression, from the same parse
// the decoder does (same checks, same errors) but without inflating memory.

import { parseLayout } from "./snapshot-decode.js";
import { CODEC_DEFLATE, type SnapshotSectionInfo } from "./snapshot-wire.js";

export interface SnapshotInfo {
  formatVersion: number;
  codeHash: string;
  pipelineVersion: number;
  totalBytes: number;
  sections: SnapshotSectionInfo[];
  globalCount: number;
  memory: {
    /** Size of the memory in pages, including elided zero pages. */
    pageCount: number;
    /** Non-zero pages actually carried. */
    storedPageCount: number;
    /** Version 4: pages whose bytes travel (identical pages are stored once); otherwise the stored page count. */
    distinctPageCount: number;
    chunkPages: number;
    chunkCount: number;
    rawChunks: number;
    deflatedChunks: number;
  };
  /** "none" when no chunk is deflated (including no chunks at all), "deflate" when all are. */
  compression: "none" | "deflate" | "mixed";
  /** The resource segment (each stateful host interface's state: WASI's descriptors, clock, pending sleep), when there is one. */
  resources?: Record<string, unknown>;
  /** Always true: inspectSnapshot throws the decoder's typed errors instead of returning a failed check. */
  integrityOk: true;
}

/**
 * Describe a snapshot for `ferry inspect`. Checks the header, length and digest (version 4: the
 * seal, not each page's digest) and parses every
 * section exactly as decodeSnapshot does (same errors), but never inflates memory chunks, so a
 * deflate stream that is itself broken is only detected by decodeSnapshot.
 */
export function inspectSnapshot(bytes: Uint8Array): SnapshotInfo {
  const layout = parseLayout(bytes);
  const deflatedChunks = layout.chunks.filter((c) => c.codec === CODEC_DEFLATE).length;
  const chunkCount = layout.chunks.length;
  return {
    formatVersion: layout.formatVersion,
    codeHash: layout.codeHash,
    pipelineVersion: layout.pipelineVersion,
    totalBytes: layout.totalBytes,
    sections: layout.sections,
    globalCount: layout.globals.length,
    memory: {
      pageCount: layout.pageCount,
      storedPageCount: layout.pageIndices.length,
      distinctPageCount: layout.pageTable?.distinct ?? layout.pageIndices.length,
      chunkPages: layout.chunkPages,
      chunkCount,
      rawChunks: chunkCount - deflatedChunks,
      deflatedChunks,
    },
    compression: deflatedChunks === 0 ? "none" : deflatedChunks === chunkCount ? "deflate" : "mixed",
    integrityOk: true,
    ...(layout.resources === undefined ? {} : { resources: layout.resources }),
  };
}
