// Node-to-node migration between two real nodes on loopback: strong and weak transfers, the
// receiver-initiated module download, and exactly-once hand-over with a failure at every step.
import { afterEach, describe, expect, it } from "vitest";
import { FerryClient, HttpError } from "../../server/client.js";
import { TRANSFER_STEPS, type TransferStep } from "../../server/migration/faults.js";
import type { TransferProbe } from "../../server/migration/migrator.js";
import type { PrecopyOptions } from "../../server/migration/precopy.js";
import type { JobView } from "../../server/node/job-view.js";
import { COUNTER, INFINITE_LOOP } from "../helpers/fixtures.js";
import { wat } from "../helpers/wat.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { generateSigningKey } from "../../server/auth/index.js";
import { untilValue } from "../helpers/until.js";

const N = 1_000_000_000; // long enough to outlast a pre-copy and a migration (a few seconds of spinning)
/**
 * A module each node compiles first, so its compile pool is up before a transfer needs it (when the
 * run's shared module cache does not hold a module yet, as on the first run of a build).
 */
const WARM_UP = wat(`(module (func (export "warm")))`);

let nodes: TestNode[] = [];
afterEach(async () => {
  for (const n of nodes) {
    await n.close();
    removeDir(n.dataDir);
  }
  nodes = [];
});

/** Two nodes that know each other, the same client registered on both; `faults` on either side, `transferProbe` on a. */
async function pair(
  faults: { a?: (s: TransferStep, id: string) => void; b?: (s: TransferStep, id: string) => void } = {},
  precopy?: PrecopyOptions,
  transferProbe?: TransferProbe,
) {
  const key = generateSigningKey();
  const quotas = { maxFuelPerJob: 1e12 };
  // The run's module cache: compiling is not under test here, and a fresh node's first compile loads Binaryen.
  const a = await startTestNode({
    key,
    quotas,
    faults: faults.a,
    sharedModuleCache: true,
    ...(precopy ? { precopy } : {}),
    ...(transferProbe ? { transferProbe } : {}),
  });
  const b = await startTestNode({ key, quotas, faults: faults.b, sharedModuleCache: true });
  nodes.push(a, b);
  // A node's compile pool starts with its first compile (seconds on a busy machine): start both now,
  // so no pre-copy waits for it while the job it copies runs to its end.
  await Promise.all([a, b].map((n) => n.client.uploadModule(WARM_UP)));
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    x.running.store.peers.upsert({ nodeId: y.running.identity.nodeId, url: y.running.url, publicKey: y.running.identity.publicKey });
  }
  return { a, b };
}

async function runningJob(n: TestNode): Promise<JobView> {
  const { codeHash } = await n.client.uploadModule(COUNTER, { public: false });
  const job = await n.client.startJob({ codeHash, args: [N], sandbox: "in-process" });
  expect(job.state).toBe("running");
  return job;
}

/** Poll a node's store until the job reaches one of `states` (or disappears, with "absent"). */
function untilState(n: TestNode, id: string, states: string[], timeoutMs = 20_000): Promise<string> {
  return untilValue(
    () => {
      const state = n.running.store.jobs.get(id)?.state ?? "absent";
      return states.includes(state) ? state : undefined;
    },
    `job ${id} to be ${states.join("|")}`,
    timeoutMs,
  );
}

