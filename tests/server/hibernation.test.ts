// Hibernation on real nodes: a job paused for hibernateAfterMs leaves the VM (its instance let go,
// its state in the checkpoint pausing wrote, its output stored); it looks the same through the API
// (state, output, its stream), and resuming, migrating or restarting the node brings it back from
// its checkpoint to finish with the straight run's value.
import { afterEach, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../server/auth/index.js";
import { COUNTER } from "../helpers/fixtures.js";
import { closeNodes, startTestNode, type TestNode } from "../helpers/node.js";
import { wat } from "../helpers/wat.js";

const N = 1_000_000_000;
const HIBERNATE_AFTER_MS = 60_000;

/** Writes "tick\n" then counts to n, `rounds` times; returns the count. */
const TICKER = wat(`(module
  (import "ferry" "output_write" (func $out (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "tick\\n")
  (func (export "tick") (param $rounds i32) (param $n i32) (result i32)
    (local $r i32) (local $i i32) (local $total i32)
    (block $done (loop $outer
      (br_if $done (i32.ge_u (local.get $r) (local.get $rounds)))
      (call $out (i32.const 0) (i32.const 5))
      (local.set $i (i32.const 0))
      (block $end (loop $l
        (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (local.set $total (i32.add (local.get $total) (local.get $i)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $outer)))
    (local.get $total)))`);

const nodes: TestNode[] = [];
afterEach(() => closeNodes(nodes));

async function node(key = generateSigningKey(), dataDir?: string): Promise<TestNode> {
  const n = await startTestNode({
    key,
    quotas: { maxFuelPerJob: 1e12 },
    sharedModuleCache: true,
    limits: { hibernateAfterMs: HIBERNATE_AFTER_MS },
    ...(dataDir ? { dataDir } : {}),
  });
  nodes.push(n);
  return n;
}

async function metric(n: TestNode, name: string): Promise<number> {
  const text = await (await fetch(`${n.running.url}/metrics`)).text();
  return Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, "m").exec(text)![1]);
}

/** Hibernate what the node's clock says is due HIBERNATE_AFTER_MS from now. */
function hibernateLater(n: TestNode) {
  return n.running.node.hibernateIdleJobs(n.running.store.now() + HIBERNATE_AFTER_MS);
}

describe("hibernated paused jobs", () => {
  it("leave the VM after hibernateAfterMs, look the same through the API, and resume to the straight run's value", async () => {
    const n = await node();
    const { codeHash } = await n.client.uploadModule(TICKER);
    const job = await n.client.startJob({ codeHash, entry: "tick", args: [50, 4_000_000], sandbox: "in-process" });
    const paused = await n.client.pause(job.id);
    expect(paused.state).toBe("paused");
    // Not yet due: a job paused a moment ago stays in the VM.
    expect(await n.running.node.hibernateIdleJobs()).toEqual({ hibernated: 0 });
    const output = await n.client.outputPage(job.id);
    expect(await hibernateLater(n)).toEqual({ hibernated: 1 });
    expect(await metric(n, "ferry_jobs_hibernated_total")).toBe(1);
    // The same job through the API: state, fuel, output and its size.
    expect(await n.client.job(job.id)).toMatchObject({ state: "paused", outputBytes: paused.outputBytes, fuelUsed: paused.fuelUsed });
    expect(Buffer.from((await n.client.outputPage(job.id)).bytes)).toEqual(Buffer.from(output.bytes));
    // Hibernating again does nothing; resuming wakes it from its checkpoint.
    expect(await hibernateLater(n)).toEqual({ hibernated: 0 });
    await n.client.resume(job.id);
    const done = await n.client.waitFor(job.id, { timeoutMs: 100_000 });
    expect(done.result).toMatchObject({ status: "done", value: 50 * 4_000_000 });
    expect(Buffer.from((await n.client.outputPage(job.id)).bytes).toString()).toBe("tick\n".repeat(50));
    expect(await metric(n, "ferry_jobs_woken_total")).toBe(1);
  }, 120_000);

  it("is cancelled without waking, its output kept", async () => {
    const n = await node();
    const { codeHash } = await n.client.uploadModule(TICKER);
    const job = await n.client.startJob({ codeHash, entry: "tick", args: [1_000_000, 4_000_000], sandbox: "in-process" });
    const paused = await n.client.pause(job.id);
    expect(await hibernateLater(n)).toEqual({ hibernated: 1 });
    expect(await n.client.cancel(job.id)).toMatchObject({ state: "cancelled", outputBytes: paused.outputBytes });
    expect(await metric(n, "ferry_jobs_woken_total")).toBe(0);
  });

  it("migrates: woken at the source, paused at the target, resumed there to the right value", async () => {
    const key = generateSigningKey();
    const a = await node(key);
    const b = await node(key);
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      x.running.store.peers.upsert({ nodeId: y.running.identity.nodeId, url: y.running.url, publicKey: y.running.identity.publicKey });
    }
    const { codeHash } = await a.client.uploadModule(COUNTER);
    const job = await a.client.startJob({ codeHash, args: [N], sandbox: "in-process" });
    await a.client.pause(job.id);
    expect(await hibernateLater(a)).toEqual({ hibernated: 1 });
    expect(await a.client.migrate(job.id, b.running.identity.nodeId)).toMatchObject({ state: "migrated" });
    expect(await b.client.job(job.id)).toMatchObject({ state: "paused" });
    await b.client.resume(job.id);
    const done = await b.client.waitFor(job.id, { timeoutMs: 100_000 });
    expect(done.result).toMatchObject({ status: "done", value: (N * 3) | 0 });
  }, 120_000);

  it("stays out of the VM across a restart, and resumes from its checkpoint", async () => {
    const first = await node();
    const { codeHash } = await first.client.uploadModule(TICKER);
    const job = await first.client.startJob({ codeHash, entry: "tick", args: [20, 4_000_000], sandbox: "in-process" });
    const paused = await first.client.pause(job.id);
    const dataDir = first.dataDir;
    await first.close();
    nodes.splice(0); // closed; its data directory is the next node's
    const second = await node(first.key, dataDir);
    expect(second.running.recovered).toEqual({ resumed: 1, restarted: 0 });
    expect(await metric(second, "ferry_jobs_hibernated_total")).toBe(1);
    expect(await second.client.job(job.id)).toMatchObject({ state: "paused", outputBytes: paused.outputBytes });
    await second.client.resume(job.id);
    const done = await second.client.waitFor(job.id, { timeoutMs: 100_000 });
    expect(done.result).toMatchObject({ status: "done", value: 20 * 4_000_000 });
  }, 120_000);
});
