// Host-side errors: every misuse of the runtime and every bad input (module, snapshot, option)
// throws a FerryError whose `code` is one of a closed set; guest failures are *results*, not throws.

/** Closed set of error codes. Each has one fixed message; `detail` names the specific problem. */
export const ERROR_MESSAGES = {
  // Code segment: the module itself is unacceptable.
  not_wasm: "input is not a WebAssembly binary",
  invalid_wasm: "WebAssembly module failed validation",
  unsupported_feature: "module uses a WebAssembly feature Ferry cannot instrument",
  import_not_allowed: "module imports something outside the allow-list",
  module_limit: "module exceeds a configured limit",
  memory_limit: "module's initial memory exceeds the memory cap",
  instrumentation_failed: "instrumenting the module failed",
  compiler_busy: "too many modules are waiting to be compiled",
  // Execution: calling into a guest.
  entry_not_found: "no exported function with that name",
  invalid_arguments: "arguments do not match the entry's signature",
  invalid_option: "invalid option",
  instance_disposed: "instance has been disposed",
  instance_busy: "instance is already running",
  instance_not_paused: "instance is not paused",
  instance_finished: "instance has finished and cannot be resumed",
  not_resumable: "instance cannot pause and resume (built without asyncify)",
  sandbox_unavailable: "no sandbox process is available to host the instance",
  // Execution segment: snapshots.
  snapshot_truncated: "snapshot is truncated",
  snapshot_corrupt: "snapshot integrity check failed",
  snapshot_malformed: "snapshot is malformed",
  snapshot_version: "snapshot format version is not supported",
  snapshot_code_mismatch: "snapshot was taken from a different module",
  snapshot_pipeline_mismatch: "snapshot was taken with a different instrumentation pipeline",
  snapshot_limit: "snapshot exceeds a configured limit",
  snapshot_resources: "snapshot's resource segment names resources this instance was not given",
  tree_malformed: "a transferred directory tree is malformed",
  unknown_module: "no module with that code hash is loaded in this engine",
  weak_malformed: "weak-mobility descriptor is malformed",
} as const;

export type ErrorCode = keyof typeof ERROR_MESSAGES;

/** The one error class the runtime throws on purpose. `message` = fixed text + ": " + detail. */
export class FerryError extends Error {
  override readonly name = "FerryError";
  readonly code: ErrorCode;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${ERROR_MESSAGES[code]}: ${detail}` : ERROR_MESSAGES[code], options);
    this.code = code;
    this.detail = detail;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isFerryError(e: unknown, code?: ErrorCode): e is FerryError {
  return e instanceof FerryError && (code === undefined || e.code === code);
}
