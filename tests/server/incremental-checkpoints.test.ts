// Incremental checkpoints on a real node: after a job's first (full) checkpoint, the periodic round
// writes only the pages changed since it, as a delta naming that base; a restart resumes the job
// from base + delta and it ends with the straight run's value. A job that used no fuel since its last
// checkpoint (asleep) is left alone: not paused, nothing written. A write that fails keeps the
// previous checkpoint and the job runs on.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { programWasmPath } from "../../guest/programs/catalog.js";
import { decodeSnapshot, inspectSnapshot, PAGED_FORMAT_VERSION } from "../../runtime/index.js";
import { checkpointSnapshot } from "../../server/migration/checkpoint-format.js";
import { closeNodes, startTestNode, type TestNode } from "../helpers/node.js";
import { until, untilValue } from "../helpers/until.js";
import { wat } from "../helpers/wat.js";

const PAGES = 32;
const PASSES = 300_000_000;

/** Fills PAGES pages once, then changes one word of the first page per pass; returns a checksum of all of them. */
const CHURN = wat(`(module
  (memory (export "memory") ${PAGES + 1})
  (func (export "churn") (param $pages i32) (param $passes i32) (result i32)
    (local $p i32) (local $i i32) (local $sum i32) (local $at i32)
    (memory.fill (i32.const 0) (i32.const 7) (i32.mul (local.get $pages) (i32.const 65536)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $passes)))
      (local.set $at (i32.shl (i32.and (local.get $p) (i32.const 1023)) (i32.const 2)))
      (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (local.get $p)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $l)))
    (block $end (loop $s
      (br_if $end (i32.ge_u (local.get $i) (i32.mul (local.get $pages) (i32.const 16384))))
      (local.set $sum (i32.add (i32.mul (local.get $sum) (i32.const 31)) (i32.load (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $s)))
    (local.get $sum)))`);

/** CHURN's answer, computed here. */
function churnValue(pages: number, passes: number): number {
  const words = new Int32Array(pages * 16384).fill(0x07070707);
  for (let k = 0; k < 1024; k++) {
    // The passes p ≡ k (mod 1024), p < passes: their sum, mod 2^32.
    const count = passes > k ? Math.floor((passes - 1 - k) / 1024) + 1 : 0;
    const sum = BigInt(count) * BigInt(k) + (1024n * BigInt(count) * BigInt(count - 1)) / 2n;
    words[k] = Number(BigInt.asIntN(32, BigInt(words[k]!) + sum));
  }
  let acc = 0;
  for (const w of words) acc = (Math.imul(acc, 31) + w) | 0;
  return acc;
}

const DELTA_HEADER_BYTES = 8 + 32; // checkpoint-format.ts: "FERRYDLT" and the base's sha256

const nodes: TestNode[] = [];
afterEach(() => closeNodes(nodes));

