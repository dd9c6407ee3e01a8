// The worker thread behind snapshot-file-writer.ts: encodes a snapshot (compression, the format's
// own digest), puts the caller's prefix in front, hashes the whole with sha256 and writes it to a
// fresh temp file, fsynced, in the directory it is given. Everything that costs in proportion to the
// snapshot's bytes happens here, none of it on the host's event loop. Requests are encoded one at a
// time but written with asynchronous file calls, several at once: a write waits for its fsync
// without holding up the next request, and the file system commits concurrent fsyncs together
// (one ~2 ms fsync each, in turn, would bound a node to ~500 checkpoints a second).

import { createHash } from "node:crypto";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { parentPort } from "node:worker_threads";
import type { Snapshot } from "./snapshot.js";
import type { SnapshotCompression } from "./snapshot-compression.js";
import { encodeSnapshot } from "./snapshot-encode.js";

export interface SnapshotFileRequest {
  id: number;
  snapshot: Snapshot;
  /** Bytes written before the encoded snapshot (and hashed with it). */
  prefix: Uint8Array | undefined;
  /** Directory of the temp file; its name matches atomic-file.ts's TEMP_FILE_PATTERN. */
  dir: string;
  compression: SnapshotCompression | undefined;
}

export type SnapshotFileAnswer =
  | { id: number; ok: true; temp: string; sha256: string; size: number }
  | { id: number; ok: false; code: string | undefined; detail: string | undefined; message: string };

let counter = 0;

async function writeFile(r: SnapshotFileRequest): Promise<{ temp: string; sha256: string; size: number }> {
  const encoded = encodeSnapshot(r.snapshot, { compression: r.compression });
  const parts = r.prefix ? [r.prefix, encoded] : [encoded];
  const hash = createHash("sha256");
  for (const p of parts) hash.update(p);
  // `.snapshot.<pid>.<ms>.tmp`: a sweep tells a dead writer's leftovers from a live one's by the pid.
  const temp = join(r.dir, `.snapshot-${counter++}.${process.pid}.${Date.now()}.tmp`);
  const file = await open(temp, "wx", 0o644);
  try {
    for (const p of parts) {
      let at = 0;
      while (at < p.byteLength) at += (await file.write(p, at, p.byteLength - at)).bytesWritten;
    }
    await file.sync();
  } catch (e) {
    await file.close();
    await rm(temp, { force: true });
    throw e;
  }
  await file.close();
  return { temp, sha256: hash.digest("hex"), size: parts.reduce((n, p) => n + p.byteLength, 0) };
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
