// The worker thread behind snapshot-file-writer.ts: encodes a snapshot (compression, the format's
// own digest — or, version 4, the digests of the pages that carry none, handed back so the caller's
// pages keep them, and parts written with writev instead of one copy), puts the caller's prefix in front, hashes the whole with sha256 and writes it to a
// fresh temp file, fsynced, in the directory it is given. Everything that costs in proportion to the
// snapshot's bytes happens here, none of it on the host's event loop. Requests are encoded one at a
// time but written with asynchronous file calls, several at once: a write waits for its fsync
// without holding up the next request, and the file system commits concurrent fsyncs together
// (one ~2 ms fsync each, in turn, would bound a node to ~500 checkpoints a second).

import { createHash } from "node:crypto";
import { type FileHandle, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { parentPort } from "node:worker_threads";
import type { Snapshot } from "./snapshot.js";
import type { SnapshotCompression } from "./snapshot-compression.js";
import { PAGE_DIGEST_BYTES } from "./page-digests.js";
import { encodeSnapshot, encodeSnapshotParts } from "./snapshot-encode.js";

/** Buffers one writev takes on Linux. */
const IOV_MAX = 1024;

export interface SnapshotFileRequest {
  id: number;
  snapshot: Snapshot;
  /** Bytes written before the encoded snapshot (and hashed with it). */
  prefix: Uint8Array | undefined;
  /** Directory of the temp file; its name matches atomic-file.ts's TEMP_FILE_PATTERN. */
  dir: string;
  compression: SnapshotCompression | undefined;
  /** Format version 4 (page table of digests), written as parts with writev: no copy of the raw pages. */
  pageTable: boolean | undefined;
}

export type SnapshotFileAnswer =
  | { id: number; ok: true; temp: string; sha256: string; size: number; digests: Uint8Array | undefined }
  | { id: number; ok: false; code: string | undefined; detail: string | undefined; message: string };

let counter = 0;

async function writeFile(r: SnapshotFileRequest): Promise<{ temp: string; sha256: string; size: number; digests: Uint8Array | undefined }> {
  const encoded = r.pageTable
    ? encodeSnapshotParts(r.snapshot, { compression: r.compression })
    : [encodeSnapshot(r.snapshot, { compression: r.compression })];
  const parts = r.prefix ? [r.prefix, ...encoded] : encoded;
  const hash = createHash("sha256");
  for (const p of parts) hash.update(p);
  // `.snapshot.<pid>.<ms>.tmp`: a sweep tells a dead writer's leftovers from a live one's by the pid.
  const temp = join(r.dir, `.snapshot-${counter++}.${process.pid}.${Date.now()}.tmp`);
  const file = await open(temp, "wx", 0o644);
  try {
    await writeAll(file, parts);
    await file.sync();
  } catch (e) {
    await file.close();
    await rm(temp, { force: true });
    throw e;
  }
  await file.close();
  const size = parts.reduce((n, p) => n + p.byteLength, 0);
  return { temp, sha256: hash.digest("hex"), size, digests: r.pageTable ? pageDigestsOf(r.snapshot) : undefined };
}

/** Every part, in order, with as few calls as the kernel takes (writev, IOV_MAX parts at a time, short writes resumed). */
async function writeAll(file: FileHandle, parts: Uint8Array[]): Promise<void> {
  let pending = parts;
  while (pending.length > 0) {
    let written = (await file.writev(pending.slice(0, IOV_MAX))).bytesWritten;
    let k = 0;
    while (k < pending.length && written >= pending[k]!.byteLength) written -= pending[k++]!.byteLength;
    pending = pending.slice(k);
    if (written > 0) pending[0] = pending[0]!.subarray(written);
  }
}

/** The digests the encode gave the snapshot's pages (32 bytes each, in order): the caller's pages get them back. */
function pageDigestsOf(s: Snapshot): Uint8Array {
  const out = new Uint8Array(s.memory.pages.length * PAGE_DIGEST_BYTES);
  for (const [i, p] of s.memory.pages.entries()) if (p.digest) out.set(p.digest, i * PAGE_DIGEST_BYTES);
  return out;
}

async function answer(r: SnapshotFileRequest): Promise<SnapshotFileAnswer> {
  try {
    return { id: r.id, ok: true, ...(await writeFile(r)) };
  } catch (e) {
    const { code, detail } = e as { code?: unknown; detail?: unknown };
    return {
      id: r.id,
      ok: false,
      code: typeof code === "string" ? code : undefined,
      detail: typeof detail === "string" ? detail : undefined,
      message: e instanceof Error ? e.message : String(e),
    };
  }
}

parentPort?.on("message", (r: SnapshotFileRequest) => {
  void answer(r).then((a) => parentPort!.postMessage(a));
});
