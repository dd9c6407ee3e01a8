// The snapshot codec's public surface: the binary encoding of a Snapshot (byte layout and validation
// rules: docs/snapshot-format.md). Versioned, sectioned, sealed with sha256; memory travels in page
// chunks stored raw or deflated. The parts, one idea each:
//   snapshot-wire.ts          constants of the format, the Writer and Reader cursors
//   snapshot-validate.ts      the Snapshot invariants an encoder checks first
//   snapshot-values.ts        the globals and tables sections
//   snapshot-memory.ts        the memory section (page indices, chunk table, pages)
//   snapshot-compression.ts   raw or deflated chunks: the probe, the bounded inflate
//   snapshot-encode.ts        encodeSnapshot, encodeSnapshotParts
//   snapshot-decode.ts        decodeSnapshot (envelope, sections in order)
//   snapshot-decode-limits.ts the caps checked before anything is inflated
//   snapshot-inspect.ts       inspectSnapshot (`ferry inspect`)
//   snapshot-paged-memory.ts  version 4's memory section: the page table of digests, the seal
//   page-digests.ts           per-page sha256, digests carried on pages, identical pages folded
//   page-hash-pool.ts         page hashing spread over worker threads (page-hash-worker.ts)
//   snapshot-parallel.ts      encodeSnapshotParallel, decodeSnapshotParallel, digestPages

export {
  COMPRESSION_PROBE_BYTES,
  COMPRESSION_PROBE_MAX_RATIO,
  SNAPSHOT_CHUNK_PAGES,
  SNAPSHOT_DIGEST_BYTES,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_MAGIC,
  SNAPSHOT_MAX_CHUNK_PAGES,
  SNAPSHOT_MAX_MEMORY_PAGES,
  SNAPSHOT_OLDEST_FORMAT_VERSION,
  SNAPSHOT_SECTION_HEADER_BYTES,
  PAGED_FORMAT_VERSION,
} from "./snapshot-wire.js";
export type { SnapshotSectionInfo, SnapshotSectionName } from "./snapshot-wire.js";
export type { SnapshotCompression } from "./snapshot-compression.js";
export { encodeSnapshot, encodeSnapshotParts } from "./snapshot-encode.js";
export type { EncodeSnapshotOptions } from "./snapshot-encode.js";
export { decodeSnapshot } from "./snapshot-decode.js";
export { DEFAULT_SNAPSHOT_DECODE_LIMITS, snapshotDecodeLimits } from "./snapshot-decode-limits.js";
export type { DecodeSnapshotOptions } from "./snapshot-decode-limits.js";
export { inspectSnapshot } from "./snapshot-inspect.js";
export { decodeSnapshotParallel, digestPages, encodeSnapshotParallel } from "./snapshot-parallel.js";
export { PageHashPool, defaultPageHashWorkers } from "./page-hash-pool.js";
export { PAGE_DIGEST_BYTES } from "./page-digests.js";
export type { SnapshotInfo } from "./snapshot-inspect.js";
