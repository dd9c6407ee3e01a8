// The on-disk module cache (runtime/code/module-cache.ts): a module is instrumented once per cache
// directory, and what is read back is verified — a damaged entry, or another module's, is never run.
import { spawn } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findRepoRoot } from "../../../guest/catalog.js";
import { decodeEntry, encodeEntry } from "../../../runtime/code/cache-entry.js";
import { cacheKey } from "../../../runtime/code/cache-key.js";
import { CompilePool } from "../../../runtime/code/compile-pool.js";
import { ModuleCache } from "../../../runtime/code/module-cache.js";
import type { CodeSegment, InstrumentOptions } from "../../../runtime/code/segment.js";
import { Engine, FerryError, type GuestModule } from "../../../runtime/index.js";
import { removeDir, startTestNode, tempDir } from "../../helpers/node.js";
import { wat } from "../../helpers/wat.js";
import { refusal } from "../../helpers/errors.js";

/** A worker start loads Binaryen: seconds of CPU, longer on a busy machine. */
const SLOW_MS = 5 * 60_000;

const ONE = wat(`(module (func (export "main") (result i32) (i32.const 1)))`);
const TWO = wat(`(module (func (export "main") (result i32) (i32.const 2)))`);
const FORBIDDEN = wat(`(module (import "env" "exit" (func)) (func (export "main") (call 0)))`);

// One pool for the file (its worker stays warm); each test reads the change in its counters.
const pool = new CompilePool({});
const dirs: string[] = [];
afterAll(async () => {
  await pool.close();
  for (const d of dirs) removeDir(d);
});

function cacheDir(): string {
  const d = tempDir("ferry-module-cache-");
  dirs.push(d);
  return d;
}

/** A fresh engine on `dir`, as a new process would start: nothing compiled in memory. */
function engineOn(dir: string, options: { maxMemoryPages?: number } = {}): Engine {
  return new Engine({ compilePool: pool, cacheDir: dir, ...options });
}

async function valueOfModule(engine: Engine, module: GuestModule): Promise<unknown> {
  const r = await (await engine.instantiate(module)).run("main", []);
  return r.status === "done" ? r.value : r;
}

function entries(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith(".segment"));
}

function instrumentOptions(engine: Engine): InstrumentOptions {
  return { metering: engine.config.metering, asyncify: engine.config.asyncify, limits: engine.config.limits };
}

