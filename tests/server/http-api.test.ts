// The node's HTTP API over real HTTP on loopback, with a real SQLite store in a temp directory.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FerryClient } from "../../server/client.js";
import { generateSigningKey } from "../../server/auth/index.js";
import { guestWasmPath } from "../../guest/catalog.js";
import { INFINITE_LOOP, LOOP_AND_RECURSION } from "../helpers/fixtures.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { wat } from "../helpers/wat.js";
import { httpFailure as failure } from "../helpers/errors.js";

let n: TestNode;
beforeAll(async () => {
  n = await startTestNode({ sharedModuleCache: true });
});
afterAll(async () => {
  await n.close();
  removeDir(n.dataDir);
});

describe("modules", () => {
  it("uploads (signed), stores once, and serves public modules anonymously", async () => {
    const bytes = new Uint8Array(readFileSync(guestWasmPath("sieve")));
    const first = await n.client.uploadModule(bytes, { public: true });
    expect(first.created).toBe(true);
    expect((await n.client.uploadModule(bytes, { public: true })).created).toBe(false);
    expect(await n.anonymous.downloadModule(first.codeHash)).toEqual(bytes);
  });

  it("hides private modules from everyone but their owner", async () => {
    const { codeHash } = await n.client.uploadModule(LOOP_AND_RECURSION, { public: false });
    expect(await failure(n.anonymous.downloadModule(codeHash))).toEqual({ status: 404, code: "not_found" });
    expect((await n.client.downloadModule(codeHash)).byteLength).toBe(LOOP_AND_RECURSION.byteLength);
  });

  it("lets every client that uploads the same private bytes use them, and only those", async () => {
    const [k1, k2, k3] = [generateSigningKey(), generateSigningKey(), generateSigningKey()];
    for (const k of [k1, k2, k3]) n.running.store.clients.add({ publicKey: k.publicKey });
    const [c1, c2, c3] = [k1, k2, k3].map((key) => new FerryClient({ url: n.running.url, key }));
    const bytes = new Uint8Array(readFileSync(guestWasmPath("recursion")));
    const { codeHash, created } = await c1!.uploadModule(bytes, { public: false });
    expect(created).toBe(true);
    // New to c2, as a fresh upload is: nothing says c1 had the same bytes.
    expect(await c2!.uploadModule(bytes, { public: false })).toEqual({ codeHash, created: true });
    expect(await c2!.uploadModule(bytes, { public: false })).toEqual({ codeHash, created: false });
    for (const c of [c1!, c2!]) {
      expect(await c.startJob({ codeHash, args: [10], sandbox: "in-process", waitMs: 10_000 })).toMatchObject({
        state: "done",
        result: { value: 55 },
      });
      expect((await c.downloadModule(codeHash)).byteLength).toBe(bytes.byteLength);
    }
    expect(await failure(c3!.startJob({ codeHash, args: [10], sandbox: "in-process" }))).toEqual({ status: 404, code: "not_found" });
    expect(await failure(n.anonymous.downloadModule(codeHash))).toEqual({ status: 404, code: "not_found" });
  });

  it("lists the modules a caller may use: public ones to anyone, private ones to their owners, paged", async () => {
    const [k1, k2] = [generateSigningKey(), generateSigningKey()];
    for (const k of [k1, k2]) n.running.store.clients.add({ publicKey: k.publicKey });
    const [c1, c2] = [k1, k2].map((key) => new FerryClient({ url: n.running.url, key }));
    const secret = (await c1!.uploadModule(wat(`(module (func (export "main") (result i32) (i32.const 7)))`), { public: false })).codeHash;
    const shared = (await c1!.uploadModule(wat(`(module (func (export "main") (result i32) (i32.const 8)))`), { public: true })).codeHash;
    const anonymousView = await n.anonymous.listModules({ limit: 500 });
    expect(anonymousView.modules.map((m) => m.codeHash)).toContain(shared);
    expect(anonymousView.modules.map((m) => m.codeHash)).not.toContain(secret);
    expect(anonymousView.modules.every((m) => m.public && !m.mine)).toBe(true);
    const ownerView = await c1!.listModules({ limit: 500 });
    expect(ownerView.modules.slice(0, 2)).toMatchObject([
      { codeHash: shared, public: true, mine: true },
      { codeHash: secret, public: false, mine: true },
    ]);
    expect((await c2!.listModules({ limit: 500 })).modules.map((m) => m.codeHash)).not.toContain(secret);
    // Pages: one at a time, the second after the first.
    const first = await c1!.listModules({ limit: 1 });
    const second = await c1!.listModules({ limit: 1, before: first.next! });
    expect([...first.modules, ...second.modules].map((m) => m.codeHash)).toEqual([shared, secret]);
    expect(await failure(c2!.listModules({ before: secret }))).toEqual({ status: 404, code: "not_found" });
    for (const query of ["limit=0", "limit=x", "state=done", "before="]) {
      expect(await failure(n.anonymous.request("GET", `/modules?${query}`)), query).toEqual({ status: 400, code: "bad_request" });
    }
  });

  it("refuses anonymous uploads (401), invalid Wasm (422) and oversized bodies (413), storing nothing", async () => {
    const before = n.running.store.modules.list().length;
    expect(await failure(n.anonymous.uploadModule(LOOP_AND_RECURSION))).toEqual({ status: 401, code: "unauthorized" });
    expect(await failure(n.client.uploadModule(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99])))).toMatchObject({ status: 422 });
    expect(await failure(n.client.uploadModule(new TextEncoder().encode("not wasm")))).toEqual({ status: 422, code: "not_wasm" });
    const huge = new Uint8Array(17 * 1024 * 1024);
    expect((await failure(n.client.uploadModule(huge))).status).toBe(413);
    expect(n.running.store.modules.list().length).toBe(before);
  });
});

