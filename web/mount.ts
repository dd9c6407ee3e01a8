// The dashboard on a node's Hono app: the shell at / and /ui/..., the assets at /ui/assets/....
// Mounted before the API's intake, so a page or asset costs no signature check; everything the
// page shows it then fetches from the HTTP API like any other client. web/ imports nothing of
// server/ or runtime/: the node hands in what the shell needs (its id, its peers' origins).

import type { Context, Env, Hono } from "hono";
import { loadAssets, type Asset } from "./assets.js";
import { csp, shellHtml } from "./shell.js";

export interface DashboardOptions {
  nodeId: string;
  /** The peers' origins, asked at each page load (peers come and go). */
  peerOrigins: () => readonly string[];
  /** Where the compiled client modules are (default: assets.ts's clientDir). */
  clientDir?: string;
}

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export function mountDashboard<E extends Env>(app: Hono<E>, options: DashboardOptions): void {
  let assets: Map<string, Asset> | undefined;
  // Loaded at the first request, not at start-up: a node that nobody views reads no files.
  const all = () => (assets ??= loadAssets(options.clientDir));
  const shell = (c: Context<E>) => {
    const origins = options.peerOrigins();
    const modules = [...all().keys()].filter((n) => n.endsWith(".js"));
    return c.html(shellHtml({ nodeId: options.nodeId, modules }), 200, {
      ...SECURITY_HEADERS,
      "content-security-policy": csp(origins),
      "cache-control": "no-store",
    });
  };
  app.get("/", shell);
  app.get("/ui", shell);
  app.get("/ui/assets/*", (c) => {
    const name = c.req.path.slice("/ui/assets/".length);
    const found = all().get(name);
    if (!found) return c.json({ error: { code: "not_found", message: `no dashboard asset ${name.slice(0, 80)}` } }, 404);
    const headers = { ...SECURITY_HEADERS, etag: found.etag, "cache-control": "no-cache", "content-type": found.contentType };
    if (c.req.header("if-none-match") === found.etag) return c.body(null, 304, headers);
    return c.body(found.bytes as Uint8Array<ArrayBuffer>, 200, headers);
  });
  app.get("/ui/*", shell);
}
