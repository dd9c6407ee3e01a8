import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // Forks, each running many files one after another (isolate: false): a file no longer pays for
    // loading the runtime's modules and Binaryen again (~1.5 s a file, ~2 minutes a suite). No test
    // relies on a fresh module registry; each cleans up the servers, children and files it makes.
    pool: "forks",
    isolate: false,
    // Vitest's default is one worker fewer than the cores — a single worker on a 2-core machine,
    // while most of a file's time is spent waiting on child processes, servers and disks.
    maxWorkers: Math.max(2, availableParallelism()),
    // The CLI's module cache for `ferry run` in child processes: a temp directory, not the user's
    // ~/.cache/ferry. Entries are keyed by the build, so one left by an earlier run is never stale.
    env: { FERRY_CACHE_DIR: join(tmpdir(), "ferry-test-module-cache") },
    // Timeouts catch hangs, nothing else: generous, so a machine busy with other work (or the two
    // workers above) slows a test down without failing it.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
