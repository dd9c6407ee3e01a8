// The probe limit, live: a sender among busy peers polls in rounds of exactly MAX distinct peers and
// then waits D before the next round; arrivals meanwhile do not start extra rounds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, startPeers, type LiveNode } from "./helpers.js";
import { until } from "../../helpers/until.js";

/** Longer than the test: every node stays busy throughout (jobs are disposed at close). */
const FOREVER = 2_000_000_000;
const MAX = 2;
const D_MS = 250;

describe("live balancing: MAX and D", () => {
  let nodes: LiveNode[];
  beforeAll(async () => {
    nodes = await startPeers(4);
  });
  afterAll(async () => closeAll(nodes));

  it("polls MAX distinct peers per round and waits D between rounds", async () => {
    const [a, ...others] = nodes as [LiveNode, ...LiveNode[]];
    // Every other node runs one job with one waiting (load 2): not a receiver (≤ 1), so every poll fails.
    for (const n of others) {
      await n.spin(FOREVER);
      await n.spin(FOREVER);
      n.balancer.configure({ policy: { kind: "sender", lower: 1, upper: 4, maxPolls: MAX, retryInterval: D_MS } });
    }
    for (let i = 0; i < 4; i++) await a.spin(FOREVER - i);
    a.balancer.configure({ policy: { kind: "sender", lower: 1, upper: 4, maxPolls: MAX, retryInterval: D_MS } });
    // An arrival during the back-off must not start a round of its own.
    await until(() => a.balancer.recentPolls().length >= MAX, "the first round", 5_000);
    await a.spin(FOREVER - 10);
    await until(() => a.balancer.recentBackoffs().length >= 4, "four rounds", 20_000);
    // Rounds are told apart by the back-offs that end them, never by timing: on a slow machine one
    // round's polls may be far apart.
    const polls = a.balancer.recentPolls().filter((p) => p.round < 4);
    const rounds = [0, 1, 2, 3].map((k) => polls.filter((p) => p.round === k));
    expect(rounds.map((r) => r.length)).toEqual([MAX, MAX, MAX, MAX]);
    for (const r of rounds) expect(new Set(r.map((p) => p.to)).size).toBe(MAX); // no peer asked twice in a round
    // Each failed round asks for a wait of exactly D, and the next round starts no earlier.
    const backoffs = a.balancer.recentBackoffs().slice(0, 4);
    for (const b of backoffs) expect(b.delayMs).toBe(D_MS);
    for (let i = 1; i < rounds.length; i++) {
      expect(rounds[i]![0]!.at - backoffs[i - 1]!.at).toBeGreaterThanOrEqual(D_MS - 2); // timers may fire a hair early in performance.now() terms
    }
    expect(polls.every((p) => p.probe === "give")).toBe(true);
    const stats = a.balancer.stats();
    expect(stats).toMatchObject({ weak: 0, strong: 0, takePolls: 0 });
    // The others never polled: they were neither senders nor (with sender-initiated) asking for work.
    for (const n of others) expect(n.balancer.stats().polls).toBe(0);
  });
});
