// Compile bombs against a real node process over HTTP (issue 8 §2): while the worst modules the caps
// let through are being instrumented, /healthz keeps answering (the compile is off the event loop);
// modules past a cap or the time limit are refused 413 module_limit, and the same bytes uploaded
// again are refused from the node's memory of refusals, without a second compile.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, type SigningKey } from "../../server/auth/index.js";
import { FerryClient, HttpError } from "../../server/client.js";
import { Store } from "../../server/store/store.js";
import { findRepoRoot } from "../../guest/catalog.js";
import { Engine } from "../../runtime/index.js";
import { validateModule } from "../../runtime/code/validate.js";
import { shape } from "../../bench/compile-shapes.js";
import { removeDir, tempDir } from "../helpers/node.js";

const limits = new Engine().config.limits;
/** A compile at a cap is seconds of CPU; on a busy 2-core machine, minutes of wall clock. */
const SLOW_MS = 10 * 60_000;

interface Node {
  child: ChildProcess;
  url: string;
  client: FerryClient;
  dataDir: string;
  stop(): Promise<void>;
}

/** `ferry serve` as a child process with a registered client, extra flags appended. */
async function serve(flags: string[]): Promise<Node> {
  const dataDir = tempDir("ferry-compile-");
  const key: SigningKey = generateSigningKey();
  const store = Store.open(dataDir);
  store.clients.add({ publicKey: key.publicKey, quotas: { maxModuleBytes: 16 * 1024 * 1024 }, capabilities: [] });
  store.close();
  const child = spawn(
    process.execPath,
    [join(findRepoRoot(), "bin", "ferry.js"), "serve", "--port", "0", "--data-dir", dataDir, "--json", ...flags],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`ferry serve exited (${code}) before listening: ${stderr}`)));
  });
  const { url } = JSON.parse(line) as { url: string };
  return {
    child,
    url,
    dataDir,
    client: new FerryClient({ url, key }),
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      removeDir(dataDir);
    },
  };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, "m").exec(text);
  if (!m) throw new Error(`no metric ${name}`);
  return Number(m[1]);
}

async function uploadError(client: FerryClient, bytes: Uint8Array): Promise<{ status: number; code: string }> {
  try {
    await client.uploadModule(bytes, { public: false });
  } catch (e) {
    if (e instanceof HttpError) return { status: e.status, code: e.code };
    throw e;
  }
  return { status: 200, code: "ok" };
}

/** The largest N of a shape the default caps accept. */
function atCap(name: string): Uint8Array {
  const ok = (n: number): boolean => {
    try {
      validateModule(shape(name).build(n), limits);
      return true;
    } catch {
      return false;
    }
  };
  let lo = 1;
  let hi = 2;
  while (ok(hi)) [lo, hi] = [hi, hi * 2];
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (ok(mid)) lo = mid;
    else hi = mid;
  }
  return shape(name).build(lo);
}

/**
 * Upload `bytes`; once the node reports the compile running (/metrics), ask /healthz again and
 * again (each request after the previous answer) until the upload answers. Returns how many health
 * answers arrived while the compile ran. A node compiling on its event loop answers neither the
 * metrics nor the health checks until the compile is over: none.
 */
async function healthDuring(node: Node, bytes: Uint8Array): Promise<{ answeredDuring: number; upload: { status: number; code: string } }> {
  let done = false;
  const upload = uploadError(node.client, bytes).finally(() => (done = true));
  while (!done && (await metric(node.url, "ferry_compiles_running")) === 0) {
    // the upload is still arriving, being authenticated, or waiting for the worker
  }
  let answeredDuring = 0;
  while (!done) {
    const r = await fetch(`${node.url}/healthz`);
    expect(r.status).toBe(200);
    await r.arrayBuffer();
    if (!done) answeredDuring++;
  }
  return { answeredDuring, upload: await upload };
}

describe("a node compiling the worst modules", () => {
  let node: Node;
  beforeAll(async () => {
    node = await serve([]);
  });
  afterAll(async () => {
    await node?.stop();
  });

  // The slowest shapes at their caps (bench/compile-limits.ts): each takes Binaryen seconds of CPU,
  // against a millisecond per health check, so a node whose event loop were busy compiling would
  // answer none of them before the upload.
  it.each(["loops-with-calls", "i64-locals-across-calls", "calls-in-one-function"])(
    "answers /healthz while instrumenting %s at its cap",
    async (name) => {
      const { answeredDuring, upload } = await healthDuring(node, atCap(name));
      expect(upload.code).toBe("ok");
      expect(answeredDuring).toBeGreaterThanOrEqual(3);
    },
    SLOW_MS,
  );

  it(
    "refuses a module past a cap with 413 module_limit, and the same bytes again from memory",
    async () => {
      const bomb = shape("loops-with-calls").build(limits.maxFunctionLoops * 4);
      const refusedBefore = await metric(node.url, "ferry_modules_refused_total");
      expect(await uploadError(node.client, bomb)).toEqual({ status: 413, code: "module_limit" });
      expect(await metric(node.url, "ferry_modules_refused_total")).toBe(refusedBefore + 1);
      const remembered = await metric(node.url, "ferry_modules_refused_from_memory_total");
      expect(await uploadError(node.client, bomb)).toEqual({ status: 413, code: "module_limit" });
      expect(await metric(node.url, "ferry_modules_refused_from_memory_total")).toBe(remembered + 1);
      expect(await metric(node.url, "ferry_modules_refused_total")).toBe(refusedBefore + 1); // no second compile
    },
    SLOW_MS,
  );
});

describe("a node with a compile time limit", () => {
  let node: Node;
  beforeAll(async () => {
    // 1 ms: no real compile fits, so every upload takes the time limit's path on any machine.
    node = await serve(["--compile-timeout-ms", "1", "--compile-timeout-ms-per-kib", "0"]);
  });
  afterAll(async () => {
    await node?.stop();
  });

  it(
    "refuses a module over the time limit with 413 module_limit, stays responsive, and does not compile it twice",
    async () => {
      const bytes = atCap("loops-with-calls");
      expect(await uploadError(node.client, bytes)).toEqual({ status: 413, code: "module_limit" });
      expect(await metric(node.url, "ferry_compile_timeouts_total")).toBe(1);
      expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
      expect(await uploadError(node.client, bytes)).toEqual({ status: 413, code: "module_limit" });
      expect(await metric(node.url, "ferry_compile_timeouts_total")).toBe(1);
      expect(await metric(node.url, "ferry_modules_refused_from_memory_total")).toBe(1);
    },
    SLOW_MS,
  );
});