describe("strong migration", () => {
  it("moves a running job with its state; the target downloads the module and finishes it", async () => {
    const { a, b } = await pair();
    const job = await runningJob(a);
    const moved = await a.client.migrate(job.id, b.running.identity.nodeId);
    expect(moved).toMatchObject({ state: "migrated", node: b.running.identity.nodeId, epoch: 1 });
    // Pre-copied: the target holds the base and, on top of it, the delta of the stop.
    const [base, delta] = b.running.store.checkpoints.list(job.id);
    expect(Buffer.from(b.running.store.checkpoints.read(delta!).subarray(0, 8)).toString()).toBe("FERRYDLT");
    expect(Buffer.from(b.running.store.checkpoints.read(base!).subarray(0, 8)).toString()).toBe("FERRYSNP");
    expect(b.running.store.modules.get(job.codeHash)).toBeDefined();
    const done = await b.client.waitFor(job.id);
    expect(done).toMatchObject({ state: "done", epoch: 1, result: { status: "done", value: (N * 3) | 0 } });
    // Resumed, not restarted: the fuel of the whole run is about that of one uninterrupted run.
    const reference = await a.client.startJob({ codeHash: job.codeHash, args: [N], sandbox: "in-process", waitMs: 30_000 });
    expect(done.fuelUsed).toBe(reference.fuelUsed);
  });

  it("makes the job's owner an owner of the module at the target, even if someone else stored it there first", async () => {
    const { a, b } = await pair();
    // Another client of b already has the same bytes there, privately.
    const other = generateSigningKey();
    b.running.store.clients.add({ publicKey: other.publicKey });
    await new FerryClient({ url: b.running.url, key: other }).uploadModule(COUNTER, { public: false });
    const job = await runningJob(a);
    expect(await b.client.startJob({ codeHash: job.codeHash, args: [1], sandbox: "in-process" }).catch((e: HttpError) => e.status)).toBe(
      404,
    );
    await a.client.migrate(job.id, b.running.identity.nodeId);
    // Having run it at a, its owner may now start the same code at b.
    expect(await b.client.startJob({ codeHash: job.codeHash, args: [10], sandbox: "in-process", waitMs: 10_000 })).toMatchObject({
      state: "done",
      result: { value: 30 },
    });
    await b.client.cancel(job.id);
  });

  it("moves a job back and forth, bumping its epoch each time", async () => {
    const { a, b } = await pair();
    // A guest that never ends, so it is surely still running at every hop.
    const { codeHash } = await a.client.uploadModule(INFINITE_LOOP, { public: false });
    const job = await a.client.startJob({ codeHash, entry: "spin", sandbox: "in-process" });
    expect((await a.client.migrate(job.id, b.running.identity.nodeId)).epoch).toBe(1);
    await untilState(b, job.id, ["running"]);
    expect((await b.client.migrate(job.id, a.running.identity.nodeId)).epoch).toBe(2);
    await untilState(a, job.id, ["running"]);
    const back = await a.client.job(job.id);
    expect(back).toMatchObject({ state: "running", epoch: 2, node: a.running.identity.nodeId });
    expect(b.running.store.jobs.get(job.id)).toMatchObject({ state: "migrated", epoch: 2 });
    expect((await a.client.cancel(job.id)).state).toBe("cancelled");
  });
});

// Fills 4 MiB, then sweeps it one word per store with work between stores, so it dirties a page
// every few tens of ms: slower than pre-copy rounds travel, so they converge. Returns a checksum of
// all of memory, which any lost or stale page would change.
const SLOW_SCRIBBLER = wat(`(module
  (memory 64)
  (func (export "main") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $a i32) (local $sum i32)
    ;; touch every page first (fast), so the first pre-copy carries all 4 MiB
    (block $filled (loop $f
      (br_if $filled (i32.ge_u (local.get $a) (i32.const 0x400000)))
      (i32.store (local.get $a) (local.get $a))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br $f)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $a (i32.and (i32.shl (local.get $i) (i32.const 2)) (i32.const 0x3FFFFC)))
      (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.add (local.get $i) (i32.const 1))))
      (local.set $j (i32.const 0))
      (loop $w (local.set $j (i32.add (local.get $j) (i32.const 1))) (br_if $w (i32.lt_u (local.get $j) (i32.const 2000))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.set $a (i32.const 0))
    (block $end (loop $c
      (br_if $end (i32.ge_u (local.get $a) (i32.const 0x400000)))
      (local.set $sum (i32.add (i32.rotl (local.get $sum) (i32.const 1)) (i32.load (local.get $a))))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br $c)))
    (local.get $sum)))`);

