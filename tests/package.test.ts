// The package as a user gets it: `npm pack` of the built tree into a temp dir, installed offline into
// a scratch project, and there the README's embedding example runs and type-checks against the
// installed types, the `ferry` command starts, and the node's parts say what to install when
// better-sqlite3 (an optional peer dependency, never installed with the package) is missing.
//
// Offline, and why this way. A test may not use the network, and the npm cache `npm ci` leaves holds
// tarballs but no registry metadata, so an offline npm cannot resolve `hono@^4.13.19` from it. The
// package's dependencies are therefore handed to npm as the directories `npm ci` installed here from
// the lockfile (npm links them); npm still checks the packed manifest against them, so a dependency
// the runtime needs but the manifest lacks fails the run below, and one the manifest names that is not
// handed over (or not satisfied by the version here) fails the install with ENOTCACHED. The tarball
// itself is unpacked and installed as a user's would be, bin link included. A fresh temp cache keeps
// ~/.npm out of it, and a closed loopback port as registry catches anything that tries to fetch.
// `npm pack --ignore-scripts`: `npm test` has just built dist/; prepack would clean and rebuild it
// under the running suite (that prepack builds is checked on the manifest below).
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRepoRoot } from "../guest/catalog.js";
import * as reference from "../guest/reference.js";
import { removeDir, tempDir } from "./helpers/node.js";
import { readmeEmbeddingExample } from "./helpers/readme.js";

const root = findRepoRoot();
const work = tempDir("ferry-package-");
const app = join(work, "app");

/** Slow steps on a busy 2-core machine: npm and tsc each take seconds to start. */
const STEP_TIMEOUT_MS = 240_000;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never rejects (the caller asserts on code and output). */
function run(file: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: STEP_TIMEOUT_MS }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The environment for npm: none of the npm_* settings `npm test` passes down to its children. */
function npmEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")));
  return { ...env, npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" };
}

interface PackResult {
  filename: string;
  files: { path: string }[];
}

interface Manifest {
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  exports?: Record<string, unknown>;
}

let packed: PackResult;
let manifest: Manifest;
let install: Ran;

beforeAll(async () => {
  if (!existsSync(join(root, "dist", "runtime", "index.js"))) throw new Error("run `npm run build` first (npm test does)");
  const pack = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], root, npmEnv());
  if (pack.code !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  packed = (JSON.parse(pack.stdout) as PackResult[])[0]!;
  manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Manifest;

  mkdirSync(join(app, "build", "guests"), { recursive: true });
  writeFileSync(join(app, "package.json"), `${JSON.stringify({ name: "ferry-scratch-app", private: true, type: "module" })}\n`);
  const deps = Object.keys(manifest.dependencies ?? {}).map((name) => join(root, "node_modules", name));
  install = await run(
    "npm",
    [
      "install",
      "--offline",
      "--no-package-lock",
      "--cache",
      join(work, "npm-cache"),
      "--registry",
      "http://127.0.0.1:9/",
      join(work, packed.filename),
      ...deps,
    ],
    app,
    npmEnv(),
  );
}, STEP_TIMEOUT_MS);

afterAll(() => removeDir(work));

