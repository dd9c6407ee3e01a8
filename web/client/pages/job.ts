// One job: its facts (GET /jobs/:id, refreshed while it lives), its execution and resource segments
// (job-segments.ts), its history (created, checkpoints, the moves out and in this node logged), its live output and log (GET /jobs/:id/events, after the output so
// far from GET /jobs/:id/output), and what its owner may do: pause, resume, cancel, migrate to a
// peer (with a migration grant signed in this page) and download its snapshot.

import { call, json, jobEvents, type JobEvent, type JobView, type Migration, type Peer } from "../api.js";
import { background, bytes, count, every, facts, fill, h, status, time } from "../dom.js";
import type { Page } from "../page.js";
import { pageKey, signGrant } from "../sign.js";
import { executionSegment, resourceSegment } from "./job-segments.js";

/** Output and log kept on the page: the newest 64 KiB of each. */
const KEEP_CHARS = 64 * 1024;
const FINISHED = ["migrated", "done", "trapped", "failed", "cancelled"];

export function renderJob(page: Page, id: string): () => void {
  const path = `/jobs/${encodeURIComponent(id)}`;
  const abort = new AbortController();
  const about = h("div", {});
  const actions = h("div", { class: "actions", "aria-label": "job actions" });
  const history = h("ol", {});
  const segments = h("div", {});
  const output = h("pre", { id: "output", tabindex: 0, "aria-label": "output" });
  const log = h("pre", { id: "log", tabindex: 0, "aria-label": "log" });
  fill(
    page.main,
    h("h1", {}, "Job ", h("code", {}, id)),
    about,
    actions,
    segments,
    h("h2", {}, "History"),
    history,
    h("h2", {}, "Output"),
    output,
    h("h2", {}, "Log"),
    log,
  );
  let view: JobView | undefined;
  let moves: Migration[] = [];
  let peers: Peer[] = [];
  let shown = ""; // what the actions were drawn for: redrawn only when it changes, so focus and choices stay
  const show = () => {
    if (!view) return;
    fill(about, jobFacts(view));
    fill(segments, h("h2", {}, "Execution segment"), executionSegment(view), ...resourceSegment(view));
    fill(history, ...historyOf(view, moves));
    const what = `${view.state}|${peers.length}|${pageKey()?.clientId}|${view.lastCheckpoint?.seq}|${view.movedTo?.url}`;
    if (what === shown) return;
    shown = what;
    renderActions(actions, view, peers, page, path, (v) => {
      view = v;
      show();
    });
  };
  const refresh = async () => {
    [view, moves] = await Promise.all([
      json<JobView>("GET", path),
      json<{ migrations: Migration[] }>("GET", "/migrations").then((m) => m.migrations.filter((x) => x.job === id)),
    ]);
    show();
  };
  background(
    json<Peer[]>("GET", "/peers", { sign: false }).then((p) => {
      peers = p;
      show();
    }),
    "peers",
  );
  let stopPolling = () => {};
  // The first read decides: a job this caller cannot see is said so once (no polling, no stream).
  refresh().then(
    () => {
      stopPolling = every(2_000, async () => {
        if (!view || !FINISHED.includes(view.state)) await refresh();
      });
      void follow(id, path, output, log, abort.signal, (e) => {
        if (view && e.state !== view.state) background(refresh(), "job");
      }).catch((e: Error) => abort.signal.aborted || status(`event stream: ${e.message}`, true));
    },
    (e: Error) => {
      const hint = pageKey() ? "" : " If it is yours, load your key above: a client's job is visible to its owner only.";
      fill(about, h("p", { class: "error", id: "job-missing" }, `${e.message}.${hint}`));
      status(e.message, true);
    },
  );
  return () => {
    abort.abort();
    stopPolling();
  };
}

/** The output so far (its last 64 KiB), then the stream's output, log and state events as they come. */
async function follow(
  id: string,
  path: string,
  output: HTMLElement,
  log: HTMLElement,
  signal: AbortSignal,
  onState: (e: Extract<JobEvent, { type: "state" }>) => void,
): Promise<void> {
  let text = "";
  let early: string[] | null = []; // output events that arrive before the output so far
  const put = () => {
    text = text.slice(-KEEP_CHARS);
    output.textContent = text;
    output.scrollTop = output.scrollHeight;
  };
  await jobEvents(
    id,
    (e) => {
      if (e.type === "output") {
        if (early) early.push(e.text);
        else {
          text += e.text;
          put();
        }
      } else if (e.type === "log") {
        log.textContent = `${(log.textContent ?? "").slice(-KEEP_CHARS)}${e.line}\n`;
      } else {
        if (e.outputBytes !== undefined)
          background(
            head(path, e.outputBytes).then((t) => {
              text = t + (early ?? []).join("");
              early = null;
              put();
            }),
            "output",
          );
        onState(e);
      }
    },
    signal,
  );
}

/** The last 64 KiB of the output's first `size` bytes. */
async function head(path: string, size: number): Promise<string> {
  if (size === 0) return "";
  const offset = Math.max(0, size - KEEP_CHARS);
  const r = await call("GET", `${path}/output?offset=${offset}&limit=${size - offset}`);
  return new TextDecoder().decode(await r.arrayBuffer());
}

