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

// Per-function caps on what makes instrumentation super-linear, found by bench/compile-limits.ts.
/** Largest function body, bytes. */
export const DEFAULT_MAX_FUNCTION_BODY_BYTES = 128 * 1024;
/** Most locals (parameters included) one function may have. */
export const DEFAULT_MAX_FUNCTION_LOCALS = 512;
/** Most loops one function may contain. */
export const DEFAULT_MAX_FUNCTION_LOOPS = 500;
/** Most call and call_indirect instructions one function may contain. */
export const DEFAULT_MAX_FUNCTION_CALLS = 1_500;
/** Deepest nesting of blocks, loops and ifs in one function. */
export const DEFAULT_MAX_NESTING_DEPTH = 1_000;
/** Deepest nesting of loops and ifs alone in one function. */
export const DEFAULT_MAX_LOOP_IF_DEPTH = 100;
/** Most br_table targets in one function (all its br_tables together). */
export const DEFAULT_MAX_BR_TABLE_TARGETS = 10_000;

// ---- compiling (validation + instrumentation), see docs/sandboxes.md "Compile limits" ----

/** Compiles running at once, each in its own worker thread; the rest wait in a queue. */
export const DEFAULT_MAX_CONCURRENT_COMPILES = 1;
/** Compiles waiting for a worker; past this a compile is refused with `compiler_busy`. */
export const DEFAULT_COMPILE_MAX_QUEUED = 64;
/**
 * Wall-clock limit of one compile: this many ms, plus DEFAULT_COMPILE_TIMEOUT_MS_PER_KIB for each KiB
 * of the module, at most DEFAULT_COMPILE_MAX_TIMEOUT_MS. Past it the worker is terminated and the
 * module refused. The caps above keep instrumentation about linear in a module's size, so its limit
 * grows with its size too: a large legitimate program is not refused for being large.
 */
export const DEFAULT_COMPILE_TIMEOUT_MS = 120_000;
/** See DEFAULT_COMPILE_TIMEOUT_MS: about 4× the CPU time per KiB of the costliest real program measured (sqlite, clang -O2). */
export const DEFAULT_COMPILE_TIMEOUT_MS_PER_KIB = 250;
/** See DEFAULT_COMPILE_TIMEOUT_MS. */
export const DEFAULT_COMPILE_MAX_TIMEOUT_MS = 30 * 60_000;
/** V8 heap (JS objects) of a compile worker, MiB. */
export const DEFAULT_COMPILE_MAX_HEAP_MB = 256;
/** Binaryen's own heap (a Wasm memory, not counted by V8's heap limit) in a compile worker, MiB. */
export const DEFAULT_COMPILE_MAX_BINARYEN_HEAP_MB = 1024;
/** An idle compile worker exits after this long, ms. */
export const DEFAULT_COMPILE_IDLE_MS = 30_000;
/** Refused modules remembered by code hash (so the same bytes are refused without a compile). */
export const DEFAULT_COMPILE_REMEMBERED_REFUSALS = 10_000;
/** Most bytes an on-disk module cache keeps (runtime/code/module-cache.ts); least recently used entries go first. */
export const DEFAULT_MODULE_CACHE_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Bytes of the Asyncify stack buffer the runtime gives a guest without its own continuation struct,
 * in the pages it reserves at the start of that guest's memory (runtime/code/memory-shift.ts).
 */
export const DEFAULT_CONTINUATION_STACK_BYTES = 256 * 1024;
/** The continuation struct's header, bytes (docs/continuation-abi.md): exec's layout, code's prefix. */
export const CONTINUATION_HEADER_BYTES = 96;

/**
 * How long one awaited host call (Pausing.settle: an asynchronous directory, a call to another node)
 * may take, ms, from the moment it starts until its promise settles. Past it the call fails (EIO for
 * WASI, `resource_unreachable` for Ferry's imports) and the guest goes on: a far end that is down
 * or slow never hangs a job. Per instance: InstanceOptions.awaitDeadlineMs.
 */
export const DEFAULT_AWAIT_DEADLINE_MS = 30_000;

/** Most output bytes one instance may write. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
/** Most log bytes one instance may write. */
export const DEFAULT_MAX_LOG_BYTES = 1024 * 1024;

/** Largest input one instance may be given. */
export const DEFAULT_MAX_INPUT_BYTES = 64 * 1024 * 1024;

/**
 * Arguments an entry point may take: V8's limit on a function's parameters, so every entry a module
 * can export is callable. The continuation struct holds the first five; the host keeps the rest, and
 * a snapshot carries them after the saved stack (docs/continuation-abi.md).
 */
export const MAX_ENTRY_ARGS = 1000;

/**
 * Most bytes one host call moves, so that no single call holds the host for long (a 1 MiB copy into
 * fresh memory takes about half a millisecond): `input_read` and `resource_read` return at most this
 * many (their contract is "up to len"), `resource_write` takes at most this many (it returns the
 * count), and the instrumentation hands `output_write` over in pieces of this size
 * (runtime/code/host-call-helpers.ts), with a fuel check between pieces.
 */
export const MAX_HOST_IO_BYTES = 1024 * 1024;