describe("the packed package", () => {
  it("holds the built runtime, server, CLI and docs, and nothing else (no keys, data, caches or sources)", () => {
    const paths = packed.files.map((f) => f.path).sort();
    const allowed =
      /^(package\.json|README\.md|LICENSE|bin\/ferry\.js|docs\/[\w-]+\.md|dist\/(runtime|server|web|lab)\/[\w/.-]+\.(js|d\.ts)|dist\/guest\/(catalog|reference)\.(js|d\.ts))$/;
    expect(paths.filter((p) => !allowed.test(p))).toEqual([]);
    expect(paths.filter((p) => p.endsWith(".json") && p !== "package.json")).toEqual([]);
    expect(paths.filter((p) => /(^|\/)(data|\.fuzz|node_modules|scratch)\//.test(p))).toEqual([]);
    for (const needed of [
      "dist/runtime/index.js",
      "dist/runtime/index.d.ts",
      "dist/server/index.js",
      "dist/server/index.d.ts",
      "dist/server/client.js",
      "dist/server/client.d.ts",
      "dist/server/cli/main.js",
      "dist/lab/commands.js",
      "dist/runtime/balance/index.js",
      "bin/ferry.js",
      "README.md",
      "docs/design.md",
      // Started by path, not imported: the compile worker, the isolated sandbox's child, the resource worker.
      "dist/runtime/code/compile-worker.js",
      "dist/runtime/sandbox/isolated/child-main.js",
      "dist/runtime/resources/resource-worker.js",
      // The dashboard's client modules: read from disk and served to browsers, not imported.
      "dist/web/client/main.js",
      "dist/web/client/pages/job.js",
    ]) {
      expect(paths, needed).toContain(needed);
    }
  });

  it("builds on prepack, and better-sqlite3 is an optional peer, not a dependency", () => {
    expect(manifest.scripts?.prepack).toMatch(/npm run build/);
    expect(Object.keys(manifest.dependencies ?? {}).sort()).toEqual(["@hono/node-server", "binaryen", "hono"]);
    expect(manifest.peerDependencies?.["better-sqlite3"]).toBeDefined();
    expect(manifest.peerDependenciesMeta?.["better-sqlite3"]?.optional).toBe(true);
    expect(Object.keys(manifest.exports ?? {}).sort()).toEqual([".", "./balance", "./client", "./package.json", "./server"]);
  });

  it("the README walkthrough's keys, data and snapshots are ignored by git", async () => {
    if (!existsSync(join(root, ".git"))) return; // not a clone: nothing for git to ignore
    const written = [
      "data/ferry.db",
      "data/node-key.json",
      "me.key.json",
      "ferry.key.json",
      "ferry-key.json",
      "cluster/a/ferry.db",
      "nbody.ferry",
      ".fuzz/state.json",
      "scratch/x",
    ];
    const r = await run("git", ["check-ignore", "--no-index", ...written], root);
    expect(r.stdout.trim().split("\n").sort()).toEqual([...written].sort());
  });

  it("installs offline into a project, without better-sqlite3", () => {
    expect(install.code, install.stderr).toBe(0);
    expect(lstatSync(join(app, "node_modules", "ferry")).isDirectory()).toBe(true); // unpacked, not linked
    expect(existsSync(join(app, "node_modules", "better-sqlite3"))).toBe(false);
    expect(existsSync(join(app, "node_modules", ".bin", "ferry"))).toBe(true);
  });

  it("runs the README's embedding example there", async () => {
    copyFileSync(join(root, "build", "guests", "nbody.wasm"), join(app, "build", "guests", "nbody.wasm"));
    writeFileSync(join(app, "example.mjs"), readmeEmbeddingExample());
    const r = await run(process.execPath, ["example.mjs"], app);
    expect(r).toMatchObject({ code: 0, stdout: `done ${reference.nbody(100_000)}\n` });
  });

  it("type-checks the README's example as TypeScript against the installed types, and a ferry/client use", async () => {
    // Only @types/node beside the package: ferry's and ferry/client's types must need nothing else.
    mkdirSync(join(app, "types"));
    symlinkSync(join(root, "node_modules", "@types", "node"), join(app, "types", "node"), "dir");
    writeFileSync(join(app, "example.mts"), readmeEmbeddingExample());
    writeFileSync(
      join(app, "client-use.mts"),
      `import { FerryClient, HttpError } from "ferry/client";\n` +
        `export async function state(url: string, id: string): Promise<string> {\n` +
        `  try { return (await new FerryClient({ url }).job(id)).state; } catch (e) { return e instanceof HttpError ? e.code : String(e); }\n}\n`,
    );
    const compilerOptions = {
      module: "NodeNext",
      moduleResolution: "NodeNext",
      target: "ES2022",
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      typeRoots: ["./types"],
      types: ["node"],
    };
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["example.mts", "client-use.mts"] }));
    const r = await run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], app);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("runs isolated guests from the installed package, and its node parts say what to install", async () => {
    copyFileSync(join(root, "build", "guests", "sieve.wasm"), join(app, "build", "guests", "sieve.wasm"));
    writeFileSync(
      join(app, "parts.mjs"),
      `import { readFileSync, existsSync } from "node:fs";\n` +
        `import { Engine } from "ferry";\n` +
        `import { FerryClient } from "ferry/client";\n` +
        `import { startNode } from "ferry/server";\n` +
        `import { createPolicy, mm1MeanResponse } from "ferry/balance";\n` +
        `const engine = new Engine();\n` +
        `const guest = await engine.instantiate(await engine.compile(readFileSync("build/guests/sieve.wasm")), { sandbox: "isolated" });\n` +
        `const isolated = await guest.run("main", [1000]);\n` +
        `await engine.close();\n` +
        `let node;\n` +
        `try { await startNode({ dataDir: "node-data", port: 0 }); node = "started"; } catch (e) { node = { name: e.name, code: e.code, message: e.message }; }\n` +
        `console.log(JSON.stringify({ client: typeof FerryClient, balance: [typeof createPolicy, mm1MeanResponse(0.5, 1)], isolated, node, dataDirLeft: existsSync("node-data") }));\n`,
    );
    const parts = await run(process.execPath, ["parts.mjs"], app);
    expect(parts.code, parts.stderr).toBe(0);
    const out = JSON.parse(parts.stdout) as {
      client: string;
      balance: [string, number];
      isolated: { status: string; value: number };
      node: { code: string; message: string };
      dataDirLeft: boolean;
    };
    expect(out.client).toBe("function");
    expect(out.balance).toEqual(["function", 2]); // M/M/1 at ρ = 0.5 with mean service 1: response 2
    expect(out.isolated).toMatchObject({ status: "done", value: reference.sieve(1000) });
    expect(out.node).toMatchObject({ code: "store_unavailable", message: expect.stringContaining("npm install better-sqlite3") });
    expect(out.dataDirLeft).toBe(false);

    const bin = join(app, "node_modules", ".bin", "ferry");
    const help = await run(bin, ["--help"], app);
    expect(help).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ferry/) });
    // The lab's commands ship with the command (registered by bin/ferry.js), not in the runtime.
    const simulate = await run(bin, ["simulate", "--nodes", "2", "--loads", "0.5", "--jobs", "2000", "--policies", "none"], app);
    expect(simulate).toMatchObject({ code: 0, stdout: expect.stringContaining("| 0.50 | 2.000 |") });
    const serve = await run(bin, ["serve", "--port", "0", "--data-dir", "serve-data"], app);
    expect(serve.stderr).toMatch(/^ferry: error store_unavailable: .*npm install better-sqlite3.*\n$/);
    expect(serve.code).toBe(5);
    expect(existsSync(join(app, "serve-data"))).toBe(false);
  });
});
