// Modules: what the viewer may run here (GET /modules: public ones, and the signed-in client's own),
// a page at a time, each with its imports and exports (module-interface.ts), and uploading one
// (POST /modules, signed) from a file.

import { call, json } from "../api.js";
import { background, bytes, fill, h, status, table, time } from "../dom.js";
import type { Page } from "../page.js";
import { pageKey } from "../sign.js";
import { interfaceCell } from "./module-interface.js";

interface ModuleSummary {
  codeHash: string;
  public: boolean;
  size: number;
  createdAt: number;
  mine: boolean;
}

export function renderModules(page: Page): () => void {
  const list = h("div", { id: "module-list" });
  fill(
    page.main,
    h("h1", {}, "Modules"),
    pageKey()
      ? uploadForm(() => void show(""))
      : h("p", { class: "muted" }, "Load your client key above to upload modules and see your private ones."),
    list,
  );
  const befores: string[] = [];
  async function show(before: string): Promise<void> {
    const q = new URLSearchParams({ limit: "50" });
    if (before) q.set("before", before);
    const { modules, next } = await json<{ modules: ModuleSummary[]; next: string | null }>("GET", `/modules?${q}`);
    fill(
      list,
      modules.length === 0
        ? h("p", { class: "muted" }, "No modules you can see.")
        : table(
            ["code hash (sha256)", "#size", "visibility", "yours", "uploaded", "imports and exports"],
            modules.map((m) => [
              h("code", {}, m.codeHash),
              bytes(m.size),
              m.public ? "public" : "private",
              m.mine ? "yes" : "",
              time(m.createdAt),
              interfaceCell(m.codeHash),
            ]),
          ),
      h(
        "div",
        { class: "actions" },
        h(
          "button",
          { type: "button", disabled: befores.length === 0, onclick: () => background(show(befores.pop() ?? ""), "page") },
          "← Newer",
        ),
        h(
          "button",
          {
            type: "button",
            disabled: next === null,
            onclick: () => {
              befores.push(before);
              background(show(next ?? ""), "page");
            },
          },
          "Older →",
        ),
      ),
    );
  }
  background(show(""), "list");
  return () => undefined;
}

function uploadForm(uploaded: () => void): HTMLElement {
  const file = h("input", { type: "file", id: "module-file", accept: ".wasm,application/wasm", required: true });
  const isPublic = h("input", { type: "checkbox", id: "module-public" });
  const form = h(
    "form",
    { "aria-label": "upload a module" },
    h("label", {}, "WebAssembly module", file),
    h("label", {}, "Public (anyone may run it)", isPublic),
    h("button", { type: "submit" }, "Upload"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    try {
      const body = new Uint8Array(await chosen.arrayBuffer());
      const r = await call("POST", `/modules?public=${isPublic.checked}`, { body, contentType: "application/wasm" });
      const { codeHash } = (await r.json()) as { codeHash: string };
      status(`uploaded ${codeHash}`);
      const out = h(
        "p",
        { id: "uploaded" },
        "Uploaded ",
        h("code", { id: "uploaded-hash" }, codeHash),
        " — ",
        h("a", { href: `/ui/jobs?module=${codeHash}` }, "start a job with it"),
      );
      document.getElementById("uploaded")?.remove();
      form.after(out);
      uploaded();
    } catch (err) {
      status(`upload failed: ${(err as Error).message}`, true);
    }
  });
  return form;
}
