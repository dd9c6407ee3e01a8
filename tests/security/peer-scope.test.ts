// Peers trusted only with their own transfers (issue 8, §6), over real HTTP on loopback: COMMIT,
// ABORT, PREPARE and PRE-COPY of a transfer only from the node that started it; a job runs as a
// client only under that client's own migration grant (else as anonymous, or not at all if it needs
// capabilities); a node's own load sharing moves a client's job only under the owner's grant; a peer
// downloads only the code of a job being sent to it.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, encodeSnapshot, MemoryResources } from "../../runtime/index.js";
import { generateSigningKey, signGrant, type SigningKey } from "../../server/auth/index.js";
import { DEFAULT_NODE_LIMITS } from "../../server/node/node-limits.js";
import { COUNTER, INFINITE_LOOP } from "../helpers/fixtures.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { wat } from "../helpers/wat.js";
import { decide, fakePeer, offer, signedFetch, transferFrom } from "./peer-helpers.js";

/** Counts to n, then writes "out/pwned" in its client's resource root: it needs capabilities. */
const WRITER = wat(`(module
  (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_write" (func $write (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_close" (func $close (param i32)))
  (memory 1)
  (data (i32.const 0) "out/pwned")
  (func (export "main") (param $n i32) (result i32)
    (local $i i32) (local $h i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.set $h (call $open (i32.const 0) (i32.const 9) (i32.const 2)))
    (drop (call $write (local.get $h) (i32.const 0) (i32.const 9)))
    (call $close (local.get $h))
    (local.get $i)))`);

const N = 2_000_000;

let t: TestNode;
/** The node that started the transfers under test, and another configured peer. */
let p: SigningKey;
let q: SigningKey;
let counterHash: string;
let writerHash: string;
/** Strong snapshots, paused mid-loop, of COUNTER(N) and WRITER(N). */
let counterSnapshot: Uint8Array;
let writerSnapshot: Uint8Array;

beforeAll(async () => {
  t = await startTestNode({ capabilities: ["out/*:w"], quotas: { maxFuelPerJob: 1e12 } });
  p = fakePeer(t);
  q = fakePeer(t);
  // Public, so an anonymous job may run them here without the peer sending the code.
  counterHash = (await t.client.uploadModule(COUNTER, { public: true })).codeHash;
  writerHash = (await t.client.uploadModule(WRITER, { public: true })).codeHash;
  const engine = new Engine();
  const counter = await engine.instantiate(await engine.compile(COUNTER));
  expect(await counter.run("main", [N], { fuel: 1000 })).toMatchObject({ status: "paused" });
  counterSnapshot = encodeSnapshot(await counter.snapshot());
  const writer = await engine.instantiate(await engine.compile(WRITER), {
    trust: "authenticated",
    capabilities: ["out/*:w"],
    resources: new MemoryResources(),
  });
  expect(await writer.run("main", [N], { fuel: 1000 })).toMatchObject({ status: "paused" });
  writerSnapshot = encodeSnapshot(await writer.snapshot());
  await engine.close();
});

afterAll(async () => {
  await t?.close();
  if (t) removeDir(t.dataDir);
});

const counterOffer = (over: Parameters<typeof transferFrom>[3] = {}) =>
  transferFrom(p, t, counterSnapshot, { codeHash: counterHash, args: [N], ...over });
const pwned = (): boolean => existsSync(join(t.dataDir, "resources", t.key.clientId, "out", "pwned"));

