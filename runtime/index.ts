// Ferry's public surface: `import { Engine } from "ferry"`. Everything a host program needs to
// compile, run, pause, snapshot, restore and migrate guests, and nothing else.

export { DEFAULT_MAX_COMPILED_MODULES, Engine } from "./engine.js";
export type { EngineOptions, EngineConfig, InstantiateOptions, RestoreOptions } from "./engine.js";
export { GuestModule } from "./exec/guest-module.js";
export { GuestInstance } from "./exec/guest-instance.js";
export type {
  InstanceOptions,
  InstanceStatus,
  RunOptions,
  ResumeOptions,
  SnapshotOptions,
  RunResult,
  RunValue,
  PauseReason,
  WasiOptions,
} from "./exec/instance-api.js";
export type { WasmValue } from "./exec/values.js";
export type { Instance, SandboxKind, TrustClass } from "./exec/instance-api.js";
export { SANDBOX_KINDS, TRUST_CLASSES, defaultSandbox } from "./exec/instance-api.js";
export { normalizePlacement, MAX_TIMEOUT_MS } from "./sandbox/placement.js";
export type { Placement, PlacementOptions, PlacementBase, InProcessPlacement, IsolatedPlacement } from "./sandbox/placement.js";
export { Scheduler } from "./sandbox/scheduler.js";
export type { SchedulerOptions, ScheduledJob, JobOptions } from "./sandbox/scheduler.js";
export { DEFAULT_SLICE_BUDGET_MS } from "./sandbox/in-process/slice-sizer.js";
export type { IsolatedPoolOptions } from "./sandbox/isolated/pool.js";
export { CapabilitySet, parseCapability, formatCapability } from "./resources/capabilities.js";
export type { Access, Capability } from "./resources/capabilities.js";
export { MemoryResources } from "./resources/provider.js";
export { FileResources } from "./resources/file-resources.js";
export type { ResourceProvider, ResourceHandle } from "./resources/provider.js";
export { OffThreadFileResources } from "./resources/off-thread-resources.js";
export { ResourceThread, sharedResourceThread } from "./resources/resource-thread.js";
export type { ResourceThreadOptions, ResourceThreadStats } from "./resources/resource-thread.js";
export type { AsyncResourceProvider, AsyncResourceHandle } from "./resources/provider.js";
export type { EntryPoint, CodeSegment } from "./code/segment.js";
export { PIPELINE_VERSION } from "./code/segment.js";
export { ModuleCache, openModuleCache } from "./code/module-cache.js";
export type { ModuleCacheOptions, ModuleCacheStats } from "./code/module-cache.js";
export type { ModuleLimits } from "./code/validate.js";
export { moduleInterface, type ModuleInterface } from "./code/module-interface.js";
export { CompilePool } from "./code/compile-pool.js";
export type { CompilePoolOptions } from "./code/compile-pool.js";
export { GuestExit, GuestTrap } from "./traps.js";
export { importedResourceCall, WASI_MODULE, MAX_WASI_FDS } from "./host/index.js";
export { HostDirectory } from "./resources/host-directory.js";
export { MemoryDirectory } from "./resources/memory-directory.js";
export { actionsFor, chooseAction, parseChoice, ATTACHMENTS, BINDING_KINDS, MIGRATION_ACTIONS } from "./resources/bindings.js";
export type { Attachment, BindingKind, MigrationAction, ResourceBinding } from "./resources/bindings.js";
export {
  applyTree,
  captureTree,
  readManifest,
  removeTree,
  DEFAULT_TREE_MAX_BYTES,
  DEFAULT_TREE_MAX_ENTRIES,
} from "./resources/tree-transfer.js";
export { decodeTreeBundle, encodeTreeBundle, missingBlob, type TreeBundle } from "./resources/tree-bundle.js";
export { TreeDigests } from "./resources/tree-digests.js";
export type { TreeCapture, TreeEntry, TreeLimits, TreeManifest, TransferTree } from "./resources/tree-transfer.js";
export { FsError, normalizeTreePath, isAsyncDirectory } from "./resources/directory.js";
export { OffThreadDirectory } from "./resources/off-thread-directory.js";
export type { OffThreadDirectoryOptions } from "./resources/off-thread-directory.js";
export type { PlacementWasiOptions } from "./sandbox/placement.js";
export type {
  AsyncDirectory,
  AsyncFileHandle,
  Directory,
  DirEntry,
  EntryStat,
  EntryType,
  FileHandle,
  FsErrorName,
  OpenFileOptions,
} from "./resources/directory.js";
// A tree's calls as data (what an isolated child sends its parent; what a global reference sends the home node) and their server.
export { WasiFsServer } from "./host/wasi/fs-server.js";
export { WASI_FS, FS_ERRORS, FS_OPS, answerError, fsErrorAnswer, statFromWire, timeToWire } from "./host/wasi/fs-wire.js";
export type { FsOp, FsRequest } from "./host/wasi/fs-wire.js";
export { HOST_CALL_MAX_IO_BYTES } from "./host/interface.js";
export type { RemoteAnswer } from "./host/interface.js";
export { MAX_WASI_ARGS_BYTES, MAX_WASI_PREOPENS, MAX_WASI_GUEST_PATH_BYTES } from "./sandbox/wasi-placement.js";

export { FerryError, isFerryError, ERROR_MESSAGES } from "./errors.js";
export type { ErrorCode } from "./errors.js";
export { TRAP_CODES, TRAP_MESSAGES } from "./traps.js";
export type { TrapCode } from "./traps.js";

export {
  encodeSnapshot,
  decodeSnapshot,
  inspectSnapshot,
  snapshotDecodeLimits,
  DEFAULT_SNAPSHOT_DECODE_LIMITS,
  SNAPSHOT_FORMAT_VERSION,
  PAGED_FORMAT_VERSION,
  encodeSnapshotParallel,
  encodeSnapshotParts,
  decodeSnapshotParallel,
  digestPages,
  PageHashPool,
  defaultPageHashWorkers,
} from "./exec/snapshot-codec.js";
export type { SnapshotInfo, DecodeSnapshotOptions, EncodeSnapshotOptions, SnapshotCompression } from "./exec/snapshot-codec.js";
export type { Snapshot, MemoryImage, MemoryPage, GlobalValue } from "./exec/snapshot.js";
export { encodeWeak, decodeWeak } from "./exec/weak.js";
export type { WeakDescriptor } from "./exec/weak.js";

export * from "./limits.js";
export { diffSnapshot, applyDelta } from "./exec/snapshot-delta.js";
export { snapshotStats, type SnapshotStats } from "./exec/snapshot-stats.js";
export { SnapshotFileWriter } from "./exec/snapshot-file-writer.js";
export type { SnapshotFile, SnapshotFileOptions } from "./exec/snapshot-file-writer.js";