function scribblerChecksum(n: number): number {
  const words = Uint32Array.from({ length: 0x400000 / 4 }, (_, w) => w * 4);
  for (let i = 0; i < n; i++) words[i % words.length] = (words[i % words.length]! + i + 1) >>> 0;
  let sum = 0;
  for (const w of words) sum = (((sum << 1) | (sum >>> 31)) + w) | 0;
  return sum;
}

describe("iterative pre-copy", () => {
  it("sends the pages dirtied since each round while it converges, and the job ends exactly as unmoved", async () => {
    // stopBytes 0: every round that halves the last one is sent, so this guest sees at least two.
    const rounds: string[] = [];
    let watching: string | undefined;
    const probe: TransferProbe = (mark, id) => {
      if (id === watching && mark === "source:precopied") rounds.push(mark);
    };
    const { a, b } = await pair({}, { maxRounds: 4, stopBytes: 0 }, probe);
    const n = 1_000_000; // a second or two of work: still running well after the migration
    const { codeHash } = await a.client.uploadModule(SLOW_SCRIBBLER, { public: false });
    const job = await a.client.startJob({ codeHash, args: [n], sandbox: "in-process" });
    await new Promise((r) => setTimeout(r, 100)); // some pages written, most not yet
    watching = job.id;
    expect(await a.client.migrate(job.id, b.running.identity.nodeId)).toMatchObject({ state: "migrated", epoch: 1 });
    expect(rounds.length).toBeGreaterThanOrEqual(2);
    // Each round's base replaced the one before, which was deleted: every blob left is in use.
    const store = b.running.store;
    expect(store.blobs.list().filter(({ hash }) => store.dropUnreferencedBlob(hash))).toEqual([]);
    const done = await b.client.waitFor(job.id);
    expect(done).toMatchObject({ state: "done", result: { status: "done", value: scribblerChecksum(n) } });
  });

  it("rejects bad pre-copy options", async () => {
    // The code, and which option (the message names it: that is what it is for).
    const refused = (option: string) => expect.objectContaining({ code: "bad_request", message: expect.stringContaining(option) });
    await expect(startTestNode({ precopy: { maxRounds: 0 } })).rejects.toEqual(refused("maxRounds"));
    await expect(startTestNode({ precopy: { maxRounds: 17 } })).rejects.toEqual(refused("maxRounds"));
    await expect(startTestNode({ precopy: { stopBytes: -1 } })).rejects.toEqual(refused("stopBytes"));
  });
});

describe("isolated jobs", () => {
  it("moves an authenticated job running in a child process to a child process at the target", async () => {
    const { a, b } = await pair();
    const { codeHash } = await a.client.uploadModule(COUNTER, { public: false });
    const job = await a.client.startJob({ codeHash, args: [N] }); // authenticated: isolated by default
    expect(job.sandbox).toBe("isolated");
    await a.client.migrate(job.id, b.running.identity.nodeId);
    const done = await b.client.waitFor(job.id);
    expect(done).toMatchObject({ state: "done", sandbox: "isolated", result: { status: "done", value: (N * 3) | 0 } });
  });
});

describe("weak migration", () => {
  it("ships code and arguments only; the target restarts the job from the beginning", async () => {
    const { a, b } = await pair();
    const job = await runningJob(a);
    await a.client.migrate(job.id, b.running.identity.nodeId, "weak");
    const done = await b.client.waitFor(job.id);
    expect(done.result).toMatchObject({ status: "done", value: (N * 3) | 0 });
  });
});

