// Jobs: the signed-in client's jobs on this node (GET /jobs: filtered by state, 50 a page, newest
// first, "older" follows `next`; memory and checkpoints from each job's newest checkpoint), a form to start one (POST /jobs), and opening any job by its id
// (how an anonymous job is reached: GET /jobs needs a signature, as it does for the CLI).

import { json, type JobSummary, type JobView } from "../api.js";
import { background, bytes, count, fill, h, short, status, table, time } from "../dom.js";
import type { Page } from "../page.js";
import { pageKey } from "../sign.js";

const STATES = ["", "queued", "running", "paused", "migrating", "migrated", "done", "trapped", "failed", "cancelled"];
const PAGE = 50;

export function renderJobs(page: Page): () => void {
  const list = h("div", {});
  fill(page.main, h("h1", {}, "Jobs"), startForm(page), openForm(page), list);
  if (!pageKey()) {
    fill(
      list,
      h("p", { class: "muted" }, "Listing jobs needs a signed request: load your client key above. An anonymous job is opened by its id."),
    );
    return () => undefined;
  }
  let state = "";
  const pages: string[] = []; // the `before` of each page before the one shown ("" for the first)
  const filter = h(
    "select",
    { id: "state-filter", "aria-label": "state" },
    ...STATES.map((s) => h("option", { value: s }, s || "any state")),
  );
  const show = async (before: string) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (state) q.set("state", state);
    if (before) q.set("before", before);
    const { jobs, next } = await json<{ jobs: JobSummary[]; next: string | null }>("GET", `/jobs?${q}`);
    const nav = h(
      "div",
      { class: "actions" },
      h("button", { type: "button", disabled: pages.length === 0, onclick: () => background(show(pages.pop() ?? ""), "page") }, "← Newer"),
      h("span", { class: "muted" }, `page ${pages.length + 1}`),
      h(
        "button",
        {
          type: "button",
          disabled: next === null,
          onclick: () => {
            pages.push(before);
            background(show(next ?? ""), "page");
          },
        },
        "Older →",
      ),
    );
    fill(list, h("label", {}, "Filter", filter), jobTable(jobs), nav);
  };
  filter.addEventListener("change", () => {
    state = filter.value;
    pages.length = 0;
    background(show(""), "list");
  });
  background(show(""), "list");
  return () => undefined;
}

function jobTable(jobs: readonly JobSummary[]): HTMLElement {
  if (jobs.length === 0) return h("p", { class: "muted" }, "No jobs.");
  return table(
    ["job", "state", "module", "entry", "sandbox", "#fuel used", "#memory", "checkpoints", "node", "created"],
    jobs.map((j) => [
      h("a", { href: `/ui/jobs/${encodeURIComponent(j.id)}` }, j.id),
      h("span", { class: `state-${j.state}` }, j.state),
      h("code", { title: j.codeHash }, short(j.codeHash)),
      j.entry,
      j.sandbox,
      count(j.fuelUsed),
      memoryCell(j),
      j.lastCheckpoint ? `${j.lastCheckpoint.seq}, last ${time(j.lastCheckpoint.createdAt)}` : "—",
      j.node,
      time(j.createdAt),
    ]),
  );
}

/** The memory its newest checkpoint held (the API counts it when the checkpoint is written): bytes, pages on hover. */
function memoryCell(j: JobSummary): HTMLElement | string {
  const s = j.executionSegment;
  if (!s) return "—";
  return h(
    "span",
    { title: `${count(s.memoryPages)} pages of 64 KiB, ${count(s.touchedPages)} touched (checkpoint #${s.checkpoint})` },
    bytes(s.memoryBytes),
  );
}

function field(label: string, input: HTMLElement): HTMLLabelElement {
  return h("label", {}, label, input);
}

/** POST /jobs from the page: module hash, entry, arguments, sandbox, fuel limit. */
function startForm(page: Page): HTMLElement {
  const chosen = new URLSearchParams(location.search).get("module") ?? undefined;
  const hash = h("input", { name: "codeHash", required: true, size: 30, placeholder: "sha256 of an uploaded module", value: chosen });
  const entry = h("input", { name: "entry", value: "main", size: 10 });
  const args = h("input", { name: "args", size: 16, placeholder: "1, 2 (numbers)" });
  const sandbox = h(
    "select",
    { name: "sandbox" },
    h("option", { value: "" }, "default"),
    h("option", { value: "in-process" }, "in-process"),
    h("option", { value: "isolated" }, "isolated"),
  );
  const fuel = h("input", { name: "fuelLimit", size: 12, placeholder: "default" });
  const form = h(
    "form",
    { "aria-label": "start a job" },
    field("Module", hash),
    field("Entry", entry),
    field("Arguments", args),
    field("Sandbox", sandbox),
    field("Fuel limit", fuel),
    h("button", { type: "submit" }, "Start job"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const body: Record<string, unknown> = { codeHash: hash.value.trim(), entry: entry.value.trim() || "main" };
      const list = args.value.trim();
      if (list) body.args = list.split(",").map((a) => (/^-?\d+(\.\d+)?$/.test(a.trim()) ? Number(a.trim()) : a.trim()));
      if (sandbox.value) body.sandbox = sandbox.value;
      if (fuel.value.trim()) body.fuelLimit = Number(fuel.value.trim());
      const job = await json<JobView>("POST", "/jobs", { value: body });
      status(`job ${job.id} started`);
      page.navigate(`/ui/jobs/${encodeURIComponent(job.id)}`);
    } catch (err) {
      status(`start failed: ${(err as Error).message}`, true);
    }
  });
  return form;
}

function openForm(page: Page): HTMLElement {
  const id = h("input", { name: "job", size: 30, required: true });
  const form = h("form", { "aria-label": "open a job by id" }, field("Job id", id), h("button", { type: "submit" }, "Open job"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    page.navigate(`/ui/jobs/${encodeURIComponent(id.value.trim())}`);
  });
  return form;
}
