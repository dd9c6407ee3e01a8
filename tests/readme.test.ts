// README's embedding example is real code: extract it, run it as a user would (importing "ferry"
// by package name from inside the package), and check what it prints. tests/package.test.ts runs
// it again from a project that installed the packed package.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { findRepoRoot } from "../guest/catalog.js";
import * as reference from "../guest/reference.js";
import { readmeEmbeddingExample } from "./helpers/readme.js";

it("README's embedding example runs and prints the uninterrupted result", async () => {
  const root = findRepoRoot();
  const code = readmeEmbeddingExample();
  expect(code.split("\n").filter((l) => l.trim() !== "").length).toBeLessThanOrEqual(16);
  // Inside the package, so `import ... from "ferry"` resolves through package.json "exports".
  mkdirSync(join(root, "build"), { recursive: true });
  const file = join(root, "build", "readme-example.mjs");
  writeFileSync(file, code);
  const { stdout } = await promisify(execFile)(process.execPath, [file], { cwd: root });
  expect(stdout).toBe(`done ${reference.nbody(100_000)}\n`);
});
