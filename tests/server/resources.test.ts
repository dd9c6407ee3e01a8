// Authenticated jobs bind their client's files through the node: each client has its own root
// (<dataDir>/resources/<clientId>), its capabilities are relative to it, and the job runs isolated,
// its file calls served by the resource worker, never on the node's event loop.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../server/auth/index.js";
import { threadId } from "node:worker_threads";
import { FerryClient, HttpError } from "../../server/client.js";
import { sharedResourceThread } from "../../runtime/resources/resource-thread.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { wat } from "../helpers/wat.js";

// copy(): reads up to 1 KiB of "config.json" and writes it to "reports/daily"; returns the bytes
// copied, or -1 when there is no config.json.
const COPY = wat(`(module
  (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_read" (func $read (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_write" (func $write (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_close" (func $close (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "config.json")
  (data (i32.const 64) "reports/daily")
  (func (export "main") (result i32)
    (local $in i32) (local $out i32) (local $n i32)
    (local.set $in (call $open (i32.const 0) (i32.const 11) (i32.const 1)))
    (if (i32.lt_s (local.get $in) (i32.const 0)) (then (return (i32.const -1))))
    (local.set $n (call $read (local.get $in) (i32.const 1024) (i32.const 1024)))
    (call $close (local.get $in))
    (local.set $out (call $open (i32.const 64) (i32.const 13) (i32.const 2)))
    (drop (call $write (local.get $out) (i32.const 1024) (local.get $n)))
    (call $close (local.get $out))
    (local.get $n)))`);

let n: TestNode;
beforeAll(async () => {
  n = await startTestNode({ capabilities: ["config.json:r", "reports/*:w"], sharedModuleCache: true });
});
afterAll(async () => {
  await n.close();
  removeDir(n.dataDir);
});

const rootOf = (clientId: string): string => join(n.dataDir, "resources", clientId);

describe("resources of authenticated jobs", () => {
  it("reads and writes the client's own files through HTTP, in the isolated sandbox", async () => {
    const root = rootOf(n.key.clientId);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "config.json"), '{"limit":3}');
    const { codeHash } = await n.client.uploadModule(COPY, { public: true });
    const view = await n.client.startJob({ codeHash, waitMs: 20_000 });
    expect(view).toMatchObject({ state: "done", trust: "authenticated", sandbox: "isolated", result: { status: "done", value: 11 } });
    expect(readFileSync(join(root, "reports", "daily"), "utf8")).toBe('{"limit":3}');
  });

  it("serves an isolated job's file calls on the resource worker's thread, not the node's", async () => {
    const root = rootOf(n.key.clientId);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "config.json"), '{"limit":3}');
    const before = sharedResourceThread().stats.served;
    const { codeHash } = await n.client.uploadModule(COPY, { public: true });
    const view = await n.client.startJob({ codeHash, waitMs: 20_000 });
    expect(view).toMatchObject({ state: "done", sandbox: "isolated", result: { status: "done", value: 11 } });
    // open, read, close, open, write, close: each one call answered by the worker.
    expect(sharedResourceThread().stats.served - before).toBeGreaterThanOrEqual(6);
    expect(sharedResourceThread().stats.servedOn).not.toContain(threadId);
  });

  it("refuses an in-process job whose module imports resources (400 sandbox_not_allowed); other in-process jobs run", async () => {
    const { codeHash } = await n.client.uploadModule(COPY, { public: true });
    const refused = await n.client.startJob({ codeHash, sandbox: "in-process" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(HttpError);
    expect(refused).toMatchObject({
      status: 400,
      code: "sandbox_not_allowed",
      message: expect.stringMatching(/ferry\.resource_open.*isolated/),
    });
    const pure = await n.client.uploadModule(wat(`(module (func (export "main") (result i32) (i32.const 7)))`), { public: true });
    expect(await n.client.startJob({ codeHash: pure.codeHash, sandbox: "in-process", waitMs: 20_000 })).toMatchObject({
      state: "done",
      trust: "authenticated",
      sandbox: "in-process",
      result: { value: 7 },
    });
  });

  it("traps capability_denied for a client without the capability, and writes nothing", async () => {
    const key = generateSigningKey();
    n.running.store.clients.add({ publicKey: key.publicKey, capabilities: [] });
    const other = new FerryClient({ url: n.running.url, key });
    // Same file in its own root: the grant is missing, not the file.
    const root = rootOf(key.clientId);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "config.json"), "secret");
    const { codeHash } = await other.uploadModule(COPY, { public: true });
    const view = await other.startJob({ codeHash, waitMs: 20_000 });
    expect(view).toMatchObject({ state: "trapped", sandbox: "isolated", result: { status: "trapped", code: "capability_denied" } });
    expect(existsSync(join(root, "reports"))).toBe(false);
  });

  it("holds each client to its own disk quota (maxResourceBytes): the write traps resource_quota, nothing is written", async () => {
    const key = generateSigningKey();
    n.running.store.clients.add({
      publicKey: key.publicKey,
      capabilities: ["config.json:r", "reports/*:w"],
      quotas: { maxResourceBytes: 16 },
    });
    const small = new FerryClient({ url: n.running.url, key });
    const root = rootOf(key.clientId);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "config.json"), "0123456789"); // 10 of its 16 bytes; the copy would need 20
    const { codeHash } = await small.uploadModule(COPY, { public: true });
    const view = await small.startJob({ codeHash, waitMs: 20_000 });
    expect(view).toMatchObject({ state: "trapped", sandbox: "isolated", result: { status: "trapped", code: "resource_quota" } });
    expect(existsSync(join(root, "reports", "daily"))).toBe(false);
    // The first client's default quota is untouched by this one's.
    const first = await n.client.startJob({ codeHash, waitMs: 20_000 });
    expect(first).toMatchObject({ state: "done", result: { status: "done", value: 11 } });
  });

  it("keeps clients apart: a granted client sees only its own root", async () => {
    const key = generateSigningKey();
    n.running.store.clients.add({ publicKey: key.publicKey, capabilities: ["config.json:r", "reports/*:w"] });
    const third = new FerryClient({ url: n.running.url, key });
    const { codeHash } = await third.uploadModule(COPY, { public: true });
    // Its root has no config.json (the first client's does): not found.
    const view = await third.startJob({ codeHash, waitMs: 20_000 });
    expect(view).toMatchObject({ state: "done", result: { status: "done", value: -1 } });
  });
});
