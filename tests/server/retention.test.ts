// What a node keeps, and how big its answers get: a job's output is served in pages and never inside
// GET /jobs/:id; anonymous jobs (paused or finished) expire after the node's TTL with their output
// and checkpoints, finished ones are capped in number, paused ones too, and their output and input
// are small. Time is the store's injected clock: nothing here sleeps.
import { afterEach, describe, expect, it } from "vitest";
import type { FerryClient } from "../../server/client.js";
import type { NodeLimitsOptions } from "../../server/node/node-limits.js";
import { FINISHED_JOB_STATES } from "../../server/store/records.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { wat } from "../helpers/wat.js";
import { httpFailure as failure } from "../helpers/errors.js";

/** `main(n)`: writes n bytes (byte i = 7·i mod 256) and returns n; `write_then_spin(n)` writes them, then loops forever. */
const WRITER = wat(`(module
  (import "ferry" "output_write" (func $out (param i32 i32)))
  (memory 64)
  (func $fill (param $n i32)
    (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store8 (local.get $i) (i32.mul (local.get $i) (i32.const 7)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $out (i32.const 0) (local.get $n)))
  (func (export "main") (param $n i32) (result i32) (call $fill (local.get $n)) (local.get $n))
  (func (export "write_then_spin") (param $n i32) (call $fill (local.get $n)) (loop $l (br $l))))`);

function expected(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);
}

