// A job's age — the CPU work it has had, as fuel — survives a strong move: the balancer at the
// target counts the work the job brought, not only the time since it arrived (job-age.ts, LoadView).
import { afterAll, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../../server/auth/index.js";
import { jobAgeMs } from "../../../server/balance/job-age.js";
import type { BalanceCounters } from "../../../server/balance/live-balance-types.js";
import { LoadView } from "../../../server/balance/load-view.js";
import { INFINITE_LOOP } from "../../helpers/fixtures.js";
import { removeDir, startTestNode, type TestNode } from "../../helpers/node.js";
import { until } from "../../helpers/until.js";

describe("jobAgeMs", () => {
  it("is the leg here for a job that started here", () => {
    expect(jobAgeMs({ fuel: 5000, fuelAtStart: 0, legMs: 50, fuelPerMs: 999 })).toBe(50);
  });

  it("adds the work a moved job brought, at the rate it runs here", () => {
    // 3000 fuel brought, 2000 burnt here in 20 ms (100 per ms): 30 ms brought + 20 ms here.
    expect(jobAgeMs({ fuel: 5000, fuelAtStart: 3000, legMs: 20, fuelPerMs: undefined })).toBeCloseTo(50, 9);
    // Nothing burnt here yet: the node's usual rate converts what it brought.
    expect(jobAgeMs({ fuel: 3000, fuelAtStart: 3000, legMs: 0, fuelPerMs: 100 })).toBeCloseTo(30, 9);
  });

  it("falls back to the leg here when no rate is known, and is never negative", () => {
    expect(jobAgeMs({ fuel: 3000, fuelAtStart: 3000, legMs: 4, fuelPerMs: undefined })).toBe(4);
    expect(jobAgeMs({ fuel: 0, fuelAtStart: 0, legMs: -1, fuelPerMs: undefined })).toBe(0);
  });
});

describe("a strongly migrated job's age", () => {
  const nodes: TestNode[] = [];
  afterAll(async () => {
    for (const n of nodes) {
      await n.close();
      removeDir(n.dataDir);
    }
  });

  it("after the move is at least its age before: its fuel travels, and the target's view counts it", async () => {
    const key = generateSigningKey();
    const quotas = { maxFuelPerJob: 1e15 };
    const a = await startTestNode({ key, quotas, sharedModuleCache: true });
    const b = await startTestNode({ key, quotas, sharedModuleCache: true });
    nodes.push(a, b);
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      x.running.store.peers.upsert({ nodeId: y.running.identity.nodeId, url: y.running.url, publicKey: y.running.identity.publicKey });
    }
    const counters = { finished: 0, execMsSum: 0 } as BalanceCounters;
    const viewA = new LoadView(a.running.node);
    const viewB = new LoadView(b.running.node);
    a.running.node.onJobState((id, state) => viewA.observe(id, state, counters));
    b.running.node.onJobState((id, state) => viewB.observe(id, state, counters));

    const { codeHash } = await a.client.uploadModule(INFINITE_LOOP, { public: false });
    const job = await a.client.startJob({ codeHash, entry: "spin", sandbox: "in-process" });
    await until(() => (a.running.node.fuelUsed(job.id) ?? 0) > 0, "the job to burn fuel at a");
    const fuelBefore = a.running.node.fuelUsed(job.id)!;
    expect(viewA.ageMs(job.id, performance.now())).toBeGreaterThan(0);

    await a.client.migrate(job.id, b.running.identity.nodeId);
    await until(() => (b.running.node.fuelUsed(job.id) ?? 0) > fuelBefore, "the job to run on at b");
    const fuelAfter = b.running.node.fuelUsed(job.id)!;
    expect(fuelAfter).toBeGreaterThanOrEqual(fuelBefore);
    // Wait until it has burnt fuel at b too, so b knows its rate: then its age there is more than
    // its time there by the work it brought (fuel ÷ fuel burnt here of the leg).
    const brought = b.running.node.fuelUsed(job.id)!;
    await until(() => b.running.node.fuelUsed(job.id)! > brought, "the job to burn fuel at b");
    const now = performance.now();
    const legB = now - viewB.runningSince.get(job.id)!;
    expect(viewB.ageMs(job.id, now)!).toBeGreaterThan(legB);
    expect((await b.client.cancel(job.id)).state).toBe("cancelled");
  });
});
