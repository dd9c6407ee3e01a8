// Hysteresis, live: a sender that hands one job to an idle peer is left with a load between the
// thresholds, so it neither keeps pushing nor starts asking for work.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, startPeers, type LiveNode } from "./helpers.js";
import { until } from "../../helpers/until.js";

/** Long enough that no job finishes while the one transfer happens (~0.25 s each when warm). */
const LONG = 250_000_000;

describe("live balancing: hysteresis", () => {
  let nodes: LiveNode[];
  beforeAll(async () => {
    nodes = await startPeers(2);
  });
  afterAll(async () => closeAll(nodes));

  it("a sender that gives one job away does not turn receiver", async () => {
    const [a, b] = nodes as [LiveNode, LiveNode];
    // B only answers polls (sender-initiated, and idle: a receiver). A is symmetric, so it would
    // poll for work ("take") the moment it counted as a receiver.
    b.balancer.configure({ policy: { kind: "sender", lower: 1, upper: 4, retryInterval: 5_000 } });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await a.spin(LONG + i)).id);
    expect(a.running.node.load()).toMatchObject({ running: 1, queued: 3 });
    a.balancer.configure({ policy: { kind: "symmetric", lower: 1, upper: 4, retryInterval: 5_000 } });

    await until(() => b.balancer.stats().jobsIn === 1, "the job to arrive at B", 10_000);
    await until(() => a.balancer.stats().weak === 1 && a.running.node.load().queued === 2, "A to count the job gone", 10_000);
    const sa = a.balancer.stats();
    expect(a.running.node.load()).toMatchObject({ running: 1, queued: 2 }); // load 3: between lower 1 and upper 4
    expect(a.balancer.role()).toBe("neutral");
    expect(sa).toMatchObject({ givePolls: 1, takePolls: 0, weak: 1, strong: 0, empty: 0, failed: 0 });
    expect(b.balancer.stats()).toMatchObject({ probesAnswered: 1, probesAccepted: 1, reserved: 0 });
    expect(b.balancer.role()).not.toBe("sender"); // and the receiver did not turn sender: one job running

    // Nothing more happens until a job finishes: A's load stays 3, and no poll of either kind goes out.
    const polls = a.balancer.stats().polls;
    await a.running.node.settled(ids[0]!);
    expect(a.balancer.stats().polls).toBe(polls);

    // The moved job is the last one queued, and it runs to completion at B.
    const moved = ids[3]!;
    expect(b.running.store.jobs.get(moved)?.node).toBe(b.running.identity.nodeId);
    await b.running.node.settled(moved);
    expect(b.running.store.jobs.get(moved)?.state).toBe("done");
  });
});
