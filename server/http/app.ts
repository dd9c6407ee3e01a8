// The node's HTTP API (docs/http-api.md): Hono routes over FerryNode. Every failure leaves through
// one onError as `{ "error": { "code", "message" } }` with the status its code maps to.

import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import { errorResponse, ServerError } from "../errors.js";
import type { Caller, FerryNode } from "../node/ferry-node.js";
import type { JobEvent } from "../node/live-job.js";
import { FINISHED_JOB_STATES } from "../store/records.js";
import { parseJsonObject } from "./body.js";
import { parseJobListQuery, parseModuleListQuery } from "./list-query.js";
import { parseJobRequest } from "./job-request.js";
import { parseOutputQuery } from "./output-query.js";
import { metricsText } from "./metrics.js";
import { OPENAPI } from "./openapi.js";
import type { PeerEntry } from "../peers-file.js";
import { DEFAULT_MAX_MEMORY_PAGES, DEFAULT_MAX_MODULE_BYTES } from "../../runtime/index.js";
import { maxTransferBytes } from "../migration/transfer-header.js";
import {
  DEFAULT_JSON_BODY_BYTES,
  DEFAULT_SMALL_BODY_BYTES,
  intake,
  uploadGates,
  type BodyLimits,
  type IntakeOptions,
  type IntakeVariables,
  type UploadGates,
} from "./intake.js";

export interface AppOptions {
  /**
   * Who a request's head says it comes from: the client (null when unsigned) or, on /peer routes, the
   * peer. Checked before any body is read (server/http/intake.ts); throws when the signature is bad.
   */
  authenticate: IntakeOptions["authenticate"];
  /** Largest body per kind of route; those not given take the defaults in intake.ts. */
  bodyLimits?: Partial<BodyLimits>;
  /** Caps on large bodies in flight (default: intake.ts's defaults). */
  uploadGates?: UploadGates;
  /** Extra routes (node-to-node migration) mounted by the caller. */
  extend?: (app: Hono<Env>) => void;
}

export interface Env {
  Variables: IntakeVariables;
}

export function createApp(node: FerryNode, options: AppOptions): Hono<Env> {
  const app = new Hono<Env>();

  app.onError((e, c) => {
    const { status, body } = errorResponse(e);
    return c.json(body, status as 400);
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  // Limits, the signature (from the head alone), an upload slot, then the body checked against the signature.
  app.use(
    "*",
    intake({
      authenticate: options.authenticate,
      limits: {
        small: DEFAULT_SMALL_BODY_BYTES,
        json: DEFAULT_JSON_BODY_BYTES,
        module: DEFAULT_MAX_MODULE_BYTES,
        snapshot: maxTransferBytes(DEFAULT_MAX_MEMORY_PAGES),
        ...options.bodyLimits,
      },
      gates: options.uploadGates ?? uploadGates(),
    }),
  );

  const caller = (c: Context<Env>): Caller => c.get("caller");
  const client = (c: Context<Env>) => {
    const who = c.get("caller");
    if (!who) throw new ServerError("unauthorized", "this endpoint needs a signed request", { reason: "missing_header" });
    return who;
  };

  app.get("/healthz", (c) => c.json({ ok: true, node: node.id }));
  // This node's entry for a peers file, exactly: what `ferry peers add <url>` fetches. The URL is the
  // one this request reached it by (what the asker can use), not the address it bound.
  app.get("/node", (c) => c.json(nodeEntry(node, new URL(c.req.url).origin)));
  app.get("/load", (c) => c.json(node.load()));
  // Public information: who this node migrates to and from (ids, addresses, public keys).
  app.get("/peers", (c) => c.json(node.store.peers.list()));
  app.get("/metrics", (c) => c.text(metricsText(node), 200, { "content-type": "text/plain; version=0.0.4" }));
  app.get("/openapi.json", (c) => c.json(OPENAPI));

  app.post("/modules", async (c) => {
    const visibility = c.req.query("public");
    if (visibility !== undefined && visibility !== "true" && visibility !== "false")
      throw new ServerError("bad_request", "public must be true or false");
    const result = await node.uploadModule(client(c), c.get("body"), visibility === "true");
    return c.json(result, result.created ? 201 : 200);
  });

  app.get("/modules", (c) => c.json(node.listModules(caller(c), parseModuleListQuery(new URL(c.req.url).searchParams))));

  app.get("/modules/:hash", (c) => {
    const bytes = node.moduleBytes(c.req.param("hash"), caller(c));
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/wasm" });
  });

  app.post("/jobs", async (c) => {
    const req = parseJobRequest(parseJsonObject(c.get("body")));
    let view = await node.startJob(caller(c), req);
    if (req.waitMs > 0) view = await settledWithin(node, view.id, req.waitMs, caller(c));
    return c.json(view, 201);
  });

  app.get("/jobs", (c) => c.json(node.listJobs(caller(c), parseJobListQuery(new URL(c.req.url).searchParams))));
  app.get("/jobs/:id", (c) => c.json(node.getJob(c.req.param("id"), caller(c))));
  // A page of the output (never the whole of it, never inline in the job); the header says how much there is.
  app.get("/jobs/:id/output", (c) => {
    const { offset, limit } = parseOutputQuery(new URL(c.req.url).searchParams);
    const page = node.outputPage(c.req.param("id"), caller(c), offset, limit);
    return c.body(page.bytes as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "application/octet-stream",
      "x-ferry-output-size": String(page.size),
    });
  });
  app.post("/jobs/:id/pause", async (c) => c.json(await node.pauseJob(c.req.param("id"), caller(c))));
  app.post("/jobs/:id/resume", async (c) => c.json(await node.resumeJob(c.req.param("id"), caller(c))));
  app.delete("/jobs/:id", async (c) => c.json(await node.cancelJob(c.req.param("id"), caller(c))));
  app.get("/jobs/:id/snapshot", (c) =>
    c.body(node.snapshotOf(c.req.param("id"), caller(c)) as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "application/vnd.ferry.snapshot",
    }),
  );

  // Server-sent events: the job's current state first, then log lines, output as it is written and
  // every state change (pause and resume included); the stream ends with the job's final state here.
  app.get("/jobs/:id/events", (c) => {
    const id = c.req.param("id");
    const who = caller(c);
    node.getJob(id, who); // 404 before the stream starts
    return streamSSE(c, async (stream) => {
      // Writes are chained so they reach the client in order, and the stream closes only after the last.
      let written: Promise<void> = Promise.resolve();
      let end!: () => void;
      const ended = new Promise<void>((resolve) => (end = resolve));
      const send = (e: JobEvent): void => {
        const data =
          e.type === "log" ? e.line : e.type === "output" ? Buffer.from(e.bytes).toString("base64") : JSON.stringify(stateData(e));
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
  });

  options.extend?.(app);
  return app;
}

/** A state event's data: `{ state, result }`, with `movedTo` for a migrated job and `outputBytes` on a stream's first event. */
function stateData(e: Extract<JobEvent, { type: "state" }>): Record<string, unknown> {
  const { type: _type, ...data } = e;
  return data;
}

/** This node's peers-file entry (server/peers-file.ts), reachable at `url`. */
function nodeEntry(node: FerryNode, url: string): PeerEntry {
  return { nodeId: node.id, url, publicKey: node.publicKeyPem };
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
