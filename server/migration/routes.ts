// The /peer routes other nodes call: PREPARE, PRE-COPY, COMMIT, ABORT, the decision query, hello,
// and the module download a target makes when it lacks a job's code. The intake has verified the
// signing peer from the request's head before any body is read (server/http/intake.ts); each route
// then holds that peer to its own transfers.

import type { Context, Hono } from "hono";
import { checkGrant, parsePublicKey, parseSignedGrant, type SignedGrant } from "../auth/index.js";
import { ServerError } from "../errors.js";
import type { Env } from "../http/app.js";
import { parseJsonObject } from "../http/body.js";
import type { FerryNode } from "../node/ferry-node.js";
import type { PeerRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import { checkPeerUrl } from "./peer-url.js";
import { decodeTransferHeader, TRANSFER_HEADER } from "./transfer-header.js";

/** Grants one request may carry: one per peer, and a node has few. */
const MAX_SHARING_GRANTS = 64;

/** The target a grant names (its signature and the rest are checked by checkGrant). */
function grantTarget(grant: SignedGrant): string {
  try {
    const target = (JSON.parse(Buffer.from(grant.grant, "base64url").toString("utf8")) as { target?: unknown }).target;
    if (typeof target === "string") return target;
  } catch {
    // not JSON
  }
  throw new ServerError("bad_request", "grant names no target");
}

export function migrationRoutes(app: Hono<Env>, node: FerryNode, store: Store): void {
  const peerOf = (c: Context<Env>): PeerRecord => {
    const peer = c.get("peer");
    if (!peer) throw new ServerError("unauthorized", "/peer routes need a configured peer's signature", { reason: "missing_header" });
    return peer;
  };
  const jobAndEpoch = (c: Context<Env>): { jobId: string; epoch: number } => {
    const body = parseJsonObject(c.get("body"));
    if (typeof body.jobId !== "string" || !Number.isSafeInteger(body.epoch))
      throw new ServerError("bad_request", "body must be { jobId, epoch }");
    return { jobId: body.jobId, epoch: body.epoch as number };
  };

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

  // The owner's standing permission for this node's load sharing to move the job, as its owner, to
  // these peers: one grant per peer (each naming this job, this node and that peer).
  app.post("/jobs/:id/grants", (c) => {
    const caller = c.get("caller");
    if (!caller) throw new ServerError("unauthorized", "granting needs a signed request", { reason: "missing_header" });
    const body = parseJsonObject(c.get("body"));
    if (!Array.isArray(body.grants) || body.grants.length === 0 || body.grants.length > MAX_SHARING_GRANTS) {
      throw new ServerError("bad_request", `body must be { grants: [grant, …] } with 1 to ${MAX_SHARING_GRANTS} grants`);
    }
    const id = c.req.param("id");
    const targets: string[] = [];
    const grants = body.grants.map((g: unknown, i: number) => {
      const grant = parseSignedGrant(g);
      const target = grantTarget(grant);
      if (!store.peers.get(target)) throw new ServerError("bad_request", `grant ${i}: ${target} is not a peer of this node`);
      targets.push(target);
      return grant;
    });
    return c.json(node.allowSharing(id, caller, grants, targets));
  });

  app.post("/jobs/:id/migrate", async (c) => {
    const caller = c.get("caller");
    if (!caller) throw new ServerError("unauthorized", "migrating a job needs a signed request", { reason: "missing_header" });
    const body = parseJsonObject(c.get("body"));
    if (typeof body.peer !== "string") throw new ServerError("bad_request", "body must be { peer, mode?, grant? }");
    if (body.mode !== undefined && body.mode !== "strong" && body.mode !== "weak")
      throw new ServerError("bad_request", 'mode must be "strong" or "weak"');
    const id = c.req.param("id");
    let grant: SignedGrant | null = null;
    if (body.grant !== undefined && body.grant !== null) {
      // The caller's own permission to run the job as itself at the target: checked here too, so a
      // wrong one is the caller's 400 and not a refusal from the target.
      grant = parseSignedGrant(body.grant);
      const check = checkGrant(store.clients, grant, { client: caller.id, job: id, source: node.id, target: body.peer });
      if (!check.ok) throw new ServerError("bad_request", `grant: ${check.reason}`);
    }
    return c.json(await node.migrateJob(id, caller, body.peer, (body.mode as "strong" | "weak" | undefined) ?? "strong", grant));
  });
}
