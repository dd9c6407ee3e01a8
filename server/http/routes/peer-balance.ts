// The /peer/balance routes peers call to carry load-sharing polls (signed like every /peer route),
// and GET /balance with this node's balancing counters. The node's LiveBalancer is made by whoever
// starts the node (server/node-server.ts) and passed in: idle (refusing every probe) until configured.

import type { Hono } from "hono";
import type { LiveBalancer } from "../../balance/live-balancer.js";
import { parseJsonObject } from "../body.js";
import { peerOf, type Env } from "../env.js";

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
}
