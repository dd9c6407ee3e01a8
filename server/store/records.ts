// The rows the store hands out, as plain typed objects (timestamps in Unix milliseconds), and the
// closed sets their enumerated columns draw from.

import type { Attachment, BindingKind, MigrationAction, SandboxKind, TrustClass } from "../../runtime/index.js";
import type { Quotas } from "../formats/grants.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ClientRecord {
  id: string;
  /** Ed25519 SPKI, PEM. The server keeps only public keys. */
  publicKey: string;
  capabilities: string[];
  quotas: Quotas;
  createdAt: number;
  disabled: boolean;
}

export interface ModuleRecord {
  /** sha256 of the uploaded (uninstrumented) bytes, hex: the runtime's code hash. */
  codeHash: string;
  /** null: arrived without an owner (downloaded from a peer). */
  owner: string | null;
  public: boolean;
  size: number;
  createdAt: number;
}

/** The runtime's TrustClass and SandboxKind; the lists are the schema's CHECK constraints (schema.ts). */
export type JobTrust = TrustClass;
export type JobSandbox = SandboxKind;
export const JOB_TRUSTS: readonly JobTrust[] = ["anonymous", "authenticated"];
export const JOB_SANDBOXES: readonly JobSandbox[] = ["in-process", "isolated"];

/**
 * queued → running ⇄ paused → done | trapped | failed | cancelled; a job leaving for a peer is
 * `migrating` while the transfer is prepared and `migrated` once the source decided to hand it
 * over. On the receiving node a job is `prepared` (stored, never run) until the source commits.
 */
export const JOB_STATES = [
  "queued",
  "running",
  "paused",
  "migrating",
  "migrated",
  "prepared",
  "done",
  "trapped",
  "failed",
  "cancelled",
] as const;
export type JobState = (typeof JOB_STATES)[number];
/** States after which the job never runs here again. */
export const FINISHED_JOB_STATES: readonly JobState[] = ["migrated", "done", "trapped", "failed", "cancelled"];

/**
 * A preopened directory of a WASI job: `resource` names a directory under the owner's resource root
 * (<data-dir>/resources/<client>/<resource>), `scratch` a private in-memory tree that lives and
 * travels with the job (by value). What a migration does with a resource directory follows its
 * binding and attachment (runtime/resources/bindings.ts; default: by identifier, fastened → a global
 * reference), or the action the job asked for (`migrate`, when the table allows it).
 */
export type JobWasiDir = JobResourceDir | { guest: string; scratch: true };

export interface JobResourceDir {
  guest: string;
  resource: string;
  access: "r" | "rw";
  binding?: BindingKind;
  attachment?: Attachment;
  migrate?: MigrationAction;
  /**
   * Set by migration only (never by a client): the directory stays at node `home`, pinned there as
   * `pin`, and the job reaches it by global reference. Dropped when the job is back at `home`.
   */
  home?: PinReference;
}

/** What a job elsewhere holds of a directory at its home node: where, which pin, what access. */
export interface PinReference {
  /** The home node's id. */
  home: string;
  pin: string;
  access: "r" | "rw";
}

/** What a WASI job (one importing wasi_snapshot_preview1) is given, as the job stores and ships it. */
export interface JobWasi {
  /** argv[1..] (argv[0] is "guest"). */
  args: string[];
  env: Record<string, string>;
  dirs: JobWasiDir[];
}

export interface JobRecord {
  id: string;
  codeHash: string;
  /** null: anonymous. */
  owner: string | null;
  trust: JobTrust;
  sandbox: JobSandbox;
  entry: string;
  args: Json[];
  /** Blob holding the guest's input bytes, if it has any. */
  inputHash: string | null;
  /** Total fuel budget of the job, if limited. */
  fuelLimit: number | null;
  state: JobState;
  result: Json;
  /** Blob holding the guest's output once the job finished, if any. */
  outputHash: string | null;
  fuelUsed: number;
  /** Bumped by every ownership transfer; a write that names an old epoch is a conflict (exactly-once migration). */
  epoch: number;
  /** Node the job lives on. */
  node: string;
  /** A WASI job's argv, environment and directories (null: not given). */
  wasi: JobWasi | null;
  /** Migrated here with directories moved or copied: their tree bundle (a blob) until laid down before the job runs. */
  treesHash: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface CheckpointRecord {
  jobId: string;
  /** 1, 2, 3, … per job. */
  seq: number;
  snapshotHash: string;
  size: number;
  /** Fuel the job had used when the snapshot was taken. */
  fuel: number;
  createdAt: number;
  /** A delta checkpoint's base: the full checkpoint (one of the job's rows) it applies to. */
  baseHash?: string;
  /** What the snapshot held (absent for checkpoints written before schema version 9). */
  segment?: SegmentStats;
}

/**
 * A snapshot's execution segment in three numbers, counted when it is written (the dashboard's
 * memory column and a job's execution segment read them without decoding anything).
 */
export interface SegmentStats {
  /** The guest's linear memory, in 64 KiB pages (what the instance held). */
  memoryPages: number;
  /** Pages holding a non-zero byte: what a snapshot has to carry. */
  touchedPages: number;
  /** Bytes of call frames Asyncify saved (0 when the job stopped at a checkpoint() call or between runs). */
  savedFrameBytes: number;
}

export interface PeerRecord {
  nodeId: string;
  url: string;
  /** Ed25519 SPKI, PEM: verifies the peer's transfers. */
  publicKey: string;
}
