// A module's imports and exports on the modules page (GET /modules/:hash/interface, answered to
// whoever may download the module): a summary that opens to the list, functions with their types.

import { json, type ModuleInterface } from "../api.js";
import { h } from "../dom.js";

type Entry = ModuleInterface["imports"][number] | ModuleInterface["exports"][number];

function signature(e: Entry): string {
  const name = "module" in e ? `${e.module}.${e.name}` : e.name;
  if (e.kind !== "func") return `${name} (${e.kind})`;
  return `${name}(${(e.params ?? []).join(", ")})${e.results?.length ? ` → ${e.results.join(", ")}` : ""}`;
}

/** A cell that fills itself once the interface is read (a failure says so in the cell). */
export function interfaceCell(codeHash: string): HTMLElement {
  const cell = h("span", { class: "muted" }, "…");
  json<ModuleInterface>("GET", `/modules/${codeHash}/interface`).then(
    (i) => {
      const list = (title: string, entries: readonly Entry[]) =>
        entries.length === 0
          ? null
          : h("div", {}, h("strong", {}, title), h("ul", {}, ...entries.map((e) => h("li", {}, h("code", {}, signature(e))))));
      cell.replaceWith(
        h(
          "details",
          { class: "module-interface" },
          h("summary", {}, `${i.imports.length} imports, ${i.exports.length} exports`),
          list("Imports", i.imports),
          list("Exports", i.exports),
        ),
      );
    },
    (e: Error) => {
      cell.textContent = `unreadable: ${e.message}`;
    },
  );
  return cell;
}