/** The whole output, read page by page, as a Buffer (compared with Buffer#equals: fast on megabytes). */
async function readAll(client: FerryClient, id: string): Promise<Buffer> {
  const pages: Uint8Array[] = [];
  await client.readOutput(id, (bytes) => void pages.push(bytes));
  return Buffer.concat(pages);
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const START = Date.UTC(2030, 0, 1);
let now = START;
let n: TestNode | undefined;

async function node(limits: NodeLimitsOptions = {}): Promise<TestNode> {
  now = START;
  n = await startTestNode({ quotas: { maxConcurrentJobs: 8 }, store: { clock: () => now }, limits, sharedModuleCache: true });
  return n;
}

afterEach(async () => {
  await n?.close();
  if (n) removeDir(n.dataDir);
  n = undefined;
});

describe("a job's output", () => {
  it("is never inside GET /jobs/:id, whatever its size; it comes a page at a time, finished or live", async () => {
    const t = await node();
    const { codeHash } = await t.client.uploadModule(WRITER);
    const size = 3 * 1024 * 1024 + 5;
    const done = await t.client.startJob({ codeHash, args: [size], sandbox: "in-process", waitMs: 60_000 });
    expect(done).toMatchObject({ state: "done", outputBytes: size });
    const raw = await (await t.client.request("GET", `/jobs/${done.id}`)).text();
    expect(raw.length).toBeLessThan(2048);
    expect(raw).not.toContain('"output"');
    // Pages of at most 1 MiB, each saying how much there is.
    const first = await t.client.outputPage(done.id, {});
    expect(first.size).toBe(size);
    expect(first.bytes.byteLength).toBe(1024 * 1024);
    const tail = await t.client.outputPage(done.id, { offset: size - 5, limit: 100 });
    expect([...tail.bytes]).toEqual([...expected(size).subarray(size - 5)]);
    expect((await t.client.outputPage(done.id, { offset: size + 10 })).bytes.byteLength).toBe(0);
    expect(same(await readAll(t.client, done.id), expected(size))).toBe(true);
    expect(await failure(t.client.request("GET", `/jobs/${done.id}/output?limit=${1024 * 1024 + 1}`))).toEqual({
      status: 400,
      code: "bad_request",
    });
    expect(await failure(t.client.request("GET", `/jobs/${done.id}/output?offset=-1`))).toEqual({ status: 400, code: "bad_request" });
    // A live (paused) job's output, from its instance.
    const live = await t.client.startJob({ codeHash, entry: "write_then_spin", args: [70_000], sandbox: "in-process" });
    const deadline = Date.now() + 30_000;
    while ((await t.client.job(live.id)).outputBytes < 70_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await t.client.pause(live.id);
    expect(await t.client.job(live.id)).toMatchObject({ state: "paused", outputBytes: 70_000 });
    expect(same((await t.client.outputPage(live.id, { offset: 65_536 })).bytes, expected(70_000).subarray(65_536))).toBe(true);
    await t.client.cancel(live.id);
  });
});

describe("anonymous jobs", () => {
  it("expire after the TTL when finished, taking their output with them", async () => {
    const t = await node({ anonymousTtlMs: 60_000 });
    const { codeHash } = await t.client.uploadModule(WRITER, { public: true });
    const job = await t.anonymous.startJob({ codeHash, args: [100], waitMs: 60_000 });
    expect(job).toMatchObject({ state: "done", outputBytes: 100 });
    const outputHash = t.running.store.jobs.get(job.id)!.outputHash!;
    now += 59_999;
    expect(t.running.node.expireAnonymousJobs()).toEqual({ expired: 0 });
    expect(same(await readAll(t.anonymous, job.id), expected(100))).toBe(true);
    now += 1;
    expect(t.running.node.expireAnonymousJobs()).toEqual({ expired: 1 });
    expect(await failure(t.anonymous.job(job.id))).toEqual({ status: 404, code: "not_found" });
    expect(await failure(t.anonymous.outputPage(job.id))).toEqual({ status: 404, code: "not_found" });
    expect(t.running.store.blobs.has(outputHash)).toBe(false);
  });

  it("expire after the TTL when paused (instance, checkpoints and all); running ones do not; few may be paused at once", async () => {
    const t = await node({ anonymousTtlMs: 60_000, maxAnonymousPausedJobs: 1 });
    const { codeHash } = await t.client.uploadModule(WRITER, { public: true });
    const paused = await t.anonymous.startJob({ codeHash, entry: "write_then_spin", args: [10] });
    expect(await t.anonymous.pause(paused.id)).toMatchObject({ state: "paused" });
    const snapshotHash = t.running.store.checkpoints.latest(paused.id)!.snapshotHash;
    const running = await t.anonymous.startJob({ codeHash, entry: "write_then_spin", args: [10] });
    // A second paused anonymous job would hold a second memory: refused while the node is full.
    expect(await failure(t.anonymous.pause(running.id))).toEqual({ status: 503, code: "overloaded" });
    expect(await t.anonymous.job(running.id)).toMatchObject({ state: "running" });
    // A client's jobs are not anonymous: it may pause its own.
    const own = await t.client.startJob({ codeHash, entry: "write_then_spin", args: [10], sandbox: "in-process" });
    expect(await t.client.pause(own.id)).toMatchObject({ state: "paused" });

    now += 60_000;
    expect(t.running.node.expireAnonymousJobs()).toEqual({ expired: 1 });
    expect(await failure(t.anonymous.job(paused.id))).toEqual({ status: 404, code: "not_found" });
    expect(await failure(t.anonymous.resume(paused.id))).toEqual({ status: 404, code: "not_found" });
    expect(t.running.store.blobs.has(snapshotHash)).toBe(false);
    expect(await t.anonymous.job(running.id)).toMatchObject({ state: "running" });
    expect(await t.client.job(own.id)).toMatchObject({ state: "paused" });
    expect((await t.anonymous.request("GET", "/load").then((r) => r.json())) as { paused: number }).toMatchObject({ paused: 1 });
    // With the paused one gone, there is room to pause again.
    expect(await t.anonymous.pause(running.id)).toMatchObject({ state: "paused" });
    await t.anonymous.cancel(running.id);
    await t.client.cancel(own.id);
  });

  it("past a larger cap, are evicted down to the cap less a sixteenth, oldest first, never above the cap", async () => {
    const t = await node({ maxAnonymousResults: 32 });
    const { codeHash } = await t.client.uploadModule(WRITER, { public: true });
    const ids: string[] = [];
    const held: number[] = [];
    for (let k = 0; k < 40; k++) {
      now += 1_000;
      ids.push((await t.anonymous.startJob({ codeHash, args: [1], waitMs: 60_000 })).id);
      held.push(t.running.store.jobs.countAnonymous(FINISHED_JOB_STATES));
    }
    expect(Math.max(...held)).toBe(32);
    // The 33rd ending evicted the three oldest (down to 30), and the next three filled the room again.
    expect(held.slice(30, 36)).toEqual([31, 32, 30, 31, 32, 30]);
    const kept = new Set(t.running.store.jobs.anonymousByAge(FINISHED_JOB_STATES, { limit: 64 }).map((r) => r.id));
    expect(ids.filter((id) => kept.has(id))).toEqual(ids.slice(ids.length - held.at(-1)!));
  });

  it("are capped in number when finished (the least recently changed go first), in output and in input", async () => {
    const t = await node({ maxAnonymousResults: 3, maxAnonymousOutputBytes: 4096, maxAnonymousInputBytes: 1024 });
    const { codeHash } = await t.client.uploadModule(WRITER, { public: true });
    const ids: string[] = [];
    for (let k = 0; k < 5; k++) {
      now += 1_000;
      ids.push((await t.anonymous.startJob({ codeHash, args: [10 + k], waitMs: 60_000 })).id);
    }
    for (const id of ids.slice(0, 2)) expect(await failure(t.anonymous.job(id))).toEqual({ status: 404, code: "not_found" });
    for (const id of ids.slice(2)) expect(await t.anonymous.job(id)).toMatchObject({ state: "done" });
    expect(t.running.store.jobs.countAnonymous(["done"])).toBe(3);
    // Cancelled ones count too, and are capped as they end (not only at the next sweep).
    for (let k = 0; k < 3; k++) {
      now += 1_000;
      const spin = await t.anonymous.startJob({ codeHash, entry: "write_then_spin", args: [1] });
      expect(await t.anonymous.cancel(spin.id)).toMatchObject({ state: "cancelled" });
    }
    expect(t.running.store.jobs.countAnonymous(FINISHED_JOB_STATES)).toBe(3);
    expect(t.running.store.jobs.countAnonymous(["done"])).toBe(0);
    const big = await t.anonymous.startJob({ codeHash, args: [4097], waitMs: 60_000 });
    expect(big).toMatchObject({ state: "trapped", result: { code: "output_limit" } });
    expect(big.outputBytes).toBeLessThanOrEqual(4096);
    expect(await failure(t.anonymous.startJob({ codeHash, args: [1], input: new Uint8Array(1025) }))).toEqual({
      status: 413,
      code: "payload_too_large",
    });
    // A client's output is not held to the anonymous cap.
    expect(await t.client.startJob({ codeHash, args: [8192], sandbox: "in-process", waitMs: 60_000 })).toMatchObject({
      state: "done",
      outputBytes: 8192,
    });
  });
});
