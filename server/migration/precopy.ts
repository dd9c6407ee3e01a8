// Pre-copy (docs/migration-protocol.md): before a strong migration stops a running job, the source
// ships its state while it runs on — a full copy, then, while the job keeps writing, rounds of the
// pages it changed since — and the target keeps the result as the *base* the PREPARE's delta names.
// The source side decides which rounds pay; the target side keeps one base per transfer. The
// transport (signed PRE-COPY requests) and the checks on them stay in source.ts and target.ts.

import { applyDelta, encodeSnapshot, type Snapshot } from "../../runtime/index.js";
import { ServerError } from "../errors.js";
import type { MovableJob } from "./host.js";
import type { Store } from "../store/store.js";

/**
 * Iterative pre-copy: after the first, full copy, each round sends the pages the job dirtied since
 * the previous one, so the delta left for the stop shrinks while the job writes slower than the
 * link carries. A round is only sent while it pays: its delta must be over `stopBytes` (below that
 * the stop sends about as much) and at most half the previous round's (otherwise the job dirties
 * memory about as fast as it travels, and more rounds would not converge).
 */
export interface PrecopyOptions {
  /** Rounds at most, the first (full) one included; 1 = a single copy. Default 4. */
  maxRounds?: number;
  /** A round whose delta is this small is not sent: the stop will carry it. Default 256 KiB. */
  stopBytes?: number;
}

const DEFAULT_ROUNDS = 4;
/** Rounds and stored bases are format version 4 (docs/snapshot-format.md): a page table of digests. */
const PAGED = { pageTable: true } as const;
const DEFAULT_STOP_BYTES = 256 * 1024;
/** The target refuses rounds beyond this for one job and epoch. */
export const MAX_PRECOPY_ROUNDS = 16;
/** Transfers whose base a target keeps decoded at once; older ones are dropped (their PREPARE is refused). */
const BASES_KEPT = 2;

/** What the source needs of the migrator: pausing the job, and the signed PRE-COPY request. */
export interface PrecopyLink<J extends MovableJob> {
  /** Stop a running job after its slice; false if it finished meanwhile. */
  stop(job: J): Promise<boolean>;
  /** Let a job stopped for a moment run on. */
  goOn(job: J): void;
  /** Send one round (a whole snapshot, or a delta on `baseHash`); resolves with the hash the target stored it under. */
  send(body: Uint8Array, baseHash: string | null): Promise<string>;
  /** Paused for a copy / running again. */
  mark(mark: "source:precopy-stopped" | "source:precopy-resumed"): void;
}

/** Source side: the rounds for one transfer. */
export class PrecopySender {
  readonly maxRounds: number;
  readonly stopBytes: number;

  constructor(options: PrecopyOptions = {}) {
    this.maxRounds = options.maxRounds ?? DEFAULT_ROUNDS;
    this.stopBytes = options.stopBytes ?? DEFAULT_STOP_BYTES;
    if (!Number.isSafeInteger(this.maxRounds) || this.maxRounds < 1 || this.maxRounds > MAX_PRECOPY_ROUNDS) {
      throw new ServerError(
        "bad_request",
        `precopy.maxRounds must be an integer from 1 to ${MAX_PRECOPY_ROUNDS}, got ${String(options.maxRounds)}`,
      );
    }
    if (!Number.isSafeInteger(this.stopBytes) || this.stopBytes < 0) {
      throw new ServerError("bad_request", `precopy.stopBytes must be a non-negative integer, got ${String(options.stopBytes)}`);
    }
  }

  /**
   * Run the rounds while `job` runs on. Returns the last base the target acknowledged (the source's
   * copy of it and its hash there); a failed later round only ends the iteration, since the target
   * still holds the previous base. Throws if the first round fails.
   */
  async run<J extends MovableJob>(job: J, link: PrecopyLink<J>): Promise<{ snapshot: Snapshot; hash: string }> {
    const first = await this.copy(job, link);
    // Format version 4: pages carry their digests from here on (applyDelta keeps them), so no round
    // rehashes a page it did not change, and identical pages travel once.
    const firstBody = encodeSnapshot(first, PAGED);
    let base = { snapshot: first, hash: await link.send(firstBody, null) };
    let previousBytes = firstBody.byteLength;
    for (let round = 2; round <= this.maxRounds; round++) {
      // Only the pages changed since the last base: a scan, and a copy of those pages alone.
      const delta = await this.copy(job, link, base.snapshot).catch(() => undefined);
      if (!delta) break;
      const body = encodeSnapshot(delta, PAGED);
      if (body.byteLength <= this.stopBytes || body.byteLength > previousBytes / 2) break;
      const hash = await link.send(body, base.hash).catch(() => undefined);
      if (hash === undefined) break;
      base = { snapshot: applyDelta(base.snapshot, delta), hash };
      previousBytes = body.byteLength;
    }
    return base;
  }

