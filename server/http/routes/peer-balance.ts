// The /peer/balance routes peers call to carry load-sharing polls (signed like every /peer route),
// and GET /balance with this node's balancing counters (GET /balance/recent: its settings and last
// polls, what the dashboard draws). The node's LiveBalancer is made by whoever starts the node
// (server/node-server.ts) and passed in: idle (refusing every probe) until configured.

import type { Hono } from "hono";
import type { LiveBalancer } from "../../balance/live-balancer.js";
import { parseJsonObject } from "../body.js";
import { peerOf, type Env } from "../env.js";

/** Polls and back-offs GET /balance/recent lists (the newest). */
export const RECENT_BALANCE_ENTRIES = 50;

export function peerBalanceRoutes(app: Hono<Env>, balancer: LiveBalancer): void {
  // A poll ("give" / "take") is answered in the response; a cancel gets { answer: null }.
  app.post("/peer/balance/message", (c) => {
    const peer = peerOf(c);
    return c.json({ answer: balancer.receive(peer.nodeId, parseJsonObject(c.get("body"))) });
  });
  // The sender's notice that a transfer it owed this node is over, so the reservation is released.
  app.post("/peer/balance/job-in", (c) => {
    const peer = peerOf(c);
    balancer.jobIn(peer.nodeId, parseJsonObject(c.get("body")));
    return c.json({ ok: true });
  });
  app.get("/balance", (c) => c.json({ ...balancer.stats(), role: balancer.role() }));
  app.get("/balance/recent", (c) => c.json(recentBalance(balancer)));
}

/** The policy's settings and its last polls and back-offs, times as Unix ms, poll targets as node ids. */
function recentBalance(balancer: LiveBalancer) {
  const settings = balancer.settings();
  if (!settings) return { enabled: false, policy: "none", thresholds: null, members: [], polls: [], backoffs: [] };
  const { policy, members } = settings;
  // The log keeps performance.now() instants; the page wants wall-clock ones.
  const origin = Date.now() - performance.now();
  const at = (t: number) => Math.round(origin + t);
  return {
    enabled: true,
    policy: policy.kind,
    metric: policy.metric.name,
    thresholds: { lower: policy.lower, upper: policy.upper, threshold: policy.threshold },
    members,
    polls: balancer
      .recentPolls()
      .slice(-RECENT_BALANCE_ENTRIES)
      .map((p) => ({ at: at(p.at), to: members[p.to] ?? String(p.to), probe: p.probe, round: p.round })),
    backoffs: balancer
      .recentBackoffs()
      .slice(-RECENT_BALANCE_ENTRIES)
      .map((b) => ({ at: at(b.at), delayMs: b.delayMs })),
  };
}
