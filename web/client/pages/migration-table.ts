// A list of moves as a table (the cluster page's last transfers, the migrations feed): a job's id
// links to its page only where the API named it, i.e. for its owner. `direction`: out (this node sent
// it) or in (received; its downtime is the receiver's share: PREPARE received → running).

import type { Migration } from "../api.js";
import { count, h, table, time } from "../dom.js";

export function migrationTable(list: readonly Migration[]): HTMLElement {
  if (list.length === 0) return h("p", { class: "muted" }, "No moves yet.");
  return table(
    ["time", "direction", "job", "from", "to", "mode", "#downtime ms", "#bytes", "#pre-copy rounds"],
    list.map((m) => [
      time(m.at),
      m.direction ?? "out",
      m.job ? h("a", { href: `/ui/jobs/${encodeURIComponent(m.job)}` }, m.job) : h("span", { class: "muted", title: "not your job" }, "—"),
      m.from,
      m.to,
      m.mode,
      m.downtimeMs ?? "—",
      count(m.bytes),
      m.precopyRounds,
    ]),
  );
}
