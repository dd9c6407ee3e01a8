// A PREPARE made durable: the job row (`prepared`, never run), its code when the target had to take
// it from the source, and its snapshot as checkpoints — all in one fsynced transaction, before the
// target answers, since the source decides on the strength of that answer.

import { encodeDeltaCheckpoint } from "./checkpoint-format.js";
import type { MovableJob, TransferHost } from "./host.js";
import type { StoredBase } from "./precopy.js";
import type { JobRecord, PeerRecord, SegmentStats } from "../store/records.js";
import type { TransferHeader } from "./transfer-header.js";

export interface PreparedParts {
  /** The PREPARE's snapshot body as sent (a delta on `base` when there is one); none for a weak transfer. */
  snapshot: Uint8Array | undefined;
  /** The record this transfer replaces (a retried PREPARE, or the job coming back at a later epoch). */
  existing: JobRecord | undefined;
  base: StoredBase | undefined;
  /** The job's code, when it came from the source. */
  module: Uint8Array | undefined;
  /** The directories that travelled with it, whole (travelling-trees.ts): laid down when it first runs here. */
  trees: Uint8Array | undefined;
  /** The snapshot's numbers (and the base's alone), kept with its checkpoint rows for the job's views. */
  segment?: { snapshot: SegmentStats; base?: SegmentStats };
}

export function storePrepared<J extends MovableJob>(
  host: TransferHost<J>,
  peer: PeerRecord,
  header: TransferHeader,
  parts: PreparedParts,
): void {
  const store = host.store;
  const { snapshot, existing, base, module, trees } = parts;
  const segment = parts.segment?.snapshot;
  store.durableTransaction(() => {
    // The code first, with the job: a refused PREPARE stores neither. The owner (by grant) ran this
    // code at the source, so it may run it here too.
    if (module) store.modules.put(module, { owner: header.owner, public: false });
    else if (header.owner !== null) store.modules.addOwner(header.codeHash, header.owner);
    if (existing) store.jobs.delete(header.jobId, { expectEpoch: existing.epoch });
    store.jobs.create({
      id: header.jobId,
      codeHash: header.codeHash,
      owner: header.owner,
      trust: header.trust,
      sandbox: header.sandbox,
      entry: header.entry,
      args: header.args,
      ...(header.input ? { input: Buffer.from(header.input, "base64") } : {}),
      fuelLimit: header.fuelLimit,
      state: "prepared",
      fuelUsed: header.fuelUsed,
      epoch: header.epoch,
      node: host.nodeId,
      wasi: header.wasi ?? null,
      ...(trees ? { trees } : {}),
    });
    // Remembered for the decision query, should COMMIT never come, and to take COMMIT and ABORT from this peer only.
    // A job that was paused at the source stays paused here once committed (adopt reads `paused`).
    store.jobs.update(
      header.jobId,
      { result: { preparedFrom: peer.nodeId, ...(header.paused === true ? { paused: true } : {}) } },
      { expectEpoch: header.epoch },
    );
    // Retained: COMMIT restores from these bytes without reading back and rehashing the file.
    if (snapshot && base) {
      // The base (already durable since the pre-copy) and the delta on top of it: two checkpoints,
      // the newer of which names the older (checkpoint-format.ts).
      const baseSegment = parts.segment?.base;
      store.checkpoints.addStored(header.jobId, base.hash, base.size, {
        fuel: header.fuelUsed,
        expectEpoch: header.epoch,
        segment: baseSegment,
      });
      store.checkpoints.add(header.jobId, encodeDeltaCheckpoint(base.hash, snapshot), {
        fuel: header.fuelUsed,
        expectEpoch: header.epoch,
        baseHash: base.hash,
        segment,
      });
    } else if (snapshot) {
      store.checkpoints.add(header.jobId, snapshot, { fuel: header.fuelUsed, expectEpoch: header.epoch, segment });
    }
  });
}
