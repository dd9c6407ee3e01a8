// What a `ferry` command loads, recorded by a loader hook in the child (helpers/load-trace.mjs), not
// timed: help and node commands never load Binaryen, the store, the HTTP server or the engine, and a
// run of a module already in the module cache starts no compile worker (bench/cli-start.ts times them).
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRepoRoot, guestWasmPath } from "../../../guest/catalog.js";
import { COUNTER } from "../../helpers/fixtures.js";
import { removeDir, startTestNode, tempDir, type TestNode } from "../../helpers/node.js";

const root = findRepoRoot();
const dir = tempDir("ferry-cli-startup-");
let traces = 0;
/** The module the cache tests compile: any will do, and a small one is instrumented at once (sieve took seconds a compile). */
const counterWasm = join(dir, "counter.wasm");
writeFileSync(counterWasm, COUNTER);

interface Traced {
  code: number;
  stdout: string;
  stderr: string;
  /** Module URLs the process loaded. */
  loaded: string[];
  /** Worker thread scripts it started. */
  workers: string[];
}

/** `ferry ...args` as a child with the load trace preloaded. */
function traced(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Traced> {
  return tracedNode([join(root, "bin", "ferry.js"), ...args], env);
}

/** `node ...argv` with the load trace preloaded. */
function tracedNode(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Traced> {
  if (!existsSync(join(root, "dist", "lab", "commands.js"))) throw new Error("run `npm run build` first (npm test does)");
  const trace = join(dir, `trace-${traces++}.txt`);
  argv = ["--import", join(root, "tests", "helpers", "load-trace.mjs"), ...argv];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { cwd: dir, env: { ...process.env, FERRY_LOAD_TRACE: trace, ...env } }, (error, stdout, stderr) => {
      const lines = existsSync(trace) ? readFileSync(trace, "utf8").split("\n") : [];
      const code = error ? (typeof error.code === "number" ? error.code : 128) : 0;
      resolve({
        code,
        stdout,
        stderr,
        loaded: lines.filter((l) => l.startsWith("load ")).map((l) => l.slice(5)),
        workers: lines.filter((l) => l.startsWith("worker ")).map((l) => l.slice(7)),
      });
    });
  });
}

/** Packages and parts a command that runs no guest must not load. */
const HEAVY = [
  /node_modules\/binaryen\//,
  /node_modules\/better-sqlite3\//,
  /node_modules\/hono\//,
  /node_modules\/@hono\//,
  /dist\/runtime\/engine\.js$/,
  /dist\/server\/store\//,
];

function heavyIn(loaded: readonly string[]): string[] {
  return loaded.filter((url) => HEAVY.some((re) => re.test(url)));
}

afterAll(() => removeDir(dir));

describe("ferry start-up", () => {
  it("the trace sees what a command loads (the check below is not vacuous)", async () => {
    const r = await traced(["serve", "--help"]);
    expect(r.code).toBe(0);
    expect(r.loaded.some((u) => u.endsWith("/dist/server/cli/main.js"))).toBe(true);
    expect(heavyIn(r.loaded).length).toBeGreaterThan(0); // serve's module pulls the store and Hono
  });

  it("ferry --help loads no Binaryen, store, HTTP server or engine", async () => {
    const r = await traced(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ferry/);
    expect(heavyIn(r.loaded)).toEqual([]);
    expect(r.workers).toEqual([]);
  });

  it('import { Engine } from "ferry" and new Engine() load no Binaryen, store or HTTP server, and start no worker', async () => {
    const script = `const { Engine } = await import(${JSON.stringify(join(root, "dist", "runtime", "index.js"))}); new Engine(); console.log("ok");`;
    const r = await tracedNode(["--input-type=module", "-e", script]);
    expect(r).toMatchObject({ code: 0, stdout: "ok\n" });
    expect(r.loaded.some((u) => u.endsWith("/dist/runtime/engine.js"))).toBe(true);
    expect(heavyIn(r.loaded).filter((u) => !u.endsWith("/dist/runtime/engine.js"))).toEqual([]);
    expect(r.workers).toEqual([]);
  });

  describe("against a live node", () => {
    let node: TestNode;
    let jobId: string;
    beforeAll(async () => {
      node = await startTestNode({ sharedModuleCache: true }); // what `ferry status` loads is under test, not the node's compile
      const { codeHash } = await node.client.uploadModule(readFileSync(guestWasmPath("sieve")), { public: true });
      const job = await node.anonymous.startJob({ codeHash, args: [1000], waitMs: 60_000 });
      expect(job.state).toBe("done");
      jobId = job.id;
    });
    afterAll(() => node.close());

    it("ferry status <job> loads none of them either", async () => {
      const r = await traced(["status", jobId, "--node", node.running.url]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ id: jobId, state: "done" });
      expect(heavyIn(r.loaded)).toEqual([]);
      expect(r.workers).toEqual([]);
    });
  });

  it("ferry run instruments a module once: the second run takes it from the cache, with no compile worker", async () => {
    const cacheDir = join(dir, "cache");
    const args = ["run", counterWasm, "--args", "1000", "--cache-dir", cacheDir];
    const first = await traced(args);
    expect(first).toMatchObject({ code: 0, stdout: "3000\n" });
    expect(first.workers.filter((w) => w.endsWith("compile-worker.js"))).toHaveLength(1);
    expect(readdirSync(cacheDir).filter((f) => f.endsWith(".segment"))).toHaveLength(1);

    const second = await traced(args);
    expect(second).toMatchObject({ code: 0, stdout: first.stdout });
    expect(second.workers).toEqual([]);
    expect(second.loaded.filter((u) => /node_modules\/binaryen\//.test(u))).toEqual([]);

    // --no-cache compiles again; FERRY_CACHE_DIR names the same cache as --cache-dir.
    expect((await traced(["run", counterWasm, "--args", "1000", "--no-cache"])).workers).toHaveLength(1);
    expect((await traced(["run", counterWasm, "--args", "1000"], { FERRY_CACHE_DIR: cacheDir })).workers).toEqual([]);
  });

  it("ferry cache shows and clears the cache", async () => {
    const cacheDir = join(dir, "cache-shown");
    expect((await traced(["run", counterWasm, "--args", "10", "--cache-dir", cacheDir])).code).toBe(0);
    const info = await traced(["cache", "--cache-dir", cacheDir, "--json"]);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ dir: cacheDir, entries: 1 });
    const cleared = await traced(["cache", "clear", "--cache-dir", cacheDir]);
    expect(cleared).toMatchObject({ code: 0, stdout: expect.stringContaining("cleared") });
    expect(readdirSync(cacheDir).filter((f) => f.endsWith(".segment"))).toEqual([]);
    expect((await traced(["cache", "wipe", "--cache-dir", cacheDir])).code).toBe(2);
    expect((await traced(["run", counterWasm, "--cache-dir", cacheDir, "--no-cache"])).code).toBe(2);
  });
});
