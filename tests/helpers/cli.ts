// The `ferry` command as a user runs it: a real child process of the built CLI (bin/ferry.js).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { findRepoRoot } from "../../guest/catalog.js";

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export const FERRY_BIN = join(findRepoRoot(), "bin", "ferry.js");

/** Runs `ferry ...args` to its end; `code` is the exit status (128 + n for a signal). */
export function ferry(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {},
): Promise<Ran> {
  if (!existsSync(join(findRepoRoot(), "dist", "lab", "commands.js"))) throw new Error("run `npm run build` first (npm test does)");
  return new Promise((resolve) => {
    execFile(process.execPath, [FERRY_BIN, ...args], { maxBuffer: 16 * 1024 * 1024, ...options }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 128 + 9) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
