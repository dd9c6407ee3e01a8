// What a migrated-in job may bring with it (issue 8, §6 and §7): its fuel budget is the job record's
// — what the owner asked for, capped by this node's quota — never what its snapshot says, on every
// path that restores it; and the code a target must fetch from the source either arrives whole and
// right, or the PREPARE fails with a typed error (502 peer_error) and nothing is stored.
import { readdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, encodeSnapshot } from "../../runtime/index.js";
import { createHash } from "node:crypto";
import { signGrant, type SigningKey } from "../../server/auth/index.js";
import { INFINITE_LOOP } from "../helpers/fixtures.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { wat } from "../helpers/wat.js";
import { decide, fakePeer, offer, transferFrom } from "./peer-helpers.js";
import { until } from "../helpers/until.js";

const QUOTA_FUEL = 5_000_000;

/** A paused snapshot of `bytes`' export `entry`, taken with no fuel limit at all (0: unlimited). */
async function unlimitedSnapshot(bytes: Uint8Array, entry: string): Promise<Uint8Array> {
  const engine = new Engine();
  const i = await engine.instantiate(await engine.compile(bytes));
  expect(await i.run(entry, [], { fuel: 1000 })).toMatchObject({ status: "paused" });
  const s = encodeSnapshot(await i.snapshot());
  await engine.close();
  return s;
}

describe("a restored job's fuel budget comes from its record, never from its snapshot", () => {
  let t: TestNode;
  let p: SigningKey;
  let spinHash: string;
  let snapshot: Uint8Array;

  beforeAll(async () => {
    t = await startTestNode({ quotas: { maxFuelPerJob: QUOTA_FUEL } });
    p = fakePeer(t);
    spinHash = (await t.client.uploadModule(INFINITE_LOOP, { public: true })).codeHash;
    snapshot = await unlimitedSnapshot(INFINITE_LOOP, "spin");
  });
  afterAll(async () => {
    await t?.close();
    if (t) removeDir(t.dataDir);
  });

  /** A strong transfer of a spinning job of the node's client, granted by it. */
  const granted = (over: Parameters<typeof transferFrom>[3]) => {
    const jobId = `fuel-${Math.random().toString(36).slice(2)}`;
    const grant = signGrant(t.key, { job: jobId, source: p.clientId, target: t.running.identity.nodeId });
    return transferFrom(p, t, snapshot, {
      jobId,
      codeHash: spinHash,
      entry: "spin",
      owner: t.key.clientId,
      trust: "authenticated",
      grant,
      ...over,
    });
  };

  const trappedOutOfFuel = async (node: TestNode, jobId: string): Promise<number> => {
    await until(() => ["trapped", "done", "failed"].includes(node.running.store.jobs.get(jobId)?.state ?? ""), `job ${jobId} to end`);
    const record = node.running.store.jobs.get(jobId)!;
    expect(record).toMatchObject({ state: "trapped", result: { status: "trapped", code: "out_of_fuel" } });
    return record.fuelUsed;
  };

  it("a snapshot with no fuel limit, a transfer asking for more than the quota: the job stops at this node's quota", async () => {
    const h = granted({ fuelLimit: 1e15 });
    expect((await offer(t, p, h, snapshot)).status).toBe(200);
    expect(t.running.store.jobs.get(h.jobId)).toMatchObject({ fuelLimit: QUOTA_FUEL });
    expect((await decide(t, p, "commit", h.jobId)).status).toBe(200);
    const used = await trappedOutOfFuel(t, h.jobId);
    expect(used).toBeGreaterThanOrEqual(QUOTA_FUEL);
    expect(used).toBeLessThan(2 * QUOTA_FUEL);
  });

  it("the owner asked for less than the quota: that is the budget, whatever the snapshot says", async () => {
    const h = granted({ fuelLimit: 1_000_000 });
    expect((await offer(t, p, h, snapshot)).status).toBe(200);
    expect((await decide(t, p, "commit", h.jobId)).status).toBe(200);
    expect(await trappedOutOfFuel(t, h.jobId)).toBeLessThan(2 * 1_000_000);
  });

  it("the fuel a job already used counts, even if its snapshot says it used none", async () => {
    const h = granted({ fuelLimit: QUOTA_FUEL, fuelUsed: QUOTA_FUEL - 10_000 });
    expect((await offer(t, p, h, snapshot)).status).toBe(200);
    expect((await decide(t, p, "commit", h.jobId)).status).toBe(200);
    expect(await trappedOutOfFuel(t, h.jobId)).toBeLessThan(2 * QUOTA_FUEL);
  });

  it("restored from the stored snapshot after a restart (COMMIT after the target restarted): the record's budget again", async () => {
    const h = granted({ fuelLimit: 1e15 });
    expect((await offer(t, p, h, snapshot)).status).toBe(200);
    await t.close();
    t = await startTestNode({ dataDir: t.dataDir, key: t.key, quotas: { maxFuelPerJob: QUOTA_FUEL } });
    expect(t.running.store.jobs.get(h.jobId)).toMatchObject({ state: "prepared" });
    expect((await decide(t, p, "commit", h.jobId)).status).toBe(200);
    expect(await trappedOutOfFuel(t, h.jobId)).toBeLessThan(2 * QUOTA_FUEL);
  });
});

