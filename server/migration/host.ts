// What migration needs of the node it runs in, declared here so server/migration depends on no
// part of the node: a job it can lock and snapshot (MovableJob — the node's LiveJob is one), and the
// node's side of a transfer (TransferHost — implemented by server/node/transfer-host.ts). Migration
// never reaches the scheduler, the engines or HTTP; it asks the host.

import type { GuestModule, Snapshot, TreeLimits } from "../../runtime/index.js";
import type { JobPatch } from "../store/jobs.js";
import type { JobRecord, JobWasi } from "../store/records.js";
import type { Store } from "../store/store.js";
import type { TransferHeader } from "./transfer-header.js";

/** A job this node holds, as migration sees it. */
export interface MovableJob {
  readonly id: string;
  /** The job's current row (the host keeps it up to date through `update`). */
  readonly record: JobRecord;
  /** Run `fn` after every earlier control operation (pause, checkpoint, migrate) on the job has finished. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * The stopped job's snapshot: `since` a base (only the pages changed since), or all of it; `move`
   * hands its memory over (the instance is spent; an abort brings it back from the snapshot).
   */
  snapshot(options?: { since?: Snapshot; move?: boolean }): Promise<Snapshot>;
}

/** The node's side of a transfer. `J` is the node's own job type, handed back as it was given. */
export interface TransferHost<J extends MovableJob = MovableJob> {
  readonly nodeId: string;
  readonly store: Store;
  /** Stop a live job after its current slice (or take it off the queue); false if it finished meanwhile. */
  stop(job: J): Promise<boolean>;
  /** Every state change of a job this node holds goes through the node (its listeners hear of it). */
  update(job: J, patch: JobPatch): void;
  /** The job has left: drop its instance and forget it. */
  forget(job: J): void;
  /** The transfer was abandoned: the job goes on here, from `snapshot` if its instance moved out. */
  reinstate(job: J, snapshot: Snapshot | undefined, previous: "queued" | "running" | "paused"): Promise<void>;
  /** Let a job stopped for a moment (a pre-copy) run on. */
  goOn(job: J): void;
  /** The memory cap (pages) a job of `owner` runs with here. */
  maxMemoryPages(owner: string | null): number;
  /** The most fuel one job of `owner` may use here (its quota). */
  maxFuelPerJob(owner: string | null): number;
  /**
   * Restore a prepared strong transfer, paused, without registering it; throws if it cannot run here.
   * `header` is the target's own view of the job (owner by grant, limits capped); `module` its code.
   */
  stage(header: TransferHeader, snapshot: Snapshot, module: Uint8Array): Promise<J>;
  /** Drop a staged job that will not be committed. */
  discard(staged: J): void;
  /** Run a committed job here: `staged` if it is still held, else from its checkpoint (strong) or its start (weak). */
  adopt(record: JobRecord, staged?: J): Promise<void>;
  /** Check arriving code the way an upload is checked (validate, instrument) for a job of `owner`. */
  compile(bytes: Uint8Array, owner: string | null): Promise<GuestModule>;
  /**
   * Throws (403 forbidden, naming the capability) if the job's WASI resource directories cannot be
   * bound here for `header.owner` (the target's view of it): a transfer it refuses leaves the job at its source.
   */
  checkDirectories(header: TransferHeader): void;
  /** Whether job `id` is live on this node now. */
  isLive(id: string): boolean;
  /** How much a tree bundle for a job of `owner` may hold here (its resource quota). */
  treeLimits(owner: string | null): Required<TreeLimits>;
  /**
   * What the job's resource directories do in a transfer to `peer` (pins made now for those left
   * here): throws, and the job stays, when one cannot go there (a reference to a third node).
   */
  resourcesFor(job: J, peer: string): Promise<OutgoingResources>;
}

/** One transfer's view of a job's resource directories (the node's side: server/node/dir-migration.ts). */
export interface OutgoingResources {
  /** The WASI configuration the target gets: the directories left here name their pins (global references). */
  readonly wasi: JobWasi | null;
  /**
   * The directories that travel (moved or copied) as a tree bundle without the blobs whose digest is
   * in `sent`; the digests it carries, to add to `sent` once the target has them. Undefined: none travel.
   */
  capture(sent: ReadonlySet<string>): Promise<{ bundle: Uint8Array; digests: string[] } | undefined>;
  /** The transfer did not happen: the pins made for it are released. */
  abandon(): Promise<void>;
  /** The job is the target's now: the moved directories' files go from here. */
  decided(): Promise<void>;
}
