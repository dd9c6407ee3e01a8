// One owner per data directory, with real node processes: a second `ferry serve` on a directory a
// live node owns refuses at once, naming the owner's pid, and changes nothing; after the owner is
// killed with -9 a restart is not blocked; a stale owner description (even one naming a live pid)
// never decides. In one process, a second startNode on the same directory is refused the same way.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generateSigningKey, type SigningKey } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import { OWNER_INFO_FILE } from "../../server/data-dir.js";
import { isServerError } from "../../server/errors.js";
import { startNode } from "../../server/node-server.js";
import { Store } from "../../server/store/store.js";
import { ferry } from "../helpers/cli.js";
import { INFINITE_LOOP } from "../helpers/fixtures.js";
import { spawnNode, type NodeProcess } from "../helpers/node-process.js";
import { removeDir, shareModuleCache, tempDir } from "../helpers/node.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function dataDirWithClient(key: SigningKey): string {
  const dir = tempDir("ferry-lock-");
  cleanup.push(() => removeDir(dir));
  using store = Store.open(dir);
  store.clients.add({ publicKey: key.publicKey, quotas: { maxFuelPerJob: 1e15 } });
  return dir;
}

async function start(dir: string): Promise<NodeProcess> {
  // No periodic checkpoints: an idle owner writes nothing, so "changes nothing" can be checked file by file.
  const node = await spawnNode(dir, { checkpointIntervalMs: 0 });
  cleanup.push(() => node.kill());
  return node;
}

/** Every file under `dir` with its size and modification time. */
function listing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const s = statSync(path);
    out[path.slice(dir.length)] = `${s.size} ${s.mtimeMs}`;
  }
  return out;
}

describe("ferry serve on a data directory another live node owns", () => {
  it("refuses at once with one line naming the owner's pid, changes nothing, and the owner's job runs on", async () => {
    const key = generateSigningKey();
    const dir = dataDirWithClient(key);
    const owner = await start(dir);
    const client = new FerryClient({ url: owner.url, key });
    const { codeHash } = await client.uploadModule(INFINITE_LOOP);
    const job = await client.startJob({ codeHash, entry: "spin", sandbox: "in-process" });
    const before = listing(dir);

    const second = await ferry(["serve", "--port", "0", "--data-dir", dir]);
    expect(second.code).toBe(5); // unavailable: the data directory is owned by another process
    expect(second.stdout).toBe("");
    expect(second.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(second.stderr).toContain(`pid ${owner.child.pid}`);
    expect(second.stderr).toMatch(/in use by ferry serve/);
    expect(second.stderr).not.toMatch(/\n\s+at /);
    expect(listing(dir)).toEqual(before);

    expect((await client.job(job.id)).state).toBe("running");
    expect((await client.listJobs()).jobs).toHaveLength(1);
    await client.cancel(job.id);
  });

  it("is not blocked by a lock left by a node killed with -9: the restart owns it and resumes the job", async () => {
    const key = generateSigningKey();
    const dir = dataDirWithClient(key);
    shareModuleCache(dir); // the lock is under test, not compiling (the first test keeps its own cache: it lists every file)
    const first = await start(dir);
    let client = new FerryClient({ url: first.url, key });
    const { codeHash } = await client.uploadModule(INFINITE_LOOP);
    const job = await client.startJob({ codeHash, entry: "spin", sandbox: "in-process" });
    await first.kill();
    // The dead owner's description is still there; the kernel dropped its lock with the process.
    expect(JSON.parse(readFileSync(join(dir, OWNER_INFO_FILE), "utf8"))).toMatchObject({ pid: first.child.pid });

    const restarted = await start(dir);
    expect(restarted.recovered.resumed + restarted.recovered.restarted).toBe(1);
    expect(JSON.parse(readFileSync(join(dir, OWNER_INFO_FILE), "utf8"))).toMatchObject({
      pid: restarted.child.pid,
      command: "ferry serve",
    });
    client = new FerryClient({ url: restarted.url, key });
    expect((await client.job(job.id)).state).toBe("running");
    await client.cancel(job.id);
  });

  it("is not blocked by an owner description naming a live pid (a reused pid) when no process holds the lock", async () => {
    const dir = tempDir("ferry-lock-");
    cleanup.push(() => removeDir(dir));
    writeFileSync(join(dir, OWNER_INFO_FILE), JSON.stringify({ pid: process.pid, command: "ferry serve", host: "x", since: 0 }));
    const node = await start(dir);
    expect(JSON.parse(readFileSync(join(dir, OWNER_INFO_FILE), "utf8"))).toMatchObject({ pid: node.child.pid });
    await node.stop();
  });

  it("a clean stop releases the directory and removes the owner description", async () => {
    const dir = tempDir("ferry-lock-");
    cleanup.push(() => removeDir(dir));
    const node = await start(dir);
    await node.stop();
    expect(readdirSync(dir)).not.toContain(OWNER_INFO_FILE);
    const again = await start(dir);
    await again.stop();
  });
});

describe("two nodes in one process", () => {
  it("the second startNode on the same directory is refused data_dir_in_use; after the first closes it starts", async () => {
    const dir = tempDir("ferry-lock-");
    cleanup.push(() => removeDir(dir));
    const first = await startNode({ dataDir: dir, checkpointIntervalMs: 0 });
    await expect(startNode({ dataDir: dir, checkpointIntervalMs: 0 })).rejects.toSatisfy(
      (e: unknown) => isServerError(e, "data_dir_in_use") && e.message.includes(`pid ${process.pid}`),
    );
    // The refused one touched nothing the first relies on.
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    await first.close();
    const second = await startNode({ dataDir: dir, checkpointIntervalMs: 0 });
    await second.close();
  });
});
