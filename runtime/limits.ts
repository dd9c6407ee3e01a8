// Every limit the runtime enforces, as a named constant with its unit in the name. Engines take
// overrides; instances start with exactly the budgets they are given.

/** WebAssembly page size in bytes. */
export const WASM_PAGE_BYTES = 65_536;

/** Largest module accepted for instrumentation, in bytes. */
export const DEFAULT_MAX_MODULE_BYTES = 16 * 1024 * 1024;
/** Most functions (imported + defined) a module may declare. */
export const DEFAULT_MAX_FUNCTIONS = 50_000;
/** Most imports a module may declare (all must be on the allow-list as well). */
export const DEFAULT_MAX_IMPORTS = 256;
/** Most exports a module may declare. */
export const DEFAULT_MAX_EXPORTS = 10_000;
/** Most globals a module may declare. */
export const DEFAULT_MAX_GLOBALS = 10_000;
/** Most elements a table may start with or grow to. */
export const DEFAULT_MAX_TABLE_ELEMENTS = 100_000;
/** Most bytes all data segments may hold together. */
export const DEFAULT_MAX_DATA_BYTES = 16 * 1024 * 1024;
/** Memory cap: a guest's linear memory can never grow past this many pages (4 GiB = 65536). */
export const DEFAULT_MAX_MEMORY_PAGES = 4096; // 256 MiB

/** Bytes the runtime lends a guest without its own continuation struct for the Asyncify stack. */
export const DEFAULT_CONTINUATION_STACK_BYTES = 256 * 1024;

/** Most output bytes one instance may write. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
/** Most log bytes one instance may write. */
export const DEFAULT_MAX_LOG_BYTES = 1024 * 1024;

/** Largest input one instance may be given. */
export const DEFAULT_MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** Arguments an entry point may take (the continuation struct has this many slots). */
export const MAX_ENTRY_ARGS = 5;