describe("incremental checkpoints", () => {
  it("writes deltas on the job's last full checkpoint, and a restart resumes from base + delta to the straight run's value", async () => {
    const first = await startTestNode({ sharedModuleCache: true });
    nodes.push(first);
    const store = first.running.store;
    const node = first.running.node;
    const { codeHash } = await first.client.uploadModule(CHURN);
    const job = await first.client.startJob({ codeHash, entry: "churn", args: [PAGES, PASSES], sandbox: "in-process" });

    // Rounds until one writes a delta (the first is full, and one taken during the fill may be too).
    const delta = await untilValue(async () => {
      await node.checkpointRunningJobs();
      const latest = store.checkpoints.latest(job.id);
      return latest?.baseHash === undefined ? undefined : latest;
    }, "a delta checkpoint");
    const base = store.checkpoints.list(job.id).find((c) => c.snapshotHash === delta.baseHash);
    expect(base?.baseHash).toBeUndefined();
    const fullPages = decodeSnapshot(store.checkpoints.read(base!)).memory.pages.length;
    const deltaPages = decodeSnapshot(store.checkpoints.read(delta).subarray(DELTA_HEADER_BYTES)).memory.pages.length;
    expect(fullPages).toBeGreaterThanOrEqual(PAGES);
    // Both in format version 4: per-page digests, so a rebase hashes only the pages that changed.
    expect(inspectSnapshot(store.checkpoints.read(base!)).formatVersion).toBe(PAGED_FORMAT_VERSION);
    expect(inspectSnapshot(store.checkpoints.read(delta).subarray(DELTA_HEADER_BYTES)).formatVersion).toBe(PAGED_FORMAT_VERSION);
    expect(deltaPages).toBeLessThanOrEqual(fullPages / 2);
    expect(checkpointSnapshot(store, job.id)!.memory.pages.length).toBeGreaterThanOrEqual(PAGES);
    const metrics = await (await fetch(`${first.running.url}/metrics`)).text();
    expect(Number(/^ferry_checkpoint_deltas_total\{[^}]*\} (\d+)$/m.exec(metrics)![1])).toBeGreaterThanOrEqual(1);

    // The node goes (its jobs stay running in the store) and comes back on the same data directory.
    const dataDir = first.dataDir;
    await first.close();
    nodes.splice(0); // closed; its data directory is the next node's
    const second = await startTestNode({ dataDir, key: first.key });
    nodes.push(second);
    expect(second.running.recovered).toEqual({ resumed: 1, restarted: 0 });
    const done = await second.client.waitFor(job.id, { timeoutMs: 100_000 });
    expect(done.result).toMatchObject({ status: "done", value: churnValue(PAGES, PASSES) });
  }, 180_000);

  it("leaves a sleeping job alone (not paused, nothing written) until it uses fuel again", async () => {
    const n = await startTestNode({ sharedModuleCache: true });
    nodes.push(n);
    const { codeHash } = await n.client.uploadModule(readFileSync(programWasmPath("c-sleep")));
    const job = await n.client.startJob({ codeHash, wasi: { args: ["1", "600000"], env: {}, dirs: [] } });
    await until(async () => (await n.running.node.checkpointRunningJobs()).unchanged.includes(job.id), "a round that finds it unchanged");
    const written = n.running.store.checkpoints.latest(job.id)!;
    expect(await n.running.node.checkpointRunningJobs()).toEqual({ checkpointed: [], deferred: [], unchanged: [job.id], skipped: false });
    expect(n.running.store.checkpoints.latest(job.id)).toEqual(written);
    expect((await n.client.job(job.id)).state).toBe("running");
    await n.client.cancel(job.id);
  }, 120_000);

  it("keeps the previous checkpoint when a write fails, lets the job run on, and writes a full one next", async () => {
    const n = await startTestNode({ sharedModuleCache: true });
    nodes.push(n);
    const store = n.running.store;
    const { codeHash } = await n.client.uploadModule(CHURN);
    const job = await n.client.startJob({ codeHash, entry: "churn", args: [PAGES, PASSES], sandbox: "in-process" });
    expect((await n.running.node.checkpointRunningJobs()).checkpointed).toEqual([job.id]);
    const before = store.checkpoints.latest(job.id)!;
    // The incoming directory replaced by a file: the worker cannot create its temp file there.
    const incoming = store.blobs.incoming;
    rmSync(incoming, { recursive: true });
    writeFileSync(incoming, "in the way");
    const failed = await n.running.node.checkpointRunningJobs();
    expect(failed.checkpointed).toEqual([]);
    expect(store.checkpoints.latest(job.id)).toEqual(before);
    expect((await n.client.job(job.id)).state).toBe("running");
    rmSync(incoming);
    const next = await untilValue(async () => {
      await n.running.node.checkpointRunningJobs();
      const latest = store.checkpoints.latest(job.id)!;
      return latest.seq > before.seq ? latest : undefined;
    }, "the next checkpoint");
    expect(next.baseHash).toBeUndefined();
    await n.client.cancel(job.id);
  }, 120_000);
});
