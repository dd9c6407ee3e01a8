// A runaway isolated job on a live node: one whose slice never ends (here: a spin loop with a slice
// of 10^15 fuel, standing in for a guest that escapes metering or a host call that never returns).
// It must not hold up the periodic checkpoints of other jobs, a DELETE must kill its process at
// once, and the node's default slice deadline ends it on its own.
import { readdirSync, readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { INFINITE_LOOP } from "../helpers/fixtures.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { until } from "../helpers/until.js";

const SLICE_NEVER_ENDS = 1e15;
const QUOTAS = { maxConcurrentJobs: 4, maxFuelPerJob: 9e15 };

/**
 * Pids of this process's sandbox children started since the test began (the node under test runs in
 * this process; a test file run earlier in the same worker may have left an engine's warm children).
 */
function sandboxChildren(): number[] {
  return allSandboxChildren().filter((pid) => !before.has(pid));
}

let before = new Set<number>();
beforeEach(() => {
  before = new Set(allSandboxChildren());
});

function allSandboxChildren(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${name}/cmdline`, "utf8").includes("child-main")) pids.push(Number(name));
    } catch {
      // gone while we looked
    }
  }
  return pids;
}

async function metric(n: TestNode, name: string): Promise<number> {
  const text = await (await fetch(`${n.running.url}/metrics`)).text();
  return Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, "m").exec(text)![1]);
}

let n: TestNode | undefined;
afterEach(async () => {
  await n?.close();
  if (n) removeDir(n.dataDir);
  n = undefined;
});

describe("a runaway isolated job", () => {
  it("is deferred by the checkpoint round while the other jobs are checkpointed; rounds never overlap; DELETE kills it at once", async () => {
    n = await startTestNode({
      sharedModuleCache: true,
      quotas: QUOTAS,
      isolated: { size: 0 },
      limits: { isolatedSliceFuel: SLICE_NEVER_ENDS, isolatedSliceTimeoutMs: 600_000, checkpointJobTimeoutMs: 200 },
    });
    const node = n.running.node;
    const { codeHash } = await n.client.uploadModule(INFINITE_LOOP);
    // First in the node's order, so every round meets it before the others.
    const runaway = await n.client.startJob({ codeHash, entry: "spin", sandbox: "isolated" });
    const other = await n.client.startJob({ codeHash, entry: "spin", sandbox: "in-process" });
    expect(sandboxChildren()).toHaveLength(1);

    const first = await node.checkpointRunningJobs();
    expect(first).toEqual({ checkpointed: [other.id], deferred: [runaway.id], unchanged: [], skipped: false });
    // The next round does not wait for it again (its attempt is still waiting), and a round asked
    // for while one runs does nothing.
    const [second, third] = await Promise.all([node.checkpointRunningJobs(), node.checkpointRunningJobs()]);
    expect(second).toEqual({ checkpointed: [other.id], deferred: [runaway.id], unchanged: [], skipped: false });
    expect(third).toEqual({ checkpointed: [], deferred: [], unchanged: [], skipped: true });
    expect((await n.client.job(other.id)).lastCheckpoint).toMatchObject({ seq: 2 });
    expect((await n.client.job(runaway.id)).lastCheckpoint).toBeNull();
    expect(await metric(n, "ferry_checkpoints_deferred_total")).toBe(2);
    expect(await metric(n, "ferry_checkpoint_rounds_skipped_total")).toBe(1);

    // Cancelling it answers although a checkpoint attempt holds the job, and its process is gone.
    expect(await n.client.cancel(runaway.id)).toMatchObject({ state: "cancelled" });
    await until(() => sandboxChildren().length === 0, "the runaway's sandbox process to exit", 20_000);
    expect(await n.client.job(other.id)).toMatchObject({ state: "running" });
    // Its abandoned checkpoint attempt ended with it: the next round takes only the other job.
    expect(await node.checkpointRunningJobs()).toEqual({ checkpointed: [other.id], deferred: [], unchanged: [], skipped: false });
    expect(await n.client.cancel(other.id)).toMatchObject({ state: "cancelled" });
  });

  it("ends trapped deadline_exceeded at the node's slice deadline, its process killed", async () => {
    n = await startTestNode({
      quotas: QUOTAS,
      isolated: { size: 0 },
      limits: { isolatedSliceFuel: SLICE_NEVER_ENDS, isolatedSliceTimeoutMs: 500 },
      sharedModuleCache: true,
    });
    const { codeHash } = await n.client.uploadModule(INFINITE_LOOP);
    const job = await n.client.startJob({ codeHash, entry: "spin", sandbox: "isolated" });
    const ended = await n.client.waitFor(job.id, { timeoutMs: 60_000 });
    expect(ended).toMatchObject({ state: "trapped", result: { status: "trapped", code: "deadline_exceeded" } });
    await until(() => sandboxChildren().length === 0, "the sandbox process to exit", 20_000);
  });

  it("is refused a bad limit, naming it", async () => {
    await expect(startTestNode({ limits: { isolatedSliceTimeoutMs: 0 } })).rejects.toMatchObject({ code: "bad_request" });
  });
});
