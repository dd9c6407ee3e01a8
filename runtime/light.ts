// The runtime's light entry, for the server and the CLI: the values and parsers a command needs
// without loading the engine (no compile pool, no worker threads, no V8 compile). `ferry --help`,
// `status` and `submit` import only this, so they start in tens of milliseconds
// (tests/server/cli/cli-startup.test.ts checks what each command loads). Everything here is a leaf: it
// imports nothing but other leaves.

export { FerryError, isFerryError, ERROR_MESSAGES } from "./errors.js";
export type { ErrorCode } from "./errors.js";
export * from "./limits.js";
export { CapabilitySet, parseCapability, formatCapability } from "./resources/capabilities.js";
export type { Access, Capability } from "./resources/capabilities.js";
export { decodeImage, encodeImage } from "./exec/continuation.js";
export { TEMP_FILE_PATTERN, commitTempFile, writeFileAtomic } from "./atomic-file.js";