describe("a transfer belongs to the node that prepared it", () => {
  it("COMMIT and ABORT from another peer: 403, the transfer stays prepared and intact; its own source commits it", async () => {
    const h = counterOffer();
    expect((await offer(t, p, h, counterSnapshot)).status).toBe(200);
    const checkpoints = t.running.store.checkpoints.list(h.jobId).length;
    expect(await decide(t, q, "commit", h.jobId)).toMatchObject({ status: 403, code: "forbidden" });
    expect(await decide(t, q, "abort", h.jobId)).toMatchObject({ status: 403, code: "forbidden" });
    expect(t.running.store.jobs.get(h.jobId)).toMatchObject({ state: "prepared", epoch: 1 });
    expect(t.running.store.checkpoints.list(h.jobId).length).toBe(checkpoints);
    expect(await decide(t, p, "commit", h.jobId)).toMatchObject({ status: 200 });
    const done = await t.anonymous.waitFor(h.jobId);
    expect(done).toMatchObject({ state: "done", result: { value: N * 3 } });
  });

  it("another peer's PREPARE or PRE-COPY of a pending transfer: 403; the pending one is untouched", async () => {
    const h = counterOffer();
    expect((await offer(t, p, h, counterSnapshot)).status).toBe(200);
    expect(await offer(t, q, { ...h, source: q.clientId }, counterSnapshot)).toMatchObject({ status: 403, code: "forbidden" });
    expect(await offer(t, q, { ...h, source: q.clientId, kind: "base" }, counterSnapshot, "precopy")).toMatchObject({
      status: 403,
      code: "forbidden",
    });
    expect(t.running.store.jobs.get(h.jobId)?.result).toEqual({ preparedFrom: p.clientId });
    expect(await decide(t, p, "abort", h.jobId)).toMatchObject({ status: 200, body: JSON.stringify({ aborted: true }) });
  });

  it("a pre-copied base belongs to its source: another peer can neither add a round to it nor replace it", async () => {
    const jobId = `base-${Math.random().toString(36).slice(2)}`;
    const first = await offer(t, p, counterOffer({ jobId, kind: "base" }), counterSnapshot, "precopy");
    expect(first.status).toBe(200);
    const { baseHash } = JSON.parse(first.body) as { baseHash: string };
    expect(await offer(t, q, counterOffer({ jobId, kind: "base", source: q.clientId }), counterSnapshot, "precopy")).toMatchObject({
      status: 403,
    });
    expect(
      await offer(t, q, counterOffer({ jobId, kind: "base", source: q.clientId, baseHash }), counterSnapshot, "precopy"),
    ).toMatchObject({ status: 403 });
    // Its own source still finds it.
    expect((await offer(t, p, counterOffer({ jobId, baseHash }), counterSnapshot)).status).toBe(200);
    expect(await decide(t, p, "abort", jobId)).toMatchObject({ status: 200 });
  });

  it("a PREPARE naming a job this node ran itself: 409, the record untouched", async () => {
    const mine = await t.anonymous.startJob({ codeHash: counterHash, args: [10], waitMs: 10_000 });
    expect(mine.state).toBe("done");
    expect(await offer(t, p, counterOffer({ jobId: mine.id }), counterSnapshot)).toMatchObject({ status: 409, code: "conflict" });
    expect(t.running.store.jobs.get(mine.id)).toMatchObject({ state: "done", epoch: 0, result: { value: 30 } });
  });

  it("a peer downloads only the code of a job being sent to it: another's private module is 404", async () => {
    const { codeHash } = await t.client.uploadModule(wat(`(module (func (export "main") (result i32) (i32.const 7)))`), { public: false });
    expect(await signedFetch(t, q, "GET", `/peer/modules/${codeHash}`)).toMatchObject({ status: 404, code: "not_found" });
    expect((await signedFetch(t, q, "GET", `/peer/modules/${counterHash}`)).status).toBe(200); // public code
  });
});

