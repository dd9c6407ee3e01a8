// The probe limit, live: a sender among busy peers polls in rounds of exactly MAX distinct peers and
// then waits D before the next round; arrivals meanwhile do not start extra rounds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, startPeers, until, type LiveNode } from "./helpers.js";

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
    const started = performance.now();
    // An arrival during the back-off must not start a round of its own.
    await until(() => a.balancer.recentPolls().length >= MAX, 5_000, "the first round");
    await a.spin(FOREVER - 10);
    await until(() => a.balancer.recentPolls().length >= 4 * MAX, 10_000, "four rounds");
    const polls = [...a.balancer.recentPolls()].slice(0, 4 * MAX);

    const rounds: (typeof polls)[] = [];
    for (const p of polls) {
      const round = rounds[rounds.length - 1];
      if (round && p.at - round[round.length - 1]!.at < D_MS / 2) round.push(p);
      else rounds.push([p]);
    }
    expect(rounds.map((r) => r.length)).toEqual([MAX, MAX, MAX, MAX]);
    for (const r of rounds) expect(new Set(r.map((p) => p.to)).size).toBe(MAX); // no peer asked twice in a round
    for (let i = 1; i < rounds.length; i++) {
      const gap = rounds[i]![0]!.at - rounds[i - 1]![MAX - 1]!.at;
      expect(gap).toBeGreaterThanOrEqual(D_MS - 2); // timers may fire a hair early in performance.now() terms
      expect(gap).toBeLessThan(D_MS + 200);
    }
    expect(polls.every((p) => p.probe === "give")).toBe(true);
    const stats = a.balancer.stats();
    expect(stats).toMatchObject({ weak: 0, strong: 0, takePolls: 0 });
    // The others never polled: they were neither senders nor (with sender-initiated) asking for work.
    for (const n of others) expect(n.balancer.stats().polls).toBe(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(3 * D_MS - 5);
  });
});
