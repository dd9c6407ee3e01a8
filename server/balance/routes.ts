// The /peer/balance routes peers call to carry load-sharing polls (signed like every /peer route),
// and GET /balance with this node's balancing counters. Each node gets one LiveBalancer, idle
// (refusing every probe) until something configures it — see `balancerOf`.

import type { Context, Hono } from "hono";
import type { NodeIdentity } from "../auth/index.js";
import type { Env } from "../http/app.js";
import { parseJsonObject } from "../http/body.js";
import { ServerError } from "../errors.js";
import type { FerryNode } from "../node/ferry-node.js";
import type { Store } from "../store/store.js";
import { LiveBalancer } from "./live-balancer.js";

const balancers = new WeakMap<FerryNode, LiveBalancer>();

/** The balancer serving `node`'s /peer/balance routes (configure it to start sharing load). */
export function balancerOf(node: FerryNode): LiveBalancer {
  const b = balancers.get(node);
  if (!b) throw new Error("this node was started without the balance routes");
  return b;
}

export function balanceRoutes(app: Hono<Env>, node: FerryNode, store: Store, identity: NodeIdentity): LiveBalancer {
  const balancer = new LiveBalancer(node, store, identity);
  balancers.set(node, balancer);
  // The intake verified the signing peer from the request's head, before reading the (small) body.
  const peerOf = (c: Context<Env>) => {
    const peer = c.get("peer");
    if (!peer) throw new ServerError("unauthorized", "/peer routes need a configured peer's signature", { reason: "missing_header" });
    return peer;
  };
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
  return balancer;
}
