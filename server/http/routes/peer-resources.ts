// The /peer/resources routes: the calls a peer node makes on a directory this node keeps for a job
// that now runs there (a global reference; server/node/resource-pins.ts). Signed by a configured peer
// (the intake verified it from the request's head); each route holds the signer to the pin's one
// peer before it reads the body.

import type { Hono } from "hono";
import { HEADER_BODY } from "../../auth/index.js";
import type { FerryNode } from "../../node/ferry-node.js";
import { ServerError } from "../../errors.js";
import { parseJsonObject } from "../body.js";
import { peerOf, type Env } from "../env.js";

export function peerResourceRoutes(app: Hono<Env>, node: FerryNode): void {
  // What the pin's peer needs to number its next call (after a failure, or a restart of its own).
  app.get("/peer/resources/:pin", (c) => {
    const pin = node.pins.describe(c.req.param("pin"), peerOf(c).nodeId);
    return c.json({ pin: pin.id, jobId: pin.jobId, dir: pin.dir, access: pin.access, createdAt: pin.createdAt, lastSeq: pin.lastSeq });
  });
  // One file-system call (server/peers/resource-wire.ts); its answer, an FsError included, is a 200.
  app.post("/peer/resources/:pin", async (c) => {
    const peer = peerOf(c);
    const id = c.req.param("pin");
    node.pins.describe(id, peer.nodeId); // 404 / 403 before the body is read
    const body = await c.get("readBody")();
    // The body's sha256 as signed: the intake has just checked the body against it (a retry is matched by it).
    const answer = await node.pins.call(id, peer.nodeId, body, c.req.header(HEADER_BODY)?.split(" ")[1]);
    return c.body(answer as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/octet-stream" });
  });
  // The pin's node hands the job on to another node: a pin of its own for that node ({ to } → { pin }).
  app.post("/peer/resources/:pin/handover", (c) => {
    const to = parseJsonObject(c.get("body")).to;
    if (typeof to !== "string") throw new ServerError("bad_request", "body must be { to: <node id> }");
    const pin = node.pins.handover(c.req.param("pin"), peerOf(c).nodeId, to);
    return c.json({ pin: pin.id, access: pin.access });
  });
  // The hand-over did not happen (the transfer was abandoned): the pin made for it goes ({ pin }).
  app.post("/peer/resources/:pin/handover/cancel", (c) => {
    const other = parseJsonObject(c.get("body")).pin;
    if (typeof other !== "string") throw new ServerError("bad_request", "body must be { pin: <the pin the hand-over made> }");
    return c.json({ released: node.pins.cancelHandover(c.req.param("pin"), peerOf(c).nodeId, other) });
  });
  // The job is done with the directory (or moved on): its open files are closed and the pin dropped.
  app.post("/peer/resources/:pin/release", (c) => {
    const pin = node.pins.describe(c.req.param("pin"), peerOf(c).nodeId);
    node.pins.release(pin.id);
    return c.json({ released: pin.id });
  });
}
