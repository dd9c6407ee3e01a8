// Ferry's public surface: `import { Engine } from "ferry"`. Everything a host program needs to
// compile, run, pause, snapshot, restore and migrate guests, and nothing else.

export { Engine } from "./engine.js";
export type { EngineOptions, EngineConfig, RestoreOptions } from "./engine.js";
export { GuestModule } from "./exec/guest-module.js";
export { GuestInstance } from "./exec/guest-instance.js";
export type { InstanceOptions, InstanceStatus, RunOptions, ResumeOptions, SnapshotOptions, RunResult, RunValue } from "./exec/guest-instance.js";
export type { WasmValue } from "./exec/values.js";
export type { EntryPoint, CodeSegment } from "./code/instrument.js";
export { PIPELINE_VERSION } from "./code/instrument.js";
export type { ModuleLimits } from "./code/validate.js";

export { FerryError, isFerryError, ERROR_MESSAGES } from "./errors.js";
export type { ErrorCode } from "./errors.js";
export { TRAP_CODES, TRAP_MESSAGES } from "./exec/traps.js";
export type { TrapCode } from "./exec/traps.js";

export { encodeSnapshot, decodeSnapshot, inspectSnapshot, SNAPSHOT_FORMAT_VERSION } from "./exec/snapshot-codec.js";
export type { SnapshotInfo, DecodeSnapshotOptions, EncodeSnapshotOptions, SnapshotCompression } from "./exec/snapshot-codec.js";
export type { Snapshot, MemoryImage, MemoryPage, GlobalValue } from "./exec/snapshot.js";
export { encodeWeak, decodeWeak } from "./exec/weak.js";
export type { WeakDescriptor } from "./exec/weak.js";

export * from "./limits.js";