describe("a migrated-in job runs as its owner only with the owner's grant", () => {
  const grantFor = (
    jobId: string,
    over: { key?: SigningKey; job?: string; source?: string; target?: string; now?: number; lifetimeMs?: number } = {},
  ) =>
    signGrant(over.key ?? t.key, {
      job: over.job ?? jobId,
      source: over.source ?? p.clientId,
      target: over.target ?? t.running.identity.nodeId,
      ...(over.now === undefined ? {} : { now: over.now }),
      ...(over.lifetimeMs === undefined ? {} : { lifetimeMs: over.lifetimeMs }),
    });

  it("claiming a client's job without a grant: it runs as anonymous — no owner, in-process, anonymous quotas", async () => {
    const h = counterOffer({ owner: t.key.clientId, trust: "authenticated", sandbox: "isolated", fuelLimit: 1e15 });
    expect((await offer(t, p, h, counterSnapshot)).status).toBe(200);
    expect(t.running.store.jobs.get(h.jobId)).toMatchObject({
      owner: null,
      trust: "anonymous",
      sandbox: "in-process",
      fuelLimit: DEFAULT_NODE_LIMITS.maxAnonymousFuelPerJob,
    });
    // Not among the client's jobs.
    expect((await t.client.listJobs()).jobs.map((j) => j.id)).not.toContain(h.jobId);
    expect(await decide(t, p, "commit", h.jobId)).toMatchObject({ status: 200 });
    expect(await t.anonymous.waitFor(h.jobId)).toMatchObject({ state: "done", trust: "anonymous", result: { value: N * 3 } });
  });

  it.each(["strong", "weak"] as const)(
    "claiming a client's job that needs capabilities, without a grant (%s): 403, nothing stored, nothing written",
    async (kind) => {
      const h = transferFrom(p, t, writerSnapshot, {
        kind,
        codeHash: writerHash,
        args: [N],
        owner: t.key.clientId,
        trust: "authenticated",
        sandbox: "in-process",
        ...(kind === "weak" ? { snapshotSha256: null } : {}),
      });
      expect(await offer(t, p, h, kind === "strong" ? writerSnapshot : undefined)).toMatchObject({ status: 403, code: "forbidden" });
      expect(t.running.store.jobs.get(h.jobId)).toBeUndefined();
      await decide(t, p, "commit", h.jobId);
      expect(t.running.store.jobs.get(h.jobId)).toBeUndefined();
      expect(pwned()).toBe(false);
    },
  );

  it.each([
    [
      "signed by another key under the client's id",
      (id: string) => grantFor(id, { key: { ...generateSigningKey(), clientId: t.key.clientId } }),
    ],
    ["for another job", (id: string) => grantFor(id, { job: "some-other-job" })],
    ["for another source", (id: string) => grantFor(id, { source: "f".repeat(32) })],
    ["for another target", (id: string) => grantFor(id, { target: "e".repeat(32) })],
    ["expired", (id: string) => grantFor(id, { now: Date.now() - 20 * 60_000 })],
    ["valid for more than an hour", (id: string) => grantFor(id, { lifetimeMs: 2 * 3600_000 })],
    ["from another client than the job's owner", (id: string) => grantFor(id, { key: otherClient() })],
  ])("a grant %s: 403, nothing stored", async (_what, grant) => {
    const jobId = `granted-${Math.random().toString(36).slice(2)}`;
    const h = transferFrom(p, t, writerSnapshot, {
      jobId,
      codeHash: writerHash,
      args: [N],
      owner: t.key.clientId,
      trust: "authenticated",
      sandbox: "in-process",
      grant: grant(jobId),
    });
    expect(await offer(t, p, h, writerSnapshot)).toMatchObject({ status: 403, code: "forbidden" });
    expect(t.running.store.jobs.get(jobId)).toBeUndefined();
  });

  it("control: with the owner's grant for exactly this move it runs as the owner, with the owner's capabilities", async () => {
    const jobId = `granted-${Math.random().toString(36).slice(2)}`;
    const h = transferFrom(p, t, writerSnapshot, {
      jobId,
      codeHash: writerHash,
      args: [N],
      owner: t.key.clientId,
      trust: "authenticated",
      sandbox: "in-process",
      grant: grantFor(jobId),
    });
    expect((await offer(t, p, h, writerSnapshot)).status).toBe(200);
    // It uses resources, so it runs isolated here (its file calls are served off the event loop).
    expect(t.running.store.jobs.get(jobId)).toMatchObject({ owner: t.key.clientId, trust: "authenticated", sandbox: "isolated" });
    expect(await decide(t, p, "commit", jobId)).toMatchObject({ status: 200 });
    expect(await t.client.waitFor(jobId)).toMatchObject({ state: "done", result: { value: N } });
    expect(pwned()).toBe(true);
  });
});

function otherClient(): SigningKey {
  const key = generateSigningKey();
  t.running.store.clients.add({ publicKey: key.publicKey, capabilities: ["out/*:w"] });
  return key;
}