describe("jobs", () => {
  it("runs an anonymous job on a public module in-process and reports value, output and fuel", async () => {
    const { codeHash } = await n.client.uploadModule(new Uint8Array(readFileSync(guestWasmPath("sieve"))), { public: true });
    const view = await n.anonymous.startJob({ codeHash, args: [100_000], waitMs: 10_000 });
    expect(view).toMatchObject({ state: "done", trust: "anonymous", sandbox: "in-process", result: { status: "done", value: 9592 } });
    expect(view.fuelUsed).toBeGreaterThan(0);
    expect((await n.anonymous.job(view.id)).result).toMatchObject({ value: 9592 });
  });

  it("keeps anonymous callers to public modules", async () => {
    const { codeHash } = await n.client.uploadModule(LOOP_AND_RECURSION, { public: false });
    expect(await failure(n.anonymous.startJob({ codeHash, args: [10] }))).toEqual({ status: 404, code: "not_found" });
    expect(await failure(n.anonymous.startJob({ codeHash, args: [10], sandbox: "isolated" }))).toMatchObject({ status: 404 });
  });

  it("pauses (checkpointing), serves the snapshot, resumes and finishes a job", async () => {
    const { codeHash } = await n.client.uploadModule(INFINITE_LOOP, { public: false });
    const job = await n.client.startJob({ codeHash, entry: "spin", sandbox: "in-process" });
    const paused = await n.client.pause(job.id);
    expect(paused.state).toBe("paused");
    const snapshot = await n.client.snapshot(job.id);
    expect(Buffer.from(snapshot.subarray(0, 8)).toString()).toBe("FERRYSNP");
    expect((await n.client.resume(job.id)).state).toBe("running");
    expect((await n.client.cancel(job.id)).state).toBe("cancelled");
    expect(await failure(n.client.resume(job.id))).toMatchObject({ status: 409, code: "conflict" });
  });

  it("answers bad requests with 400 and a code, unknown ids with 404", async () => {
    const bad = async (body: string) => failure(n.anonymous.request("POST", "/jobs", body, "application/json"));
    expect(await bad("{")).toEqual({ status: 400, code: "bad_request" });
    expect(await bad("[]")).toEqual({ status: 400, code: "bad_request" });
    expect(await bad(JSON.stringify({ codeHash: "xyz" }))).toEqual({ status: 400, code: "bad_request" });
    expect(await bad(JSON.stringify({ codeHash: "a".repeat(64), args: [{}] }))).toEqual({ status: 400, code: "bad_request" });
    expect(await bad(JSON.stringify({ codeHash: "a".repeat(64), surprise: 1 }))).toEqual({ status: 400, code: "bad_request" });
    expect(await failure(n.anonymous.job("no-such-job"))).toEqual({ status: 404, code: "not_found" });
    expect(await failure(n.anonymous.request("GET", "/nowhere"))).toEqual({ status: 404, code: "not_found" });
  });
});

describe("listing jobs", () => {
  it("lists the caller's own jobs, newest first, a page at a time, filtered by state", async () => {
    const key = generateSigningKey();
    n.running.store.clients.add({ publicKey: key.publicKey, quotas: { maxConcurrentJobs: 100 } });
    const mine = new FerryClient({ url: n.running.url, key });
    const { codeHash } = await mine.uploadModule(LOOP_AND_RECURSION, { public: false });
    const started: string[] = [];
    for (let k = 0; k < 5; k++) started.push((await mine.startJob({ codeHash, args: [k], sandbox: "in-process", waitMs: 10_000 })).id);
    const spin = await mine.startJob({
      codeHash: (await mine.uploadModule(INFINITE_LOOP, { public: false })).codeHash,
      entry: "spin",
      sandbox: "in-process",
    });
    // Someone else's job never shows up.
    await n.client.startJob({ codeHash, args: [1], sandbox: "in-process", waitMs: 10_000 }).catch(() => undefined);

    const all = await mine.listJobs();
    expect(all.jobs.map((j) => j.id)).toEqual([spin.id, ...started.reverse()]);
    expect(all.next).toBeNull();
    expect(all.jobs[0]).not.toHaveProperty("output");
    const page1 = await mine.listJobs({ limit: 4 });
    expect(page1.jobs.map((j) => j.id)).toEqual([spin.id, ...started.slice(0, 3)]);
    const page2 = await mine.listJobs({ limit: 4, before: page1.next! });
    expect(page2.jobs.map((j) => j.id)).toEqual(started.slice(3));
    expect(page2.next).toBeNull();
    expect((await mine.listJobs({ state: ["running"] })).jobs.map((j) => j.id)).toEqual([spin.id]);
    expect((await mine.listJobs({ state: ["done"] })).jobs).toHaveLength(5);
    await mine.cancel(spin.id);
  });

  it("needs a signature (401) and refuses bad parameters (400) and others' cursors (404)", async () => {
    expect(await failure(n.anonymous.listJobs())).toEqual({ status: 401, code: "unauthorized" });
    for (const query of ["state=sleeping", "limit=0", "limit=501", "limit=ten", "before=", "colour=red", "limit=1&limit=2"]) {
      expect(await failure(n.client.request("GET", `/jobs?${query}`)), query).toEqual({ status: 400, code: "bad_request" });
    }
    expect(await failure(n.client.listJobs({ before: "no-such-job" }))).toEqual({ status: 404, code: "not_found" });
  });
});

