// The node's HTTP API (docs/http-api.md): Hono routes over FerryNode, one file a family under
// routes/. Every failure leaves through one onError as `{ "error": { "code", "message" } }` with the
// status its code maps to.

import { Hono } from "hono";
import { errorResponse } from "../errors.js";
import type { FerryNode } from "../node/ferry-node.js";
import type { LiveBalancer } from "../balance/live-balancer.js";
import type { PeerEntry } from "../peers/peers-file.js";
import { DEFAULT_MAX_MEMORY_PAGES, DEFAULT_MAX_MODULE_BYTES } from "../../runtime/index.js";
import { maxTransferBytes } from "../migration/transfer-header.js";
import type { Env } from "./env.js";
import { metricsText } from "./metrics.js";
import { OPENAPI } from "./openapi.js";
import { jobRoutes } from "./routes/jobs.js";
import { moduleRoutes } from "./routes/modules.js";
import { peerBalanceRoutes } from "./routes/peer-balance.js";
import { peerMigrationRoutes } from "./routes/peer-migration.js";
import { peerResourceRoutes } from "./routes/peer-resources.js";
import { migrationRoutes } from "./routes/migrations.js";
import { publicReads } from "./public-reads.js";
import { mountDashboard } from "../../web/mount.js";
import { PEER_RESOURCE_MAX_BODY_BYTES } from "../peers/resource-wire.js";
import {
  DEFAULT_JSON_BODY_BYTES,
  DEFAULT_SMALL_BODY_BYTES,
  intake,
  uploadGates,
  type BodyLimits,
  type IntakeOptions,
  type UploadGates,
} from "./intake.js";

export type { Env } from "./env.js";

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
  /** The node's load balancer, which the /peer/balance routes feed (server/balance/live-balancer.ts). */
  balancer: LiveBalancer;
}

export function createApp(node: FerryNode, options: AppOptions): Hono<Env> {
  const app = new Hono<Env>();
  app.onError((e, c) => {
    const { status, body } = errorResponse(e);
    return c.json(body, status as 400);
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}` } }, 404));
  // The dashboard (web/): pages and assets before the intake, so they cost no signature check; the
  // page then reads everything through the API below, like any client.
  mountDashboard(app, { nodeId: node.id, peerOrigins: () => peerOrigins(node) });
  app.use("*", publicReads());
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
        resourceCall: PEER_RESOURCE_MAX_BODY_BYTES,
        ...options.bodyLimits,
      },
      gates: options.uploadGates ?? uploadGates(),
    }),
  );
  nodeRoutes(app, node);
  migrationRoutes(app, node);
  moduleRoutes(app, node);
  jobRoutes(app, node);
  peerMigrationRoutes(app, node);
  peerResourceRoutes(app, node);
  peerBalanceRoutes(app, options.balancer);
  return app;
}

/** What the node says about itself: health, its peers-file entry, load, peers, metrics, the API description. */
function nodeRoutes(app: Hono<Env>, node: FerryNode): void {
  app.get("/healthz", (c) => c.json({ ok: true, node: node.id }));
  // This node's entry for a peers file, exactly: what `ferry peers add <url>` fetches. The URL is the
  // one this request reached it by (what the asker can use), not the address it bound.
  app.get("/node", (c) => c.json(nodeEntry(node, new URL(c.req.url).origin)));
  app.get("/load", (c) => c.json(node.load()));
  // Public information: who this node migrates to and from (ids, addresses, public keys).
  app.get("/peers", (c) => c.json(node.store.peers.list()));
  app.get("/metrics", (c) => c.text(metricsText(node), 200, { "content-type": "text/plain; version=0.0.4" }));
  app.get("/openapi.json", (c) => c.json(OPENAPI));
}

/** This node's peers-file entry (server/peers/peers-file.ts), reachable at `url`. */
function nodeEntry(node: FerryNode, url: string): PeerEntry {
  return { nodeId: node.id, url, publicKey: node.publicKeyPem };
}

/** The peers' origins (the dashboard's CSP lets the page read their public /load and /migrations). */
function peerOrigins(node: FerryNode): string[] {
  const origins = new Set<string>();
  for (const p of node.store.peers.list()) {
    try {
      origins.add(new URL(p.url).origin);
    } catch {
      // an address that is no URL is no origin to allow
    }
  }
  return [...origins];
}
