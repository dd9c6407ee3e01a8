import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // Binaryen and the guest builds are heavy to load; one fork per file keeps memory modest on 2 cores.
    pool: "forks",
    // The CLI's module cache for `ferry run` in child processes: a temp directory, not the user's
    // ~/.cache/ferry. Entries are keyed by the build, so one left by an earlier run is never stale.
    env: { FERRY_CACHE_DIR: join(tmpdir(), "ferry-test-module-cache") },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