describe("authentication", () => {
  it("rejects tampered, replayed and unknown-client signatures with 401", async () => {
    const path = "/jobs/x";
    const { signRequest, generateSigningKey } = await import("../../server/auth/index.js");
    const headers = signRequest(n.key, { method: "GET", path });
    const send = (h: Record<string, string>, p = path) => fetch(`${n.running.url}${p}`, { headers: h });
    expect((await send(headers)).status).toBe(404); // valid: the job just does not exist
    expect((await send(headers)).status).toBe(401); // the same nonce again
    expect((await send(signRequest(n.key, { method: "GET", path }), "/jobs/y")).status).toBe(401); // signed another path
    expect((await send(signRequest(generateSigningKey(), { method: "GET", path }))).status).toBe(401);
    expect((await send(signRequest(n.key, { method: "GET", path, now: Date.now() - 10 * 60_000 }))).status).toBe(401);
  });
});

describe("operations", () => {
  it("serves health, load, Prometheus metrics and the OpenAPI document", async () => {
    expect(await (await n.anonymous.request("GET", "/healthz")).json()).toMatchObject({ ok: true });
    expect(await (await n.anonymous.request("GET", "/load")).json()).toHaveProperty("running");
    const metrics = await (await n.anonymous.request("GET", "/metrics")).text();
    expect(metrics).toMatch(/^# TYPE ferry_jobs_started_total counter$/m);
    expect(metrics).toMatch(/^ferry_jobs_started_total\{node="[0-9a-f]+"\} \d+$/m);
    const openapi = (await (await n.anonymous.request("GET", "/openapi.json")).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(openapi.openapi).toBe("3.1.0");
    expect(Object.keys(openapi.paths)).toContain("/jobs/{id}/migrate");
    // Every public route is documented, listings included.
    for (const [path, method] of [
      ["/modules", "get"],
      ["/modules", "post"],
      ["/modules/{hash}", "get"],
      ["/jobs", "get"],
      ["/jobs", "post"],
      ["/jobs/{id}", "get"],
      ["/jobs/{id}", "delete"],
    ] as const) {
      expect(openapi.paths[path], `${method} ${path}`).toHaveProperty(method);
    }
  });
});

describe("server-sent events", () => {
  it("streams a job's log lines, output and final state, then ends", async () => {
    const { removeDir: rm, startTestNode: start } = await import("../helpers/node.js");
    const { IO_GUEST } = await import("../helpers/fixtures.js");
    const node = await start({ maxRunningJobs: 1, sharedModuleCache: true });
    try {
      const { codeHash: spin } = await node.client.uploadModule(INFINITE_LOOP);
      const { codeHash: io } = await node.client.uploadModule(IO_GUEST);
      const blocker = await node.client.startJob({ codeHash: spin, entry: "spin", sandbox: "in-process" });
      const job = await node.client.startJob({ codeHash: io, entry: "hello", args: [3], sandbox: "in-process" });
      expect(job.state).toBe("queued");
      const response = await node.client.request("GET", `/jobs/${job.id}/events`);
      expect(response.headers.get("content-type")).toMatch(/text\/event-stream/);
      await node.client.cancel(blocker.id); // frees the slot: the queued job runs
      const text = await response.text(); // the stream ends when the job does
      const events = [...text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => [m[1], m[2]]);
      expect(events).toContainEqual(["log", "logged"]);
      const output = events
        .filter(([e]) => e === "output")
        .map(([, d]) => Buffer.from(d!, "base64").toString())
        .join("");
      expect(output).toBe("hello\n".repeat(3));
      const last = events.at(-1)!;
      expect(last[0]).toBe("state");
      expect(JSON.parse(last[1]!)).toMatchObject({ state: "done", result: { value: 3 } });
    } finally {
      await node.close();
      rm(node.dataDir);
    }
  });
});
