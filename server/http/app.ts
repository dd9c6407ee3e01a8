// The node's HTTP API (docs/http-api.md): Hono routes over FerryNode. Every failure leaves through
// one onError as `{ "error": { "code", "message" } }` with the status its code maps to.

import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import { errorResponse, ServerError } from "../errors.js";
import type { Caller, FerryNode } from "../node/ferry-node.js";
import type { JobEvent } from "../node/live-job.js";
import { parseJsonObject, readBody } from "./body.js";
import { parseJobListQuery, parseModuleListQuery } from "./list-query.js";
import { parseJobRequest } from "./job-request.js";
import { metricsText } from "./metrics.js";
import { OPENAPI } from "./openapi.js";
import { DEFAULT_MAX_MODULE_BYTES } from "../../runtime/index.js";

/** What a request says about its sender, as the auth layer sees it. */
export interface SignedRequest {
  method: string;
  /** Path and query, exactly as sent. */
  path: string;
  headers: Headers;
  body: Uint8Array;
}

export interface AppOptions {
  /** The client a signed request comes from; null when it carries no signature; throws when the signature is bad. */
  authenticate: (req: SignedRequest) => Caller | Promise<Caller>;
  /** Largest JSON body (job requests with inline input). Default 8 MiB. */
  maxJsonBytes?: number;
  /** Largest module upload. Default the runtime's module limit. */
  maxModuleBytes?: number;
  /** Largest node-to-node body (/peer routes: a transfer carries a whole snapshot). Default 8 MiB. */
  maxPeerBytes?: number;
  /**
   * Checks that need no body, run before the body is read: a request that cannot be authentic is
   * refused before it can make the node buffer a large body.
   */
  admit?: (req: { method: string; path: string; headers: Headers }) => void;
  /** Extra routes (node-to-node migration) mounted by the caller. */
  extend?: (app: Hono<Env>) => void;
}

export interface Env {
  Variables: { caller: Caller; body: Uint8Array };
}

const JSON_LIMIT = 8 * 1024 * 1024;

export function createApp(node: FerryNode, options: AppOptions): Hono<Env> {
  const app = new Hono<Env>();
  const jsonLimit = options.maxJsonBytes ?? JSON_LIMIT;
  const moduleLimit = options.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES;
  const peerLimit = options.maxPeerBytes ?? JSON_LIMIT;

  app.onError((e, c) => {
    const { status, body } = errorResponse(e);
    return c.json(body, status as 400);
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  // Read the body once (bounded), then authenticate over exactly those bytes.
  app.use("*", async (c, next) => {
    options.admit?.({ method: c.req.method, path: c.req.path, headers: c.req.raw.headers });
    const limit = c.req.path === "/modules" ? moduleLimit : c.req.path.startsWith("/peer/") ? peerLimit : jsonLimit;
    const body = c.req.method === "GET" || c.req.method === "HEAD" ? new Uint8Array(0) : await readBody(c, limit);
    const url = new URL(c.req.url);
    c.set("body", body);
    c.set("caller", await options.authenticate({ method: c.req.method, path: url.pathname + url.search, headers: c.req.raw.headers, body }));
    await next();
  });

  const caller = (c: Context<Env>): Caller => c.get("caller");
  const client = (c: Context<Env>) => {
    const who = c.get("caller");
    if (!who) throw new ServerError("unauthorized", "this endpoint needs a signed request", { reason: "missing_header" });
    return who;
  };

  app.get("/healthz", (c) => c.json({ ok: true, node: node.id }));
  app.get("/load", (c) => c.json(node.load()));
  // Public information: who this node migrates to and from (ids, addresses, public keys).
  app.get("/peers", (c) => c.json(node.store.peers.list()));
  app.get("/metrics", (c) => c.text(metricsText(node), 200, { "content-type": "text/plain; version=0.0.4" }));
  app.get("/openapi.json", (c) => c.json(OPENAPI));

  app.post("/modules", async (c) => {
    const visibility = c.req.query("public");
    if (visibility !== undefined && visibility !== "true" && visibility !== "false") throw new ServerError("bad_request", "public must be true or false");
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
  app.get("/jobs/:id/output", (c) => c.body(node.output(c.req.param("id"), caller(c)) as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/octet-stream" }));
  app.post("/jobs/:id/pause", async (c) => c.json(await node.pauseJob(c.req.param("id"), caller(c))));
  app.post("/jobs/:id/resume", async (c) => c.json(await node.resumeJob(c.req.param("id"), caller(c))));
  app.delete("/jobs/:id", async (c) => c.json(await node.cancelJob(c.req.param("id"), caller(c))));
  app.get("/jobs/:id/snapshot", (c) =>
    c.body(node.snapshotOf(c.req.param("id"), caller(c)) as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/vnd.ferry.snapshot" }),
  );

  // Server-sent events: log lines, output as it is written, state changes; ends when the job does.
  app.get("/jobs/:id/events", (c) => {
    const id = c.req.param("id");
    const who = caller(c);
    node.getJob(id, who); // 404 before the stream starts
    return streamSSE(c, async (stream) => {
      // Writes are chained so they reach the client in order, and the stream closes only after the last.
      let written: Promise<void> = Promise.resolve();
      await new Promise<void>((resolve) => {
        const send = (e: JobEvent): void => {
          const data = e.type === "log" ? e.line : e.type === "output" ? Buffer.from(e.bytes).toString("base64") : JSON.stringify({ state: e.state, result: e.result });
          written = written.then(() => stream.writeSSE({ event: e.type, data })).catch(() => undefined);
          if (e.type === "state" && !["queued", "running", "paused"].includes(e.state)) finish();
        };
        const unsubscribe = node.subscribe(id, who, send);
        const finish = (): void => {
          unsubscribe();
          resolve();
        };
        stream.onAbort(finish);
      });
      await written;
    });
  });

  options.extend?.(app);
  return app;
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