describe("the module cache", () => {
  it(
    "answers a second engine's compile from disk: no worker compiles it again",
    async () => {
      const dir = cacheDir();
      const before = pool.stats.compiled;
      const first = engineOn(dir);
      const a = await first.compile(ONE);
      expect(pool.stats.compiled - before).toBe(1);
      expect(entries(dir)).toHaveLength(1);

      const second = engineOn(dir);
      const b = await second.compile(ONE);
      expect(pool.stats.compiled - before).toBe(1); // not instrumented again
      expect(second.moduleCache!.stats).toMatchObject({ hits: 1, rejected: 0 });
      expect(b.segment).toEqual(a.segment);
      expect(await valueOfModule(second, b)).toBe(1);
    },
    SLOW_MS,
  );

  it(
    "keys entries by every setting that changes the output: another memory cap is another entry",
    async () => {
      const dir = cacheDir();
      const before = pool.stats.compiled;
      await engineOn(dir).compile(ONE);
      const capped = await engineOn(dir, { maxMemoryPages: 16 }).compile(ONE);
      expect(pool.stats.compiled - before).toBe(2);
      expect(capped.segment.maxMemoryPages).toBe(16);
      expect(entries(dir)).toHaveLength(2);
    },
    SLOW_MS,
  );

  it.each([
    ["a flipped byte", (f: string) => flipByte(f, Math.floor(statSync(f).size / 2))],
    ["a truncated entry", (f: string) => truncateSync(f, Math.floor(statSync(f).size / 2))],
    ["an empty file", (f: string) => truncateSync(f, 0)],
    ["garbage", (f: string) => writeFileSync(f, "not an entry")],
  ])(
    "ignores %s, compiles again and replaces it with a sound entry",
    async (_what, damage) => {
      const dir = cacheDir();
      await engineOn(dir).compile(ONE);
      const [name] = entries(dir);
      damage(join(dir, name!));

      const before = pool.stats.compiled;
      const engine = engineOn(dir);
      const module = await engine.compile(ONE);
      expect(pool.stats.compiled - before).toBe(1);
      expect(engine.moduleCache!.stats.rejected).toBe(1);
      expect(await valueOfModule(engine, module)).toBe(1);
      // Rewritten: the next engine takes it from disk again.
      const next = engineOn(dir);
      await next.compile(ONE);
      expect(pool.stats.compiled - before).toBe(1);
      expect(next.moduleCache!.stats.hits).toBeGreaterThanOrEqual(1);
    },
    SLOW_MS,
  );

  it(
    "never serves one module's entry as another's: an entry under the wrong name is refused",
    async () => {
      const dir = cacheDir();
      const seed = engineOn(dir);
      await seed.compile(ONE);
      const [oneEntry] = entries(dir);
      await seed.compile(TWO);
      const twoEntry = entries(dir).find((f) => f !== oneEntry)!;
      copyFileSync(join(dir, oneEntry!), join(dir, twoEntry)); // TWO's file now holds ONE's sound entry

      const before = pool.stats.compiled;
      const engine = engineOn(dir);
      const two = await engine.compile(TWO);
      expect(engine.moduleCache!.stats.rejected).toBe(1);
      expect(pool.stats.compiled - before).toBe(1);
      expect(two.codeHash).not.toBe((await engine.compile(ONE)).codeHash);
      expect(await valueOfModule(engine, two)).toBe(2);
    },
    SLOW_MS,
  );

  it(
    "checks every field it relies on, not only the checksum: a resealed entry of another module is refused",
    async () => {
      const engine = engineOn(cacheDir());
      const one = (await engine.compile(ONE)).segment;
      const two = (await engine.compile(TWO)).segment;
      const options = instrumentOptions(engine);
      const key = cacheKey(two.codeHash, options);
      expect(decodeEntry(encodeEntry(key, two), key, two.codeHash, options)).toEqual(two);
      // Sealed under TWO's key, with ONE's segment: the checksum holds, the code hash does not.
      expect(decodeEntry(encodeEntry(key, one), key, two.codeHash, options)).toBe("code hash mismatch");
      expect(
        decodeEntry(encodeEntry(key, { ...two, bytes: new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9]) }), key, two.codeHash, options),
      ).toBe("instrumented bytes do not validate");
      expect(
        decodeEntry(encodeEntry(key, { ...two, entries: "main" as unknown as CodeSegment["entries"] }), key, two.codeHash, options),
      ).toBe("bad entries");
      expect(decodeEntry(encodeEntry(key, two), cacheKey(two.codeHash, { ...options, asyncify: false }), two.codeHash, options)).toBe(
        "written under another key",
      );
    },
    SLOW_MS,
  );

  it(
    "does not store refusals (they may depend on the machine, not the bytes)",
    async () => {
      const dir = cacheDir();
      const engine = engineOn(dir);
      await expect(engine.compile(FORBIDDEN)).rejects.toMatchObject({ code: "import_not_allowed" });
      expect(entries(dir)).toHaveLength(0);
      expect(engine.moduleCache!.stats.stored).toBe(0);
    },
    SLOW_MS,
  );

  it(
    "keeps within maxBytes, the least recently used going first",
    async () => {
      const engine = engineOn(cacheDir());
      const segment = (await engine.compile(ONE)).segment;
      const options = instrumentOptions(engine);
      const dir = cacheDir();
      const size = encodeEntry(cacheKey("h0", options), { ...segment, codeHash: "h0" }).byteLength;
      const cache = new ModuleCache(dir, { maxBytes: Math.floor(size * 2.5) });
      const put = (h: string) => cache.put(h, options, { ...segment, codeHash: h });
      await put("h0");
      await put("h1");
      const now = Date.now() / 1000;
      for (const [i, name] of entries(dir).entries()) utimesSync(join(dir, name), now - 100 - i, now - 100 - i);
      expect(await cache.get("h0", options)).toBeDefined(); // h0 is now the most recently used
      await put("h2");
      expect(cache.stats.evicted).toBe(1);
      expect(entries(dir)).toHaveLength(2);
      expect(await cache.get("h1", options)).toBeUndefined();
      expect(await cache.get("h0", options)).toBeDefined();
      expect(await cache.get("h2", options)).toBeDefined();
      expect((await cache.usage()).bytes).toBeLessThanOrEqual(cache.maxBytes);
    },
    SLOW_MS,
  );

  it(
    "stays sound with processes writing the same entry at once while another reads it",
    async () => {
      const engine = engineOn(cacheDir());
      const segment = (await engine.compile(ONE)).segment;
      const options = instrumentOptions(engine);
      const dir = cacheDir();
      const segmentFile = join(dir, "segment.json");
      writeFileSync(
        segmentFile,
        JSON.stringify({
          codeHash: segment.codeHash,
          options,
          segment: { ...segment, bytes: Buffer.from(segment.bytes).toString("base64") },
        }),
      );
      const writers = [0, 1, 2].map(() =>
        runChild([join(findRepoRoot(), "tests", "helpers", "cache-writer-child.mjs"), dir, segmentFile, "40"]),
      );
      const reader = new ModuleCache(dir);
      let done = false;
      const all = Promise.all(writers).finally(() => (done = true));
      while (!done) {
        const got = await reader.get(segment.codeHash, options);
        if (got) expect(got.bytes).toEqual(segment.bytes);
      }
      for (const out of await all) expect(JSON.parse(out)).toEqual({ stored: 40, writeFailures: 0 });
      expect(reader.stats.rejected).toBe(0); // never a torn or mixed entry
      expect(await reader.get(segment.codeHash, options)).toBeDefined();
      expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
      expect(entries(dir)).toHaveLength(1);
    },
    SLOW_MS,
  );

  it(
    "a node keeps its instrumented modules in its data directory: after a restart it compiles nothing",
    async () => {
      const dataDir = cacheDir();
      const first = await startTestNode({ dataDir });
      const { codeHash } = await first.client.uploadModule(ONE, { public: true });
      // (Compiled twice: the uploader's quota and anonymous jobs have different memory caps, so different code.)
      expect(await first.anonymous.startJob({ codeHash, waitMs: 60_000 })).toMatchObject({ state: "done", result: { value: 1 } });
      const compiled = first.running.node.compilePool.stats.compiled;
      expect(compiled).toBeGreaterThanOrEqual(1);
      await first.close();
      expect(entries(join(dataDir, "module-cache"))).toHaveLength(compiled);

      const second = await startTestNode({ dataDir, key: first.key });
      try {
        const job = await second.anonymous.startJob({ codeHash, waitMs: 60_000 });
        expect(job).toMatchObject({ state: "done", result: { value: 1 } });
        expect(second.running.node.compilePool.stats.compiled).toBe(0);
        expect(second.running.node.moduleCache.stats.hits).toBeGreaterThanOrEqual(1);
        expect(await (await second.anonymous.request("GET", "/metrics")).text()).toMatch(
          /^ferry_module_cache_hits_total(\{[^}]*\})? [1-9]/m,
        );
      } finally {
        await second.close();
      }
    },
    SLOW_MS,
  );

  it("refuses a cacheDir that is not a path", async () => {
    expect(() => new Engine({ cacheDir: "" })).toThrow(FerryError);
    expect(await refusal(() => new Engine({ cacheDir: "x", cacheMaxBytes: -1 }))).toMatchObject({
      code: "invalid_option",
      message: expect.stringContaining("cacheMaxBytes"),
    });
  });
});

function flipByte(file: string, at: number): void {
  const bytes = readFileSync(file);
  bytes[at] = bytes[at]! ^ 0xff;
  writeFileSync(file, bytes);
}

function runChild(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`writer exited ${code}: ${err}`))));
  });
}
