// A checkpoint blob is an encoded snapshot, or — after a pre-copy migration — a delta against an
// older checkpoint's blob: "FERRYDLT", the base blob's sha256 (32 bytes), then the encoded delta.
// `checkpointSnapshot` turns either into the full snapshot to restore.

import { applyDelta, decodeSnapshot, type Snapshot } from "../../runtime/index.js";
import { ServerError } from "../errors.js";
import type { Store } from "../store/store.js";

const MAGIC = Buffer.from("FERRYDLT", "ascii");
const HASH_BYTES = 32;

export function encodeDeltaCheckpoint(baseHash: string, delta: Uint8Array): Uint8Array {
  const prefix = deltaCheckpointPrefix(baseHash);
  const out = Buffer.allocUnsafe(prefix.byteLength + delta.byteLength);
  out.set(prefix, 0);
  out.set(delta, prefix.byteLength);
  return out;
}

/** What goes before an encoded delta: the magic and the base blob's sha256. */
export function deltaCheckpointPrefix(baseHash: string): Uint8Array {
  const out = Buffer.allocUnsafe(MAGIC.byteLength + HASH_BYTES);
  MAGIC.copy(out, 0);
  Buffer.from(baseHash, "hex").copy(out, MAGIC.byteLength);
  return out;
}

function isDelta(bytes: Uint8Array): boolean {
  return bytes.byteLength > MAGIC.byteLength + HASH_BYTES && Buffer.from(bytes.buffer, bytes.byteOffset, MAGIC.byteLength).equals(MAGIC);
}

/**
 * The newest checkpoint of `jobId` as a full snapshot, or undefined if it has none. The store checks
 * each blob against its sha256 as it reads it, so decoding does not hash the same bytes again.
 */
export function checkpointSnapshot(store: Store, jobId: string, limits: { maxMemoryPages?: number } = {}): Snapshot | undefined {
  const latest = store.checkpoints.latest(jobId);
  if (!latest) return undefined;
  const options = { ...limits, digestChecked: true };
  const bytes = store.checkpoints.read(latest);
  if (!isDelta(bytes)) return decodeSnapshot(bytes, options);
  const baseHash = Buffer.from(bytes.buffer, bytes.byteOffset + MAGIC.byteLength, HASH_BYTES).toString("hex");
  const base = store.checkpoints.list(jobId).find((c) => c.snapshotHash === baseHash);
  if (!base) throw new ServerError("store_corrupt", `checkpoint ${latest.seq} of job ${jobId} is a delta whose base ${baseHash} is gone`);
  const delta = decodeSnapshot(bytes.subarray(MAGIC.byteLength + HASH_BYTES), options);
  return applyDelta(decodeSnapshot(store.checkpoints.read(base), options), delta);
}
