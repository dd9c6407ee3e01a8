// The durable store's public surface for the rest of the server (HTTP layer, CLI, migration).

export { Store, DATABASE_FILE, BLOBS_DIR, DEFAULT_GARBAGE_GRACE_MS, type StoreOptions, type OpenReport } from "./store.js";
export { BlobStore, isBlobHash, sha256Hex, type PutResult } from "./blobs.js";
export { DEFAULT_CHECKPOINTS_KEPT } from "./checkpoints.js";
export type { NewClient } from "./clients.js";
export type { NewModule } from "./modules.js";
export type { NewJob, JobPatch, JobFilter } from "./jobs.js";
export { MIGRATIONS, SCHEMA_VERSION, type Migration } from "./schema.js";
export type { PinAccess, PinRecord } from "./pins.js";
export {
  FINISHED_JOB_STATES,
  JOB_SANDBOXES,
  JOB_STATES,
  JOB_TRUSTS,
  type CheckpointRecord,
  type SegmentStats,
  type ClientRecord,
  type JobRecord,
  type JobSandbox,
  type JobState,
  type JobTrust,
  type Json,
  type ModuleRecord,
  type PeerRecord,
} from "./records.js";