describe("exactly once", () => {
  /** A hook that fails the first time `step` is reached, like one lost message. */
  const failOnce = (step: TransferStep) => {
    let failed = false;
    return (s: TransferStep) => {
      if (s === step && !failed) {
        failed = true;
        throw new Error(`injected failure at ${step}`);
      }
    };
  };

  it.each(TRANSFER_STEPS.map((s) => [s]))("with a failure at %s the job finishes at exactly one node", async (step) => {
    const side = step.startsWith("source") ? "a" : "b";
    const { a, b } = await pair({ [side]: failOnce(step) });
    const job = await runningJob(a);
    let migrated = true;
    try {
      await a.client.migrate(job.id, b.running.identity.nodeId);
    } catch (e) {
      // The transfer itself failed (not "the job had already finished"): it was abandoned.
      expect(e).toBeInstanceOf(HttpError);
      expect((e as HttpError).code).toBe("conflict");
      // A conflict is also "the job finished before it could move": the message tells the two apart.
      expect((e as HttpError).message).toMatch(/migration to .* failed, the job goes on here/);
      migrated = false;
    }
    // Failures before the decision keep the job at the source; after it, the target has it.
    const decided = ["source:after-decision", "target:before-commit", "target:after-commit"].includes(step);
    expect(migrated).toBe(decided);
    // Wait for both sides to settle: one finishes the job, the other has handed it over or never had it.
    const [atA, atB] = await Promise.all([untilState(a, job.id, ["done", "migrated"]), untilState(b, job.id, ["done", "absent"])]);
    const finishers = [atA === "done", atB === "done"].filter(Boolean).length;
    expect(finishers).toBe(1);
    const finisher = atA === "done" ? a : b;
    expect((await finisher.client.job(job.id)).result).toMatchObject({ status: "done", value: (N * 3) | 0 });
    expect(finisher).toBe(decided ? b : a);
  });
});

describe("bad transfers", () => {
  it("refuses unsigned and unknown-peer calls to /peer routes, and migrations to unknown peers", async () => {
    const { a, b } = await pair();
    const r = await fetch(`${b.running.url}/peer/migrations/prepare`, { method: "POST", body: "x" });
    expect(r.status).toBe(401);
    const job = await runningJob(a);
    await expect(a.client.migrate(job.id, "no-such-peer")).rejects.toMatchObject({ status: 404 });
    await expect(a.anonymous.migrate(job.id, b.running.identity.nodeId)).rejects.toMatchObject({ status: 401 });
    expect((await a.client.job(job.id)).state).toBe("running");
    await a.client.cancel(job.id);
  });
});

describe("admission queue", () => {
  it("queues jobs past maxRunningJobs, runs them in order, and hands a queued one to a peer weakly", async () => {
    const key = generateSigningKey();
    const a = await startTestNode({ key, maxRunningJobs: 1, sharedModuleCache: true });
    const b = await startTestNode({ key, sharedModuleCache: true });
    nodes.push(a, b);
    a.running.store.peers.upsert({ nodeId: b.running.identity.nodeId, url: b.running.url, publicKey: b.running.identity.publicKey });
    b.running.store.peers.upsert({ nodeId: a.running.identity.nodeId, url: a.running.url, publicKey: a.running.identity.publicKey });
    const { codeHash: spin } = await a.client.uploadModule(INFINITE_LOOP, { public: false });
    const { codeHash: count } = await a.client.uploadModule(COUNTER, { public: false });
    const first = await a.client.startJob({ codeHash: spin, entry: "spin", sandbox: "in-process" });
    const second = await a.client.startJob({ codeHash: count, args: [1000], sandbox: "in-process" });
    const third = await a.client.startJob({ codeHash: count, args: [2000], sandbox: "in-process" });
    expect([first.state, second.state, third.state]).toEqual(["running", "queued", "queued"]);
    expect(await (await a.anonymous.request("GET", "/load")).json()).toMatchObject({ running: 1, queued: 2 });

    // A queued job moves weakly (it has no execution state yet) and runs at the peer.
    const moved = await a.client.migrate(third.id, b.running.identity.nodeId, "strong");
    expect(moved.state).toBe("migrated");
    expect((await b.client.waitFor(third.id)).result).toMatchObject({ value: 6000 });

    // Cancelling the running job frees the slot for the next in line.
    await a.client.cancel(first.id);
    expect((await a.client.waitFor(second.id)).result).toMatchObject({ value: 3000 });
  });
});
