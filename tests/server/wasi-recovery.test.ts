// A WASI job survives its node's crash: kill -9 the node process while the job sleeps (checkpointed,
// its directories open), restart it on the same data directory, and the job resumes from its
// checkpoint with the same preopens — a resource directory rebound by name, a scratch tree from
// the checkpoint's resource section — and ends with the straight run's output.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { programWasmPath } from "../../guest/programs/catalog.js";
import { runUnderNodeWasi } from "../../guest/programs/node-wasi.js";
import { generateSigningKey } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import { Store } from "../../server/store/store.js";
import { removeDir, shareModuleCache, tempDir } from "../helpers/node.js";
import { spawnNode, type NodeProcess } from "../helpers/node-process.js";
import { until } from "../helpers/until.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(dir: string): Promise<NodeProcess> {
  const node = await spawnNode(dir, { checkpointIntervalMs: 100 });
  cleanup.push(() => node.kill());
  return node;
}

describe("WASI job recovery", () => {
  it("resumes a checkpointed WASI job after kill -9 with the same directories, and ends as the straight run", async () => {
    const key = generateSigningKey();
    const dir = tempDir("nodewasi-recovery-");
    cleanup.push(() => removeDir(dir));
    shareModuleCache(dir);
    {
      using store = Store.open(dir);
      store.clients.add({ publicKey: key.publicKey, capabilities: ["in/*:r"] });
    }
    mkdirSync(join(dir, "resources", key.clientId, "in"), { recursive: true });
    writeFileSync(join(dir, "resources", key.clientId, "in", "note.txt"), "kept");
    let node = await start(dir);
    let client = new FerryClient({ url: node.url, key });
    const { codeHash } = await client.uploadModule(readFileSync(programWasmPath("c-sleep")));
    const args = ["60", "25"];
    const job = await client.startJob({
      codeHash,
      wasi: {
        args,
        env: {},
        dirs: [
          { guest: "/in", resource: "in", access: "r" },
          { guest: "/scratch", scratch: true },
        ],
      },
    });
    // Mid-run: some ticks printed, and a durable checkpoint holding them.
    await until(async () => {
      const v = await client.job(job.id);
      return v.lastCheckpoint !== null && v.outputBytes > 0 && v.state === "running";
    }, "a checkpoint of the sleeping job");
    await node.kill();

    node = await start(dir);
    client = new FerryClient({ url: node.url, key });
    expect(node.recovered).toEqual({ resumed: 1, restarted: 0 });
    const done = await client.waitFor(job.id, { timeoutMs: 60_000 });
    expect(done.state).toBe("done");
    expect(done.wasi?.dirs).toEqual([
      { guest: "/in", resource: "in", access: "r" },
      { guest: "/scratch", scratch: true },
    ]);
    const ref = runUnderNodeWasi(programWasmPath("c-sleep"), "guest", { args });
    expect(Buffer.from((await client.outputPage(job.id)).bytes).toString("utf8")).toBe(ref.stdout);
  }, 120_000);
});