describe("a failed module download during PREPARE: 502 peer_error, nothing stored", () => {
  /** What the fake source answers to GET /peer/modules/:hash. */
  let mode: "missing" | "hang-up" | "wrong-bytes" | "huge" | "honest" = "missing";
  let source: Server;
  let t: TestNode;
  let p: SigningKey;
  let unreachable: SigningKey;
  const MODULE = wat(`(module (func (export "main") (result i32) (i32.const 8675309)))`);
  const hash = createHash("sha256").update(MODULE).digest("hex");

  beforeAll(async () => {
    source = createServer((req, res) => {
      if (!req.url?.startsWith("/peer/modules/")) return res.writeHead(404).end();
      if (mode === "missing")
        return res
          .writeHead(404, { "content-type": "application/json" })
          .end(JSON.stringify({ error: { code: "not_found", message: "no module" } }));
      if (mode === "hang-up") return req.socket.destroy();
      if (mode === "wrong-bytes") return res.writeHead(200).end(wat(`(module (func (export "main") (result i32) (i32.const 1)))`));
      if (mode === "huge") return res.writeHead(200).end(Buffer.alloc(20 * 1024 * 1024, 1));
      res.writeHead(200).end(MODULE);
    });
    await new Promise<void>((r) => source.listen(0, "127.0.0.1", () => r()));
    t = await startTestNode();
    p = fakePeer(t, `http://127.0.0.1:${(source.address() as AddressInfo).port}`);
    unreachable = fakePeer(t, "http://127.0.0.1:9");
  });
  afterAll(async () => {
    await t?.close();
    if (t) removeDir(t.dataDir);
    await new Promise<void>((r) => source?.close(() => r()));
  });

  const stored = () => ({
    modules: t.running.store.modules.get(hash) !== undefined,
    jobs: t.running.store.jobs.list({}).length,
    blobs: readdirSync(join(t.dataDir, "blobs"), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).length,
  });
  const weak = (from: SigningKey) => transferFrom(from, t, new Uint8Array(0), { kind: "weak", codeHash: hash, snapshotSha256: null });

  it.each(["missing", "hang-up", "wrong-bytes", "huge"] as const)("the source's answer is %s", async (m) => {
    mode = m;
    const before = stored();
    expect(await offer(t, p, weak(p))).toMatchObject({ status: 502, code: "peer_error" });
    expect(stored()).toEqual(before);
  });

  it("the source cannot be reached at all", async () => {
    const before = stored();
    expect(await offer(t, unreachable, weak(unreachable))).toMatchObject({ status: 502, code: "peer_error" });
    expect(stored()).toEqual(before);
  });

  it("control: an honest source's module is fetched, checked and stored with the prepared job", async () => {
    mode = "honest";
    const h = weak(p);
    expect((await offer(t, p, h)).status).toBe(200);
    expect(stored().modules).toBe(true);
    expect(t.running.store.modules.get(hash)).toMatchObject({ public: false, owner: null });
    expect((await decide(t, p, "abort", h.jobId)).status).toBe(200);
  });
});
