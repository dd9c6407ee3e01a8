import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // Binaryen and the guest builds are heavy to load; one fork per file keeps memory modest on 2 cores.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