function jobFacts(v: JobView): HTMLElement {
  const result = v.result
    ? v.result.status === "done"
      ? `done: ${JSON.stringify(v.result.value)}`
      : `${v.result.status}${v.result.code ? ` (${v.result.code})` : ""}${v.result.message ? `: ${v.result.message}` : ""}`
    : "—";
  return facts([
    ["state", h("span", { class: `state-${v.state}`, id: "job-state" }, v.state)],
    ["result", h("span", { id: "job-result" }, result)],
    ["node", v.node],
    ["module", h("code", {}, v.codeHash)],
    ["entry (arguments)", `${v.entry}(${v.args.map((a) => JSON.stringify(a)).join(", ")})`],
    ["trust, sandbox", `${v.trust}, ${v.sandbox}`],
    ["fuel used", count(v.fuelUsed)],
    ["output", bytes(v.outputBytes)],
    [
      "last checkpoint",
      v.lastCheckpoint ? `#${v.lastCheckpoint.seq} at fuel ${count(v.lastCheckpoint.fuel)}, ${time(v.lastCheckpoint.createdAt)}` : "none",
    ],
    ["moves (epoch)", String(v.epoch)],
  ]);
}

function historyOf(v: JobView, moves: readonly Migration[]): HTMLElement[] {
  const items: Array<[number, string]> = [[v.createdAt, "created"]];
  if (v.lastCheckpoint)
    items.push([v.lastCheckpoint.createdAt, `checkpoint #${v.lastCheckpoint.seq} (fuel ${count(v.lastCheckpoint.fuel)})`]);
  for (const m of moves)
    items.push([
      m.at,
      m.direction === "in"
        ? `migrated in from ${m.from} (${m.mode}; downtime here ${m.downtimeMs ?? "?"} ms, ${bytes(m.bytes)} received, pre-copy rounds ${m.precopyRounds})`
        : `${m.mode} migration ${m.from} → ${m.to} (downtime ${m.downtimeMs ?? "?"} ms, ${bytes(m.bytes)}, pre-copy rounds ${m.precopyRounds})`,
    ]);
  if (FINISHED.includes(v.state)) items.push([v.updatedAt, v.state === "migrated" ? `moved to ${v.movedTo?.node ?? "?"}` : v.state]);
  return items.sort((a, b) => a[0] - b[0]).map(([t, what]) => h("li", {}, `${time(t)} — ${what}`));
}

type Done = (v: JobView) => void;

function renderActions(el: HTMLElement, v: JobView, peers: readonly Peer[], page: Page, path: string, done: Done): void {
  const act = (label: string, run: () => Promise<JobView>) =>
    h(
      "button",
      {
        type: "button",
        onclick: async () => {
          try {
            done(await run());
            status(`${label}: done`);
          } catch (e) {
            status(`${label} failed: ${(e as Error).message}`, true);
          }
        },
      },
      label,
    );
  const buttons: HTMLElement[] = [];
  if (v.state === "running") buttons.push(act("Pause", () => json("POST", `${path}/pause`)));
  if (v.state === "paused") buttons.push(act("Resume", () => json("POST", `${path}/resume`)));
  if (["queued", "running", "paused"].includes(v.state)) {
    if (pageKey() && peers.length > 0) buttons.push(migrateControls(v, peers, page, path, done));
    buttons.push(act("Cancel", () => json("DELETE", path)));
  }
  if (v.lastCheckpoint) buttons.push(h("button", { type: "button", onclick: () => void download(path, v.id) }, "Download snapshot"));
  if (v.state === "migrated" && v.movedTo?.url)
    buttons.push(
      h(
        "a",
        { href: `${v.movedTo.url.replace(/\/+$/, "")}/ui/jobs/${encodeURIComponent(v.id)}`, id: "moved-to" },
        `Open on ${v.movedTo.node} →`,
      ),
    );
  fill(el, ...buttons);
}

function migrateControls(v: JobView, peers: readonly Peer[], page: Page, path: string, done: Done): HTMLElement {
  const peer = h("select", { id: "migrate-peer", "aria-label": "peer" }, ...peers.map((p) => h("option", { value: p.nodeId }, p.nodeId)));
  const mode = h(
    "select",
    { id: "migrate-mode", "aria-label": "mode" },
    h("option", { value: "strong" }, "strong"),
    h("option", { value: "weak" }, "weak"),
  );
  const go = h("button", { type: "button" }, "Migrate");
  go.addEventListener("click", async () => {
    const key = pageKey();
    if (!key) return;
    try {
      go.disabled = true;
      const grant = await signGrant(key, { job: v.id, source: page.nodeId, target: peer.value });
      done(await json<JobView>("POST", `${path}/migrate`, { value: { peer: peer.value, mode: mode.value, grant } }));
      status(`migrated to ${peer.value}`);
    } catch (e) {
      go.disabled = false;
      status(`migrate failed: ${(e as Error).message}`, true);
    }
  });
  return h("span", { class: "actions" }, peer, mode, go);
}

/** GET /jobs/:id/snapshot, signed, saved as a file (a blob URL: the page never holds a link that needs a signature). */
async function download(path: string, id: string): Promise<void> {
  try {
    const blob = await (await call("GET", `${path}/snapshot`)).blob();
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: `${id}.ferry` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    status(`snapshot: ${bytes(blob.size)}`);
  } catch (e) {
    status(`download failed: ${(e as Error).message}`, true);
  }
}
