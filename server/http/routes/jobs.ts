// The job routes (docs/http-api.md, "Jobs"): start, list, read, page the output, pause, resume,
// cancel, download the snapshot, follow a job's events, and move it to a peer, over FerryNode.

import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { checkGrant, parseSignedGrant, type SignedGrant } from "../../auth/index.js";
import { ServerError } from "../../errors.js";
import type { Caller, FerryNode } from "../../node/ferry-node.js";
import type { JobEvent } from "../../node/live-job.js";
import { FINISHED_JOB_STATES } from "../../store/records.js";
import { parseJsonObject } from "../body.js";
import { callerOf, clientOf, type Env } from "../env.js";
import { parseJobRequest } from "../job-request.js";
import { parseJobListQuery } from "../list-query.js";
import { parseOutputQuery } from "../output-query.js";

export function jobRoutes(app: Hono<Env>, node: FerryNode): void {
  app.post("/jobs", async (c) => {
    const req = parseJobRequest(parseJsonObject(c.get("body")));
    let view = await node.startJob(callerOf(c), req);
    if (req.waitMs > 0) view = await settledWithin(node, view.id, req.waitMs, callerOf(c));
    return c.json(view, 201);
  });

  app.get("/jobs", (c) => c.json(node.listJobs(callerOf(c), parseJobListQuery(new URL(c.req.url).searchParams))));
  app.get("/jobs/:id", (c) => c.json(node.getJob(c.req.param("id"), callerOf(c))));
  // A page of the output (never the whole of it, never inline in the job); the header says how much there is.
  app.get("/jobs/:id/output", (c) => {
    const { offset, limit } = parseOutputQuery(new URL(c.req.url).searchParams);
    const page = node.outputPage(c.req.param("id"), callerOf(c), offset, limit);
    return c.body(page.bytes as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "application/octet-stream",
      "x-ferry-output-size": String(page.size),
    });
  });
  app.post("/jobs/:id/pause", async (c) => c.json(await node.pauseJob(c.req.param("id"), callerOf(c))));
  app.post("/jobs/:id/resume", async (c) => c.json(await node.resumeJob(c.req.param("id"), callerOf(c))));
  app.delete("/jobs/:id", async (c) => c.json(await node.cancelJob(c.req.param("id"), callerOf(c))));
  app.get("/jobs/:id/snapshot", (c) =>
    c.body(node.snapshotOf(c.req.param("id"), callerOf(c)) as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "application/vnd.ferry.snapshot",
    }),
  );
  app.get("/jobs/:id/events", (c) => jobEvents(c, node));
  jobMoveRoutes(app, node);
}

/** Moving a job to a peer: now, asked by its owner, or later, by the node's load sharing under the owner's grants. */
function jobMoveRoutes(app: Hono<Env>, node: FerryNode): void {
  // The owner's standing permission for this node's load sharing to move the job, as its owner, to
  // these peers: one grant per peer (each naming this job, this node and that peer).
  app.post("/jobs/:id/grants", (c) => {
    const caller = clientOf(c, "granting needs a signed request");
    const body = parseJsonObject(c.get("body"));
    if (!Array.isArray(body.grants) || body.grants.length === 0 || body.grants.length > MAX_SHARING_GRANTS) {
      throw new ServerError("bad_request", `body must be { grants: [grant, …] } with 1 to ${MAX_SHARING_GRANTS} grants`);
    }
    const id = c.req.param("id");
    const targets: string[] = [];
    const grants = body.grants.map((g: unknown, i: number) => {
      const grant = parseSignedGrant(g);
      const target = grantTarget(grant);
      if (!node.store.peers.get(target)) throw new ServerError("bad_request", `grant ${i}: ${target} is not a peer of this node`);
      targets.push(target);
      return grant;
    });
    return c.json(node.allowSharing(id, caller, grants, targets));
  });

  app.post("/jobs/:id/migrate", async (c) => {
    const caller = clientOf(c, "migrating a job needs a signed request");
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
      const check = checkGrant(node.store.clients, grant, { client: caller.id, job: id, source: node.id, target: body.peer });
      if (!check.ok) throw new ServerError("bad_request", `grant: ${check.reason}`);
    }
    return c.json(await node.migrateJob(id, caller, body.peer, (body.mode as "strong" | "weak" | undefined) ?? "strong", grant));
  });
}

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

/**
 * Server-sent events: the job's current state first, then log lines, output as it is written and
 * every state change (pause and resume included); the stream ends with the job's final state here.
 */
function jobEvents(c: Context<Env>, node: FerryNode): Response {
  const id = c.req.param("id") as string;
  const who = callerOf(c);
  node.getJob(id, who); // 404 before the stream starts
  return streamSSE(c, async (stream) => {
    // Writes are chained so they reach the client in order, and the stream closes only after the last.
    let written: Promise<void> = Promise.resolve();
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const send = (e: JobEvent): void => {
      const data = e.type === "log" ? e.line : e.type === "output" ? Buffer.from(e.bytes).toString("base64") : JSON.stringify(stateData(e));
      written = written.then(() => stream.writeSSE({ event: e.type, data })).catch(() => undefined);
      if (e.type === "state" && (FINISHED_JOB_STATES as readonly string[]).includes(e.state)) end();
    };
    stream.onAbort(end);
    // null: the job is not live here, so its one state event is all there will be.
    const unsubscribe = node.subscribe(id, who, send);
    if (unsubscribe === null) end();
    await ended;
    unsubscribe?.();
    await written;
  });
}

/** A state event's data: `{ state, result }`, with `movedTo` for a migrated job and `outputBytes` on a stream's first event. */
function stateData(e: Extract<JobEvent, { type: "state" }>): Record<string, unknown> {
  const { type: _type, ...data } = e;
  return data;
}

async function settledWithin(node: FerryNode, id: string, ms: number, who: Caller) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([node.settled(id), timeout]);
  clearTimeout(timer);
  return node.getJob(id, who);
}
