// The on-disk module cache a whole test run shares (entries are keyed by the build and verified on
// every read, so a cached module is exactly what compiling it here would give). For tests whose
// subject is not compiling: instrumenting a catalog guest takes a second or more, and a process's
// first compile starts a worker that loads Binaryen (seconds more).
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine, type EngineOptions } from "../../runtime/index.js";

/** The one vitest.config.ts names for the CLI (FERRY_CACHE_DIR), else one in the temp directory. */
export function sharedModuleCacheDir(): string {
  const dir = process.env.FERRY_CACHE_DIR ?? join(tmpdir(), "ferry-test-module-cache");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** An engine that takes modules from the run's cache (and leaves the ones it compiles there). */
export function cachedEngine(options: Omit<EngineOptions, "cacheDir"> = {}): Engine {
  return new Engine({ ...options, cacheDir: sharedModuleCacheDir() });
}
