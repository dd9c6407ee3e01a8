// The page every dashboard address answers with: server-rendered HTML holding the navigation, the
// key loader and an empty main area the client modules fill in (client/main.ts). No inline script
// or style: the Content-Security-Policy (csp) allows scripts and styles from this origin only.

export interface ShellOptions {
  nodeId: string;
  /** Client modules to preload (names under /ui/assets/), so the browser fetches them at once, not import by import. */
  modules: readonly string[];
}

const escapes: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => escapes[c] ?? c);

/** Pages of the dashboard, in navigation order: path under /ui and label. */
export const PAGES = [
  ["cluster", "Cluster"],
  ["jobs", "Jobs"],
  ["migrations", "Migrations"],
  ["modules", "Modules"],
] as const;

export function shellHtml(o: ShellOptions): string {
  const id = escapeHtml(o.nodeId);
  const preload = o.modules
    .filter((m) => m !== "main.js")
    .map((m) => `<link rel="modulepreload" href="/ui/assets/${escapeHtml(m)}">`)
    .join("");
  const nav = PAGES.map(([path, label]) => `<a href="/ui/${path}" data-nav="${path}">${label}</a>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ferry · ${id}</title><link rel="icon" href="/ui/assets/icon.svg"><link rel="stylesheet" href="/ui/assets/style.css">${preload}
<script type="module" src="/ui/assets/main.js"></script></head>
<body data-node="${id}">
<header><span class="brand">Ferry</span> <span class="node" title="this node's id">${id}</span><nav aria-label="pages">${nav}</nav>
<div id="key" class="key"><label for="keyfile">Client key (ferry keygen file, stays in this page):</label> <input type="file" id="keyfile" accept=".json,application/json"> <span id="whoami">anonymous</span> <button type="button" id="forget" hidden>Forget key</button></div></header>
<main id="main" tabindex="-1"><p>Loading…</p><noscript>The dashboard needs JavaScript; the API is at <a href="/openapi.json">/openapi.json</a>.</noscript></main>
<p id="status" role="status" aria-live="polite"></p>
</body></html>`;
}

/**
 * The page's Content-Security-Policy: scripts, styles and fetches from this node only (plus the
 * peers' origins, whose public /load and /migrations the cluster pages read), nothing inline, no
 * frames, no forms posted anywhere.
 */
export function csp(connectOrigins: readonly string[]): string {
  const connect = ["'self'", ...connectOrigins].join(" ");
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}
