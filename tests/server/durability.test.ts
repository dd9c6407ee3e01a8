// Crash safety with real node processes: kill -9 a node mid-job (or mid-migration) and restart it on
// the same data directory; every job continues from its last checkpoint and ends exactly once.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generateSigningKey, type SigningKey } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import { Store } from "../../server/store/store.js";
import { COUNTER } from "../helpers/fixtures.js";
import { wat } from "../helpers/wat.js";
import { removeDir, shareModuleCache, tempDir } from "../helpers/node.js";
import { spawnNode, type NodeProcess } from "../helpers/node-process.js";

const N = 1_000_000_000; // seconds of work (under the default fuel quota): long enough to outlast a pre-copy and a migration

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function dataDirWithClient(key: SigningKey): string {
  const dir = tempDir();
  cleanup.push(() => removeDir(dir));
  // The run's module cache: compiling is not under test here, and a fresh node's first compile loads Binaryen.
  shareModuleCache(dir);
  using store = Store.open(dir);
  store.clients.add({ publicKey: key.publicKey });
  return dir;
}

async function start(dir: string, options: Parameters<typeof spawnNode>[1] = {}): Promise<NodeProcess> {
  const node = await spawnNode(dir, options);
  cleanup.push(() => node.kill());
  return node;
}

/** Poll until the node reports a durable checkpoint of the job. */
async function checkpointed(client: FerryClient, id: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await client.job(id)).lastCheckpoint === null) {
    if (Date.now() > deadline) throw new Error("no checkpoint within 20 s");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("durability", () => {
  it("resumes a running job from its last checkpoint after kill -9, and keeps modules and results", async () => {
    const key = generateSigningKey();
    const dir = dataDirWithClient(key);
    let node = await start(dir);
    let client = new FerryClient({ url: node.url, key });
    const { codeHash } = await client.uploadModule(COUNTER);
    const small = await client.startJob({ codeHash, args: [1000], sandbox: "in-process", waitMs: 10_000 });
    expect(small.state).toBe("done");
    const job = await client.startJob({ codeHash, args: [N], sandbox: "in-process" });
    await checkpointed(client, job.id);
    await node.kill();

    node = await start(dir);
    client = new FerryClient({ url: node.url, key });
    expect((await client.job(small.id)).result).toMatchObject({ status: "done", value: 3000 });
    const done = await client.waitFor(job.id, { timeoutMs: 60_000 });
    expect(done.result).toMatchObject({ status: "done", value: (N * 3) | 0 });
    // Resumed from its checkpoint, not restarted from the beginning.
    expect(node.recovered).toEqual({ resumed: 1, restarted: 0 });
    expect((await client.downloadModule(codeHash)).byteLength).toBe(COUNTER.byteLength);
  }, 240_000);
});

describe("migration across crashes", () => {
  /** Two node processes that know each other; a restarted node tells its peer its new address. */
  async function cluster(crashA?: string, crashB?: string) {
    const key = generateSigningKey();
    const dirA = dataDirWithClient(key);
    const dirB = dataDirWithClient(key);
    const filesDir = tempDir("ferry-peers-");
    cleanup.push(() => removeDir(filesDir));
    const peerFile = (name: string, p: NodeProcess): string => {
      const path = join(filesDir, name);
      writeFileSync(path, JSON.stringify([{ nodeId: p.nodeId, url: p.url, publicKey: p.publicKey }]));
      return path;
    };
    let b = await start(dirB);
    const peersOfA = peerFile("a.json", b);
    let a = await start(dirA, { peersFile: peersOfA, ...(crashA ? { crashAt: crashA } : {}) });
    const peersOfB = peerFile("b.json", a);
    await b.stop();
    b = await start(dirB, { peersFile: peersOfB, ...(crashB ? { crashAt: crashB } : {}) });
    await helloReached(a.url, b);
    // A node's compile pool starts with its first compile (seconds on a busy machine): start both now,
    // so the pre-copy of the job under test does not wait for it while the job runs to its end.
    await Promise.all([a, b].map((n) => new FerryClient({ url: n.url, key }).uploadModule(wat(`(module (func (export "warm")))`))));
    return {
      key,
      get a() {
        return a;
      },
      get b() {
        return b;
      },
      restart: async (which: "a" | "b") => {
        const dead = which === "a" ? a : b;
        await dead.exited;
        const next = await start(which === "a" ? dirA : dirB, { peersFile: which === "a" ? peersOfA : peersOfB });
        if (which === "a") a = next;
        else b = next;
        await helloReached((which === "a" ? b : a).url, next);
        return next;
      },
    };
  }

  /** Wait until the node at `url` has been told `peer`'s current address (its /peer/hello). */
  async function helloReached(url: string, peer: NodeProcess): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const load = (await (await fetch(`${url}/peers`)).json()) as Array<{ nodeId: string; url: string }>;
      if (load.some((p) => p.nodeId === peer.nodeId && p.url.replace(/\/$/, "") === peer.url)) return;
      if (Date.now() > deadline) throw new Error(`${url} never heard from ${peer.url}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it.each([
    ["source:after-prepare", "a", "a"],
    ["source:after-decision", "a", "b"],
    ["target:after-prepare", "b", "a"],
    ["target:after-commit", "b", "b"],
  ])(
    "a crash at %s (node %s) leaves the job running at exactly one node (%s)",
    async (step, crashed, finisher) => {
      const c = await cluster(crashed === "a" ? step : undefined, crashed === "b" ? step : undefined);
      const clientA = new FerryClient({ url: c.a.url, key: c.key });
      const { codeHash } = await clientA.uploadModule(COUNTER);
      const job = await clientA.startJob({ codeHash, args: [N], sandbox: "in-process" });
      await checkpointed(clientA, job.id);
      await clientA.migrate(job.id, c.b.nodeId).catch(() => undefined); // the crash cuts the answer off
      await c.restart(crashed as "a" | "b");
      const A = new FerryClient({ url: c.a.url, key: c.key });
      const B = new FerryClient({ url: c.b.url, key: c.key });
      const done = await (finisher === "a" ? A : B).waitFor(job.id, { timeoutMs: 60_000 });
      expect(done.result).toMatchObject({ status: "done", value: (N * 3) | 0 });
      const loser = finisher === "a" ? B : A;
      const elsewhere = await loser.job(job.id).catch(() => undefined);
      if (elsewhere) expect(["migrated", "absent"]).toContain(elsewhere.state);
    },
    240_000,
  );
});