  /** Pause the running job just long enough to copy its state (or what changed `since`), and let it go on. */
  private async copy<J extends MovableJob>(job: J, link: PrecopyLink<J>, since?: Snapshot): Promise<Snapshot> {
    if (!(await link.stop(job))) throw new ServerError("conflict", `job ${job.id} finished`);
    link.mark("source:precopy-stopped");
    try {
      return await job.snapshot(since ? { since } : {});
    } finally {
      link.goOn(job);
      link.mark("source:precopy-resumed");
    }
  }
}

export interface StoredBase {
  hash: string;
  size: number;
  snapshot: Snapshot;
  /** Rounds that built it (1 for the first, full copy). */
  rounds: number;
  /** The node sending the transfer: only it may add rounds or name the base in its PREPARE. */
  source: string;
  /** The job's code, when the target had to take it from the source (stored only with the PREPARE). */
  module?: Uint8Array;
  /** The bytes of travelling directories' files the rounds brought, by sha256 (travelling-trees.ts). */
  blobs?: Map<string, Uint8Array>;
}

/** Target side: the newest base of each transfer in flight, durable in the blob store and kept decoded. */
export class PrecopyBases {
  private readonly bases = new Map<string, StoredBase>();

  constructor(private readonly store: Store) {}

  /**
   * Store a verified round as the transfer's new base: `snapshot` whole, or, when `baseHash` names
   * the previous round's base, a delta on it. Returns the new base's blob hash.
   */
  accept(
    jobId: string,
    epoch: number,
    source: string,
    snapshot: Snapshot,
    body: Uint8Array,
    baseHash: string | null,
    carried: { module?: Uint8Array | undefined; blobs?: Map<string, Uint8Array> | undefined } = {},
  ): string {
    const { module, blobs } = carried;
    const key = `${jobId}@${epoch}`;
    const held = this.bases.get(key);
    if (held && held.source !== source)
      throw new ServerError("forbidden", `job ${jobId} at epoch ${epoch} is being pre-copied here by another node`);
    const previous = baseHash ? held : undefined;
    if (baseHash && (!previous || previous.hash !== baseHash))
      throw new ServerError("conflict", `no pre-copied base ${baseHash} for job ${jobId} at epoch ${epoch}`);
    if (previous && previous.rounds >= MAX_PRECOPY_ROUNDS)
      throw new ServerError("conflict", `more than ${MAX_PRECOPY_ROUNDS} pre-copy rounds for job ${jobId}`);
    let bytes = body;
    if (previous) {
      snapshot = applyDelta(previous.snapshot, snapshot);
      // Stored whole, so a PREPARE's checkpoints stay one delta on one base; the decoded pages carry the
      // digests they were checked against, so this hashes none of them again.
      bytes = encodeSnapshot(snapshot, PAGED);
    }
    // Durable now, while the job still runs at the source: the PREPARE that follows only adds a delta.
    // Unreferenced until then; the store's garbage collection leaves young blobs alone.
    const { hash, size } = this.store.blobs.put(bytes);
    this.bases.delete(key);
    this.bases.set(key, {
      hash,
      size,
      snapshot,
      rounds: (previous?.rounds ?? 0) + 1,
      source,
      ...(module ? { module } : {}),
      ...(blobs ? { blobs } : {}),
    });
    // The base this round supersedes is garbage now, unless another transfer's base is the same blob.
    if (previous && previous.hash !== hash && ![...this.bases.values()].some((b) => b.hash === previous.hash)) {
      this.store.dropUnreferencedBlob(previous.hash);
    }
    while (this.bases.size > BASES_KEPT) this.bases.delete(this.bases.keys().next().value!);
    return hash;
  }

  /** The base a PREPARE names, handed over (and forgotten here); refused if it is not the newest one held. */
  take(jobId: string, epoch: number, baseHash: string, source: string): StoredBase {
    const key = `${jobId}@${epoch}`;
    const base = this.bases.get(key);
    if (base && base.source !== source)
      throw new ServerError("forbidden", `job ${jobId} at epoch ${epoch} is being pre-copied here by another node`);
    this.bases.delete(key);
    if (!base || base.hash !== baseHash)
      throw new ServerError("conflict", `no pre-copied base ${baseHash} for job ${jobId} at epoch ${epoch}`);
    return base;
  }

  /** The directories' bytes earlier rounds of this transfer brought from `source`, if any. */
  blobs(jobId: string, epoch: number, source: string): Map<string, Uint8Array> | undefined {
    const base = this.bases.get(`${jobId}@${epoch}`);
    return base && base.source === source ? base.blobs : undefined;
  }

  /** The code a previous round took from `source` for this transfer, if any (not downloaded twice). */
  module(jobId: string, epoch: number, source: string): Uint8Array | undefined {
    const base = this.bases.get(`${jobId}@${epoch}`);
    return base && base.source === source ? base.module : undefined;
  }
}
