// Public reads other origins may make: a node's health, identity, load, peers, balancing and recent
// moves — what every anonymous caller may see anyway. The dashboard of one node draws its peers'
// load and moves with them. Only unsigned GETs get `access-control-allow-origin: *`: a signed
// request from another origin would need a preflight, which nothing here answers, so a page of
// another origin can never act with anyone's key, and no answer that depends on the caller is shared.

import type { MiddlewareHandler } from "hono";

export const PUBLIC_READS: readonly string[] = ["/healthz", "/node", "/load", "/peers", "/balance", "/balance/recent", "/migrations"];

export function publicReads(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.req.method === "GET" && PUBLIC_READS.includes(c.req.path) && !c.req.header("x-ferry-signature"))
      c.res.headers.set("access-control-allow-origin", "*");
  };
}
