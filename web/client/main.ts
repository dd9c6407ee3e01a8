// The dashboard's entry: the key loader, the navigation (one page, history.pushState, so the key
// loaded in this page survives moving between views) and the router that renders each view into
// <main>. Every view returns how to stop it (timers, event streams) when the next one starts.

import { status } from "./dom.js";
import type { Page } from "./page.js";
import { renderCluster } from "./pages/cluster.js";
import { renderJob } from "./pages/job.js";
import { renderJobs } from "./pages/jobs.js";
import { renderMigrations } from "./pages/migrations.js";
import { renderModules } from "./pages/modules.js";
import { forgetKey, loadKeyFile, pageKey } from "./sign.js";

type View = (page: Page, param: string) => (() => void) | undefined;

const ROUTES: Array<[RegExp, View]> = [
  [/^\/(?:ui\/?)?$/, (p) => renderCluster(p)],
  [/^\/ui\/cluster$/, (p) => renderCluster(p)],
  [/^\/ui\/jobs$/, (p) => renderJobs(p)],
  [/^\/ui\/jobs\/([^/]+)$/, (p, id) => renderJob(p, decodeURIComponent(id))],
  [/^\/ui\/migrations$/, (p) => renderMigrations(p)],
  [/^\/ui\/modules$/, (p) => renderModules(p)],
];

let stop: (() => void) | undefined;

function render(page: Page): void {
  stop?.();
  stop = undefined;
  const path = location.pathname;
  for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>("nav a[data-nav]"))) {
    const here = path.startsWith(`/ui/${a.dataset.nav}`) || (a.dataset.nav === "cluster" && !path.startsWith("/ui/"));
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const [pattern, view] of ROUTES) {
    const m = pattern.exec(path);
    if (m) {
      stop = view(page, m[1] ?? "");
      return;
    }
  }
  page.main.replaceChildren(Object.assign(document.createElement("p"), { textContent: `No page at ${path}.` }));
}

function keyBox(page: Page): void {
  const input = document.getElementById("keyfile") as HTMLInputElement;
  const who = document.getElementById("whoami")!;
  const forget = document.getElementById("forget") as HTMLButtonElement;
  const show = () => {
    const key = pageKey();
    who.textContent = key ? `signed in as ${key.clientId}` : "anonymous";
    forget.hidden = !key;
  };
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    try {
      await loadKeyFile(await file.text());
      status("key loaded: requests are signed in this page");
    } catch (e) {
      status(`key not loaded: ${(e as Error).message}`, true);
    }
    input.value = "";
    show();
    page.refresh();
  });
  forget.addEventListener("click", () => {
    forgetKey();
    show();
    page.refresh();
  });
  show();
}

function start(): void {
  const main = document.getElementById("main")!;
  const page: Page = {
    nodeId: document.body.dataset.node ?? "",
    main,
    navigate: (path) => {
      history.pushState(null, "", path);
      render(page);
      main.focus();
    },
    refresh: () => render(page),
  };
  // Links inside the dashboard change the view without leaving the page (and the key with it).
  document.addEventListener("click", (e) => {
    const a = (e.target as Element).closest?.("a");
    if (!a || a.origin !== location.origin || !a.pathname.startsWith("/ui/") || a.pathname.startsWith("/ui/assets/")) return;
    if (e instanceof MouseEvent && (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0)) return;
    e.preventDefault();
    page.navigate(a.pathname + a.search);
  });
  window.addEventListener("popstate", () => render(page));
  window.addEventListener("unhandledrejection", (e) => status(String((e.reason as Error)?.message ?? e.reason), true));
  keyBox(page);
  render(page);
}

start();