describe("between two real nodes", () => {
  let a: TestNode;
  let b: TestNode;
  beforeAll(async () => {
    const key = generateSigningKey();
    a = await startTestNode({ key, capabilities: ["out/*:w"] });
    b = await startTestNode({ key, capabilities: ["out/*:w"] });
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      x.running.store.peers.upsert({ nodeId: y.running.identity.nodeId, url: y.running.url, publicKey: y.running.identity.publicKey });
    }
  });
  afterAll(async () => {
    for (const x of [a, b]) {
      await x?.close();
      if (x) removeDir(x.dataDir);
    }
  });

  it("the owner's migration carries its grant: the job stays the owner's at the target", async () => {
    const { codeHash } = await a.client.uploadModule(INFINITE_LOOP);
    const job = await a.client.startJob({ codeHash, entry: "spin", sandbox: "in-process" });
    await a.client.migrate(job.id, b.running.identity.nodeId);
    expect(b.running.store.jobs.get(job.id)).toMatchObject({ owner: a.key.clientId, trust: "authenticated" });
    await b.client.cancel(job.id);
  });

  it("asked by its owner without a grant, or with one for another move: 400, and the job stays", async () => {
    const { codeHash } = await a.client.uploadModule(INFINITE_LOOP);
    const job = await a.client.startJob({ codeHash, entry: "spin", sandbox: "in-process" });
    const path = `/jobs/${job.id}/migrate`;
    expect(await signedFetch(a, a.key, "POST", path, JSON.stringify({ peer: b.running.identity.nodeId }))).toMatchObject({
      status: 400,
      code: "bad_request",
    });
    const wrong = signGrant(a.key, { job: job.id, source: a.running.identity.nodeId, target: "e".repeat(32) });
    expect(await signedFetch(a, a.key, "POST", path, JSON.stringify({ peer: b.running.identity.nodeId, grant: wrong }))).toMatchObject({
      status: 400,
      code: "bad_request",
    });
    expect((await a.client.job(job.id)).state).toBe("running");
    await a.client.cancel(job.id);
  });

  it("the node sharing load on its own moves a client's job only under the owner's sharing grant, and then as the owner's", async () => {
    const { codeHash } = await a.client.uploadModule(INFINITE_LOOP);
    const job = await a.client.startJob({ codeHash, entry: "spin", sandbox: "in-process" });
    const peer = b.running.identity.nodeId;
    expect(a.running.node.mayShare(job.id, peer)).toBe(false);
    await expect(a.running.node.shareJob(job.id, peer, "strong")).rejects.toMatchObject({ code: "conflict" });
    expect(b.running.store.jobs.get(job.id)).toBeUndefined();
    expect((await a.client.job(job.id)).state).toBe("running");
    // A grant for another job, or one another client signed, is refused (400) and changes nothing.
    const path = `/jobs/${job.id}/grants`;
    const other = signGrant(a.key, { job: "another-job", source: a.running.identity.nodeId, target: peer });
    expect(await signedFetch(a, a.key, "POST", path, JSON.stringify({ grants: [other] }))).toMatchObject({
      status: 400,
      code: "bad_request",
    });
    expect(a.running.node.mayShare(job.id, peer)).toBe(false);

    await a.client.allowSharing(job.id);
    expect(a.running.node.mayShare(job.id, peer)).toBe(true);
    await a.running.node.shareJob(job.id, peer, "strong");
    expect(b.running.store.jobs.get(job.id)).toMatchObject({ owner: a.key.clientId, trust: "authenticated" });
    await b.client.cancel(job.id);
  });

  it("an anonymous job is the node's to share: it arrives anonymous", async () => {
    const { codeHash } = await a.client.uploadModule(INFINITE_LOOP, { public: true });
    const job = await a.anonymous.startJob({ codeHash, entry: "spin" });
    await a.running.node.shareJob(job.id, b.running.identity.nodeId, "strong");
    expect(b.running.store.jobs.get(job.id)).toMatchObject({ owner: null, trust: "anonymous", sandbox: "in-process" });
    await b.anonymous.cancel(job.id);
  });
});
