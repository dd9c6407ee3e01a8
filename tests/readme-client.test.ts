// README's ferry/client example is real code: extract it, type-check it as TypeScript against the
// built `ferry/client` types (resolved by package name from inside the package, as a user's import
// would be), then run it against a live node and check what it prints.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import ts from "typescript";
import { afterAll, beforeAll, expect, it } from "vitest";
import { findRepoRoot } from "../guest/catalog.js";
import { writeKeyFile } from "../server/auth/index.js";
import { readmeClientExample } from "./helpers/readme.js";
import { removeDir, startTestNode, tempDir, type TestNode } from "./helpers/node.js";

const root = findRepoRoot();
const dir = tempDir("ferry-readme-client-");
let n: TestNode;

beforeAll(async () => {
  n = await startTestNode({ sharedModuleCache: true });
});

afterAll(async () => {
  await n?.close();
  if (n) removeDir(n.dataDir);
  removeDir(dir);
});

it("README's ferry/client example type-checks and runs against a node", async () => {
  const code = readmeClientExample();
  // Inside the package (build/ is git-ignored), so `from "ferry/client"` resolves through package.json "exports".
  const build = join(root, "build", "readme-client");
  mkdirSync(build, { recursive: true });
  writeFileSync(join(build, "example.ts"), code);
  writeFileSync(
    join(build, "tsconfig.json"),
    JSON.stringify({
      extends: "../../tsconfig.json",
      compilerOptions: { noEmit: true, rootDir: "." },
      include: ["example.ts"],
      exclude: [],
    }),
  );
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const checked = await promisify(execFile)(process.execPath, [tsc, "-p", join(build, "tsconfig.json")], { cwd: root }).catch(
    (e: { stdout: string }) => e,
  );
  expect(checked.stdout, "tsc finds no error in the README example").toBe("");

  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  writeFileSync(join(build, "example.mjs"), js);
  const key = join(dir, "me.key.json");
  writeKeyFile(key, n.key);
  const { stdout } = await promisify(execFile)(process.execPath, [join(build, "example.mjs")], {
    cwd: root,
    env: { ...process.env, FERRY_NODE: n.running.url, FERRY_KEY: key },
  });
  expect(stdout).toBe("78498\n409 conflict\n");
}, 120_000);
