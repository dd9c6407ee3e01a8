// The /peer routes other nodes call: PREPARE, COMMIT, ABORT, the decision query, and the module
// download a target makes when it lacks a job's code. Every request must be signed by a configured peer.

import type { Context, Hono } from "hono";
import { ServerError } from "../errors.js";
import type { Env } from "../http/app.js";
import { parseJsonObject } from "../http/body.js";
import type { FerryNode } from "../node/ferry-node.js";
import type { Store } from "../store/store.js";
import { parsePublicKey } from "../auth/index.js";
import { decodeTransferHeader, TRANSFER_HEADER } from "./transfer-header.js";
import { verifyPeer } from "./peer-link.js";

export function migrationRoutes(app: Hono<Env>, node: FerryNode, store: Store): void {
  const peerOf = (c: Context<Env>) => {
    const url = new URL(c.req.url);
    return verifyPeer(store, { method: c.req.method, path: url.pathname + url.search, headers: c.req.raw.headers, body: c.get("body") });
  };
  const jobAndEpoch = (c: Context<Env>): { jobId: string; epoch: number } => {
    const body = parseJsonObject(c.get("body"));
    if (typeof body.jobId !== "string" || !Number.isSafeInteger(body.epoch)) throw new ServerError("bad_request", "body must be { jobId, epoch }");
    return { jobId: body.jobId, epoch: body.epoch as number };
  };

  // PREPARE is signed over its transfer header, which names the body's own sha256 (transfer-header.ts).
  const transfer = (c: Context<Env>) => {
    const url = new URL(c.req.url);
    const text = c.req.header(TRANSFER_HEADER);
    // Without a transfer header, authenticate over the (empty) header anyway: an unsigned caller is a 401, not a 400.
    if (!text) verifyPeer(store, { method: c.req.method, path: url.pathname + url.search, headers: c.req.raw.headers, body: new Uint8Array(0) });
    const { header, signed } = decodeTransferHeader(text);
    const peer = verifyPeer(store, { method: c.req.method, path: url.pathname + url.search, headers: c.req.raw.headers, body: signed });
    return { peer, header };
  };
  app.post("/peer/migrations/prepare", async (c) => {
    const { peer, header } = transfer(c);
    return c.json(await node.migrator.prepare(peer, header, c.get("body")));
  });
  // Pre-copy: a running job's state, sent before it stops (the PREPARE that follows carries a delta).
  app.post("/peer/migrations/precopy", async (c) => {
    const { peer, header } = transfer(c);
    return c.json(await node.migrator.storeBase(peer, header, c.get("body")));
  });
  app.post("/peer/migrations/commit", async (c) => {
    const peer = peerOf(c);
    const { jobId, epoch } = jobAndEpoch(c);
    return c.json(await node.migrator.applyCommit(peer, jobId, epoch));
  });
  app.post("/peer/migrations/abort", (c) => {
    peerOf(c);
    const { jobId, epoch } = jobAndEpoch(c);
    return c.json(node.migrator.applyAbort(jobId, epoch));
  });
  app.get("/peer/migrations/:id/decision", (c) => {
    const peer = peerOf(c);
    const epoch = Number(c.req.query("epoch"));
    if (!Number.isSafeInteger(epoch)) throw new ServerError("bad_request", "epoch must be an integer");
    return c.json({ decision: node.migrator.decision(c.req.param("id"), epoch, peer.nodeId) });
  });
  // A peer that restarted on a new address announces it; its key proves it is the same node.
  app.post("/peer/hello", (c) => {
    const peer = peerOf(c);
    const body = parseJsonObject(c.get("body"));
    if (typeof body.url !== "string") throw new ServerError("bad_request", "body must be { url }");
    store.peers.upsert({ nodeId: peer.nodeId, url: body.url, publicKey: parsePublicKey(peer.publicKey) });
    return c.json({ node: node.id });
  });

  // A peer may fetch any module a job of ours references (private ones included): it is about to run that job.
  app.get("/peer/modules/:hash", (c) => {
    peerOf(c);
    return c.body(store.modules.read(c.req.param("hash")) as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/wasm" });
  });

  app.post("/jobs/:id/migrate", async (c) => {
    const caller = c.get("caller");
    if (!caller) throw new ServerError("unauthorized", "migrating a job needs a signed request", { reason: "missing_header" });
    const body = parseJsonObject(c.get("body"));
    if (typeof body.peer !== "string") throw new ServerError("bad_request", "body must be { peer, mode? }");
    if (body.mode !== undefined && body.mode !== "strong" && body.mode !== "weak") throw new ServerError("bad_request", 'mode must be "strong" or "weak"');
    return c.json(await node.migrateJob(c.req.param("id"), caller, body.peer, (body.mode as "strong" | "weak" | undefined) ?? "strong"));
  });
}
