// The /peer routes other nodes call: PREPARE, PRE-COPY, COMMIT, ABORT, the decision query, hello,
// and the module download a target makes when it lacks a job's code. The intake has verified the
// signing peer from the request's head before any body is read (server/http/intake.ts); each route
// then holds that peer to its own transfers.

import type { Context, Hono } from "hono";
import { parsePublicKey } from "../../auth/index.js";
import { ServerError } from "../../errors.js";
import { parseJsonObject } from "../body.js";
import { peerOf, type Env } from "../env.js";
import type { FerryNode } from "../../node/ferry-node.js";
import { checkPeerUrl } from "../../peers/peer-url.js";
import { decodeTransferHeader, TRANSFER_HEADER } from "../../migration/transfer-header.js";

export function peerMigrationRoutes(app: Hono<Env>, node: FerryNode): void {
  // PREPARE and PRE-COPY: the signed transfer header is judged before the (large) body is read.
  const transfer = async (c: Context<Env>, kind: "prepare" | "precopy") => {
    const peer = peerOf(c);
    const { header } = decodeTransferHeader(c.req.header(TRANSFER_HEADER));
    node.migrator.checkOffer(peer, header, kind);
    return { peer, header, body: await c.get("readBody")() };
  };
  app.post("/peer/migrations/prepare", async (c) => {
    const { peer, header, body } = await transfer(c, "prepare");
    return c.json(await node.migrator.prepare(peer, header, body));
  });
  // Pre-copy: a running job's state, sent before it stops (the PREPARE that follows carries a delta).
  app.post("/peer/migrations/precopy", async (c) => {
    const { peer, header, body } = await transfer(c, "precopy");
    return c.json(await node.migrator.storeBase(peer, header, body));
  });
  app.post("/peer/migrations/commit", async (c) => {
    const peer = peerOf(c);
    const { jobId, epoch } = jobAndEpoch(c);
    return c.json(await node.migrator.applyCommit(peer, jobId, epoch));
  });
  app.post("/peer/migrations/abort", (c) => {
    const peer = peerOf(c);
    const { jobId, epoch } = jobAndEpoch(c);
    return c.json(node.migrator.abortFrom(peer, jobId, epoch));
  });
  // The answer concerns only the asker's own copy: commit only if the job was handed to it at that epoch.
  app.get("/peer/migrations/:id/decision", (c) => {
    const peer = peerOf(c);
    const epoch = Number(c.req.query("epoch"));
    if (!Number.isSafeInteger(epoch)) throw new ServerError("bad_request", "epoch must be an integer");
    return c.json({ decision: node.migrator.decision(c.req.param("id"), epoch, peer.nodeId) });
  });
  peerNodeRoutes(app, node);
}

/** A commit or abort's body. */
function jobAndEpoch(c: Context<Env>): { jobId: string; epoch: number } {
  const body = parseJsonObject(c.get("body"));
  if (typeof body.jobId !== "string" || !Number.isSafeInteger(body.epoch))
    throw new ServerError("bad_request", "body must be { jobId, epoch }");
  return { jobId: body.jobId, epoch: body.epoch as number };
}

/** A peer announcing its new address, and the module download a target makes. */
function peerNodeRoutes(app: Hono<Env>, node: FerryNode): void {
  const store = node.store;
  // A peer that restarted on a new address announces it; its key proves it is the same node.
  app.post("/peer/hello", (c) => {
    const peer = peerOf(c);
    const body = parseJsonObject(c.get("body"));
    if (typeof body.url !== "string") throw new ServerError("bad_request", "body must be { url }");
    const url = checkPeerUrl(body.url);
    store.peers.upsert({ nodeId: peer.nodeId, url: url.href, publicKey: parsePublicKey(peer.publicKey) });
    return c.json({ node: node.id });
  });

  // The code of a job this node is sending to the asking peer right now (or a public module): nothing else.
  app.get("/peer/modules/:hash", (c) => {
    const peer = peerOf(c);
    const hash = c.req.param("hash");
    const record = store.modules.get(hash);
    if (!record || !(record.public || node.migrator.sending(peer.nodeId, hash)))
      throw new ServerError("not_found", `no module ${hash} for ${peer.nodeId}`);
    return c.body(store.modules.read(hash) as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/wasm" });
  });
}
